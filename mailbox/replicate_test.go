package mailbox

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// Replication between holders (Repairer, RELEASE, tombstones) with a
// fixed view of who is closest; network_test.go runs it over a real DHT.

// newHolderOn starts a holder on the shared clock clk.
func newHolderOn(t testing.TB, clk *clock, tweak func(*ServerOptions)) *holder {
	t.Helper()
	hd := &holder{t: t, dir: t.TempDir(), clock: clk, h: newHost(t)}
	hd.opts = ServerOptions{DepositsPerSecond: -1, ReplicatesPerSecond: -1, Now: clk.Now, Logger: quietLogger(t)}
	if tweak != nil {
		tweak(&hd.opts)
	}
	hd.start()
	t.Cleanup(hd.close)
	return hd
}

// meet gives every holder the others' addresses.
func meet(hs ...*holder) {
	for _, a := range hs {
		for _, b := range hs {
			if a != b {
				a.h.Peerstore().AddAddrs(b.h.ID(), b.h.Addrs(), time.Hour)
			}
		}
	}
}

// fixedClosest answers ClosestPeers with a fixed set, nearest first (by
// kad's distance to the key), without the asker: like the DHT, when the
// set is all the servers there are.
type fixedClosest struct {
	self  peer.ID
	peers func() []peer.ID
}

func (f fixedClosest) ClosestPeers(_ context.Context, key []byte) ([]peer.ID, error) {
	ps := slices.DeleteFunc(slices.Clone(f.peers()), func(p peer.ID) bool { return p == f.self })
	return sortByDistance(key, ps), nil
}

func newRepairer(t testing.TB, hd *holder, peers func() []peer.ID, tweak func(*RepairOptions)) *Repairer {
	t.Helper()
	o := RepairOptions{Closest: fixedClosest{hd.h.ID(), peers}, Logger: quietLogger(t)}
	if tweak != nil {
		tweak(&o)
	}
	r, err := NewRepairer(hd.srv, o)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func ids(hs ...*holder) func() []peer.ID {
	return func() []peer.ID {
		var out []peer.ID
		for _, h := range hs {
			out = append(out, h.h.ID())
		}
		return out
	}
}

func held(t testing.TB, hd *holder, a Address) map[[32]byte]time.Time {
	t.Helper()
	envs, err := hd.srv.Envelopes(a)
	if err != nil {
		t.Fatal(err)
	}
	out := map[[32]byte]time.Time{}
	for _, e := range envs {
		out[e.ID] = e.Expires
	}
	return out
}

func round(t testing.TB, r *Repairer) RepairStats {
	t.Helper()
	st, err := r.Round(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// releaseSamples are frames of the replication extension: two a client
// sends, then one a holder sends.
func releaseSamples() []*frame {
	a := Address{1}
	rel := bytes.Repeat([]byte{7}, 64)
	pub := bytes.Repeat([]byte{4}, 32)
	return []*frame{
		{kind: kindAck, address: a, ids: [][32]byte{{1}, {2}}, releases: [][]byte{rel, rel}},
		{kind: kindRelease, address: a, pub: pub, tombs: []tombstone{{id: [32]byte{1}, expires: 1900000000000, release: rel}}},
		{kind: kindOK, ids: [][32]byte{{3}}, expires: 1900000000000, pub: pub, releases: [][]byte{rel}},
	}
}

func TestReleaseFrames(t *testing.T) {
	a := Address{1}
	rel := bytes.Repeat([]byte{7}, 64)
	pub := bytes.Repeat([]byte{4}, 32)
	for _, f := range releaseSamples() {
		b := f.marshal()
		g, err := decodeAny(b)
		if err != nil {
			t.Fatalf("%v: %v", f.kind, err)
		}
		if !bytes.Equal(g.marshal(), b) || !reflect.DeepEqual(f, g) {
			t.Fatalf("%v: round trip gave %+v", f.kind, g)
		}
	}
	bad := []*frame{
		{kind: kindAck, address: a, ids: [][32]byte{{1}, {2}}, releases: [][]byte{rel}},                      // one release short
		{kind: kindOK, ids: [][32]byte{{3}}, expires: 1900000000000, pub: pub, releases: [][]byte{rel[:63]}}, // short release
		{kind: kindRelease, address: a, pub: pub, tombs: []tombstone{{id: [32]byte{1}, expires: 1, release: rel[:10]}}},
	}
	for _, f := range bad {
		if _, err := decodeAny(f.marshal()); !errors.Is(err, ErrBadFrame) {
			t.Errorf("%v: %v, want ErrBadFrame", f.kind, err)
		}
	}
	// A release without its public key, or a RELEASE without tombstones.
	okNoPub := appendBytesField(okFrame([32]byte{3}, 1900000000000).marshal(), fRelease, rel)
	if _, err := decodeServerFrame(okNoPub); !errors.Is(err, ErrBadFrame) {
		t.Errorf("OK with a release and no key: %v", err)
	}
	empty := (&frame{kind: kindRelease, address: a, pub: pub}).marshal()
	if _, err := decodeClientFrame(empty); !errors.Is(err, ErrBadFrame) {
		t.Errorf("RELEASE without tombstones: %v", err)
	}
}

// An ACK is remembered for ids the holder never had, so a replica that
// arrives later is not stored; the holder tells the replicating holder,
// with the recipient's release, which it checks.
func TestAckBeforeReplica(t *testing.T) {
	clk := newClock()
	src, dst := newHolderOn(t, clk, nil), newHolderOn(t, clk, nil)
	meet(src, dst)
	c := newClient(t, src, dst)
	bob := newRecipient(t, "bob", clk.Now())
	env := envelope(300, "late replica")
	r, err := Deposit(t.Context(), c, src.h.ID(), bob.addr, env, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := Ack(t.Context(), c, dst.h.ID(), bob.key, [][32]byte{r.ID}); err != nil {
		t.Fatal(err)
	}
	rel, err := replicate(t.Context(), src.h, dst.h.ID(), bob.addr, Held{ID: r.ID, Envelope: env, Expires: r.Expires})
	if err != nil {
		t.Fatal(err)
	}
	if rel == nil || !verifyRelease(rel.pub, bob.addr, r.ID, rel.t.release) {
		t.Fatalf("no valid release in the answer: %+v", rel)
	}
	if st := dst.srv.Stats(); st.Envelopes != 0 {
		t.Fatalf("an acknowledged envelope was stored: %+v", st)
	}
	// The tombstone and its release survive a restart.
	dst.restart()
	if _, err := replicate(t.Context(), src.h, dst.h.ID(), bob.addr, Held{ID: r.ID, Envelope: env, Expires: r.Expires}); err != nil {
		t.Fatal(err)
	}
	if st := dst.srv.Stats(); st.Envelopes != 0 {
		t.Fatalf("after a restart, an acknowledged envelope was stored: %+v", st)
	}
}

func TestReleaseNeedsTheRecipientsSignature(t *testing.T) {
	clk := newClock()
	hd := newHolderOn(t, clk, nil)
	c := newClient(t, hd)
	bob := newRecipient(t, "bob", clk.Now())
	mallory := newRecipient(t, "mallory", clk.Now())
	r, err := Deposit(t.Context(), c, hd.h.ID(), bob.addr, envelope(100, "keep me"), 0)
	if err != nil {
		t.Fatal(err)
	}
	pub := []byte(bob.keys.Public(Epoch(clk.Now())).Key)
	forged := releases(mallory.key, bob.addr, [][32]byte{r.ID})[0]
	cases := []struct {
		name string
		pub  []byte
		rel  []byte
	}{
		{"signed by another key", pub, forged},
		{"another key for the address", []byte(mallory.keys.Public(Epoch(clk.Now())).Key), releases(mallory.key, bob.addr, [][32]byte{r.ID})[0]},
		{"signed for another id", pub, releases(bob.key, bob.addr, [][32]byte{{9}})[0]},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := sendReleases(t.Context(), c, hd.h.ID(), bob.addr, tc.pub, []tombstone{{id: r.ID, expires: r.Expires.UnixMilli(), release: tc.rel}})
			wantKind(t, err, ErrUnauthorized)
		})
	}
	// An ACK proven with Bob's key but carrying a bad release is refused too.
	_, err = call(t.Context(), c, hd.h.ID(), &frame{kind: kindAck, address: bob.addr, ids: [][32]byte{r.ID}, releases: [][]byte{forged}}, signer(bob.key))
	wantKind(t, err, ErrUnauthorized)
	if st := hd.srv.Stats(); st.Envelopes != 1 {
		t.Fatalf("a refused release deleted mail: %+v", st)
	}
	// Bob's own release works, from anyone who carries it.
	good := releases(bob.key, bob.addr, [][32]byte{r.ID})[0]
	if err := sendReleases(t.Context(), c, hd.h.ID(), bob.addr, pub, []tombstone{{id: r.ID, expires: r.Expires.UnixMilli(), release: good}}); err != nil {
		t.Fatal(err)
	}
	if st := hd.srv.Stats(); st.Envelopes != 0 {
		t.Fatalf("release did not delete: %+v", st)
	}
}

// A round hands every envelope, with its original expiry, to the other
// closest holders; then only what changed: a new holder among the closest
// gets everything, the others nothing until ResyncAfter. A holder that is
// not among the closest keeps its copy.
func TestRepairHandsOn(t *testing.T) {
	clk := newClock()
	var hs []*holder
	for range 4 {
		hs = append(hs, newHolderOn(t, clk, nil))
	}
	meet(hs...)
	c := newClient(t, hs...)
	bob := newRecipient(t, "bob", clk.Now())
	// Order the holders by distance to Bob's address.
	slices.SortFunc(hs, func(x, y *holder) int {
		if sortByDistance(bob.addr[:], []peer.ID{x.h.ID(), y.h.ID()})[0] == x.h.ID() {
			return -1
		}
		return 1
	})
	far := hs[3]
	want := map[[32]byte]time.Time{}
	for i := range 20 {
		r, err := Deposit(t.Context(), c, far.h.ID(), bob.addr, envelope(1000+i, "hand on"), time.Duration(i+1)*time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		want[r.ID] = r.Expires
		clk.Add(time.Second)
	}
	members := slices.Clone(hs)
	rep := newRepairer(t, far, func() []peer.ID { return ids(members...)() }, func(o *RepairOptions) { o.Replicas = 3 })
	st := round(t, rep)
	if st.Sent != 60 || st.Failures != 0 || st.Addresses != 1 {
		t.Fatalf("first round: %+v", st)
	}
	for _, hd := range hs {
		if got := held(t, hd, bob.addr); !sameHeld(got, want) {
			t.Fatalf("holder has %d envelopes, want the 20 with their expiries", len(got))
		}
	}
	if st := round(t, rep); st.Unchanged != 1 || st.Sent != 0 {
		t.Fatalf("second round: %+v", st)
	}
	// A new node nearer than all: only it is handed the envelopes, and far,
	// now fifth, keeps its copies.
	var nu *holder
	for nu == nil {
		h := newHolderOn(t, clk, nil)
		if sortByDistance(bob.addr[:], []peer.ID{h.h.ID(), hs[0].h.ID()})[0] == h.h.ID() {
			nu = h
		}
	}
	meet(append(hs, nu)...)
	members = append(members, nu)
	if st := round(t, rep); st.Sent != 20 || st.Failures != 0 {
		t.Fatalf("round after a node joined: %+v", st)
	}
	if got := held(t, nu, bob.addr); !sameHeld(got, want) {
		t.Fatalf("the new node has %d envelopes", len(got))
	}
	if got := held(t, far, bob.addr); !sameHeld(got, want) {
		t.Fatalf("far kept %d envelopes", len(got))
	}
	// After ResyncAfter it hands them on again, idempotently.
	clk.Add(DefaultResyncAfter)
	if st := round(t, rep); st.Sent != 3*14 { // 6 expired in the meantime
		t.Fatalf("resync round: %+v", st)
	}
	if got := held(t, hs[0], bob.addr); len(got) != 14 {
		t.Fatalf("holder has %d envelopes, want 14", len(got))
	}
}

func sameHeld(a, b map[[32]byte]time.Time) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || !w.Equal(v) {
			return false
		}
	}
	return true
}

// Bob acks at one holder; repair carries the release to the others, which
// delete their copies, and nothing comes back.
func TestRepairCarriesAcks(t *testing.T) {
	clk := newClock()
	var hs []*holder
	for range 4 {
		hs = append(hs, newHolderOn(t, clk, nil))
	}
	meet(hs...)
	c := newClient(t, hs...)
	bob := newRecipient(t, "bob", clk.Now())
	var got [][32]byte
	for i := range 10 {
		env := envelope(200, "acked "+string(rune('a'+i)))
		for _, hd := range hs {
			r, err := Deposit(t.Context(), c, hd.h.ID(), bob.addr, env, 0)
			if err != nil {
				t.Fatal(err)
			}
			if hd == hs[0] {
				got = append(got, r.ID)
			}
		}
	}
	reps := make([]*Repairer, len(hs))
	for i, hd := range hs {
		reps[i] = newRepairer(t, hd, ids(hs...), func(o *RepairOptions) { o.Replicas = 4 })
	}
	// Bob acks 7 of them at holder 0 only.
	if err := Ack(t.Context(), c, hs[0].h.ID(), bob.key, got[:7]); err != nil {
		t.Fatal(err)
	}
	// Holder 3 repairs first: holder 0 answers its REPLICATEs with
	// releases, so it deletes its copies and tells 1 and 2.
	st := round(t, reps[3])
	if st.Released != 7 {
		t.Fatalf("holder 3's round: %+v", st)
	}
	for i, hd := range hs {
		if n := len(held(t, hd, bob.addr)); n != 3 {
			t.Fatalf("holder %d has %d envelopes, want 3", i, n)
		}
	}
	// Every holder now knows; no round brings them back.
	for range 2 {
		for _, r := range reps {
			round(t, r)
		}
	}
	for i, hd := range hs {
		if n := len(held(t, hd, bob.addr)); n != 3 {
			t.Fatalf("after more rounds holder %d has %d envelopes, want 3", i, n)
		}
		if _, ts, _ := hd.srv.releasedTombs(bob.addr, clk.Now()); len(ts) != 7 {
			t.Fatalf("holder %d remembers %d releases, want 7", i, len(ts))
		}
	}
	// A depositor's late copy of an acked envelope is not stored either.
	if _, err := Deposit(t.Context(), c, hs[2].h.ID(), bob.addr, envelope(200, "acked a"), 0); err != nil {
		t.Fatal(err)
	}
	if n := len(held(t, hs[2], bob.addr)); n != 3 {
		t.Fatalf("a late deposit came back: %d", n)
	}
}

// A round stops at its byte budget and the next goes on from there; Serve
// runs a round per tick and stops with its context.
func TestRepairBoundsAndServe(t *testing.T) {
	clk := newClock()
	a, b := newHolderOn(t, clk, nil), newHolderOn(t, clk, nil)
	meet(a, b)
	c := newClient(t, a)
	for i := range 6 {
		rcp := newRecipient(t, "r"+string(rune('0'+i)), clk.Now())
		for j := range 3 {
			if _, err := Deposit(t.Context(), c, a.h.ID(), rcp.addr, envelope(1000, string(rune('a'+i))+string(rune('a'+j))), 0); err != nil {
				t.Fatal(err)
			}
		}
	}
	rep := newRepairer(t, a, ids(a, b), func(o *RepairOptions) { o.MaxBytes = 5000; o.MaxAddresses = 4 })
	st := round(t, rep)
	if !st.Truncated || st.Bytes > 5000 || st.Bytes == 0 {
		t.Fatalf("bounded round: %+v", st)
	}
	rounds := 1
	for b.srv.Stats().Envelopes < 18 {
		if st = round(t, rep); st.Addresses > 4 || st.Bytes > 5000 {
			t.Fatalf("round past its bounds: %+v", st)
		}
		if rounds++; rounds > 10 {
			t.Fatal("rounds do not get through")
		}
	}
	if b.srv.Stats().Envelopes != 18 {
		t.Fatalf("after %d rounds b holds %+v; want all 18", rounds, b.srv.Stats())
	}
	t.Logf("%d bounded rounds", rounds)

	// Serve: each tick is a round.
	d := newHolderOn(t, clk, nil)
	meet(a, b, d)
	tick := make(chan time.Time)
	rep = newRepairer(t, a, ids(a, b, d), func(o *RepairOptions) { o.Tick = tick })
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- rep.Serve(ctx) }()
	tick <- clk.Now()
	deadline := time.Now().Add(20 * time.Second)
	for d.srv.Stats().Envelopes < 18 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if st := d.srv.Stats(); st.Envelopes != 18 {
		t.Fatalf("after a tick the new holder has %+v", st)
	}
}

func sortByDistance(key []byte, ps []peer.ID) []peer.ID {
	// The same order as dht.SortByDistance: XOR of SHA-256 images.
	k := sha256.Sum256(key)
	out := slices.Clone(ps)
	dist := func(p peer.ID) []byte {
		h := sha256.Sum256([]byte(p))
		for i := range h {
			h[i] ^= k[i]
		}
		return h[:]
	}
	slices.SortFunc(out, func(x, y peer.ID) int { return bytes.Compare(dist(x), dist(y)) })
	return out
}

// Tombstones are bounded per address; past the bound an ACK still
// deletes what it names.
func TestTombstoneBound(t *testing.T) {
	clk := newClock()
	hd := newHolderOn(t, clk, nil)
	c := newClient(t, hd)
	bob := newRecipient(t, "bob", clk.Now())
	var unheld [][32]byte
	for i := range maxTombstonesPerAddress + 100 {
		unheld = append(unheld, sha256.Sum256([]byte{byte(i), byte(i >> 8), 'x'}))
	}
	if err := Ack(t.Context(), c, hd.h.ID(), bob.key, unheld); err != nil {
		t.Fatal(err)
	}
	r, err := Deposit(t.Context(), c, hd.h.ID(), bob.addr, envelope(100, "after the bound"), 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := Ack(t.Context(), c, hd.h.ID(), bob.key, [][32]byte{r.ID}); err != nil {
		t.Fatal(err)
	}
	hd.srv.mu.Lock()
	n := len(hd.srv.hold.tombs[bob.addr])
	hd.srv.mu.Unlock()
	if n != maxTombstonesPerAddress || hd.srv.Stats().Envelopes != 0 {
		t.Fatalf("%d tombstones, %+v", n, hd.srv.Stats())
	}
	// They expire, from memory as from the store.
	clk.Add(MaxTTL + time.Hour)
	hd.srv.collect()
	hd.srv.mu.Lock()
	n = hd.srv.hold.tombCount
	hd.srv.mu.Unlock()
	if n != 0 || countRecords(t, hd, nsAcked) != 0 {
		t.Fatalf("%d tombstones in memory, %d records after they expired", n, countRecords(t, hd, nsAcked))
	}
}
