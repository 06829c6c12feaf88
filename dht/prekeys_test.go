package dht

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/discordopus/discordopus/e2e"
	kad "github.com/libp2p/go-libp2p-kad-dht"
	record "github.com/libp2p/go-libp2p-record"
	"github.com/libp2p/go-libp2p/core/crypto"
)

// testBundleSource is a BundleSource the tests rotate by hand: each
// rotation makes a new signed prekey generation under a higher seq.
type testBundleSource struct {
	tb       testing.TB
	identity ed25519.PrivateKey
	changed  chan struct{}

	mu     sync.Mutex
	gen    uint32
	seq    uint64
	bundle *e2e.Bundle
	fail   int // the next fail calls of Bundle fail
}

func newTestBundleSource(tb testing.TB, priv crypto.PrivKey) *testBundleSource {
	tb.Helper()
	s := &testBundleSource{tb: tb, identity: edIdentity(tb, priv), changed: make(chan struct{}, 1)}
	s.rotate()
	return s
}

func edIdentity(tb testing.TB, priv crypto.PrivKey) ed25519.PrivateKey {
	tb.Helper()
	raw, err := priv.Raw()
	if err != nil || priv.Type() != crypto.Ed25519 || len(raw) != ed25519.PrivateKeySize {
		tb.Fatalf("not an Ed25519 key: %v", err)
	}
	return ed25519.PrivateKey(raw)
}

// makeBundle signs a fresh generation id with identity.
func makeBundle(tb testing.TB, identity ed25519.PrivateKey, id uint32) *e2e.Bundle {
	tb.Helper()
	p, err := e2e.GeneratePrekeys(nil, id, time.Now())
	if err != nil {
		tb.Fatal(err)
	}
	defer p.Wipe()
	b, err := p.Bundle(identity, nil)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func mustMarshalBundle(tb testing.TB, b *e2e.Bundle) []byte {
	tb.Helper()
	v, err := b.MarshalBinary()
	if err != nil {
		tb.Fatal(err)
	}
	return v
}

func (s *testBundleSource) rotate() {
	b := makeBundle(s.tb, s.identity, s.gen+1)
	s.mu.Lock()
	s.gen++
	s.seq++
	s.bundle = b
	s.mu.Unlock()
	select {
	case s.changed <- struct{}{}:
	default:
	}
}

func (s *testBundleSource) Bundle() (*e2e.Bundle, uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail > 0 {
		s.fail--
		return nil, 0, errors.New("source failure (test)")
	}
	return s.bundle, s.seq, nil
}

func (s *testBundleSource) current() (*e2e.Bundle, uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bundle, s.seq
}

func TestPrekeyValidator(t *testing.T) {
	ownerPriv, owner := testKey(t, "owner")
	otherPriv, _ := testKey(t, "other")
	v := PrekeyValidator()
	key := RecordKey(PrekeyNamespace, owner)
	good := makeBundle(t, edIdentity(t, ownerPriv), 7)
	goodBytes := mustMarshalBundle(t, good)

	if err := v.Validate(key, mustSign(t, ownerPriv, PrekeyNamespace, 1, goodBytes)); err != nil {
		t.Fatalf("owner's own bundle refused: %v", err)
	}
	if b, err := openBundle(owner, goodBytes); err != nil || b.PrekeyID != 7 {
		t.Fatalf("openBundle = %v, %v", b, err)
	}

	badSig, _ := e2e.ParseBundle(goodBytes)
	badSig.KEMSig[0] ^= 1
	cases := []struct {
		name    string
		payload []byte
		is      error
	}{
		{"another identity's bundle", mustMarshalBundle(t, makeBundle(t, edIdentity(t, otherPriv), 7)), e2e.ErrWrongPeer},
		{"bad prekey signature", mustMarshalBundle(t, badSig), e2e.ErrBadSignature},
		{"not a bundle", []byte("a prekey bundle"), e2e.ErrMalformed},
		{"empty", nil, e2e.ErrMalformed},
		{"truncated", goodBytes[:len(goodBytes)-1], e2e.ErrMalformed},
	}
	for _, c := range cases {
		err := v.Validate(key, mustSign(t, ownerPriv, PrekeyNamespace, 2, c.payload))
		wantBad(t, c.name, err)
		if !errors.Is(err, c.is) {
			t.Errorf("%s: error %v does not wrap %v", c.name, err, c.is)
		}
		if _, err := openBundle(owner, c.payload); !errors.Is(err, c.is) {
			t.Errorf("%s: openBundle error %v does not wrap %v", c.name, err, c.is)
		}
	}
	if v.MaxPayload != e2e.MaxBundleSize {
		t.Errorf("MaxPayload = %d, want e2e.MaxBundleSize %d", v.MaxPayload, e2e.MaxBundleSize)
	}
	// Select: the higher seq wins whatever the order.
	newer := mustSign(t, ownerPriv, PrekeyNamespace, 5, goodBytes)
	older := mustSign(t, ownerPriv, PrekeyNamespace, 4, goodBytes)
	if i, err := v.Select(key, [][]byte{older, newer}); err != nil || i != 1 {
		t.Errorf("Select = %d, %v; want the seq 5 record", i, err)
	}
}

// fakeTimer hands Serve's waits to the test, which fires them.
type fakeTimer struct {
	waits chan time.Duration
	fire  chan time.Time
}

func newFakeTimer() *fakeTimer {
	return &fakeTimer{waits: make(chan time.Duration), fire: make(chan time.Time)}
}

func (f *fakeTimer) After(d time.Duration) <-chan time.Time {
	f.waits <- d
	return f.fire
}

func (f *fakeTimer) expect(t *testing.T, want time.Duration) {
	t.Helper()
	select {
	case d := <-f.waits:
		if d != want {
			t.Fatalf("publisher waits %v, want %v", d, want)
		}
	case <-time.After(time.Minute):
		t.Fatalf("publisher did not start waiting (want %v)", want)
	}
}

// TestBundlePublisherSchedule: publish at start, back off on failure,
// republish on the interval and at once on a change.
func TestBundlePublisherSchedule(t *testing.T) {
	priv, _ := testKey(t, "publisher")
	src := newTestBundleSource(t, priv)
	<-src.changed
	var mu sync.Mutex
	var puts []uint64
	putFails := 2
	put := func(_ context.Context, ns string, seq uint64, payload []byte) error {
		mu.Lock()
		defer mu.Unlock()
		if ns != PrekeyNamespace {
			t.Errorf("published in namespace %q", ns)
		}
		if b, cur := src.current(); seq == cur && !bytes.Equal(payload, mustMarshalBundle(t, b)) {
			t.Errorf("seq %d published with another bundle", seq)
		}
		if putFails > 0 {
			putFails--
			return errors.New("no peers (test)")
		}
		puts = append(puts, seq)
		return nil
	}
	putCount := func() []uint64 {
		mu.Lock()
		defer mu.Unlock()
		return append([]uint64(nil), puts...)
	}
	timer := newFakeTimer()
	src.fail = 1 // the source fails once, then the DHT twice
	p := newBundlePublisher(PublisherOptions{Source: src, Changed: src.changed, Interval: 30 * time.Minute, After: timer.After, Logger: quietLogger()}, put)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Serve(ctx) }()

	for _, backoff := range []time.Duration{5 * time.Second, 10 * time.Second, 20 * time.Second} {
		timer.expect(t, backoff)
		if seq, err := p.Published(); seq != 0 || err == nil {
			t.Fatalf("Published = %d, %v during failures", seq, err)
		}
		timer.fire <- time.Now()
	}
	timer.expect(t, 30*time.Minute)
	if seq, err := p.Published(); seq != 1 || err != nil {
		t.Fatalf("Published = %d, %v; want seq 1", seq, err)
	}
	timer.fire <- time.Now() // the interval passes: the same record again
	timer.expect(t, 30*time.Minute)
	src.rotate() // signals Changed: published without the timer firing
	timer.expect(t, 30*time.Minute)
	p.Republish()
	timer.expect(t, 30*time.Minute)
	if got := putCount(); fmt.Sprint(got) != "[1 1 2 2]" {
		t.Errorf("published seqs %v, want [1 1 2 2]", got)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Serve returned %v", err)
	}
}

// startRogue joins a DHT node to tn that stores and forwards anything
// (validator acceptAll), as TestSignedRecordsNetwork's rogue does.
func startRogue(t *testing.T, ctx context.Context, tn *testNet) *kad.IpfsDHT {
	t.Helper()
	rh := newLoopbackHost(t)
	t.Cleanup(func() { rh.Close() })
	rogue, err := kad.New(rh, kad.ProtocolPrefix(ProtocolPrefix), kad.Mode(kad.ModeServer),
		kad.Validator(acceptAll{}), kad.DisableProviders())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rogue.Close() })
	for _, n := range tn.nodes {
		if err := rh.Connect(ctx, n.info()); err != nil {
			t.Fatalf("rogue connect: %v", err)
		}
	}
	waitFor(t, time.Minute, func() (bool, string) {
		return rogue.RoutingTable().Size() == len(tn.nodes), fmt.Sprintf("rogue's routing table holds %d of our %d nodes", rogue.RoutingTable().Size(), len(tn.nodes))
	})
	return rogue
}

// TestPrekeyBundlesNetwork publishes a bundle with a BundlePublisher on a
// 6-node network and fetches it elsewhere; a rotation is republished at
// once and seen by fetchers; a stale record, a bundle of another identity
// and one with a bad signature, all signed by the owner and pushed by a
// rogue node, are refused by every node.
func TestPrekeyBundlesNetwork(t *testing.T) {
	const nodes = 6
	o := testOptions()
	o.Namespaces = map[string]record.Validator{PrekeyNamespace: PrekeyValidator()}
	tn := startSwarm(t, nodes, 2, o)
	tn.waitReady(time.Minute, nodes-1)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	owner := tn.nodes[0]
	ownerPriv := ownerKey(t, owner.h)
	src := newTestBundleSource(t, ownerPriv)
	pub, err := owner.d.NewBundlePublisher(PublisherOptions{Source: src, Changed: src.changed})
	if err != nil {
		t.Fatal(err)
	}
	pctx, pcancel := context.WithCancel(ctx)
	pdone := make(chan error, 1)
	go func() { pdone <- pub.Serve(pctx) }()
	defer func() {
		pcancel()
		if err := <-pdone; err != nil {
			t.Errorf("publisher Serve returned %v", err)
		}
	}()
	waitPublished := func(seq uint64) {
		t.Helper()
		waitFor(t, time.Minute, func() (bool, string) {
			got, err := pub.Published()
			return got >= seq, fmt.Sprintf("published seq %d (last error %v), want %d", got, err, seq)
		})
	}
	expect := func(n *testNode, want *e2e.Bundle) {
		t.Helper()
		got, err := n.d.FetchBundle(ctx, owner.h.ID())
		if err != nil {
			t.Fatalf("FetchBundle from %s: %v", n.h.ID(), err)
		}
		if !bytes.Equal(mustMarshalBundle(t, got), mustMarshalBundle(t, want)) {
			t.Errorf("FetchBundle from %s = prekey %d, want prekey %d", n.h.ID(), got.PrekeyID, want.PrekeyID)
		}
	}

	waitPublished(1)
	first, _ := src.current()
	expect(tn.nodes[nodes-1], first)

	src.rotate()
	waitPublished(2)
	second, _ := src.current()
	for _, n := range tn.nodes[1:] {
		expect(n, second)
	}

	// The owner's own node refuses to publish a bundle that is not its own.
	_, other := newIdentity(t)
	otherPriv, _ := newIdentity(t)
	foreign := mustMarshalBundle(t, makeBundle(t, edIdentity(t, otherPriv), 1))
	if err := owner.d.PutSigned(ctx, PrekeyNamespace, 3, foreign); err == nil {
		t.Error("PutSigned published another identity's bundle")
	}

	key := RecordKey(PrekeyNamespace, owner.h.ID())
	current := mustSign(t, ownerPriv, PrekeyNamespace, 2, mustMarshalBundle(t, second))
	badSig, _ := e2e.ParseBundle(mustMarshalBundle(t, second))
	badSig.X25519Sig[5] ^= 0x40
	forgeries := map[string][]byte{
		"stale seq 1":               mustSign(t, ownerPriv, PrekeyNamespace, 1, mustMarshalBundle(t, first)),
		"another identity's bundle": mustSign(t, ownerPriv, PrekeyNamespace, 99, foreign),
		"bad prekey signature":      mustSign(t, ownerPriv, PrekeyNamespace, 99, mustMarshalBundle(t, badSig)),
	}
	rogue := startRogue(t, ctx, tn)
	for name, v := range forgeries {
		if err := rogue.PutValue(ctx, key, v); err != nil {
			t.Fatalf("rogue PutValue (%s): %v", name, err)
		}
	}
	// Control: the rogue's own bundle, under its own key, does get stored:
	// the path the forgeries took works.
	rh := rogue.Host()
	roguePriv := ownerKey(t, rh)
	rogueKey := RecordKey(PrekeyNamespace, rh.ID())
	rogueOwn := mustSign(t, roguePriv, PrekeyNamespace, 1, mustMarshalBundle(t, makeBundle(t, edIdentity(t, roguePriv), 1)))
	if err := rogue.PutValue(ctx, rogueKey, rogueOwn); err != nil {
		t.Fatalf("rogue PutValue of its own bundle: %v", err)
	}
	for _, n := range tn.nodes {
		if got, err := storedValue(ctx, rh, n.h.ID(), rogueKey); err != nil || !bytes.Equal(got, rogueOwn) {
			t.Errorf("node %s did not store the rogue's own valid bundle (%s, %v): the forgeries may never have arrived", n.h.ID(), short(got), err)
		}
	}
	for _, n := range tn.nodes {
		got, err := storedValue(ctx, rh, n.h.ID(), key)
		if err != nil {
			t.Fatalf("ask %s for its stored value: %v", n.h.ID(), err)
		}
		if !bytes.Equal(got, current) {
			what := short(got)
			for name, v := range forgeries {
				if bytes.Equal(got, v) {
					what = name
				}
			}
			t.Errorf("node %s stores %s, not the owner's current record", n.h.ID(), what)
		}
		expect(n, second)
	}

	// Nobody published for other: a prompt error, not a hang.
	if _, err := tn.nodes[1].d.FetchBundle(ctx, other); err == nil {
		t.Error("FetchBundle of a peer without a bundle succeeded")
	}
}

// TestFetchBundleCancelled: a caller that has given up gets no answer,
// at once.
func TestFetchBundleCancelled(t *testing.T) {
	tn := newTestNet(t)
	o := testOptions()
	o.Namespaces = map[string]record.Validator{PrekeyNamespace: PrekeyValidator()}
	n := tn.addLoopback(o)
	_, other := newIdentity(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start := time.Now()
	if _, err := n.d.FetchBundle(ctx, other); err == nil {
		t.Error("FetchBundle with a cancelled context succeeded")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("FetchBundle with a cancelled context took %v", d)
	}
}
