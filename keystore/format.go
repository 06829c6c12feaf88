package keystore

import (
	"encoding/binary"
	"fmt"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/chacha20poly1305"
)

// Version 1 layout; see doc.go.
const (
	magic          = "DOKS"
	version1       = 1
	kdfArgon2id    = 1
	saltLen        = 16
	nonceLen       = chacha20poly1305.NonceSizeX // 24
	keyLen         = 32
	seedLen        = 32
	plaintextLen   = keyLen + seedLen
	fixedHeaderLen = 16 // magic, version, kdf, t, m, p, salt_len
	headerLen      = fixedHeaderLen + saltLen + nonceLen
	ciphertextLen  = plaintextLen + chacha20poly1305.Overhead
	fileLen        = headerLen + ciphertextLen // 136

	// maxReadLen bounds how much of a keystore file is ever read.
	maxReadLen = 4 << 10
)

// Bounds on the KDF parameters that a file may carry; see doc.go.
var (
	floorParams   = Params{Time: 3, MemoryKiB: 64 << 10, Threads: 1}
	ceilingParams = Params{Time: 100, MemoryKiB: 4 << 20, Threads: 64}
)

// header is a decoded version 1 header. Its slices alias the decoded bytes.
type header struct {
	params Params
	salt   []byte
	nonce  []byte
}

// check refuses parameters above the ceiling (ErrCorrupt) or below the floor
// (ErrWeakParams).
func (p Params) check() error {
	c := ceilingParams
	switch {
	case p.Time > c.Time:
		return fmt.Errorf("%w: argon2id t=%d is above the ceiling %d", ErrCorrupt, p.Time, c.Time)
	case p.MemoryKiB > c.MemoryKiB:
		return fmt.Errorf("%w: argon2id m=%d KiB is above the ceiling %d KiB", ErrCorrupt, p.MemoryKiB, c.MemoryKiB)
	case p.Threads > c.Threads:
		return fmt.Errorf("%w: argon2id p=%d is above the ceiling %d", ErrCorrupt, p.Threads, c.Threads)
	}
	f := floorParams
	if p.Time < f.Time || p.MemoryKiB < f.MemoryKiB || p.Threads < f.Threads {
		return fmt.Errorf("%w: argon2id t=%d m=%d KiB p=%d, need at least t=%d m=%d KiB p=%d",
			ErrWeakParams, p.Time, p.MemoryKiB, p.Threads, f.Time, f.MemoryKiB, f.Threads)
	}
	return nil
}

// decodeFile parses a version 1 keystore file. It allocates nothing on
// success: the header's slices and the returned ad and ciphertext alias b.
func decodeFile(b []byte) (h header, ad, ciphertext []byte, err error) {
	if len(b) < len(magic) {
		return h, nil, nil, fmt.Errorf("%w: %d bytes, too short for a keystore", ErrCorrupt, len(b))
	}
	if string(b[:len(magic)]) != magic {
		return h, nil, nil, fmt.Errorf("%w: not a keystore file (bad magic)", ErrCorrupt)
	}
	if len(b) < 6 {
		return h, nil, nil, fmt.Errorf("%w: truncated at %d bytes", ErrCorrupt, len(b))
	}
	if b[4] != version1 {
		return h, nil, nil, fmt.Errorf("%w: format version %d, this build reads version %d", ErrUnsupportedVersion, b[4], version1)
	}
	if b[5] != kdfArgon2id {
		return h, nil, nil, fmt.Errorf("%w: key derivation function %d, this build knows only %d (argon2id)", ErrUnsupportedVersion, b[5], kdfArgon2id)
	}
	if len(b) != fileLen {
		return h, nil, nil, fmt.Errorf("%w: %d bytes, a version 1 keystore has exactly %d", ErrCorrupt, len(b), fileLen)
	}
	if b[15] != saltLen {
		return h, nil, nil, fmt.Errorf("%w: salt length %d, want %d", ErrCorrupt, b[15], saltLen)
	}
	h.params = Params{
		Time:      binary.BigEndian.Uint32(b[6:10]),
		MemoryKiB: binary.BigEndian.Uint32(b[10:14]),
		Threads:   b[14],
	}
	if err := h.params.check(); err != nil {
		return header{}, nil, nil, err
	}
	h.salt = b[fixedHeaderLen : fixedHeaderLen+saltLen]
	h.nonce = b[fixedHeaderLen+saltLen : headerLen]
	return h, b[:headerLen], b[headerLen:], nil
}

// appendHeader appends the encoded header (the AEAD's associated data).
func appendHeader(dst []byte, h header) []byte {
	dst = append(dst, magic...)
	dst = append(dst, version1, kdfArgon2id)
	dst = binary.BigEndian.AppendUint32(dst, h.params.Time)
	dst = binary.BigEndian.AppendUint32(dst, h.params.MemoryKiB)
	dst = append(dst, h.params.Threads, saltLen)
	dst = append(dst, h.salt...)
	return append(dst, h.nonce...)
}

// deriveKEK runs Argon2id. It is a variable so that tests can count runs.
var deriveKEK = func(passphrase, salt []byte, p Params) []byte {
	return argon2.IDKey(passphrase, salt, p.Time, p.MemoryKiB, p.Threads, keyLen)
}

// sealFile builds a version 1 file wrapping plaintext under kek.
func sealFile(h header, kek, plaintext []byte) ([]byte, error) {
	if len(h.salt) != saltLen || len(h.nonce) != nonceLen || len(plaintext) != plaintextLen {
		return nil, fmt.Errorf("keystore: internal error: bad lengths")
	}
	aead, err := chacha20poly1305.NewX(kek)
	if err != nil {
		return nil, err
	}
	out := appendHeader(make([]byte, 0, fileLen), h)
	return aead.Seal(out, h.nonce, plaintext, out), nil
}

// openFile decodes b and unwraps its plaintext under kek. The caller must
// zero the returned plaintext.
func openFile(b, kek []byte) ([]byte, error) {
	h, ad, ct, err := decodeFile(b)
	if err != nil {
		return nil, err
	}
	return unseal(h, ad, ct, kek)
}

func unseal(h header, ad, ciphertext, kek []byte) ([]byte, error) {
	aead, err := chacha20poly1305.NewX(kek)
	if err != nil {
		return nil, err
	}
	pt, err := aead.Open(nil, h.nonce, ciphertext, ad)
	if err != nil {
		return nil, ErrWrongPassphrase
	}
	if len(pt) != plaintextLen { // impossible given the exact length check
		clear(pt)
		return nil, fmt.Errorf("%w: plaintext of %d bytes", ErrCorrupt, len(pt))
	}
	return pt, nil
}
