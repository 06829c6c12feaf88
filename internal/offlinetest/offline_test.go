package offlinetest

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/discordopus/discordopus/chat"
	"github.com/discordopus/discordopus/mailbox"
)

const day = 24 * time.Hour

// retryGap is more than chat's longest retry backoff (5 min): moving the
// clock by it before a send makes the sender's worker try at once.
const retryGap = 5*time.Minute + time.Second

// maxRetries bounds the deposit retries TestOfflineDelivery allows: 200
// sends and this many retries, retryGap apart, stay within one epoch.
const maxRetries = 40

// TestOfflineDelivery is issue 4's scenario at the chat level. Alice and
// Bob are contacts; Bob goes offline; Alice sends 200 messages, which
// chat deposits in Bob's mailbox (one envelope each); Alice goes offline;
// 40% of the holders of Bob's mailbox stop, 10 nodes join, and repair
// hands the mail to the new closest holders; a week passes; Bob comes
// back and drains 200 of 200, each once, in order; Alice comes back and,
// from her own mailbox, sees all 200 delivered.
func TestOfflineDelivery(t *testing.T) {
	if testing.Short() {
		t.Skip("a 40-node network and 200 mailbox deposits: not in -short")
	}
	start := time.Now()
	lap := start
	took := func() time.Duration {
		d := time.Since(lap)
		lap = time.Now()
		return d.Round(time.Millisecond)
	}
	clk := newClock()
	sw := newSwarm(t, clk, 30)
	alice, bob := newUser(t, sw, "alice"), newUser(t, sw, "bob")
	alice.start()
	bob.start()
	t.Logf("30 holders and 2 users up in %v", took())

	// 1. Contacts, a message each way, directly.
	hello, _ := befriend(t, alice, bob)
	t.Logf("1. befriended in %v", took())

	// 2. Bob goes offline.
	bob.stop()
	depositDay := mailbox.Epoch(clk.Now())
	bobAddr := bob.mailboxKeys().Public(depositDay).Address()

	// 3. Alice sends 200 messages. Each attempt to reach Bob fails and
	// chat deposits what is queued in his mailbox; each message is
	// deposited (at a quorum of holders) before the next is written, so
	// each is an envelope of its own.
	// A deposit can fail on a loaded machine (a lookup or a holder times
	// out); chat then retries after its backoff, which runs on the test's
	// clock: when a message is still unsent after retryAfter, the clock
	// moves on by retryGap so that the retry happens, as it would in time.
	const retryAfter = 5 * time.Second
	retries := 0
	var sent []chat.Message
	for i := range 200 {
		clk.Add(retryGap)
		m, err := alice.svc.Send("bob", fmt.Sprintf("offline message %03d", i), chat.ID{})
		if err != nil {
			t.Fatal(err)
		}
		sent = append(sent, m)
		nudge := time.Now().Add(retryAfter)
		waitFor(t, 60*time.Second, fmt.Sprintf("message %d deposited", i), func() (bool, string) {
			if time.Now().After(nudge) && retries < maxRetries {
				clk.Add(retryGap)
				retries++
				nudge = time.Now().Add(retryAfter)
			}
			holders := 0
			for _, n := range sw.live() {
				if n.srv.Stats().Envelopes > i {
					holders++
				}
			}
			state := alice.states("bob")[m.ID]
			return state == chat.Sent && holders >= mailbox.DefaultQuorum, fmt.Sprintf("%s, %d holders", state, holders)
		})
	}
	msgIDs := ids(sent)
	if e := mailbox.Epoch(clk.Now()); e != depositDay {
		t.Fatalf("the deposits crossed into epoch %d from %d", e, depositDay)
	}
	holders := sw.holding(bobAddr)
	full := 0
	for _, c := range holders {
		if c == 200 {
			full++
		}
	}
	if d := sw.distinct(bobAddr); d != 200 || full < mailbox.DefaultQuorum {
		t.Fatalf("Bob's mailbox: %d distinct envelopes (want 200), %d holders with all of them (want %d or more): %v",
			d, full, mailbox.DefaultQuorum, counts(holders))
	}
	if n := alice.count("bob", msgIDs, chat.Sent); n != 200 {
		t.Fatalf("%d of 200 show Sent", n)
	}
	t.Logf("3. 200 messages deposited in %v (%d retried); %d holders: %v", took(), retries, len(holders), counts(holders))

	// 4. Alice goes offline.
	alice.stop()

	// 5. 40% of the holders stop, 10 nodes join, repair runs.
	r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 4))
	var hs []*infra
	for n := range holders {
		hs = append(hs, n)
	}
	r.Shuffle(len(hs), func(i, j int) { hs[i], hs[j] = hs[j], hs[i] })
	stopped := (len(hs)*4 + 9) / 10
	var wg sync.WaitGroup
	for _, n := range hs[:stopped] {
		wg.Go(n.stop)
	}
	wg.Wait()
	var joined []*infra
	for range 10 {
		joined = append(joined, sw.add())
	}
	sw.waitReady(joined)
	sw.repair(2)
	holders = sw.holding(bobAddr)
	for i, n := range sw.trueClosest(bobAddr, mailbox.DefaultReplicas) {
		if holders[n] != 200 {
			t.Errorf("after repair, the %d-th closest live node holds %d of 200", i+1, holders[n])
		}
	}
	t.Logf("5. stopped %d of %d holders, 10 joined, 2 repair rounds: %v; %d live holders: %v",
		stopped, len(hs), took(), len(holders), counts(holders))

	// 6. A week passes; repair goes on.
	clk.Add(7 * day)
	sw.repair(1)
	t.Logf("6. a week later, a repair round: %v", took())

	// 7. Bob comes back and drains: 200 of 200, once each, in order.
	bob.unreachable(alice.id, true) // Alice is offline anyway; see 8.
	bob.start()
	n, err := bob.drainOnce(t.Context())
	if err != nil {
		t.Fatalf("Bob's drain: %v", err)
	}
	if n != 200 {
		t.Errorf("Bob's drain took %d envelopes, want 200", n)
	}
	got := bob.incoming("alice")
	if len(got) != 201 || got[0].ID != hello.ID {
		t.Fatalf("Bob has %d messages from Alice, want her hello and 200", len(got))
	}
	for i, m := range got[1:] {
		if m.ID != sent[i].ID || m.Text != sent[i].Text {
			t.Fatalf("Bob's message %d is %s %q, Alice sent %s %q", i, m.ID, m.Text, sent[i].ID, sent[i].Text)
		}
	}
	if n, err := bob.drainOnce(t.Context()); n != 0 || err != nil {
		t.Errorf("a second drain took %d envelopes: %v", n, err)
	}
	if c := sw.distinct(bobAddr); c != 0 {
		t.Errorf("after Bob's drain live holders still have %d of his envelopes", c)
	}
	t.Logf("7. Bob back, drained 200 of 200 in order: %v", took())

	// 8. Alice comes back. Bob could not reach her while she was away, so
	// his delivery receipts wait in her mailbox; the two stay unable to
	// dial each other until she has drained it, so that "delivered" can
	// only have come from there.
	alice.unreachable(bob.id, true)
	alice.start()
	drained := 0
	waitFor(t, time.Minute, "Alice sees 200 delivered through her mailbox", func() (bool, string) {
		n, err := alice.drainOnce(t.Context())
		drained += n
		c := alice.count("bob", msgIDs, chat.Delivered)
		if err != nil {
			return false, fmt.Sprintf("%d delivered; drain: %v", c, err)
		}
		if c < 200 {
			time.Sleep(250 * time.Millisecond) // node drains every few minutes; no need to hammer
		}
		return c == 200, fmt.Sprintf("%d delivered, %d receipt envelopes drained", c, drained)
	})
	t.Logf("8. Alice back, all 200 delivered, from %d envelopes of receipts: %v", drained, took())

	// Once they can reach each other again, a message goes directly, and
	// nothing arrives twice.
	alice.unreachable(bob.id, false)
	bob.unreachable(alice.id, false)
	clk.Add(retryGap)
	last, err := alice.svc.Send("bob", "back online", chat.ID{})
	if err != nil {
		t.Fatal(err)
	}
	alice.waitStates("bob", []chat.ID{last.ID}, chat.Delivered, 30*time.Second)
	got = bob.incoming("alice")
	if len(got) != 202 || got[201].ID != last.ID {
		t.Fatalf("Bob has %d messages from Alice, want 202 ending with the last", len(got))
	}
	if !slices.IsSortedFunc(got, func(x, y chat.Message) int { return compareID(x.ID, y.ID) }) {
		t.Error("Bob's history is not in order")
	}
	if c := alice.count("bob", msgIDs, chat.Delivered); c != 200 {
		t.Errorf("%d of 200 show delivered at the end", c)
	}
	if alice.undecryptable+bob.undecryptable != 0 {
		t.Errorf("drains met %d envelopes no session opened", alice.undecryptable+bob.undecryptable)
	}
	t.Logf("then a direct message: %v; whole scenario %v", took(), time.Since(start).Round(time.Millisecond))
}

// TestOfflineTTL: a message that waits in an offline contact's mailbox
// past its 14 days shows as failed at its sender, and is gone from every
// holder (one that was offline at expiry drops it when it comes back);
// the recipient never gets it, and the sender can send it again.
func TestOfflineTTL(t *testing.T) {
	clk := newClock()
	sw := newSwarm(t, clk, 12)
	alice, bob := newUser(t, sw, "alice"), newUser(t, sw, "bob")
	alice.start()
	bob.start()
	befriend(t, alice, bob)
	bob.stop()
	bobAddr := bob.mailboxKeys().Public(mailbox.Epoch(clk.Now())).Address()

	clk.Add(retryGap)
	m, err := alice.svc.Send("bob", "this one waits in vain", chat.ID{})
	if err != nil {
		t.Fatal(err)
	}
	var holders map[*infra]int
	waitFor(t, 30*time.Second, "the message deposited", func() (bool, string) {
		holders = sw.holding(bobAddr)
		state := alice.states("bob")[m.ID]
		return state == chat.Sent && len(holders) >= mailbox.DefaultQuorum, fmt.Sprintf("%s, %d holders", state, len(holders))
	})
	var away *infra // a holder that is offline when the envelope expires
	for n := range holders {
		away = n
		break
	}
	away.stop()

	clk.Add(15 * day)
	alice.waitStates("bob", []chat.ID{m.ID}, chat.Failed, time.Minute)
	waitFor(t, 30*time.Second, "the envelope gone from every live holder", func() (bool, string) {
		left := 0
		for _, n := range sw.live() {
			left += n.srv.Stats().Envelopes + n.records(t, "mailbox") + n.records(t, "mailbox-index")
		}
		return left == 0, fmt.Sprintf("%d envelope records left", left)
	})
	back := sw.revive(away)
	waitFor(t, 10*time.Second, "the returning holder drops the expired envelope", func() (bool, string) {
		left := back.srv.Stats().Envelopes + back.records(t, "mailbox") + back.records(t, "mailbox-index")
		return left == 0, fmt.Sprintf("%d envelope records", left)
	})

	// Bob comes back: nothing waits for him. Alice sends it again.
	bob.start()
	if n, err := bob.drainOnce(t.Context()); n != 0 || err != nil {
		t.Fatalf("Bob drained %d envelopes after the TTL: %v", n, err)
	}
	if got := bob.incoming("alice"); len(got) != 1 {
		t.Fatalf("Bob has %d messages from Alice, want only her hello", len(got))
	}
	clk.Add(retryGap)
	again, err := alice.svc.Send("bob", m.Text, chat.ID{})
	if err != nil {
		t.Fatal(err)
	}
	alice.waitStates("bob", []chat.ID{again.ID}, chat.Delivered, 30*time.Second)
	if got := bob.incoming("alice"); len(got) != 2 || got[1].Text != m.Text {
		t.Fatalf("Bob has %d messages from Alice after the resend", len(got))
	}
	if st := alice.states("bob")[m.ID]; st != chat.Failed {
		t.Errorf("the expired message shows %s after the resend, want failed", st)
	}
}

func ids(ms []chat.Message) []chat.ID {
	out := make([]chat.ID, len(ms))
	for i, m := range ms {
		out[i] = m.ID
	}
	return out
}

func compareID(x, y chat.ID) int {
	return slices.Compare(x[:], y[:])
}

func counts(m map[*infra]int) []int {
	var out []int
	for _, c := range m {
		out = append(out, c)
	}
	slices.Sort(out)
	return out
}

// TestOfflineLateReceipt: Bob drains a message on day 13 of its 14 and his
// receipt waits in Alice's mailbox; Alice, offline since she sent it,
// comes back on day 15. The message was delivered, and must show so.
func TestOfflineLateReceipt(t *testing.T) {
	clk := newClock()
	sw := newSwarm(t, clk, 12)
	alice, bob := newUser(t, sw, "alice"), newUser(t, sw, "bob")
	alice.start()
	bob.start()
	befriend(t, alice, bob)
	bob.stop()
	clk.Add(retryGap)
	m, err := alice.svc.Send("bob", "read me before it expires", chat.ID{})
	if err != nil {
		t.Fatal(err)
	}
	bobAddr := bob.mailboxKeys().Public(mailbox.Epoch(clk.Now())).Address()
	waitFor(t, 30*time.Second, "the message deposited", func() (bool, string) {
		n := len(sw.holding(bobAddr))
		return alice.states("bob")[m.ID] == chat.Sent && n >= mailbox.DefaultQuorum, fmt.Sprintf("%d holders", n)
	})
	alice.stop()

	clk.Add(13 * day)
	bob.start()
	if n, err := bob.drainOnce(t.Context()); n != 1 || err != nil {
		t.Fatalf("Bob drained %d envelopes: %v", n, err)
	}
	aliceAddr := alice.mailboxKeys().Public(mailbox.Epoch(clk.Now())).Address()
	waitFor(t, 30*time.Second, "Bob's receipt deposited in Alice's mailbox", func() (bool, string) {
		n := len(sw.holding(aliceAddr))
		return n >= mailbox.DefaultQuorum, fmt.Sprintf("%d holders", n)
	})
	bob.stop()

	clk.Add(2 * day)
	alice.start()
	n, err := alice.drainOnce(t.Context())
	if n != 1 || err != nil {
		t.Fatalf("Alice drained %d envelopes: %v", n, err)
	}
	if st := alice.states("bob")[m.ID]; st != chat.Delivered {
		t.Errorf("a message Bob received, whose receipt Alice has, shows %s", st)
	}
}
