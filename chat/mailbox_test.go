package chat

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"
)

// exchangedMailboxes waits until a and b know each other's mailbox keys.
func exchangedMailboxes(t *testing.T, a, b *user) {
	t.Helper()
	waitFor(t, 10*time.Second, "mailbox keys exchanged", func() (bool, string) {
		ca, _ := a.svc.Conversations()
		cb, _ := b.svc.Conversations()
		ma, _ := a.svc.hist.getMeta(ca[0].Contact.ID)
		mb, _ := b.svc.hist.getMeta(cb[0].Contact.ID)
		return len(ma.PeerMailbox) == announceEpochs && len(mb.PeerMailbox) == announceEpochs, ""
	})
}

// Bob is offline; Alice's messages go to his mailbox; Alice goes offline
// too; Bob drains his mailbox and has every message once, in order; his
// acknowledgements wait in Alice's mailbox until she drains it.
func TestOfflineViaMailbox(t *testing.T) {
	defer func(d time.Duration) { minBackoff = d }(minBackoff)
	minBackoff = 20 * time.Millisecond
	d := newDirectory()
	alice, bob := newUser(t, d), newUser(t, d)
	befriend(t, alice, bob, "alice", "bob")
	exchangedMailboxes(t, alice, bob)

	bob.stop()
	const count = 50
	var ids []ID
	var want []string
	for i := range count {
		text := fmt.Sprintf("while you were away %02d", i)
		m, err := alice.svc.Send("bob", text, ID{})
		if err != nil {
			t.Fatal(err)
		}
		ids, want = append(ids, m.ID), append(want, text)
	}
	for _, id := range ids {
		waitState(t, alice, "bob", id, Sent) // in Bob's mailbox
	}
	alice.stop()

	bob.start()
	allUsers.set(bob.id(), bob)
	if n := bob.drain(); n == 0 {
		t.Fatal("nothing waited in Bob's mailbox")
	}
	if got := texts(t, bob, "alice"); !slices.Equal(got, want) {
		t.Fatalf("bob got %d messages, want %d in order:\n%q", len(got), len(want), got)
	}
	bob.drain() // nothing new: nothing twice
	if got := texts(t, bob, "alice"); len(got) != count {
		t.Fatalf("after a second drain bob has %d messages", len(got))
	}
	// Bob's worker may be in a backoff from trying Alice before the drain;
	// what is tested here is where the acks go, not the backoff.
	bob.svc.retryNow(bob.svc.conv(mustContact(t, bob, "alice").ID))
	waitFor(t, 20*time.Second, "acks in Alice's mailbox", func() (bool, string) {
		return d.waiting(alice) > 0, ""
	})

	alice.start()
	allUsers.set(alice.id(), alice)
	alice.drain()
	for _, id := range ids {
		waitState(t, alice, "bob", id, Delivered)
	}
}

// A message whose mailbox copy expires unacknowledged shows as Failed.
func TestMailboxTTLFails(t *testing.T) {
	defer func(d time.Duration) { minBackoff = d }(minBackoff)
	minBackoff = 20 * time.Millisecond
	d := newDirectory()
	alice, bob := newUser(t, d), newUser(t, d)
	var mu sync.Mutex
	clock := time.Now()
	alice.now = func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	befriend(t, alice, bob, "alice", "bob")
	exchangedMailboxes(t, alice, bob)
	bob.stop()
	m, err := alice.svc.Send("bob", "never read", ID{})
	if err != nil {
		t.Fatal(err)
	}
	waitState(t, alice, "bob", m.ID, Sent)
	mu.Lock()
	clock = clock.Add(mailboxTTL + time.Hour)
	mu.Unlock()
	alice.svc.retryNow(alice.svc.conv(mustContact(t, alice, "bob").ID)) // wake the worker now rather than after its backoff
	waitState(t, alice, "bob", m.ID, Failed)
}

// A deposit that fails is retried with the same sealed bytes: no message
// key is spent per retry, and the mailbox gets one envelope, not one per
// attempt.
func TestDepositRetriesSameBytes(t *testing.T) {
	defer func(d time.Duration) { minBackoff = d }(minBackoff)
	minBackoff = 10 * time.Millisecond
	d := newDirectory()
	alice, bob := newUser(t, d), newUser(t, d)
	befriend(t, alice, bob, "alice", "bob")
	exchangedMailboxes(t, alice, bob)
	bob.stop()
	d.mu.Lock()
	d.failDeposits = 5
	d.mu.Unlock()
	m, err := alice.svc.Send("bob", "persistent", ID{})
	if err != nil {
		t.Fatal(err)
	}
	waitState(t, alice, "bob", m.ID, Sent)
	waitFor(t, 20*time.Second, "a deposit that succeeds", func() (bool, string) {
		d.mu.Lock()
		defer d.mu.Unlock()
		return d.failDeposits == 0 && d.depositCalls >= 6, ""
	})
	d.mu.Lock()
	calls := d.depositCalls
	d.mu.Unlock()
	if calls < 6 {
		t.Fatalf("%d deposit attempts, want the 5 failures and a success", calls)
	}
	time.Sleep(100 * time.Millisecond)
	if n := d.waiting(bob); n != 1 {
		t.Fatalf("%d envelopes in Bob's mailbox, want 1", n)
	}
	bob.start()
	allUsers.set(bob.id(), bob)
	bob.drain()
	if got := texts(t, bob, "alice"); !slices.Equal(got, []string{"persistent"}) {
		t.Fatalf("bob got %q", got)
	}
}
