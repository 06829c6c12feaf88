package mailbox

import (
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// EpochLength is how long one mailbox address lasts: a UTC day.
const EpochLength = 24 * time.Hour

// SecretSize is the length of a mailbox secret.
const SecretSize = 32

// Labels of the derivations; see doc.go.
const (
	epochKeyLabel = "discordopus/mailbox/v1/epoch-key"
	addressLabel  = "discordopus/mailbox/v1/address"
)

// Epoch is the epoch of t: whole UTC days since 1970-01-01 (0 before it).
func Epoch(t time.Time) uint64 {
	s := t.Unix()
	if s < 0 {
		return 0
	}
	return uint64(s) / uint64(EpochLength/time.Second)
}

// EpochStart is the first instant of epoch e, in UTC.
func EpochStart(e uint64) time.Time {
	return time.Unix(int64(e*uint64(EpochLength/time.Second)), 0).UTC()
}

// Address is where a mailbox's envelopes are deposited for one epoch:
// SHA-256 of a label and the epoch's public key.
type Address [32]byte

// String is the address in lowercase hex.
func (a Address) String() string { return hex.EncodeToString(a[:]) }

// ParseAddress reads the form String writes.
func ParseAddress(s string) (Address, error) {
	var a Address
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(a) {
		return a, fmt.Errorf("mailbox address %q: want %d hex digits", s, 2*len(a))
	}
	copy(a[:], b)
	return a, nil
}

// addressOf is the address of the mailbox key pub.
func addressOf(pub []byte) Address {
	h := sha256.New()
	h.Write([]byte(addressLabel))
	h.Write(pub)
	var a Address
	h.Sum(a[:0])
	return a
}

// EpochKey is a mailbox's public key for one epoch: what contacts need to
// deposit. Only the holder of the matching private key fetches and acks.
type EpochKey struct {
	Epoch uint64
	Key   ed25519.PublicKey
}

// Address is the mailbox address of this epoch's key.
func (e EpochKey) Address() Address { return addressOf(e.Key) }

// Keys derives a recipient's per-epoch mailbox keys from its secret.
// Its methods are safe for concurrent use, but not concurrently with Wipe.
type Keys struct {
	secret [SecretSize]byte
	wiped  bool
}

// NewKeys takes a copy of secret, which must be SecretSize random bytes.
func NewKeys(secret []byte) (*Keys, error) {
	if len(secret) != SecretSize {
		return nil, fmt.Errorf("mailbox secret is %d bytes, want %d", len(secret), SecretSize)
	}
	var zero [SecretSize]byte
	if subtle.ConstantTimeCompare(secret, zero[:]) == 1 {
		return nil, errors.New("mailbox secret is all zeros")
	}
	k := &Keys{}
	copy(k.secret[:], secret)
	return k, nil
}

// Private returns epoch's private key, a fresh copy the caller may wipe.
// It panics after Wipe.
func (k *Keys) Private(epoch uint64) ed25519.PrivateKey {
	seed := k.seed(epoch)
	priv := ed25519.NewKeyFromSeed(seed)
	clear(seed)
	return priv
}

// Public returns epoch's public key, to hand to contacts. It panics after
// Wipe.
func (k *Keys) Public(epoch uint64) EpochKey {
	priv := k.Private(epoch)
	pub := ed25519.PublicKey(append([]byte(nil), priv.Public().(ed25519.PublicKey)...))
	clear(priv)
	return EpochKey{Epoch: epoch, Key: pub}
}

// Wipe overwrites the secret. Keys must not be used afterwards.
func (k *Keys) Wipe() {
	clear(k.secret[:])
	k.wiped = true
}

func (k *Keys) seed(epoch uint64) []byte {
	if k.wiped {
		panic("mailbox: Keys used after Wipe")
	}
	info := binary.BigEndian.AppendUint64([]byte(epochKeyLabel), epoch)
	seed, err := hkdf.Key(sha256.New, k.secret[:], nil, string(info), ed25519.SeedSize)
	if err != nil {
		panic("mailbox: hkdf: " + err.Error()) // only for lengths over 255*32
	}
	return seed
}
