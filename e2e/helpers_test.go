package e2e

import (
	"bytes"
	"crypto/ed25519"
	"crypto/mlkem"
	"crypto/mlkem/mlkemtest"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"math/rand/v2"
	"os"
	"testing"
	"time"
)

// t0 is the tests' clock origin.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// seededReader is a deterministic io.Reader for key generation in tests.
type seededReader struct{ c *rand.ChaCha8 }

func newSeededReader(seed string) *seededReader {
	return &seededReader{rand.NewChaCha8(sha256.Sum256([]byte(seed)))}
}

func (r *seededReader) Read(p []byte) (int, error) { return r.c.Read(p) }

// memPrekeys is a PrekeyLookup over in-memory keys.
type memPrekeys struct {
	signed  []*Prekeys
	oneTime map[uint32]*OneTimePrekey
}

func (m *memPrekeys) SignedPrekeys() []*Prekeys { return m.signed }
func (m *memPrekeys) OneTimePrekey(id uint32) *OneTimePrekey {
	return m.oneTime[id]
}

// party is a test user: identity, prekeys, replay cache.
type party struct {
	name   string
	local  *Local
	pre    *memPrekeys
	replay *MemoryReplayCache
}

// e2ePeerID is the binary libp2p PeerID of an Ed25519 key: the identity
// multihash of the protobuf public key.
func e2ePeerID(pub ed25519.PublicKey) []byte {
	return append([]byte{0x00, 0x24, 0x08, 0x01, 0x12, 0x20}, pub...)
}

func newParty(tb testing.TB, name string, oneTime int) *party {
	tb.Helper()
	r := newSeededReader("party " + name)
	seed := make([]byte, ed25519.SeedSize)
	r.Read(seed)
	key := ed25519.NewKeyFromSeed(seed)
	p := &party{name: name, pre: &memPrekeys{oneTime: map[uint32]*OneTimePrekey{}}, replay: &MemoryReplayCache{}}
	p.local = &Local{
		Identity: Identity{Key: key, PeerID: e2ePeerID(key.Public().(ed25519.PublicKey))},
		Prekeys:  p.pre,
		Replay:   p.replay,
		Rand:     r,
	}
	p.rotate(tb, 1, t0)
	for i := range oneTime {
		k, err := GenerateOneTimePrekey(r, uint32(100+i))
		if err != nil {
			tb.Fatal(err)
		}
		p.pre.oneTime[k.ID] = k
	}
	return p
}

// rotate adds a new signed-prekey generation (newest first).
func (p *party) rotate(tb testing.TB, id uint32, created time.Time) {
	tb.Helper()
	g, err := GeneratePrekeys(p.local.Rand, id, created)
	if err != nil {
		tb.Fatal(err)
	}
	p.pre.signed = append([]*Prekeys{g}, p.pre.signed...)
}

func (p *party) peer() Peer { return p.local.Identity.Public() }

func (p *party) bundle(tb testing.TB) *Bundle {
	tb.Helper()
	var ots []*OneTimePrekey
	for _, k := range p.pre.oneTime {
		ots = append(ots, k)
	}
	b, err := p.pre.signed[0].Bundle(p.local.Identity.Key, ots)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// accept runs Accept and commits the result the way a caller must.
func (p *party) accept(tb testing.TB, msg []byte, now time.Time) (*Session, *Received) {
	tb.Helper()
	s, _, rec, err := Accept(p.local, msg, now)
	if err != nil {
		tb.Fatalf("%s: Accept: %v", p.name, err)
	}
	p.commit(rec)
	return s, rec
}

func (p *party) commit(rec *Received) {
	if rec.Initial {
		p.replay.Add(rec.ReplayID, rec.ReplayUntil)
		if rec.OneTimeUsed {
			delete(p.pre.oneTime, rec.OneTimeID)
		}
	}
}

// pair sets up a session from a to b and delivers one message each way.
func pair(tb testing.TB, a, b *party) (sa, sb *Session) {
	tb.Helper()
	sa, err := NewSession(a.local, b.peer(), b.bundle(tb), t0)
	if err != nil {
		tb.Fatal(err)
	}
	m := mustEncrypt(tb, sa, a, "hello "+b.name)
	sb, rec := b.accept(tb, m, t0)
	if string(rec.Plaintext) != "hello "+b.name {
		tb.Fatalf("first message: %q", rec.Plaintext)
	}
	m = mustEncrypt(tb, sb, b, "hello "+a.name)
	if got := mustDecrypt(tb, sa, a, m); got != "hello "+a.name {
		tb.Fatalf("reply: %q", got)
	}
	return sa, sb
}

func mustEncrypt(tb testing.TB, s *Session, p *party, text string) []byte {
	tb.Helper()
	m, err := s.Encrypt(p.local, []byte(text), t0)
	if err != nil {
		tb.Fatalf("%s: Encrypt: %v", p.name, err)
	}
	return m
}

func mustDecrypt(tb testing.TB, s *Session, p *party, m []byte) string {
	tb.Helper()
	rec, err := s.Decrypt(p.local, m, t0)
	if err != nil {
		tb.Fatalf("%s: Decrypt: %v", p.name, err)
	}
	p.commit(rec)
	return string(rec.Plaintext)
}

func mustMarshal(tb testing.TB, s *Session) []byte {
	tb.Helper()
	b, err := s.MarshalBinary()
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func unhex(tb testing.TB, s string) []byte {
	tb.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func sameBytes(a, b []byte) bool { return bytes.Equal(a, b) }

// TestMain makes ML-KEM encapsulation draw from Local.Rand, so that tests
// built on seeded readers are reproducible (fuzz seeds stay valid).
func TestMain(m *testing.M) {
	kemEncapsulate = func(k *mlkem.EncapsulationKey1024, r io.Reader) (ss, ct []byte) {
		var m [32]byte
		if _, err := io.ReadFull(r, m[:]); err != nil {
			panic(err)
		}
		ss, ct, err := mlkemtest.Encapsulate1024(k, m[:])
		if err != nil {
			panic(err)
		}
		return ss, ct
	}
	os.Exit(m.Run())
}

func ed25519Sign(k ed25519.PrivateKey, m []byte) []byte { return ed25519.Sign(k, m) }
