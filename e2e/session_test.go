package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestSessionRoundTrip(t *testing.T) {
	a, b := newParty(t, "alice", 4), newParty(t, "bob", 4)
	sa, sb := pair(t, a, b)
	if !samePeer(sa.Peer(), b.peer()) || !samePeer(sb.Peer(), a.peer()) {
		t.Fatal("Peer() is wrong")
	}
	for i := range 20 {
		from, to, sf, st := a, b, sa, sb
		if i%3 == 2 {
			from, to, sf, st = b, a, sb, sa
		}
		text := fmt.Sprintf("%s #%d", from.name, i)
		m := mustEncrypt(t, sf, from, text)
		if IsInitial(m) {
			t.Fatal("initial message after the reply")
		}
		if got := mustDecrypt(t, st, to, m); got != text {
			t.Fatalf("got %q, want %q", got, text)
		}
	}
}

// TestInitialUntilReply: every message before the peer's reply is initial;
// the receiver accepts any of them first and the others in its session,
// in any order, each once.
func TestInitialUntilReply(t *testing.T) {
	a, b := newParty(t, "alice", 2), newParty(t, "bob", 2)
	sa, err := NewSession(a.local, b.peer(), b.bundle(t), t0)
	if err != nil {
		t.Fatal(err)
	}
	var ms [][]byte
	for i := range 4 {
		m := mustEncrypt(t, sa, a, fmt.Sprint(i))
		if !IsInitial(m) {
			t.Fatalf("message %d is not initial", i)
		}
		ms = append(ms, m)
	}
	// The caller learns the sender, finds no session, accepts message 2.
	if p, err := InitialSender(b.local, ms[2], t0); err != nil || !samePeer(p, a.peer()) {
		t.Fatalf("InitialSender: %v %v", p, err)
	}
	sb, rec := b.accept(t, ms[2], t0)
	if string(rec.Plaintext) != "2" || !rec.Initial || !rec.OneTimeUsed {
		t.Fatalf("accepted %+v", rec)
	}
	for _, i := range []int{0, 1} {
		r, err := sb.Decrypt(b.local, ms[i], t0)
		if err != nil || string(r.Plaintext) != fmt.Sprint(i) || !r.Initial || r.ReplayID != rec.ReplayID {
			t.Fatalf("message %d: %v %+v", i, err, r)
		}
	}
	for _, i := range []int{0, 2} {
		before := mustMarshal(t, sb)
		if _, err := sb.Decrypt(b.local, ms[i], t0); !errors.Is(err, ErrReplay) {
			t.Fatalf("replay of %d: %v", i, err)
		}
		if !bytes.Equal(before, mustMarshal(t, sb)) {
			t.Fatal("failed decryption changed the session")
		}
	}
	// Accept without the session is refused by the replay cache.
	if _, _, _, err := Accept(b.local, ms[0], t0); !errors.Is(err, ErrReplay) {
		t.Fatalf("Accept of an accepted exchange: %v", err)
	}
	reply := mustEncrypt(t, sb, b, "reply")
	if IsInitial(reply) {
		t.Fatal("responder sent an initial message")
	}
	if mustDecrypt(t, sa, a, reply) != "reply" {
		t.Fatal("reply")
	}
	if m := mustEncrypt(t, sa, a, "after"); IsInitial(m) || mustDecrypt(t, sb, b, m) != "after" {
		t.Fatal("message after the reply")
	}
	// Initial message 3 arrives after Bob moved to Alice's next chain: its
	// key was stored as skipped.
	r, err := sb.Decrypt(b.local, ms[3], t0)
	if err != nil || string(r.Plaintext) != "3" || !r.Initial {
		t.Fatalf("late initial message: %v", err)
	}
	if _, err := sb.Decrypt(b.local, ms[3], t0); !errors.Is(err, ErrReplay) {
		t.Fatalf("replayed late initial message: %v", err)
	}
	if MaxMessageSize != 69414 {
		t.Fatalf("MaxMessageSize %d, doc.go says 69414", MaxMessageSize)
	}
}

// TestWireNamesNobody: no message contains an identity key (Ed25519 or
// X25519), a PeerID, a prekey or a prekey ID of either party.
func TestWireNamesNobody(t *testing.T) {
	a, b := newParty(t, "alice", 1), newParty(t, "bob", 1)
	bundle := b.bundle(t)
	sa, err := NewSession(a.local, b.peer(), bundle, t0)
	if err != nil {
		t.Fatal(err)
	}
	m1 := mustEncrypt(t, sa, a, "first")
	sb, _ := b.accept(t, m1, t0)
	m2 := mustEncrypt(t, sb, b, "second")
	mustDecrypt(t, sa, a, m2)
	m3 := mustEncrypt(t, sa, a, "third")
	var secrets [][]byte
	for _, p := range []*party{a, b} {
		x, _ := identityX25519Private(p.local.Identity.Key)
		secrets = append(secrets, p.peer().Key, p.peer().PeerID, x.PublicKey().Bytes())
	}
	secrets = append(secrets, bundle.X25519, bundle.KEM[:64], bundle.OneTime[0].Key)
	for i, m := range [][]byte{m1, m2, m3} {
		for _, s := range secrets {
			if bytes.Contains(m, s) {
				t.Fatalf("message %d contains %x", i, s[:8])
			}
		}
		for _, id := range []uint32{bundle.PrekeyID, bundle.OneTime[0].ID} {
			if id > 0xff && bytes.Contains(m, []byte{byte(id >> 24), byte(id >> 16), byte(id >> 8), byte(id)}) {
				t.Fatalf("message %d contains prekey ID %d", i, id)
			}
		}
	}
}

func TestPadding(t *testing.T) {
	prev := 0
	for n := 0; n <= MaxPlaintext; n++ {
		p := padLen(n)
		if p < n+1 || p < prev || p > maxPadded {
			t.Fatalf("padLen(%d) = %d", n, p)
		}
		if n >= 1024 && float64(p) > float64(n+1)*1.12 {
			t.Fatalf("padLen(%d) = %d: more than 12%%", n, p)
		}
		prev = p
	}
	if padLen(MaxPlaintext) != maxPadded || padLen(1024) != 1088 || padLen(0) != minPadded {
		t.Fatalf("padLen: %d %d %d", padLen(MaxPlaintext), padLen(1024), padLen(0))
	}
	a, b := newParty(t, "alice", 0), newParty(t, "bob", 0)
	sa, sb := pair(t, a, b)
	for _, n := range []int{0, 1, 63, 64, 1000, 1024, 5000, MaxPlaintext} {
		pt := bytes.Repeat([]byte{0x80}, n) // the end marker value inside the text
		m, err := sa.Encrypt(a.local, pt, t0)
		if err != nil {
			t.Fatal(err)
		}
		if len(m) != normalHdrEnd+padLen(n)+tagSize {
			t.Fatalf("%d bytes: message of %d", n, len(m))
		}
		r, err := sb.Decrypt(b.local, m, t0)
		if err != nil || !bytes.Equal(r.Plaintext, pt) {
			t.Fatalf("%d bytes: %v", n, err)
		}
	}
	if _, err := sa.Encrypt(a.local, make([]byte, MaxPlaintext+1), t0); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("oversized plaintext: %v", err)
	}
}

// TestSimultaneousInitiation: both start a session before either received
// anything; whatever the delivery order, both end up in the session the
// smaller PeerID initiated, and every message decrypts.
func TestSimultaneousInitiation(t *testing.T) {
	for _, order := range []string{"ab", "ba", "interleaved"} {
		t.Run(order, func(t *testing.T) {
			a, b := newParty(t, "alice", 1), newParty(t, "bob", 1)
			sa, err := NewSession(a.local, b.peer(), b.bundle(t), t0)
			if err != nil {
				t.Fatal(err)
			}
			sb, err := NewSession(b.local, a.peer(), a.bundle(t), t0)
			if err != nil {
				t.Fatal(err)
			}
			ma := [][]byte{mustEncrypt(t, sa, a, "a0"), mustEncrypt(t, sa, a, "a1")}
			mb := [][]byte{mustEncrypt(t, sb, b, "b0"), mustEncrypt(t, sb, b, "b1")}
			switch order {
			case "ab":
				mustDecrypt(t, sb, b, ma[0])
				mustDecrypt(t, sa, a, mb[0])
			case "ba":
				mustDecrypt(t, sa, a, mb[0])
				mustDecrypt(t, sb, b, ma[0])
			default:
				mustDecrypt(t, sb, b, ma[0])
				x := mustEncrypt(t, sb, b, "b2") // b may already answer
				mustDecrypt(t, sa, a, mb[0])
				mustDecrypt(t, sa, a, x)
			}
			// Both converse; late messages of the losing session still decrypt.
			for i := range 3 {
				mustDecrypt(t, sb, b, mustEncrypt(t, sa, a, fmt.Sprint("a", i+2)))
				mustDecrypt(t, sa, a, mustEncrypt(t, sb, b, fmt.Sprint("b", i+3)))
			}
			mustDecrypt(t, sb, b, ma[1])
			mustDecrypt(t, sa, a, mb[1])
			for i := range 3 {
				mustDecrypt(t, sb, b, mustEncrypt(t, sa, a, fmt.Sprint("c", i)))
				mustDecrypt(t, sa, a, mustEncrypt(t, sb, b, fmt.Sprint("d", i)))
			}
			if sa.states[0].initID != sb.states[0].initID {
				t.Fatal("sessions did not converge")
			}
			winner := a
			if bytes.Compare(b.peer().PeerID, a.peer().PeerID) < 0 {
				winner = b
			}
			if ws := map[*party]*Session{a: sa, b: sb}[winner]; !ws.states[0].initiator {
				t.Fatal("the session of the smaller PeerID did not win")
			}
		})
	}
}

// TestLateInitial: the loser's initial message of a simultaneous
// initiation arrives only after the winner's session was confirmed. The
// winner takes it for a reset and switches; the loser, receiving in its own
// archived session, follows; both converge and nothing is lost.
func TestLateInitial(t *testing.T) {
	w, l := newParty(t, "alice", 1), newParty(t, "bob", 1)
	if bytes.Compare(w.peer().PeerID, l.peer().PeerID) > 0 {
		w, l = l, w
	}
	sw, err := NewSession(w.local, l.peer(), l.bundle(t), t0)
	if err != nil {
		t.Fatal(err)
	}
	sl, err := NewSession(l.local, w.peer(), w.bundle(t), t0)
	if err != nil {
		t.Fatal(err)
	}
	late := mustEncrypt(t, sl, l, "late initial")
	mustDecrypt(t, sl, l, mustEncrypt(t, sw, w, "w0")) // l adopts w's session
	inflight := mustEncrypt(t, sl, l, "l in w's session")
	mustDecrypt(t, sw, w, inflight)
	mustDecrypt(t, sw, w, late) // taken for a reset
	mustDecrypt(t, sl, l, mustEncrypt(t, sw, w, "w1"))
	for i := range 3 {
		mustDecrypt(t, sw, w, mustEncrypt(t, sl, l, fmt.Sprint("l", i)))
		mustDecrypt(t, sl, l, mustEncrypt(t, sw, w, fmt.Sprint("w", i+2)))
	}
	if sw.states[0].initID != sl.states[0].initID {
		t.Fatal("sessions did not converge")
	}
}

// TestPeerReset: a confirmed session is replaced by a new initial message
// from the peer (it reinstalled); messages still in flight in the old
// session decrypt.
func TestPeerReset(t *testing.T) {
	a, b := newParty(t, "alice", 1), newParty(t, "bob", 1)
	sa, sb := pair(t, a, b)
	late := mustEncrypt(t, sb, b, "in flight before the reset")
	// Bob lost his session and starts over from Alice's bundle.
	sb2, err := NewSession(b.local, a.peer(), a.bundle(t), t0)
	if err != nil {
		t.Fatal(err)
	}
	m := mustEncrypt(t, sb2, b, "after reinstall")
	if got := mustDecrypt(t, sa, a, m); got != "after reinstall" {
		t.Fatal(got)
	}
	if sa.states[0].initiator {
		t.Fatal("the peer's new session did not become current")
	}
	mustDecrypt(t, sb2, b, mustEncrypt(t, sa, a, "welcome back"))
	mustDecrypt(t, sa, a, mustEncrypt(t, sb2, b, "thanks"))
	if got := mustDecrypt(t, sa, a, late); got != "in flight before the reset" {
		t.Fatal(got)
	}
	mustDecrypt(t, sb2, b, mustEncrypt(t, sa, a, "still fine"))
	_ = sb
}

func TestNewSessionRejects(t *testing.T) {
	a, b, c := newParty(t, "alice", 1), newParty(t, "bob", 1), newParty(t, "carol", 1)
	good := b.bundle(t)
	tamper := func(f func(*Bundle)) *Bundle {
		raw, _ := good.MarshalBinary()
		x, err := ParseBundle(raw)
		if err != nil {
			t.Fatal(err)
		}
		f(x)
		return x
	}
	// A bundle whose signed prekey is of small order, correctly signed.
	lowOrder := tamper(func(x *Bundle) {
		x.X25519 = make([]byte, 32) // u = 0
		x.X25519Sig = signedPrekeySig(b, x.PrekeyID, x.X25519)
	})
	cases := []struct {
		name   string
		peer   Peer
		bundle *Bundle
		want   error
	}{
		{"bundle of another identity", b.peer(), c.bundle(t), ErrWrongPeer},
		{"nil bundle", b.peer(), nil, ErrWrongPeer},
		{"bad X25519 signature", b.peer(), tamper(func(x *Bundle) { x.X25519Sig[0] ^= 1 }), ErrBadSignature},
		{"bad ML-KEM signature", b.peer(), tamper(func(x *Bundle) { x.KEMSig[63] ^= 1 }), ErrBadSignature},
		{"prekey ID changed", b.peer(), tamper(func(x *Bundle) { x.PrekeyID++ }), ErrBadSignature},
		{"swapped signatures", b.peer(), tamper(func(x *Bundle) { x.X25519Sig, x.KEMSig = x.KEMSig, x.X25519Sig }), ErrBadSignature},
		{"low-order signed prekey", b.peer(), lowOrder, ErrInvalidMessage},
		{"low-order one-time prekey", b.peer(), tamper(func(x *Bundle) { x.OneTime[0].Key = make([]byte, 32) }), ErrInvalidMessage},
	}
	for _, tc := range cases {
		if _, err := NewSession(a.local, tc.peer, tc.bundle, t0); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
}

func signedPrekeySig(p *party, id uint32, key []byte) []byte {
	return ed25519Sign(p.local.Identity.Key, signedPrekeyMessage(sigContextX25519, id, key))
}

// TestAcceptRejects: initial messages that must be refused, each leaving
// the receiver's prekeys, replay cache and session untouched.
func TestAcceptRejects(t *testing.T) {
	a, b, c := newParty(t, "alice", 2), newParty(t, "bob", 2), newParty(t, "carol", 0)
	initial := func(from *party, to *party) []byte {
		s, err := NewSession(from.local, to.peer(), to.bundle(t), t0)
		if err != nil {
			t.Fatal(err)
		}
		return mustEncrypt(t, s, from, "hi")
	}
	t.Run("replayed", func(t *testing.T) {
		m := initial(a, b)
		b.accept(t, m, t0)
		if _, _, _, err := Accept(b.local, m, t0); !errors.Is(err, ErrReplay) {
			t.Fatalf("%v", err)
		}
	})
	t.Run("consumed one-time prekey", func(t *testing.T) {
		bundle := b.bundle(t)
		m1, m2 := initialWith(t, a, b, bundle), initialWith(t, c, b, bundle)
		_, rec := b.accept(t, m1, t0)
		if !rec.OneTimeUsed {
			t.Fatal("no one-time prekey used")
		}
		if _, _, _, err := Accept(b.local, m2, t0); !errors.Is(err, ErrNoPrekey) {
			t.Fatalf("%v", err)
		}
	})
	t.Run("unknown signed prekey", func(t *testing.T) {
		m := initial(a, b)
		saved := b.pre.signed
		b.pre.signed = nil
		b.rotate(t, 9, t0) // only a generation the message was not made for
		defer func() { b.pre.signed = saved }()
		if _, _, _, err := Accept(b.local, m, t0); !errors.Is(err, ErrNoPrekey) {
			t.Fatalf("%v", err)
		}
	})
	t.Run("expired signed prekey", func(t *testing.T) {
		m := initial(a, b)
		late := t0.Add(DefaultMaxPrekeyAge + time.Second)
		if _, _, _, err := Accept(b.local, m, late); !errors.Is(err, ErrNoPrekey) {
			t.Fatalf("%v", err)
		}
		_, _, rec, err := Accept(b.local, m, t0.Add(DefaultMaxPrekeyAge))
		if err != nil || !rec.ReplayUntil.Equal(t0.Add(DefaultMaxPrekeyAge)) {
			t.Fatalf("%v %v", err, rec)
		}
	})
	t.Run("low-order ephemeral key", func(t *testing.T) {
		m := bytes.Clone(initial(a, b))
		clear(m[initEKOff:initCTOff])
		if _, _, _, err := Accept(b.local, m, t0); !errors.Is(err, ErrInvalidMessage) {
			t.Fatalf("%v", err)
		}
	})
	t.Run("wrong recipient", func(t *testing.T) {
		m := initial(a, c)
		if _, _, _, err := Accept(b.local, m, t0); !errors.Is(err, ErrNoPrekey) {
			t.Fatalf("%v", err)
		}
	})
	t.Run("wrong peer on a session", func(t *testing.T) {
		sa, sb := pair(t, newParty(t, "dave", 0), b)
		_ = sa
		m := initial(c, b)
		before := mustMarshal(t, sb)
		if _, err := sb.Decrypt(b.local, m, t0); !errors.Is(err, ErrWrongPeer) {
			t.Fatalf("%v", err)
		}
		if !bytes.Equal(before, mustMarshal(t, sb)) {
			t.Fatal("session changed")
		}
		if _, err := sb.Decrypt(c.local, m, t0); !errors.Is(err, ErrWrongPeer) {
			t.Fatalf("decrypt with another local identity: %v", err)
		}
	})
	t.Run("not initial", func(t *testing.T) {
		sa, _ := pair(t, a, newParty(t, "erin", 0))
		if _, _, _, err := Accept(b.local, mustEncrypt(t, sa, a, "x"), t0); !errors.Is(err, ErrInvalidMessage) {
			t.Fatalf("%v", err)
		}
	})
	t.Run("no replay cache", func(t *testing.T) {
		l := *b.local
		l.Replay = nil
		if _, _, _, err := Accept(&l, initial(a, b), t0); err == nil {
			t.Fatal("accepted without a replay cache")
		}
	})
}

func initialWith(t *testing.T, from, to *party, bundle *Bundle) []byte {
	t.Helper()
	s, err := NewSession(from.local, to.peer(), bundle, t0)
	if err != nil {
		t.Fatal(err)
	}
	return mustEncrypt(t, s, from, "hi from "+from.name)
}

// TestOneTimePrekeys: sessions work without a one-time prekey, and when
// two initiators use the same one while the receiver still keeps it.
func TestOneTimePrekeys(t *testing.T) {
	a, b, c := newParty(t, "alice", 0), newParty(t, "bob", 1), newParty(t, "carol", 0)
	noOTP := b.bundle(t)
	noOTP.OneTime = nil
	sa, err := NewSession(a.local, b.peer(), noOTP, t0)
	if err != nil {
		t.Fatal(err)
	}
	_, rec := b.accept(t, mustEncrypt(t, sa, a, "no one-time"), t0)
	if rec.OneTimeUsed {
		t.Fatal("one-time prekey reported")
	}
	bundle := b.bundle(t)
	m1, m2 := initialWith(t, a, b, bundle), initialWith(t, c, b, bundle)
	for _, m := range [][]byte{m1, m2} {
		_, _, rec, err := Accept(b.local, m, t0) // the caller keeps the key (reuse)
		if err != nil || !rec.OneTimeUsed || rec.OneTimeID != bundle.OneTime[0].ID {
			t.Fatalf("%v %+v", err, rec)
		}
	}
}

// TestSessionMarshal: a session survives MarshalBinary/ParseSession at
// every point of a conversation with pending initial messages, skipped
// keys and archived states, and continues identically.
func TestSessionMarshal(t *testing.T) {
	a, b := newParty(t, "alice", 1), newParty(t, "bob", 1)
	sa, err := NewSession(a.local, b.peer(), b.bundle(t), t0)
	if err != nil {
		t.Fatal(err)
	}
	reparse := func(s *Session) *Session {
		raw := mustMarshal(t, s)
		p, err := ParseSession(raw)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(raw, mustMarshal(t, p)) {
			t.Fatal("round trip changed the encoding")
		}
		return p
	}
	sa = reparse(sa)
	m0 := mustEncrypt(t, sa, a, "0")
	sa = reparse(sa)
	m1 := mustEncrypt(t, sa, a, "1")
	sb, _ := b.accept(t, m1, t0)
	sb = reparse(sb)
	var held [][]byte
	for i := range 5 {
		held = append(held, mustEncrypt(t, sb, b, fmt.Sprint("b", i)))
	}
	sb = reparse(sb)
	mustDecrypt(t, sa, a, held[4]) // skips 0..3
	sa = reparse(sa)
	if sa.states[0].numSkipped() != 4 {
		t.Fatalf("skipped %d", sa.states[0].numSkipped())
	}
	for _, i := range []int{2, 0} {
		mustDecrypt(t, sa, a, held[i])
		sa = reparse(sa)
	}
	mustDecrypt(t, sb, b, m0)
	sb = reparse(sb)
	// An archived state: Bob resets.
	sb2, err := NewSession(b.local, a.peer(), a.bundle(t), t0)
	if err != nil {
		t.Fatal(err)
	}
	mustDecrypt(t, sa, a, mustEncrypt(t, sb2, b, "reset"))
	sa = reparse(sa)
	if len(sa.states) != 2 {
		t.Fatalf("%d states", len(sa.states))
	}
	mustDecrypt(t, sa, a, held[1])
	mustDecrypt(t, sa, a, held[3])
	sa = reparse(sa)
	mustDecrypt(t, sb2, b, mustEncrypt(t, sa, a, "ok"))
	for _, bad := range [][]byte{nil, {2}, mustMarshal(t, sa)[:50], append(mustMarshal(t, sa), 0)} {
		if _, err := ParseSession(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("parsed %d bytes: %v", len(bad), err)
		}
	}
}

// The peer lost its state: Restart starts a new exchange in the session,
// and what the peer sent before still decrypts.
func TestRestart(t *testing.T) {
	a, b := newParty(t, "alice", 1), newParty(t, "bob", 1)
	sa, sb := pair(t, a, b)
	late := mustEncrypt(t, sb, b, "sent before bob lost his state")
	before := mustMarshal(t, sa)
	if err := sa.Restart(a.local, a.bundle(t), t0); !errors.Is(err, ErrWrongPeer) {
		t.Fatalf("Restart with another identity's bundle = %v, want ErrWrongPeer", err)
	}
	if !bytes.Equal(before, mustMarshal(t, sa)) {
		t.Fatal("a failed Restart changed the session")
	}
	if err := sa.Restart(a.local, b.bundle(t), t0); err != nil {
		t.Fatal(err)
	}
	m := mustEncrypt(t, sa, a, "fresh start")
	if !IsInitial(m) {
		t.Fatal("the first message after Restart is not an initial message")
	}
	sb2, rec := b.accept(t, m, t0)
	if string(rec.Plaintext) != "fresh start" {
		t.Fatalf("bob read %q", rec.Plaintext)
	}
	if got := mustDecrypt(t, sa, a, mustEncrypt(t, sb2, b, "got it")); got != "got it" {
		t.Fatal(got)
	}
	if got := mustDecrypt(t, sa, a, late); got != "sent before bob lost his state" {
		t.Fatal(got)
	}
	mustDecrypt(t, sb2, b, mustEncrypt(t, sa, a, "and on we go"))
}
