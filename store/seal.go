package store

import (
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"fmt"

	"golang.org/x/crypto/chacha20poly1305"
)

// The sealed value format (version 1); see the package documentation.
const (
	formatVersion = 1

	versionSize = 1
	expirySize  = 8
	headerSize  = versionSize + expirySize // version, expiry
	nonceSize   = chacha20poly1305.NonceSizeX
	tagSize     = chacha20poly1305.Overhead

	// sealedOverhead is what sealing adds to a value.
	sealedOverhead = headerSize + nonceSize + tagSize

	// MaxKeySize is the largest key (relative to its namespace) that Put accepts.
	MaxKeySize = 1024
	// MaxValueSize is the largest value that Put accepts.
	MaxValueSize = 16 << 20

	maxSealedSize = MaxValueSize + sealedOverhead
)

// adContext separates this use of the seal key from any other.
const adContext = "discordopus/store/v1\x00"

// newAEAD returns the XChaCha20-Poly1305 AEAD for a 32-byte seal key.
func newAEAD(key []byte) (cipher.AEAD, error) {
	if len(key) != chacha20poly1305.KeySize {
		return nil, fmt.Errorf("store: seal key is %d bytes, want %d", len(key), chacha20poly1305.KeySize)
	}
	return chacha20poly1305.NewX(key)
}

// associatedData binds a sealed value to its header and to the full record
// key (namespace prefix included). The key comes last, so the layout is
// unambiguous without a length field.
func associatedData(header, fullKey []byte) []byte {
	ad := make([]byte, 0, len(adContext)+len(header)+len(fullKey))
	ad = append(ad, adContext...)
	ad = append(ad, header...)
	return append(ad, fullKey...)
}

// seal encrypts value for fullKey with a fresh random nonce. expiry is the
// record's expiry in Unix nanoseconds, 0 for none.
func seal(aead cipher.AEAD, fullKey, value []byte, expiry int64) ([]byte, error) {
	var nonce [nonceSize]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return nil, fmt.Errorf("store: nonce: %w", err)
	}
	return sealWithNonce(aead, fullKey, value, expiry, nonce[:]), nil
}

// sealWithNonce is seal with the nonce given; tests use it to get
// deterministic output. Production code must call seal.
func sealWithNonce(aead cipher.AEAD, fullKey, value []byte, expiry int64, nonce []byte) []byte {
	out := make([]byte, headerSize+nonceSize, headerSize+nonceSize+len(value)+tagSize)
	out[0] = formatVersion
	binary.BigEndian.PutUint64(out[versionSize:headerSize], uint64(expiry))
	copy(out[headerSize:], nonce)
	return aead.Seal(out, nonce, value, associatedData(out[:headerSize], fullKey))
}

// Decoding errors. They are allocated once, so that rejecting a value
// allocates nothing.
var (
	errSealedShort   = fmt.Errorf("%w: sealed value shorter than %d bytes", ErrTampered, sealedOverhead)
	errSealedLong    = fmt.Errorf("%w: sealed value longer than %d bytes", ErrTampered, maxSealedSize)
	errSealedVersion = fmt.Errorf("%w: unknown sealed value format version", ErrTampered)
	errSealedAuth    = fmt.Errorf("%w: authentication failed", ErrTampered)
)

// openSealed authenticates and decrypts a sealed value stored under fullKey.
// It returns the plaintext and the expiry from the authenticated header. Any
// failure (short or oversized input, unknown version, wrong key, moved or
// altered bytes) wraps ErrTampered. Lengths are checked before anything is
// allocated; the only allocation is the plaintext (and the associated data),
// smaller than len(sealed).
func openSealed(aead cipher.AEAD, fullKey, sealed []byte) (value []byte, expiry int64, err error) {
	switch {
	case len(sealed) < sealedOverhead:
		return nil, 0, errSealedShort
	case len(sealed) > maxSealedSize:
		return nil, 0, errSealedLong
	case sealed[0] != formatVersion:
		return nil, 0, errSealedVersion
	}
	header := sealed[:headerSize]
	nonce := sealed[headerSize : headerSize+nonceSize]
	ct := sealed[headerSize+nonceSize:]
	value, err = aead.Open(nil, nonce, ct, associatedData(header, fullKey))
	if err != nil {
		return nil, 0, errSealedAuth
	}
	if value == nil {
		value = []byte{}
	}
	return value, int64(binary.BigEndian.Uint64(header[versionSize:])), nil
}
