package e2e

import (
	"crypto/hkdf"
	"crypto/sha256"
	"encoding"
	"encoding/binary"
	"hash"
)

// KDF labels (HKDF info strings). The first four are libsignal's, so that
// our root, chain and message-key derivations reproduce libsignal's known
// answers; the others are ours.
const (
	labelText        = "WhisperText"        // initial root key from SK (libsignal derive_keys, pre-Kyber label)
	labelRatchet     = "WhisperRatchet"     // root KDF (libsignal RootKey::create_chain)
	labelMessageKeys = "WhisperMessageKeys" // message keys (libsignal MessageKeys::derive_keys)
	labelPQXDH       = "DiscordOpus_X25519_SHA-256_ML-KEM-1024"
	labelHeaderKeys  = "DiscordOpus_HeaderKeys_v1"    // initial header keys HKa || NHKb from SK
	labelHeaderKey   = "DiscordOpus_NextHeaderKey_v1" // next header key in each root step
	labelEnvelope    = "DiscordOpus_InitialEnvelope_v1"
	labelReplayID    = "DiscordOpus_ReplayID_v1"
	labelAD          = "DiscordOpus_AD_v1"
)

// kdfHook, when set (by tests), is called once per chain-key step, message-key
// derivation and root-key step, so tests can prove that no key was derived.
var kdfHook func()

func kdfEvent() {
	if kdfHook != nil {
		kdfHook()
	}
}

// hmacSHA256 computes HMAC-SHA256 without allocating, keeping the SHA-256
// states after the ipad and opad blocks so that several MACs under one key
// cost two compressions each (RFC 2104 with a key of at most 64 bytes). It
// is scratch memory: one per Session, never shared between goroutines.
//
// For messages of at most 55 bytes (all of ours) it pads the last block
// itself and reads the digest from the marshaled state, which saves the
// copy and bookkeeping of Sum (about a quarter of the cost of a short
// HMAC). fastFinish checks at start-up that this gives SHA-256; if a future
// Go changed the marshaled layout, sum falls back to Sum.
type hmacSHA256 struct {
	in, out  hash.Hash
	ist, ost []byte // marshaled states after absorbing key^ipad, key^opad
	blk      [64]byte
	st       []byte // marshaled state scratch
	isum     [32]byte
	msg      []byte // message scratch (callers build the message here)
}

func newHMAC() *hmacSHA256 {
	return &hmacSHA256{
		in:  sha256.New(),
		out: sha256.New(),
		ist: make([]byte, 0, 128),
		ost: make([]byte, 0, 128),
		st:  make([]byte, 0, 128),
		msg: make([]byte, 0, 128),
	}
}

// zeroKeyIn and zeroKeyOut are the states of the all-zero 32-byte key:
// HKDF-Extract with no salt (RFC 5869: salt = HashLen zeros).
var zeroKeyIn, zeroKeyOut = func() ([]byte, []byte) {
	h := newHMAC()
	h.setKey(make([]byte, 32))
	return h.ist, h.ost
}()

// fastFinish reports whether the marshaled SHA-256 state is laid out as
// "sha\x03" || H0..H7 (big-endian) || ..., checked against sha256.Sum256.
var fastFinish = func() bool {
	d := sha256.New()
	var blk [64]byte
	blk[0] = 'x'
	blk[1] = 0x80
	blk[63] = 8
	d.Write(blk[:])
	st, err := d.(encoding.BinaryAppender).AppendBinary(nil)
	want := sha256.Sum256([]byte("x"))
	return err == nil && len(st) >= 36 && string(st[:4]) == "sha\x03" && [32]byte(st[4:36]) == want
}()

// setKey keys the HMAC with a key of at most 64 bytes.
func (h *hmacSHA256) setKey(key []byte) {
	const ipad, opad = 0x3636363636363636, 0x5c5c5c5c5c5c5c5c
	clear(h.blk[:])
	copy(h.blk[:], key)
	for i := 0; i < 64; i += 8 {
		binary.LittleEndian.PutUint64(h.blk[i:], binary.LittleEndian.Uint64(h.blk[i:])^ipad)
	}
	h.in.Reset()
	h.in.Write(h.blk[:])
	h.ist, _ = h.in.(encoding.BinaryAppender).AppendBinary(h.ist[:0])
	for i := 0; i < 64; i += 8 {
		binary.LittleEndian.PutUint64(h.blk[i:], binary.LittleEndian.Uint64(h.blk[i:])^ipad^opad)
	}
	h.out.Reset()
	h.out.Write(h.blk[:])
	h.ost, _ = h.out.(encoding.BinaryAppender).AppendBinary(h.ost[:0])
	clear(h.blk[:])
}

// finish absorbs m into d (which has absorbed exactly one 64-byte block)
// and writes the SHA-256 digest to out.
func (h *hmacSHA256) finish(d hash.Hash, m []byte, out *[32]byte) {
	if !fastFinish || len(m) > 55 {
		d.Write(m)
		h.st = d.Sum(h.st[:0])
		copy(out[:], h.st)
		return
	}
	n := copy(h.blk[:], m)
	h.blk[n] = 0x80
	clear(h.blk[n+1 : 56])
	binary.BigEndian.PutUint64(h.blk[56:], uint64(64+n)*8)
	d.Write(h.blk[:])
	h.st, _ = d.(encoding.BinaryAppender).AppendBinary(h.st[:0])
	copy(out[:], h.st[4:36])
}

// sum computes HMAC(key, h.msg) into out, with the key of setKey.
func (h *hmacSHA256) sum(out *[32]byte) { h.sumWith(h.ist, h.ost, out) }

// sumWith computes HMAC(key, h.msg) into out, with the key's pad states.
func (h *hmacSHA256) sumWith(ist, ost []byte, out *[32]byte) {
	h.in.(encoding.BinaryUnmarshaler).UnmarshalBinary(ist)
	h.finish(h.in, h.msg, &h.isum)
	h.out.(encoding.BinaryUnmarshaler).UnmarshalBinary(ost)
	h.finish(h.out, h.isum[:], out)
}

func (h *hmacSHA256) wipe() {
	clear(h.ist[:cap(h.ist)])
	clear(h.ost[:cap(h.ost)])
	clear(h.st[:cap(h.st)])
	clear(h.isum[:])
	clear(h.blk[:])
	clear(h.msg[:cap(h.msg)])
	h.in.Reset()
	h.out.Reset()
}

// chainStep is libsignal's chain KDF: the message key seed is
// HMAC-SHA256(ck, 0x01) and the next chain key HMAC-SHA256(ck, 0x02).
func (h *hmacSHA256) chainStep(ck *[32]byte) (seed, next [32]byte) {
	kdfEvent()
	h.setKey(ck[:])
	h.msg = append(h.msg[:0], 0x01)
	h.sum(&seed)
	h.msg[0] = 0x02
	h.sum(&next)
	return seed, next
}

// messageKeys is libsignal's message-key derivation, HKDF-SHA256(salt none,
// ikm = seed, info "WhisperMessageKeys"), truncated to the first 64 bytes:
// the cipher key and the "mac key". libsignal's 16-byte IV (bytes 64..80)
// is not used by our cipher and not computed.
func (h *hmacSHA256) messageKeys(seed *[32]byte) (cipherKey, macKey [32]byte) {
	kdfEvent()
	var prk [32]byte
	h.msg = append(h.msg[:0], seed[:]...)
	h.sumWith(zeroKeyIn, zeroKeyOut, &prk)
	h.setKey(prk[:])
	clear(prk[:])
	h.msg = append(h.msg[:0], labelMessageKeys...)
	h.msg = append(h.msg, 1)
	h.sum(&cipherKey)
	h.msg = append(h.msg[:0], cipherKey[:]...)
	h.msg = append(h.msg, labelMessageKeys...)
	h.msg = append(h.msg, 2)
	h.sum(&macKey)
	return cipherKey, macKey
}

// rootStep is the root KDF of the Double Ratchet with header encryption:
// PRK = HKDF-Extract(salt = rk, ikm = dh); (rk', ck) = HKDF-Expand(PRK,
// "WhisperRatchet", 64) exactly as libsignal; nhk = HKDF-Expand(PRK,
// labelHeaderKey, 32), a separate expansion so libsignal's outputs stay
// unchanged.
func rootStep(rk *[32]byte, dh []byte) (newRK, ck, nhk [32]byte) {
	kdfEvent()
	prk, _ := hkdf.Extract(sha256.New, dh, rk[:])
	out, _ := hkdf.Expand(sha256.New, prk, labelRatchet, 64)
	copy(newRK[:], out[:32])
	copy(ck[:], out[32:])
	clear(out)
	hk, _ := hkdf.Expand(sha256.New, prk, labelHeaderKey, 32)
	copy(nhk[:], hk)
	clear(hk)
	clear(prk)
	return newRK, ck, nhk
}

// deriveRootChain is libsignal's derive_keys: HKDF-SHA256(salt none, ikm,
// info) split into a root key and a chain key. We call it with ikm = SK and
// info "WhisperText"; the known-answer tests call it with libsignal's X3DH
// secret input.
func deriveRootChain(ikm []byte, info string) (rk, ck [32]byte) {
	kdfEvent()
	out, _ := hkdf.Key(sha256.New, ikm, nil, info, 64)
	copy(rk[:], out[:32])
	copy(ck[:], out[32:])
	clear(out)
	return rk, ck
}

// hkdf32 is HKDF-SHA256(salt none, ikm, info) of length 32*n.
func hkdfKeys(ikm []byte, info string, n int) []byte {
	out, _ := hkdf.Key(sha256.New, ikm, nil, info, 32*n)
	return out
}
