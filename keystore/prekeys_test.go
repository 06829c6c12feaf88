package keystore

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/discordopus/discordopus/e2e"
	"github.com/discordopus/discordopus/store"
)

const day = 24 * time.Hour

// pkClock is a clock the tests move by hand.
type pkClock struct {
	mu sync.Mutex
	t  time.Time
}

func newPKClock() *pkClock {
	return &pkClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *pkClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *pkClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// pkEnv is a real store in a temporary directory, with random keys, that a
// test can close and reopen.
type pkEnv struct {
	t        *testing.T
	dir      string
	enc, sea []byte
	st       *store.Store
	identity ed25519.PrivateKey
	clock    *pkClock
}

func newPKEnv(t *testing.T) *pkEnv {
	t.Helper()
	_, id, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	e := &pkEnv{t: t, dir: t.TempDir(), enc: randBytes(t, 32), sea: randBytes(t, 32), identity: id, clock: newPKClock()}
	e.openStore()
	t.Cleanup(e.closeStore)
	return e
}

func randBytes(t *testing.T, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func (e *pkEnv) openStore() {
	e.t.Helper()
	st, err := store.Open(store.Options{
		Dir: e.dir, EncryptionKey: e.enc, SealKey: e.sea,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		e.t.Fatalf("store.Open: %v", err)
	}
	e.st = st
}

func (e *pkEnv) closeStore() {
	if e.st == nil {
		return
	}
	if err := e.st.Close(); err != nil {
		e.t.Errorf("store Close: %v", err)
	}
	e.st = nil
}

func (e *pkEnv) ns() *store.Namespace { return e.st.Namespace("prekeys") }

func (e *pkEnv) options(oneTime int) PrekeyOptions {
	return PrekeyOptions{Identity: e.identity, Now: e.clock.Now, OneTime: oneTime}
}

func (e *pkEnv) open(o PrekeyOptions) *PrekeyStore {
	e.t.Helper()
	s, err := OpenPrekeys(e.ns(), o)
	if err != nil {
		e.t.Fatalf("OpenPrekeys: %v", err)
	}
	return s
}

// reopen closes s and the store and opens both again.
func (e *pkEnv) reopen(s *PrekeyStore, o PrekeyOptions) *PrekeyStore {
	e.t.Helper()
	s.Close()
	e.closeStore()
	e.openStore()
	return e.open(o)
}

func mustRotate(t *testing.T, s *PrekeyStore) bool {
	t.Helper()
	changed, err := s.Rotate()
	if err != nil {
		t.Fatalf("Rotate: %v", err)
	}
	return changed
}

func mustBundle(t *testing.T, s *PrekeyStore) (*e2e.Bundle, uint64) {
	t.Helper()
	b, seq, err := s.Bundle()
	if err != nil {
		t.Fatalf("Bundle: %v", err)
	}
	if err := b.Verify(); err != nil {
		t.Fatalf("Bundle does not verify: %v", err)
	}
	return b, seq
}

func genIDs(ps []*e2e.Prekeys) []uint32 {
	var ids []uint32
	for _, p := range ps {
		ids = append(ids, p.ID)
		p.Wipe()
	}
	return ids
}

// TestPrekeyRotationSchedule runs 100 simulated days in 6-hour steps.
func TestPrekeyRotationSchedule(t *testing.T) {
	e := newPKEnv(t)
	start := e.clock.Now()
	s := e.open(e.options(0))
	defer s.Close()

	created := map[uint32]time.Time{} // every generation ever seen
	var order []uint32
	record := func() {
		for _, p := range s.gens {
			if _, ok := created[p.ID]; !ok {
				created[p.ID] = p.Created
				order = append(order, p.ID)
			}
		}
	}
	record()
	_, lastSeq := mustBundle(t, s)
	if lastSeq < uint64(start.UnixMilli()) {
		t.Errorf("first seq %d is below the time part %d", lastSeq, start.UnixMilli())
	}
	rotations := 0
	for step := 1; step <= 400; step++ {
		e.clock.Advance(6 * time.Hour)
		now := e.clock.Now()
		before := len(order)
		changed := mustRotate(t, s)
		record()
		if grew := len(order) > before; grew != changed {
			t.Fatalf("day %.2f: Rotate reported changed=%v, new generation=%v", now.Sub(start).Hours()/24, changed, grew)
		}
		if changed {
			rotations++
		}
		gens := s.SignedPrekeys()
		newest := gens[0]
		if age := now.Sub(newest.Created); age < 0 || age >= DefaultRotation {
			t.Fatalf("day %.2f: newest generation is %v old", now.Sub(start).Hours()/24, age)
		}
		for i := 1; i < len(gens); i++ {
			if gens[i].ID != gens[i-1].ID-1 {
				t.Fatalf("SignedPrekeys not newest first by consecutive IDs: %v", genIDs(gens))
			}
			retired := gens[i-1].Created
			if now.Sub(retired) >= DefaultGrace {
				t.Fatalf("day %.2f: generation %d retired %v ago is still held", now.Sub(start).Hours()/24, gens[i].ID, now.Sub(retired))
			}
		}
		// Everything retired less than Grace ago is still held.
		held := map[uint32]bool{}
		for _, p := range gens {
			held[p.ID] = true
		}
		for i, id := range order[:len(order)-1] {
			if retired := created[order[i+1]]; now.Sub(retired) < DefaultGrace && !held[id] {
				t.Fatalf("day %.2f: generation %d deleted only %v after retirement", now.Sub(start).Hours()/24, id, now.Sub(retired))
			}
		}
		if len(gens) > 6 {
			t.Fatalf("%d generations held, want at most 6", len(gens))
		}
		b, seq := mustBundle(t, s)
		if b.PrekeyID != newest.ID {
			t.Fatalf("bundle has prekey %d, newest is %d", b.PrekeyID, newest.ID)
		}
		if changed && seq <= lastSeq || !changed && seq != lastSeq {
			t.Fatalf("seq %d -> %d with changed=%v", lastSeq, seq, changed)
		}
		lastSeq = seq
		genIDs(gens)
	}
	// Made on days 0, 7, ..., 98.
	if len(order) != 15 || rotations != 14 {
		t.Errorf("%d generations made (%d by rotation) over 100 days, want 15 (14)", len(order), rotations)
	}
	for i, id := range order {
		if want := start.Add(time.Duration(i) * DefaultRotation); !created[id].Equal(want) {
			t.Errorf("generation %d made at day %.2f, want day %d", i, created[id].Sub(start).Hours()/24, 7*i)
		}
	}
}

// TestPrekeyGraceDeletion: a retired generation lives exactly Grace, then is
// deleted from the store and wiped.
func TestPrekeyGraceDeletion(t *testing.T) {
	e := newPKEnv(t)
	s := e.open(e.options(0))
	defer s.Close()
	first := s.gens[0]
	e.clock.Advance(DefaultRotation)
	if !mustRotate(t, s) {
		t.Fatal("no rotation after DefaultRotation")
	}
	e.clock.Advance(DefaultGrace - time.Second)
	mustRotate(t, s)
	if ids := genIDs(s.SignedPrekeys()); len(ids) < 2 || ids[len(ids)-1] != first.ID {
		t.Fatalf("first generation gone one second before its grace ended: %v", ids)
	}
	e.clock.Advance(time.Second)
	mustRotate(t, s)
	for _, id := range genIDs(s.SignedPrekeys()) {
		if id == first.ID {
			t.Fatal("first generation still held after its grace")
		}
	}
	if _, err := e.ns().Get(idKey(prefixGen, first.ID)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("first generation still in the store: %v", err)
	}
	if _, err := first.MarshalBinary(); err == nil {
		t.Error("the deleted generation was not wiped")
	}
}

// TestPrekeyRestart reopens the same namespace: same keys, same bundle, and
// a sequence number that never goes back, even with the clock stepped back.
func TestPrekeyRestart(t *testing.T) {
	e := newPKEnv(t)
	o := e.options(3)
	s := e.open(o)
	for range 3 {
		e.clock.Advance(DefaultRotation)
		mustRotate(t, s)
	}
	wantGens := marshalAll(t, s.SignedPrekeys())
	b1, seq1 := mustBundle(t, s)
	enc1, _ := b1.MarshalBinary()

	s = e.reopen(s, o)
	if got := marshalAll(t, s.SignedPrekeys()); !equalAll(got, wantGens) {
		t.Error("generations differ after reopening")
	}
	b2, seq2 := mustBundle(t, s)
	enc2, _ := b2.MarshalBinary()
	if !bytes.Equal(enc1, enc2) || seq2 != seq1 {
		t.Errorf("bundle after reopening: same bytes %v, seq %d, want the same bundle at seq %d", bytes.Equal(enc1, enc2), seq2, seq1)
	}
	for _, k := range b1.OneTime {
		if got := s.OneTimePrekey(k.ID); got == nil || !bytes.Equal(got.Public().Key, k.Key) {
			t.Errorf("one-time prekey %d lost or changed by reopening", k.ID)
		}
	}

	// The clock steps back a year: the newest generation is "from the
	// future", so it is due; the new record still has a higher seq.
	e.clock.Advance(-365 * day)
	s = e.reopen(s, o)
	b3, seq3 := mustBundle(t, s)
	if b3.PrekeyID != b1.PrekeyID+1 {
		t.Errorf("after a clock step back: bundle prekey %d, want a new generation %d", b3.PrekeyID, b1.PrekeyID+1)
	}
	if seq3 <= seq1 {
		t.Errorf("after a clock step back: seq %d, not above %d", seq3, seq1)
	}
	if err := s.ConsumeOneTime(b3.OneTime[0].ID); err != nil {
		t.Fatal(err)
	}
	_, seq4 := mustBundle(t, s)
	s = e.reopen(s, o)
	defer s.Close()
	if _, seq5 := mustBundle(t, s); seq4 <= seq3 || seq5 != seq4 {
		t.Errorf("seqs %d, %d, then %d after reopening: want increasing, then kept", seq3, seq4, seq5)
	}
	if s.OneTimePrekey(b3.OneTime[0].ID) != nil {
		t.Error("a consumed one-time prekey came back after reopening")
	}
}

func marshalAll(t *testing.T, ps []*e2e.Prekeys) [][]byte {
	t.Helper()
	var out [][]byte
	for _, p := range ps {
		b, err := p.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
		p.Wipe()
	}
	return out
}

func equalAll(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

// TestPrekeyCloseWipes: Close wipes what the store holds; copies handed out
// are the caller's and independent.
func TestPrekeyCloseWipes(t *testing.T) {
	e := newPKEnv(t)
	s := e.open(e.options(2))
	gen, otk := s.gens[0], s.oneTime[0]
	cp := s.SignedPrekeys()[0]
	s.Close()
	if _, err := gen.MarshalBinary(); err == nil {
		t.Error("generation not wiped by Close")
	}
	if _, err := otk.MarshalBinary(); err == nil {
		t.Error("one-time prekey not wiped by Close")
	}
	if _, err := cp.MarshalBinary(); err != nil {
		t.Errorf("the caller's copy was wiped too: %v", err)
	}
	cp.Wipe()
	if _, _, err := s.Bundle(); err == nil {
		t.Error("Bundle after Close succeeded")
	}
	if _, err := s.Rotate(); err == nil {
		t.Error("Rotate after Close succeeded")
	}
}

func TestPrekeyOneTime(t *testing.T) {
	e := newPKEnv(t)
	s := e.open(e.options(4))
	defer s.Close()
	b, seq := mustBundle(t, s)
	if len(b.OneTime) != 4 {
		t.Fatalf("bundle offers %d one-time prekeys, want 4", len(b.OneTime))
	}
	used := b.OneTime[1]
	k := s.OneTimePrekey(used.ID)
	if k == nil || !bytes.Equal(k.Public().Key, used.Key) {
		t.Fatalf("OneTimePrekey(%d) does not match the published key", used.ID)
	}
	k.Wipe()
	select { // drain the signal of the initial setup
	case <-s.Changed():
	default:
	}
	if err := s.ConsumeOneTime(used.ID); err != nil {
		t.Fatalf("ConsumeOneTime: %v", err)
	}
	select {
	case <-s.Changed():
	default:
		t.Error("Changed not signalled by ConsumeOneTime")
	}
	if s.OneTimePrekey(used.ID) != nil {
		t.Error("consumed one-time prekey still returned")
	}
	if _, err := e.ns().Get(idKey(prefixOneTime, used.ID)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("consumed one-time prekey still stored: %v", err)
	}
	if err := s.ConsumeOneTime(used.ID); !errors.Is(err, ErrUnknownPrekey) {
		t.Errorf("consuming it twice: %v, want ErrUnknownPrekey", err)
	}
	b2, seq2 := mustBundle(t, s)
	if len(b2.OneTime) != 4 || seq2 <= seq {
		t.Fatalf("after use: %d one-time prekeys at seq %d (was %d), want 4 and a higher seq", len(b2.OneTime), seq2, seq)
	}
	for _, k := range b2.OneTime {
		if k.ID == used.ID {
			t.Error("the used one-time prekey is still published")
		}
	}
	if last := b2.OneTime[3].ID; last <= b.OneTime[3].ID {
		t.Errorf("replacement has ID %d, not above the earlier ones (%d)", last, b.OneTime[3].ID)
	}
	if s.OneTimePrekey(12345) != nil {
		t.Error("OneTimePrekey of an unknown ID returned a key")
	}

	// The default: none.
	e2 := newPKEnv(t)
	s2 := e2.open(e2.options(0))
	defer s2.Close()
	if b, _ := mustBundle(t, s2); len(b.OneTime) != 0 {
		t.Errorf("default bundle offers %d one-time prekeys", len(b.OneTime))
	}
}

func TestPrekeyLookupInterface(t *testing.T) {
	var _ interface {
		SignedPrekeys() []*e2e.Prekeys
		OneTimePrekey(uint32) *e2e.OneTimePrekey
		ConsumeOneTime(uint32) error
	} = (*PrekeyStore)(nil)
}

func TestPrekeyOptionsRefused(t *testing.T) {
	e := newPKEnv(t)
	for name, o := range map[string]PrekeyOptions{
		"no identity":           {},
		"too many one-time":     {Identity: e.identity, OneTime: e2e.MaxOneTimePrekeys + 1},
		"negative one-time":     {Identity: e.identity, OneTime: -1},
		"short identity":        {Identity: e.identity[:32]},
		"broken randomness":     {Identity: e.identity, Rand: bytes.NewReader(nil)},
		"randomness runs short": {Identity: e.identity, Rand: bytes.NewReader(make([]byte, 40))},
	} {
		if s, err := OpenPrekeys(e.st.Namespace("refused"), o); err == nil {
			s.Close()
			t.Errorf("%s: OpenPrekeys succeeded", name)
		}
	}
}

func TestPrekeyCorruptRecord(t *testing.T) {
	e := newPKEnv(t)
	s := e.open(e.options(1))
	id := s.gens[0].ID
	s.Close()
	if err := e.ns().Put(idKey(prefixGen, id+1), []byte("not prekeys")); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenPrekeys(e.ns(), e.options(1)); !errors.Is(err, ErrPrekeysCorrupt) {
		t.Errorf("OpenPrekeys over a corrupt generation: %v, want ErrPrekeysCorrupt", err)
	}
}

// TestPrekeyServe: Serve rotates on its own and says so on Changed.
func TestPrekeyServe(t *testing.T) {
	e := newPKEnv(t)
	o := e.options(0)
	o.CheckInterval = 5 * time.Millisecond
	s := e.open(o)
	defer s.Close()
	<-s.Changed() // the first generation
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	first := s.Seq()
	e.clock.Advance(DefaultRotation)
	select {
	case <-s.Changed():
	case <-time.After(time.Minute):
		t.Fatal("Serve did not rotate within a minute")
	}
	if s.Seq() <= first {
		t.Errorf("seq %d after rotation, was %d", s.Seq(), first)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Serve returned %v", err)
	}
}
