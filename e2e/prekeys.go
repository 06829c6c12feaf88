package e2e

import (
	"bytes"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/mlkem"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"io"
	"slices"
	"time"
)

// Sizes of the keys this package handles.
const (
	x25519Size   = 32
	kemKeySize   = mlkem.EncapsulationKeySize1024 // 1568
	kemCTSize    = mlkem.CiphertextSize1024       // 1568
	kemSeedSize  = mlkem.SeedSize                 // 64
	sigSize      = ed25519.SignatureSize          // 64
	identitySize = ed25519.PublicKeySize          // 32
)

// MaxOneTimePrekeys is the most one-time prekeys a Bundle may carry.
const MaxOneTimePrekeys = 32

// Encoding versions of the stored and published formats.
const (
	prekeysVersion = 1
	oneTimeVersion = 1
	bundleVersion  = 1
)

// Fixed layout of a Bundle encoding (see doc.go).
const (
	bundleFixedSize   = 1 + identitySize + 4 + x25519Size + sigSize + kemKeySize + sigSize + 1 // 1766
	bundleOneTimeSize = 4 + x25519Size                                                         // 36
	// MaxBundleSize is the largest valid Bundle encoding.
	MaxBundleSize = bundleFixedSize + MaxOneTimePrekeys*bundleOneTimeSize // 2918

	prekeysSize = 1 + 4 + 8 + 4 + x25519Size + kemSeedSize // 113
	oneTimeSize = 1 + 4 + x25519Size                       // 37
)

// Signature contexts (domain separation) for the two signed prekeys.
const (
	sigContextX25519 = "DiscordOpus signed prekey X25519 v1\x00"
	sigContextKEM    = "DiscordOpus signed prekey ML-KEM-1024 v1\x00"
)

// Prekeys is one private signed-prekey generation: an X25519 prekey and an
// ML-KEM-1024 prekey sharing one ID.
type Prekeys struct {
	ID      uint32
	Created time.Time

	x25519Priv [x25519Size]byte
	kemSeed    [kemSeedSize]byte
	x25519     *ecdh.PrivateKey
	kem        *mlkem.DecapsulationKey1024
}

// GeneratePrekeys creates a new signed-prekey generation from rand (nil
// means crypto/rand).
func GeneratePrekeys(r io.Reader, id uint32, created time.Time) (*Prekeys, error) {
	if r == nil {
		r = rand.Reader
	}
	p := &Prekeys{ID: id, Created: created}
	if _, err := io.ReadFull(r, p.x25519Priv[:]); err != nil {
		return nil, fmt.Errorf("e2e: generate prekeys: %w", err)
	}
	if _, err := io.ReadFull(r, p.kemSeed[:]); err != nil {
		return nil, fmt.Errorf("e2e: generate prekeys: %w", err)
	}
	if err := p.expand(); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *Prekeys) expand() error {
	var err error
	if p.x25519, err = ecdh.X25519().NewPrivateKey(p.x25519Priv[:]); err != nil {
		return fmt.Errorf("%w: prekeys: %v", ErrMalformed, err)
	}
	if p.kem, err = mlkem.NewDecapsulationKey1024(p.kemSeed[:]); err != nil {
		return fmt.Errorf("%w: prekeys: %v", ErrMalformed, err)
	}
	return nil
}

// MarshalBinary encodes the private prekeys (113 bytes, see doc.go). The
// result is secret: store it only sealed.
func (p *Prekeys) MarshalBinary() ([]byte, error) {
	if p.x25519 == nil || p.kem == nil {
		return nil, fmt.Errorf("%w: prekeys were wiped", ErrMalformed)
	}
	b := make([]byte, 0, prekeysSize)
	b = append(b, prekeysVersion)
	b = binary.BigEndian.AppendUint32(b, p.ID)
	b = binary.BigEndian.AppendUint64(b, uint64(p.Created.Unix()))
	b = binary.BigEndian.AppendUint32(b, uint32(p.Created.Nanosecond()))
	b = append(b, p.x25519Priv[:]...)
	b = append(b, p.kemSeed[:]...)
	return b, nil
}

// ParsePrekeys decodes what MarshalBinary produced.
func ParsePrekeys(b []byte) (*Prekeys, error) {
	if len(b) != prekeysSize || b[0] != prekeysVersion {
		return nil, fmt.Errorf("%w: prekeys: bad length or version", ErrMalformed)
	}
	nsec := binary.BigEndian.Uint32(b[13:17])
	if nsec >= 1e9 {
		return nil, fmt.Errorf("%w: prekeys: bad timestamp", ErrMalformed)
	}
	p := &Prekeys{
		ID:      binary.BigEndian.Uint32(b[1:5]),
		Created: time.Unix(int64(binary.BigEndian.Uint64(b[5:13])), int64(nsec)).UTC(),
	}
	copy(p.x25519Priv[:], b[17:49])
	copy(p.kemSeed[:], b[49:113])
	if err := p.expand(); err != nil {
		return nil, err
	}
	return p, nil
}

// Wipe zeroes the private key bytes this value holds and drops the expanded
// keys. (Go's crypto objects cannot be zeroed in place; dropping them leaves
// their memory to the garbage collector.)
func (p *Prekeys) Wipe() {
	clear(p.x25519Priv[:])
	clear(p.kemSeed[:])
	p.x25519 = nil
	p.kem = nil
}

// X25519Public returns the public X25519 prekey.
func (p *Prekeys) X25519Public() []byte { return p.x25519.PublicKey().Bytes() }

// KEMPublic returns the ML-KEM-1024 encapsulation key.
func (p *Prekeys) KEMPublic() []byte { return p.kem.EncapsulationKey().Bytes() }

// OneTimePrekey is a private one-time X25519 prekey.
type OneTimePrekey struct {
	ID uint32

	priv [x25519Size]byte
	key  *ecdh.PrivateKey
}

// GenerateOneTimePrekey creates a one-time prekey from rand (nil means
// crypto/rand).
func GenerateOneTimePrekey(r io.Reader, id uint32) (*OneTimePrekey, error) {
	if r == nil {
		r = rand.Reader
	}
	k := &OneTimePrekey{ID: id}
	if _, err := io.ReadFull(r, k.priv[:]); err != nil {
		return nil, fmt.Errorf("e2e: generate one-time prekey: %w", err)
	}
	var err error
	if k.key, err = ecdh.X25519().NewPrivateKey(k.priv[:]); err != nil {
		return nil, fmt.Errorf("e2e: generate one-time prekey: %w", err)
	}
	return k, nil
}

// MarshalBinary encodes the private one-time prekey (37 bytes).
func (k *OneTimePrekey) MarshalBinary() ([]byte, error) {
	if k.key == nil {
		return nil, fmt.Errorf("%w: one-time prekey was wiped", ErrMalformed)
	}
	b := make([]byte, 0, oneTimeSize)
	b = append(b, oneTimeVersion)
	b = binary.BigEndian.AppendUint32(b, k.ID)
	return append(b, k.priv[:]...), nil
}

// ParseOneTimePrekey decodes what MarshalBinary produced.
func ParseOneTimePrekey(b []byte) (*OneTimePrekey, error) {
	if len(b) != oneTimeSize || b[0] != oneTimeVersion {
		return nil, fmt.Errorf("%w: one-time prekey: bad length or version", ErrMalformed)
	}
	k := &OneTimePrekey{ID: binary.BigEndian.Uint32(b[1:5])}
	copy(k.priv[:], b[5:])
	var err error
	if k.key, err = ecdh.X25519().NewPrivateKey(k.priv[:]); err != nil {
		return nil, fmt.Errorf("%w: one-time prekey: %v", ErrMalformed, err)
	}
	return k, nil
}

// Public returns the public half to publish in a Bundle.
func (k *OneTimePrekey) Public() OneTimePublic {
	return OneTimePublic{ID: k.ID, Key: k.key.PublicKey().Bytes()}
}

// Wipe zeroes the private key bytes and drops the expanded key.
func (k *OneTimePrekey) Wipe() {
	clear(k.priv[:])
	k.key = nil
}

// Bundle is the public half a user publishes (in the DHT, as a signed record).
type Bundle struct {
	Identity  ed25519.PublicKey
	PrekeyID  uint32
	X25519    []byte          // 32
	X25519Sig []byte          // Ed25519 signature by Identity over sigContextX25519 || PrekeyID || X25519
	KEM       []byte          // ML-KEM-1024 encapsulation key (1568 bytes)
	KEMSig    []byte          // Ed25519 signature by Identity over sigContextKEM || PrekeyID || KEM
	OneTime   []OneTimePublic // optional, at most MaxOneTimePrekeys, strictly increasing IDs
}

// OneTimePublic is a published one-time X25519 prekey.
type OneTimePublic struct {
	ID  uint32
	Key []byte
}

func signedPrekeyMessage(context string, id uint32, key []byte) []byte {
	m := make([]byte, 0, len(context)+4+len(key))
	m = append(m, context...)
	m = binary.BigEndian.AppendUint32(m, id)
	return append(m, key...)
}

// Bundle signs this generation's public prekeys with identity and returns
// the bundle to publish, with the given one-time prekeys (sorted by ID).
func (p *Prekeys) Bundle(identity ed25519.PrivateKey, oneTime []*OneTimePrekey) (*Bundle, error) {
	if len(identity) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("%w: identity key has %d bytes", ErrMalformed, len(identity))
	}
	if p.x25519 == nil || p.kem == nil {
		return nil, fmt.Errorf("%w: prekeys were wiped", ErrMalformed)
	}
	if len(oneTime) > MaxOneTimePrekeys {
		return nil, fmt.Errorf("%w: %d one-time prekeys, at most %d", ErrTooLarge, len(oneTime), MaxOneTimePrekeys)
	}
	b := &Bundle{
		Identity: slices.Clone(identity.Public().(ed25519.PublicKey)),
		PrekeyID: p.ID,
		X25519:   p.X25519Public(),
		KEM:      p.KEMPublic(),
	}
	b.X25519Sig = ed25519.Sign(identity, signedPrekeyMessage(sigContextX25519, p.ID, b.X25519))
	b.KEMSig = ed25519.Sign(identity, signedPrekeyMessage(sigContextKEM, p.ID, b.KEM))
	for _, k := range oneTime {
		if k == nil || k.key == nil {
			return nil, fmt.Errorf("%w: nil or wiped one-time prekey", ErrMalformed)
		}
		b.OneTime = append(b.OneTime, k.Public())
	}
	slices.SortFunc(b.OneTime, func(x, y OneTimePublic) int { return cmpU32(x.ID, y.ID) })
	for i := 1; i < len(b.OneTime); i++ {
		if b.OneTime[i].ID == b.OneTime[i-1].ID {
			return nil, fmt.Errorf("%w: duplicate one-time prekey ID %d", ErrMalformed, b.OneTime[i].ID)
		}
	}
	return b, nil
}

func cmpU32(a, b uint32) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// check validates sizes, counts and ordering (not signatures).
func (b *Bundle) check() error {
	switch {
	case len(b.Identity) != identitySize:
		return fmt.Errorf("%w: bundle identity has %d bytes", ErrMalformed, len(b.Identity))
	case len(b.X25519) != x25519Size || !canonicalX25519(b.X25519):
		return fmt.Errorf("%w: bundle X25519 prekey is not a canonical 32-byte key", ErrMalformed)
	case len(b.X25519Sig) != sigSize || len(b.KEMSig) != sigSize:
		return fmt.Errorf("%w: bundle signature length", ErrMalformed)
	case len(b.KEM) != kemKeySize:
		return fmt.Errorf("%w: bundle ML-KEM key has %d bytes", ErrMalformed, len(b.KEM))
	case len(b.OneTime) > MaxOneTimePrekeys:
		return fmt.Errorf("%w: %d one-time prekeys, at most %d", ErrTooLarge, len(b.OneTime), MaxOneTimePrekeys)
	}
	for i, k := range b.OneTime {
		if len(k.Key) != x25519Size || !canonicalX25519(k.Key) {
			return fmt.Errorf("%w: one-time prekey %d is not a canonical 32-byte key", ErrMalformed, k.ID)
		}
		if i > 0 && k.ID <= b.OneTime[i-1].ID {
			return fmt.Errorf("%w: one-time prekey IDs not strictly increasing", ErrMalformed)
		}
	}
	return nil
}

// MarshalBinary encodes the bundle (layout in doc.go).
func (b *Bundle) MarshalBinary() ([]byte, error) {
	if err := b.check(); err != nil {
		return nil, err
	}
	out := make([]byte, 0, bundleFixedSize+len(b.OneTime)*bundleOneTimeSize)
	out = append(out, bundleVersion)
	out = append(out, b.Identity...)
	out = binary.BigEndian.AppendUint32(out, b.PrekeyID)
	out = append(out, b.X25519...)
	out = append(out, b.X25519Sig...)
	out = append(out, b.KEM...)
	out = append(out, b.KEMSig...)
	out = append(out, byte(len(b.OneTime)))
	for _, k := range b.OneTime {
		out = binary.BigEndian.AppendUint32(out, k.ID)
		out = append(out, k.Key...)
	}
	return out, nil
}

// ParseBundle decodes a bundle strictly: the length is checked against the
// count before anything is allocated, and only the canonical encoding (exact
// length, strictly increasing one-time IDs, canonical keys, a valid ML-KEM
// key) is accepted. It does not verify the signatures; call Verify.
func ParseBundle(in []byte) (*Bundle, error) {
	if len(in) < bundleFixedSize || len(in) > MaxBundleSize {
		return nil, fmt.Errorf("%w: bundle of %d bytes", ErrMalformed, len(in))
	}
	if in[0] != bundleVersion {
		return nil, fmt.Errorf("%w: bundle version %d", ErrMalformed, in[0])
	}
	n := int(in[bundleFixedSize-1])
	if n > MaxOneTimePrekeys {
		return nil, fmt.Errorf("%w: %d one-time prekeys, at most %d", ErrTooLarge, n, MaxOneTimePrekeys)
	}
	if len(in) != bundleFixedSize+n*bundleOneTimeSize {
		return nil, fmt.Errorf("%w: bundle length %d does not match %d one-time prekeys", ErrMalformed, len(in), n)
	}
	// One copy of the input; the fields alias it.
	c := bytes.Clone(in)
	off := 1
	next := func(l int) []byte { s := c[off : off+l : off+l]; off += l; return s }
	b := &Bundle{Identity: ed25519.PublicKey(next(identitySize))}
	b.PrekeyID = binary.BigEndian.Uint32(next(4))
	b.X25519 = next(x25519Size)
	b.X25519Sig = next(sigSize)
	b.KEM = next(kemKeySize)
	b.KEMSig = next(sigSize)
	off++ // count
	if n > 0 {
		b.OneTime = make([]OneTimePublic, n)
		for i := range b.OneTime {
			b.OneTime[i].ID = binary.BigEndian.Uint32(next(4))
			b.OneTime[i].Key = next(x25519Size)
		}
	}
	if err := b.check(); err != nil {
		return nil, err
	}
	if _, err := mlkem.NewEncapsulationKey1024(b.KEM); err != nil {
		return nil, fmt.Errorf("%w: bundle ML-KEM key: %v", ErrMalformed, err)
	}
	return b, nil
}

// Verify checks both prekey signatures against b.Identity.
func (b *Bundle) Verify() error {
	if err := b.check(); err != nil {
		return err
	}
	id := ed25519.PublicKey(b.Identity)
	if !ed25519.Verify(id, signedPrekeyMessage(sigContextX25519, b.PrekeyID, b.X25519), b.X25519Sig) {
		return fmt.Errorf("%w: X25519 prekey %d", ErrBadSignature, b.PrekeyID)
	}
	if !ed25519.Verify(id, signedPrekeyMessage(sigContextKEM, b.PrekeyID, b.KEM), b.KEMSig) {
		return fmt.Errorf("%w: ML-KEM prekey %d", ErrBadSignature, b.PrekeyID)
	}
	return nil
}

// canonicalX25519 reports whether k (32 bytes, little-endian u) is < 2^255-19.
// RFC 7748 receivers mask the top bit and reduce; we publish and accept only
// the canonical encoding so that one key has one encoding.
func canonicalX25519(k []byte) bool {
	if k[31]&0x80 != 0 {
		return false
	}
	if k[31] != 0x7f {
		return true
	}
	for i := 30; i >= 1; i-- {
		if k[i] != 0xff {
			return true
		}
	}
	return k[0] < 0xed
}
