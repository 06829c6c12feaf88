package e2e

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

var seedFlag = flag.Uint64("e2e.seed", 0, "seed for the randomized e2e tests (0: from the clock)")

func testSeed(t *testing.T) uint64 {
	s := *seedFlag
	if s == 0 {
		s = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (rerun with -e2e.seed=%d)", s, s)
	return s
}

// TestRandomDelivery sends 10,000 messages each way over a network that
// reorders (within a window), drops and duplicates, with the sending side
// changing at random so the DH ratchet turns often. Every delivered
// message decrypts exactly once to its text; every duplicate is refused.
func TestRandomDelivery(t *testing.T) {
	const perSide, window = 10000, 40
	r := rand.New(rand.NewPCG(testSeed(t), 0x5eed))
	a, b := newParty(t, "alice", 0), newParty(t, "bob", 0)
	sa, sb := pair(t, a, b)
	type packet struct {
		msg  []byte
		text string
		to   int
	}
	parties := [2]*party{a, b}
	sessions := [2]*Session{sa, sb}
	var net []packet
	var sent [2]int
	delivered := map[string]bool{}
	dropped := map[string]bool{}
	var dups, drops, refusedDups, ratchets int
	dir := 0
	now := t0
	sendPct := 30 // phases of quiet (short queues, many DH ratchet steps) and bursts (deep reordering)
	for step := 0; sent[0] < perSide || sent[1] < perSide || len(net) > 0; step++ {
		now = now.Add(time.Second)
		if step%300 == 0 {
			sendPct = []int{25, 30, 50, 70}[r.IntN(4)]
		}
		if (sent[0] < perSide || sent[1] < perSide) && (len(net) == 0 || r.IntN(100) < sendPct) {
			if r.IntN(3) == 0 || sent[dir] == perSide {
				dir = 1 - dir
			}
			if sent[dir] == perSide {
				continue
			}
			text := fmt.Sprintf("%s %d", parties[dir].name, sent[dir])
			m, err := sessions[dir].Encrypt(parties[dir].local, []byte(text), now)
			if err != nil {
				t.Fatal(err)
			}
			sent[dir]++
			net = append(net, packet{m, text, 1 - dir})
			continue
		}
		i := r.IntN(min(len(net), window))
		p := net[i]
		net = append(net[:i], net[i+1:]...)
		switch x := r.IntN(100); {
		case x < 2 && !delivered[p.text]:
			dropped[p.text] = true
			drops++
			continue
		case x < 5:
			net = append(net, p) // a copy comes again later
			dups++
		}
		key := sessions[p.to].states[0].dhsPub
		rec, err := sessions[p.to].Decrypt(parties[p.to].local, p.msg, now)
		if sessions[p.to].states[0].dhsPub != key {
			ratchets++
		}
		if delivered[p.text] {
			if err == nil {
				t.Fatalf("duplicate of %q decrypted", p.text)
			}
			if !errors.Is(err, ErrReplay) && !errors.Is(err, ErrInvalidMessage) {
				t.Fatalf("duplicate of %q: %v", p.text, err)
			}
			refusedDups++
			continue
		}
		if err != nil {
			t.Fatalf("%q: %v", p.text, err)
		}
		if string(rec.Plaintext) != p.text {
			t.Fatalf("got %q, want %q", rec.Plaintext, p.text)
		}
		delivered[p.text] = true
	}
	if len(delivered)+len(dropped) != 2*perSide {
		t.Fatalf("%d delivered + %d dropped of %d", len(delivered), len(dropped), 2*perSide)
	}
	t.Logf("%d delivered, %d dropped, %d duplicates (%d refused), %d DH ratchet steps", len(delivered), drops, dups, refusedDups, ratchets)
	if ratchets < perSide/25 {
		t.Errorf("only %d DH ratchet steps", ratchets)
	}
}

// tamperCase is a message and the receiving side to try it on.
type tamperCase struct {
	name   string
	msg    []byte
	s      *Session
	p      *party
	accept bool // try with Accept (no session)
}

// TestTamper flips one bit in every byte of every kind of message, and
// truncates and extends them: each is refused and leaves the receiver's
// session (compared marshaled) and replay cache exactly as they were.
func TestTamper(t *testing.T) {
	r := rand.New(rand.NewPCG(testSeed(t), 7))
	a, b := newParty(t, "alice", 1), newParty(t, "bob", 1)
	sa, err := NewSession(a.local, b.peer(), b.bundle(t), t0)
	if err != nil {
		t.Fatal(err)
	}
	init0 := mustEncrypt(t, sa, a, "initial 0")
	init1 := mustEncrypt(t, sa, a, "initial 1")
	sb, _ := b.accept(t, init0, t0)
	var held [][]byte
	for i := range 3 {
		held = append(held, mustEncrypt(t, sb, b, fmt.Sprint("b", i)))
	}
	mustDecrypt(t, sa, a, held[2])                        // a holds skipped keys 0, 1
	same := mustEncrypt(t, sb, b, "same chain")           // HKr path
	ratchet := mustEncrypt(t, sa, a, "new chain for bob") // NHKr path (DH ratchet)
	fresh := initialWith(t, newParty(t, "carol", 0), b, b.bundle(t))
	cases := []tamperCase{
		{"initial, new session", fresh, nil, b, true},
		{"initial, repeated", init1, sb, b, false},
		{"normal, same chain", same, sa, a, false},
		{"normal, skipped key", held[0], sa, a, false},
		{"normal, DH ratchet", ratchet, sb, b, false},
	}
	for _, c := range cases {
		var before []byte
		if c.s != nil {
			before = mustMarshal(t, c.s)
		}
		replay := c.p.replay.Len()
		try := func(what string, m []byte) {
			var err error
			if c.accept {
				_, _, _, err = Accept(c.p.local, m, t0)
			} else {
				_, err = c.s.Decrypt(c.p.local, m, t0)
			}
			if err == nil {
				t.Fatalf("%s: %s accepted", c.name, what)
			}
			if c.s != nil && !bytes.Equal(before, mustMarshal(t, c.s)) {
				t.Fatalf("%s: %s changed the session", c.name, what)
			}
			if c.p.replay.Len() != replay {
				t.Fatalf("%s: %s changed the replay cache", c.name, what)
			}
		}
		for i := range c.msg {
			m := bytes.Clone(c.msg)
			m[i] ^= 1 << r.IntN(8)
			try(fmt.Sprintf("bit flip at %d", i), m)
		}
		for _, n := range []int{0, 1, 2, normalHdrEnd, len(c.msg) - 1} {
			try(fmt.Sprintf("truncation to %d", n), c.msg[:n])
		}
		try("extension", append(bytes.Clone(c.msg), 0))
		// The untouched message still works afterwards.
		if c.accept {
			if _, _, _, err := Accept(c.p.local, c.msg, t0); err != nil {
				t.Fatalf("%s: original: %v", c.name, err)
			}
		} else if _, err := c.s.Decrypt(c.p.local, c.msg, t0); err != nil {
			t.Fatalf("%s: original: %v", c.name, err)
		}
	}
}

// countKDF counts key derivations while f runs.
func countKDF(f func()) int {
	n := 0
	kdfHook = func() { n++ }
	defer func() { kdfHook = nil }()
	f()
	return n
}

// TestMaxSkip: a message more than MaxSkip ahead is refused before any key
// is derived, in the current chain and in a new one; exactly MaxSkip ahead
// is accepted.
func TestMaxSkip(t *testing.T) {
	a, b := newParty(t, "alice", 0), newParty(t, "bob", 0)
	sa, sb := pair(t, a, b)
	var ms [][]byte
	for i := range MaxSkip + 3 {
		ms = append(ms, mustEncrypt(t, sa, a, fmt.Sprint(i)))
	}
	before := mustMarshal(t, sb)
	var err error
	// New chain: message n = MaxSkip+1 of a chain Bob has not seen.
	if n := countKDF(func() { _, err = sb.Decrypt(b.local, ms[MaxSkip+1], t0) }); !errors.Is(err, ErrTooFarAhead) || n != 0 {
		t.Fatalf("new chain: %v after %d derivations", err, n)
	}
	if !bytes.Equal(before, mustMarshal(t, sb)) {
		t.Fatal("session changed")
	}
	mustDecrypt(t, sb, b, ms[0]) // Bob now receives in this chain, Nr = 1
	before = mustMarshal(t, sb)
	if n := countKDF(func() { _, err = sb.Decrypt(b.local, ms[MaxSkip+2], t0) }); !errors.Is(err, ErrTooFarAhead) || n != 0 {
		t.Fatalf("same chain: %v after %d derivations", err, n)
	}
	if !bytes.Equal(before, mustMarshal(t, sb)) {
		t.Fatal("session changed")
	}
	if got := mustDecrypt(t, sb, b, ms[MaxSkip+1]); got != fmt.Sprint(MaxSkip+1) {
		t.Fatal(got)
	}
	if n := sb.states[0].numSkipped(); n != MaxSkip {
		t.Fatalf("%d skipped keys stored", n)
	}
	// Every skipped message still decrypts once.
	for i := 1; i <= MaxSkip; i += 97 {
		if got := mustDecrypt(t, sb, b, ms[i]); got != fmt.Sprint(i) {
			t.Fatal(got)
		}
		if _, err := sb.Decrypt(b.local, ms[i], t0); !errors.Is(err, ErrReplay) {
			t.Fatalf("replay of %d: %v", i, err)
		}
	}
}

// TestSkippedKeyLimits: at most MaxSkippedKeys keys are kept (the oldest
// go first) and none longer than SkippedKeyTTL.
func TestSkippedKeyLimits(t *testing.T) {
	a, b := newParty(t, "alice", 0), newParty(t, "bob", 0)
	sa, sb := pair(t, a, b)
	// Three chains of 1000 messages; Bob receives only the last of each.
	var chains [3][][]byte
	for c := range chains {
		for i := range 1000 {
			chains[c] = append(chains[c], mustEncrypt(t, sa, a, fmt.Sprint(c, i)))
		}
		mustDecrypt(t, sb, b, chains[c][999])
		mustDecrypt(t, sa, a, mustEncrypt(t, sb, b, "turn"))
	}
	if n := sb.states[0].numSkipped(); n != MaxSkippedKeys {
		t.Fatalf("%d skipped keys stored", n)
	}
	if _, err := sb.Decrypt(b.local, chains[0][5], t0); err == nil {
		t.Fatal("evicted key still decrypts")
	}
	if got := mustDecrypt(t, sb, b, chains[2][5]); got != fmt.Sprint(2, 5) {
		t.Fatal(got)
	}
	// After SkippedKeyTTL, stored keys are refused and dropped.
	late := t0.Add(SkippedKeyTTL + time.Hour)
	if _, err := sb.Decrypt(b.local, chains[2][6], late); !errors.Is(err, ErrInvalidMessage) {
		t.Fatalf("expired key: %v", err)
	}
	m, _ := sa.Encrypt(a.local, []byte("new"), late)
	if _, err := sb.Decrypt(b.local, m, late); err != nil {
		t.Fatal(err)
	}
	if n := sb.states[0].numSkipped(); n != 0 {
		t.Fatalf("%d expired keys kept", n)
	}
}
