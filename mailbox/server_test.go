package mailbox

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

func TestDepositFetchAck(t *testing.T) {
	hd := newHolder(t, nil)
	alice := newClient(t, hd)
	bob := newRecipient(t, "bob", hd.clock.Now())
	bobHost := newClient(t, hd)
	now := hd.clock.Now()

	envs := [][]byte{envelope(100, "one"), envelope(MaxEnvelope, "two"), envelope(1, "3")}
	for _, e := range envs {
		r, err := Deposit(t.Context(), alice, hd.h.ID(), bob.addr, e, 0)
		if err != nil {
			t.Fatal(err)
		}
		if r.ID != sha256.Sum256(e) {
			t.Fatal("receipt names another envelope")
		}
		if want := now.Add(DefaultTTL); !r.Expires.Equal(want) {
			t.Fatalf("expires %v, want %v (default TTL)", r.Expires, want)
		}
	}
	if st := hd.srv.Stats(); st != (Stats{Addresses: 1, Envelopes: 3, Bytes: 101 + MaxEnvelope}) {
		t.Fatalf("stats %+v", st)
	}

	got, err := Fetch(t.Context(), bobHost, hd.h.ID(), bob.key)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("fetched %d envelopes, want 3", len(got))
	}
	if !slices.IsSortedFunc(got, func(a, b Held) int { return bytes.Compare(a.ID[:], b.ID[:]) }) {
		t.Fatal("not in id order")
	}
	for _, h := range got {
		if !slices.ContainsFunc(envs, func(e []byte) bool { return bytes.Equal(e, h.Envelope) }) {
			t.Fatal("fetched an envelope that was not deposited")
		}
		if !h.Expires.Equal(now.Add(DefaultTTL)) {
			t.Fatalf("expiry %v", h.Expires)
		}
	}

	if err := Ack(t.Context(), bobHost, hd.h.ID(), bob.key, [][32]byte{got[0].ID, got[1].ID, {9}}); err != nil {
		t.Fatal(err)
	}
	left, err := Fetch(t.Context(), bobHost, hd.h.ID(), bob.key)
	if err != nil || len(left) != 1 || left[0].ID != got[2].ID {
		t.Fatalf("after ack: %d envelopes, %v", len(left), err)
	}
	if err := Ack(t.Context(), bobHost, hd.h.ID(), bob.key, [][32]byte{left[0].ID}); err != nil {
		t.Fatal(err)
	}
	if st := hd.srv.Stats(); st != (Stats{}) {
		t.Fatalf("stats after every ack: %+v", st)
	}
	if got, err := Fetch(t.Context(), bobHost, hd.h.ID(), bob.key); err != nil || len(got) != 0 {
		t.Fatalf("empty mailbox: %d, %v", len(got), err)
	}
}

func TestWrongKeyRefused(t *testing.T) {
	hd := newHolder(t, nil)
	bob := newRecipient(t, "bob", hd.clock.Now())
	mallory := newRecipient(t, "mallory", hd.clock.Now())
	c := newClient(t, hd)
	if _, err := Deposit(t.Context(), c, hd.h.ID(), bob.addr, envelope(50, "for bob"), 0); err != nil {
		t.Fatal(err)
	}
	other := newHost(t) // a proof meant for another holder

	cases := []struct {
		name  string
		prove prover
	}{
		{"another key", signer(mallory.key)},
		{"bad signature", func(h peer.ID, n [32]byte, req *frame) *frame {
			f := signer(bob.key)(h, n, req)
			f.sig[0] ^= 1
			return f
		}},
		{"signed for another holder", func(_ peer.ID, n [32]byte, req *frame) *frame {
			return signer(bob.key)(other.ID(), n, req)
		}},
		{"signed for another nonce", func(h peer.ID, _ [32]byte, req *frame) *frame {
			return signer(bob.key)(h, [32]byte{1}, req)
		}},
		{"fetch proof for an ack", func(h peer.ID, n [32]byte, req *frame) *frame {
			r := *req
			r.kind = kindFetch
			return signer(bob.key)(h, n, &r)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := fetch(t.Context(), c, hd.h.ID(), bob.addr, tc.prove)
			if tc.name != "fetch proof for an ack" {
				wantKind(t, err, ErrUnauthorized)
			}
			_, err = call(t.Context(), c, hd.h.ID(), &frame{kind: kindAck, address: bob.addr, ids: [][32]byte{sha256.Sum256(envelope(50, "for bob"))}}, tc.prove)
			wantKind(t, err, ErrUnauthorized)
		})
	}
	if st := hd.srv.Stats(); st.Envelopes != 1 {
		t.Fatalf("refused acks deleted mail: %+v", st)
	}
	// Mallory's own mailbox at this holder is empty: her key only opens hers.
	if got, err := Fetch(t.Context(), c, hd.h.ID(), mallory.key); err != nil || len(got) != 0 {
		t.Fatalf("mallory fetched %d, %v", len(got), err)
	}
}

func TestTTL(t *testing.T) {
	hd := newHolder(t, nil)
	c := newClient(t, hd)
	bob := newRecipient(t, "bob", hd.clock.Now())
	now := hd.clock.Now()
	cases := []struct {
		ttl, want time.Duration
	}{
		{0, DefaultTTL},
		{40 * 24 * time.Hour, MaxTTL},
		{time.Minute, MinTTL},
		{2*time.Hour + 300*time.Millisecond, 2*time.Hour + time.Second},
		{1 << 62, MaxTTL},
	}
	for i, tc := range cases {
		r, err := Deposit(t.Context(), c, hd.h.ID(), bob.addr, envelope(1000, string(rune('a'+i))), tc.ttl)
		if err != nil {
			t.Fatal(err)
		}
		if got := r.Expires.Sub(now); got != tc.want {
			t.Errorf("TTL %v: kept for %v, want %v", tc.ttl, got, tc.want)
		}
	}
	hd.clock.Add(15 * 24 * time.Hour)
	got, err := Fetch(t.Context(), c, hd.h.ID(), bob.key)
	if err != nil || len(got) != 2 {
		t.Fatalf("after 15 days: %d envelopes (want the two 30-day ones), %v", len(got), err)
	}
	if st := hd.srv.Stats(); st.Envelopes != 5 {
		t.Fatalf("before collection: %+v", st)
	}
	if addrs := hd.srv.Addresses(); len(addrs) != 1 {
		t.Fatalf("addresses %v", addrs)
	}
	hd.srv.collect()
	if st := hd.srv.Stats(); st != (Stats{Addresses: 1, Envelopes: 2, Bytes: 2000}) {
		t.Fatalf("after collection: %+v", st)
	}
	hd.clock.Add(15 * 24 * time.Hour)
	if addrs := hd.srv.Addresses(); len(addrs) != 0 {
		t.Fatalf("addresses after 30 days: %v", addrs)
	}
	hd.srv.collect()
	if st := hd.srv.Stats(); st != (Stats{}) {
		t.Fatalf("after 30 days: %+v", st)
	}
	// Nothing is left in the store either, and a restart agrees.
	for _, ns := range []string{nsEnvelopes, nsIndex} {
		n := 0
		hd.st.Namespace(ns).Iterate(nil, false, func(k, v []byte) error { n++; return nil })
		if n != 0 {
			t.Errorf("%s holds %d records", ns, n)
		}
	}
	hd.restart()
	if st := hd.srv.Stats(); st != (Stats{}) {
		t.Fatalf("after restart: %+v", st)
	}
}

func TestQuotaPerAddress(t *testing.T) {
	hd := newHolder(t, func(o *ServerOptions) { o.MaxPerAddress = 3; o.MaxBytesPerAddress = 1000 })
	c := newClient(t, hd)
	bob := newRecipient(t, "bob", hd.clock.Now())
	carol := newRecipient(t, "carol", hd.clock.Now())
	dave := newRecipient(t, "dave", hd.clock.Now())
	for i := range 3 {
		if _, err := Deposit(t.Context(), c, hd.h.ID(), bob.addr, envelope(10, string(rune('a'+i))), 0); err != nil {
			t.Fatal(err)
		}
	}
	_, err := Deposit(t.Context(), c, hd.h.ID(), bob.addr, envelope(10, "d"), 0)
	wantKind(t, err, ErrQuotaExceeded)
	t.Logf("count quota: %v", err)

	// Bytes: 600 + 500 > 1000.
	if _, err := Deposit(t.Context(), c, hd.h.ID(), carol.addr, envelope(600, "x"), 0); err != nil {
		t.Fatal(err)
	}
	_, err = Deposit(t.Context(), c, hd.h.ID(), carol.addr, envelope(500, "y"), 0)
	wantKind(t, err, ErrQuotaExceeded)
	t.Logf("bytes quota: %v", err)

	// Other addresses are unaffected.
	if _, err := Deposit(t.Context(), c, hd.h.ID(), dave.addr, envelope(1000, "z"), 0); err != nil {
		t.Fatalf("another address: %v", err)
	}
	// Once the recipient collects, there is room again.
	got, _ := Fetch(t.Context(), c, hd.h.ID(), bob.key)
	if err := Ack(t.Context(), c, hd.h.ID(), bob.key, [][32]byte{got[0].ID}); err != nil {
		t.Fatal(err)
	}
	if _, err := Deposit(t.Context(), c, hd.h.ID(), bob.addr, envelope(10, "d"), 0); err != nil {
		t.Fatalf("after an ack: %v", err)
	}
	// And once mail expires.
	hd.clock.Add(DefaultTTL)
	if _, err := Deposit(t.Context(), c, hd.h.ID(), carol.addr, envelope(500, "y"), 0); err != nil {
		t.Fatalf("after expiry: %v", err)
	}
}

func TestGlobalQuota(t *testing.T) {
	hd := newHolder(t, func(o *ServerOptions) { o.MaxTotalBytes = 2000 })
	c := newClient(t, hd)
	var rs []recipient
	for i, ttl := range []time.Duration{2 * time.Hour, 0, 0} {
		r := newRecipient(t, string(rune('a'+i)), hd.clock.Now())
		rs = append(rs, r)
		if _, err := Deposit(t.Context(), c, hd.h.ID(), r.addr, envelope(600, "m"), ttl); err != nil {
			t.Fatal(err)
		}
	}
	late := newRecipient(t, "late", hd.clock.Now())
	_, err := Deposit(t.Context(), c, hd.h.ID(), late.addr, envelope(600, "late"), 0)
	wantKind(t, err, ErrMailboxFull)
	t.Logf("full: %v", err)
	// Nothing was evicted.
	for _, r := range rs {
		if got, err := Fetch(t.Context(), c, hd.h.ID(), r.key); err != nil || len(got) != 1 {
			t.Fatalf("mail of %s: %d, %v", r.addr, len(got), err)
		}
	}
	// A small one still fits; once the first expires, so does the late one.
	if _, err := Deposit(t.Context(), c, hd.h.ID(), late.addr, envelope(200, "small"), 0); err != nil {
		t.Fatal(err)
	}
	hd.clock.Add(3 * time.Hour)
	if _, err := Deposit(t.Context(), c, hd.h.ID(), late.addr, envelope(600, "late"), 0); err != nil {
		t.Fatalf("after the first expired: %v", err)
	}
	if st := hd.srv.Stats(); st.Bytes != 2000 || st.Envelopes != 4 {
		t.Fatalf("stats %+v", st)
	}
}

func TestRateLimit(t *testing.T) {
	hd := newHolder(t, func(o *ServerOptions) { o.DepositsPerSecond = 1; o.Burst = 3 })
	alice, carol := newClient(t, hd), newClient(t, hd)
	bob := newRecipient(t, "bob", hd.clock.Now())
	for i := range 3 {
		if _, err := Deposit(t.Context(), alice, hd.h.ID(), bob.addr, envelope(10, string(rune('a'+i))), 0); err != nil {
			t.Fatal(err)
		}
	}
	_, err := Deposit(t.Context(), alice, hd.h.ID(), bob.addr, envelope(10, "d"), 0)
	wantKind(t, err, ErrRateLimited)
	var e *Error
	errors.As(err, &e)
	if e.RetryAfter <= 0 || e.RetryAfter > time.Second {
		t.Fatalf("retry after %v", e.RetryAfter)
	}
	if _, err := Deposit(t.Context(), carol, hd.h.ID(), bob.addr, envelope(10, "carol"), 0); err != nil {
		t.Fatalf("another depositor: %v", err)
	}
	hd.clock.Add(time.Second)
	if _, err := Deposit(t.Context(), alice, hd.h.ID(), bob.addr, envelope(10, "d"), 0); err != nil {
		t.Fatalf("a second later: %v", err)
	}
	// Fetching is not a deposit.
	if _, err := Fetch(t.Context(), alice, hd.h.ID(), bob.key); err != nil {
		t.Fatal(err)
	}
}

func TestTooLarge(t *testing.T) {
	hd := newHolder(t, func(o *ServerOptions) { o.MaxEnvelope = 1000 })
	c := newClient(t, hd)
	bob := newRecipient(t, "bob", hd.clock.Now())
	_, err := Deposit(t.Context(), c, hd.h.ID(), bob.addr, envelope(1001, "big"), 0)
	wantKind(t, err, ErrTooLarge)
	_, err = Deposit(t.Context(), c, hd.h.ID(), bob.addr, envelope(MaxEnvelope+1, "huge"), 0)
	wantKind(t, err, ErrTooLarge) // refused before it is sent
	// A peer that sends it anyway gets a clear refusal, not a hang.
	f := &frame{kind: kindDeposit, address: bob.addr, envelope: envelope(MaxEnvelope+2000, "raw")}
	_, err = rawExchange(t, c, hd, lengthPrefixed(f.marshal()))
	wantKind(t, err, ErrTooLarge)
	if st := hd.srv.Stats(); st.Envelopes != 0 {
		t.Fatalf("stats %+v", st)
	}
	if _, err := Deposit(t.Context(), c, hd.h.ID(), bob.addr, nil, 0); err == nil {
		t.Fatal("empty envelope accepted")
	}
}

func TestDuplicateDeposit(t *testing.T) {
	hd := newHolder(t, nil)
	c := newClient(t, hd)
	bob := newRecipient(t, "bob", hd.clock.Now())
	env := envelope(300, "twice")
	r1, err := Deposit(t.Context(), c, hd.h.ID(), bob.addr, env, 0)
	if err != nil {
		t.Fatal(err)
	}
	hd.clock.Add(time.Hour)
	r2, err := Deposit(t.Context(), c, hd.h.ID(), bob.addr, env, 0)
	if err != nil {
		t.Fatal(err)
	}
	if r1 != r2 {
		t.Fatalf("second deposit %+v, first %+v", r2, r1)
	}
	if st := hd.srv.Stats(); st.Envelopes != 1 || st.Bytes != 300 {
		t.Fatalf("stats %+v", st)
	}
	// After the ack, the same bytes (a late copy) are not stored again.
	if err := Ack(t.Context(), c, hd.h.ID(), bob.key, [][32]byte{r1.ID}); err != nil {
		t.Fatal(err)
	}
	r3, err := Deposit(t.Context(), c, hd.h.ID(), bob.addr, env, 0)
	if err != nil || r3 != r1 {
		t.Fatalf("re-deposit after ack: %+v, %v", r3, err)
	}
	if err := Replicate(t.Context(), c, hd.h.ID(), bob.addr, Held{ID: r1.ID, Envelope: env, Expires: r1.Expires}); err != nil {
		t.Fatal(err)
	}
	if st := hd.srv.Stats(); st.Envelopes != 0 {
		t.Fatalf("an acknowledged envelope came back: %+v", st)
	}
}

func TestRestartKeepsMailAndAccounting(t *testing.T) {
	hd := newHolder(t, func(o *ServerOptions) { o.MaxPerAddress = 4 })
	c := newClient(t, hd)
	bob := newRecipient(t, "bob", hd.clock.Now())
	carol := newRecipient(t, "carol", hd.clock.Now())
	var ids [][32]byte
	for i := range 4 {
		r, err := Deposit(t.Context(), c, hd.h.ID(), bob.addr, envelope(100*(i+1), string(rune('a'+i))), 0)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.ID)
	}
	if _, err := Deposit(t.Context(), c, hd.h.ID(), carol.addr, envelope(5000, "carol"), time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := Ack(t.Context(), c, hd.h.ID(), bob.key, ids[:1]); err != nil {
		t.Fatal(err)
	}
	before := hd.srv.Stats()
	fetched, _ := Fetch(t.Context(), c, hd.h.ID(), bob.key)

	hd.restart()
	if st := hd.srv.Stats(); st != before {
		t.Fatalf("after restart %+v, before %+v", st, before)
	}
	after, err := Fetch(t.Context(), c, hd.h.ID(), bob.key)
	if err != nil || !slices.EqualFunc(after, fetched, func(a, b Held) bool {
		return a.ID == b.ID && bytes.Equal(a.Envelope, b.Envelope) && a.Expires.Equal(b.Expires)
	}) {
		t.Fatalf("after restart fetched %d envelopes, before %d (%v)", len(after), len(fetched), err)
	}
	// Quota state survived: room for exactly one more.
	if _, err := Deposit(t.Context(), c, hd.h.ID(), bob.addr, envelope(10, "e"), 0); err != nil {
		t.Fatal(err)
	}
	_, err = Deposit(t.Context(), c, hd.h.ID(), bob.addr, envelope(10, "f"), 0)
	wantKind(t, err, ErrQuotaExceeded)
	// The ack is remembered.
	if _, err := Deposit(t.Context(), c, hd.h.ID(), bob.addr, envelope(100, "a"), 0); err != nil {
		t.Fatal(err)
	}
	if st := hd.srv.Stats(); st.Envelopes != 5 {
		t.Fatalf("stats %+v", st)
	}
	// Carol's expires while the holder is down, and is not counted after.
	hd.close()
	hd.clock.Add(2 * time.Hour)
	hd.start()
	if st := hd.srv.Stats(); st.Addresses != 1 || st.Envelopes != 4 {
		t.Fatalf("after a restart past an expiry: %+v", st)
	}
}

func TestReplicate(t *testing.T) {
	src, dst := newHolder(t, nil), newHolder(t, nil)
	c := newClient(t, src, dst)
	bob := newRecipient(t, "bob", src.clock.Now())
	src.h.Peerstore().AddAddrs(dst.h.ID(), dst.h.Addrs(), time.Hour)
	var receipts []DepositReceipt
	for i := range 3 {
		r, err := Deposit(t.Context(), c, src.h.ID(), bob.addr, envelope(200, string(rune('a'+i))), time.Duration(i+2)*time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		receipts = append(receipts, r)
	}
	if got := src.srv.Addresses(); len(got) != 1 || got[0] != bob.addr {
		t.Fatalf("addresses %v", got)
	}
	held, err := src.srv.Envelopes(bob.addr)
	if err != nil || len(held) != 3 {
		t.Fatalf("envelopes: %d, %v", len(held), err)
	}
	// The second holder's clock is two hours later: the first envelope has
	// expired there.
	dst.clock.Add(2 * time.Hour)
	for _, h := range held {
		err := Replicate(t.Context(), src.h, dst.h.ID(), bob.addr, h)
		if h.ID == receipts[0].ID {
			wantKind(t, err, ErrExpired)
		} else if err != nil {
			t.Fatal(err)
		}
	}
	got, err := Fetch(t.Context(), c, dst.h.ID(), bob.key)
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range got {
		i := slices.IndexFunc(receipts, func(r DepositReceipt) bool { return r.ID == g.ID })
		if i < 0 || !g.Expires.Equal(receipts[i].Expires) {
			t.Fatalf("replica's expiry %v is not the original", g.Expires)
		}
	}
	if len(got) != 2 {
		t.Fatalf("replicated %d, want 2", len(got))
	}
	// An expiry past MaxTTL is refused.
	far := Held{Envelope: envelope(10, "far"), Expires: dst.clock.Now().Add(MaxTTL + time.Hour)}
	far.ID = sha256.Sum256(far.Envelope)
	wantKind(t, Replicate(t.Context(), src.h, dst.h.ID(), bob.addr, far), ErrBadFrame)
	// A replica with an id that is not its envelope's is not sent.
	bad := held[1]
	bad.ID[0] ^= 1
	if err := Replicate(t.Context(), src.h, dst.h.ID(), bob.addr, bad); err == nil {
		t.Fatal("mismatched id accepted")
	}
}
