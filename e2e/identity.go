package e2e

import (
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/sha512"
	"fmt"
	"math/big"
)

// MaxPeerIDSize bounds the PeerID bytes carried in messages and sessions.
// A libp2p Ed25519 PeerID is 38 bytes.
const MaxPeerIDSize = 64

// Identity is the local party: its Ed25519 identity (the libp2p key) and its
// PeerID bytes (the stable ID bound into associated data).
type Identity struct {
	Key    ed25519.PrivateKey
	PeerID []byte
}

// Public returns the public half of the identity.
func (i Identity) Public() Peer {
	return Peer{Key: i.publicKey(), PeerID: i.PeerID}
}

func (i Identity) publicKey() ed25519.PublicKey {
	if len(i.Key) != ed25519.PrivateKeySize {
		return nil
	}
	return ed25519.PublicKey(i.Key[32:])
}

// Peer names the remote party.
type Peer struct {
	Key    ed25519.PublicKey
	PeerID []byte
}

func (p Peer) check() error {
	if len(p.Key) != ed25519.PublicKeySize {
		return fmt.Errorf("%w: identity key has %d bytes", ErrMalformed, len(p.Key))
	}
	if len(p.PeerID) == 0 || len(p.PeerID) > MaxPeerIDSize {
		return fmt.Errorf("%w: PeerID has %d bytes (1..%d)", ErrMalformed, len(p.PeerID), MaxPeerIDSize)
	}
	return nil
}

// identityX25519Private converts an Ed25519 private key to the X25519
// private key with the same public point: the clamped first half of
// SHA-512(seed), as RFC 8032 derives the Ed25519 scalar.
func identityX25519Private(k ed25519.PrivateKey) (*ecdh.PrivateKey, error) {
	if len(k) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("%w: identity private key has %d bytes", ErrMalformed, len(k))
	}
	h := sha512.Sum512(k.Seed())
	defer clear(h[:])
	h[0] &= 248
	h[31] &= 127
	h[31] |= 64
	return ecdh.X25519().NewPrivateKey(h[:32])
}

var (
	fieldP = new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 255), big.NewInt(19))
	// edwardsD = -121665/121666 mod p
	edwardsD = func() *big.Int {
		d := new(big.Int).ModInverse(big.NewInt(121666), fieldP)
		d.Mul(d, big.NewInt(-121665))
		return d.Mod(d, fieldP)
	}()
	pMinus1Half = new(big.Int).Rsh(new(big.Int).Sub(fieldP, big.NewInt(1)), 1)
)

// identityX25519Public converts an Ed25519 public key to the X25519 public
// key u = (1+y)/(1-y) mod p. It rejects non-canonical encodings (y >= p),
// encodings that are not points of the curve (no x with the given y), the
// sign bit on x = 0, and y = 1 (the neutral element, u undefined). Points of
// small order are caught later: X25519 with them yields all zeros, which
// every DH in this package rejects.
func identityX25519Public(pub ed25519.PublicKey) (*ecdh.PublicKey, error) {
	if len(pub) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("%w: identity key has %d bytes", ErrMalformed, len(pub))
	}
	var be [32]byte
	for i := range 32 {
		be[i] = pub[31-i]
	}
	sign := be[0] >> 7
	be[0] &= 0x7f
	y := new(big.Int).SetBytes(be[:])
	one := big.NewInt(1)
	if y.Cmp(fieldP) >= 0 || y.Cmp(one) == 0 {
		return nil, fmt.Errorf("%w: identity key is not a valid Ed25519 point", ErrMalformed)
	}
	// x^2 = (y^2 - 1) / (d y^2 + 1)
	y2 := new(big.Int).Mul(y, y)
	y2.Mod(y2, fieldP)
	num := new(big.Int).Sub(y2, one)
	num.Mod(num, fieldP)
	den := new(big.Int).Mul(edwardsD, y2)
	den.Add(den, one)
	den.Mod(den, fieldP)
	x2 := new(big.Int).ModInverse(den, fieldP)
	if x2 == nil {
		return nil, fmt.Errorf("%w: identity key is not a valid Ed25519 point", ErrMalformed)
	}
	x2.Mul(x2, num)
	x2.Mod(x2, fieldP)
	if x2.Sign() == 0 {
		if sign != 0 {
			return nil, fmt.Errorf("%w: identity key is not canonical", ErrMalformed)
		}
	} else if new(big.Int).Exp(x2, pMinus1Half, fieldP).Cmp(one) != 0 {
		return nil, fmt.Errorf("%w: identity key is not on the curve", ErrMalformed)
	}
	// u = (1 + y) / (1 - y)
	n := new(big.Int).Add(one, y)
	d := new(big.Int).Sub(one, y)
	d.Mod(d, fieldP)
	u := d.ModInverse(d, fieldP)
	u.Mul(u, n)
	u.Mod(u, fieldP)
	var out [32]byte
	u.FillBytes(be[:])
	for i := range 32 {
		out[i] = be[31-i]
	}
	return ecdh.X25519().NewPublicKey(out[:])
}
