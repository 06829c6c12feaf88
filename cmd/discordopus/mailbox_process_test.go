package main

import (
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestOfflineDelivery: three discordopusd nodes (DHT servers and mailbox
// holders) and two desktop nodes. Bob is offline while Alice sends; Alice
// goes offline too; Bob comes back and gets every message from his
// mailbox, once and in order; Alice comes back and sees them delivered,
// the acknowledgements having waited in her own mailbox.
func TestOfflineDelivery(t *testing.T) {
	n := newChatNetWith(t, 3)
	a, b := n.peers[0], n.peers[1]
	// The contacts learn each other's mailbox keys from their first
	// exchange: one message each way, delivered directly.
	for _, p := range n.peers {
		out, err := n.sendAll(t.Context(), p, []string{"hello " + p.other}, time.Minute)
		n.requireDelivered(p, out, err, 1)
	}

	if err := b.proc.Signal(t, syscall.SIGTERM, stopWait); err != nil {
		t.Fatalf("stopping bob: %v", err)
	}
	const count = 20
	sent, _ := texts("a->b offline", count)
	out, err := n.sendAll(t.Context(), a, sent, 20*time.Second)
	if err != nil {
		t.Fatalf("send while bob is offline: %v\n%s", err, n.tails())
	}
	if strings.Contains(out, deliveredAll(count)) {
		t.Fatalf("delivered to an offline node? %q", out)
	}
	// Wait until every message is in Bob's mailbox (shown as sent).
	deadline := time.Now().Add(time.Minute)
	for {
		_, lines := n.history(a)
		deposited := 0
		for _, l := range lines {
			if l.who == "you" && strings.HasPrefix(l.text, "a->b offline") && l.state == "sent" {
				deposited++
			}
		}
		if deposited == count {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d messages reached Bob's mailbox: %s\n%s", deposited, count, summary(lines), n.tails())
		}
		time.Sleep(500 * time.Millisecond)
	}
	if err := a.proc.Signal(t, syscall.SIGTERM, stopWait); err != nil {
		t.Fatalf("stopping alice: %v", err)
	}

	n.start(b)
	deadline = time.Now().Add(2 * time.Minute)
	for {
		_, lines := n.history(b)
		got := 0
		for _, l := range lines {
			if strings.HasPrefix(l.text, "a->b offline") {
				got++
			}
		}
		if got == count {
			checkConversation(t, b, lines, map[string][]string{a.name: append([]string{"hello bob"}, sent...), b.name: {"hello alice"}})
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("bob has %d of %d messages from his mailbox: %s\n%s", got, count, summary(lines), n.tails())
		}
		time.Sleep(500 * time.Millisecond)
	}

	n.start(a)
	deadline = time.Now().Add(2 * time.Minute)
	for {
		_, lines := n.history(a)
		if allDelivered(lines, count+1) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("alice does not see her messages delivered: %s\n%s", summary(lines), n.tails())
		}
		time.Sleep(500 * time.Millisecond)
	}
	n.stop()
}
