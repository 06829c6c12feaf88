package chat

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/protocol/ping"

	"github.com/discordopus/discordopus/store"
)

func TestConversation(t *testing.T) {
	d := newDirectory()
	alice, bob := newUser(t, d), newUser(t, d)
	befriend(t, alice, bob, "alice", "bob")
	aliceEvents, cancel := alice.svc.Subscribe()
	defer cancel()

	hi, err := alice.svc.Send("bob", "hi bob", ID{})
	if err != nil {
		t.Fatal(err)
	}
	if hi.State != Sending {
		t.Errorf("a new message is %q, want sending", hi.State)
	}
	waitState(t, alice, "bob", hi.ID, Delivered)
	if got := texts(t, bob, "alice"); !slices.Equal(got, []string{"hi bob"}) {
		t.Fatalf("bob's history: %q", got)
	}

	// A reply, a reaction, and both sides' histories in the same order.
	in, _ := bob.svc.History("alice", ID{}, 1)
	reply, err := bob.svc.Send("alice", "hello alice", in[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	waitState(t, bob, "alice", reply.ID, Delivered)
	if _, err := bob.svc.React("alice", hi.ID, "👍", false); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "reaction at alice", func() (bool, string) {
		m, _ := alice.svc.History("bob", ID{}, 0)
		for _, x := range m {
			if x.ID == hi.ID {
				return len(x.Reactions) == 1 && x.Reactions[0].Emoji == "👍" && !x.Reactions[0].Mine, fmt.Sprint(x.Reactions)
			}
		}
		return false, "message missing"
	})
	if _, err := bob.svc.React("alice", hi.ID, "👍", true); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "reaction removed at alice", func() (bool, string) {
		m, _ := alice.svc.hist.get(mustContact(t, alice, "bob").ID, hi.ID)
		return len(m.Reactions) == 0, fmt.Sprint(m.Reactions)
	})
	am, _ := alice.svc.History("bob", ID{}, 0)
	bm, _ := bob.svc.History("alice", ID{}, 0)
	if len(am) != 2 || len(bm) != 2 || am[0].ID != bm[0].ID || am[1].ID != bm[1].ID {
		t.Fatalf("histories differ: %v vs %v", am, bm)
	}
	if am[0].ReplyTo != hi.ID {
		t.Errorf("reply lost its target: %v", am[0].ReplyTo)
	}

	// Unread counts, and read receipts only when both sides share them.
	convs, _ := alice.svc.Conversations()
	if convs[0].Unread != 1 {
		t.Errorf("alice has %d unread, want 1", convs[0].Unread)
	}
	second, _ := alice.svc.Send("bob", "second", ID{})
	waitState(t, alice, "bob", second.ID, Delivered)
	if err := bob.svc.MarkRead("alice"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	if m, _ := alice.svc.hist.get(mustContact(t, alice, "bob").ID, second.ID); m.State != Delivered {
		t.Errorf("read receipt sent with receipts off: %s", m.State)
	}
	for _, u := range []*user{alice, bob} {
		if err := u.svc.SetSettings(Settings{ReadReceipts: true, TypingIndicators: true}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 10*time.Second, "settings exchanged", func() (bool, string) {
		a, _ := alice.svc.Conversations()
		b, _ := bob.svc.Conversations()
		return a[0].PeerReadReceipts && b[0].PeerReadReceipts, ""
	})
	third, _ := alice.svc.Send("bob", "third", ID{})
	waitState(t, alice, "bob", third.ID, Delivered)
	if err := bob.svc.MarkRead("alice"); err != nil {
		t.Fatal(err)
	}
	waitState(t, alice, "bob", third.ID, Read)
	if c, _ := bob.svc.Conversations(); c[0].Unread != 0 {
		t.Errorf("bob has %d unread after reading", c[0].Unread)
	}

	// Typing reaches the other side as an event, never as history.
	if err := bob.svc.SetTyping("alice", true); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, aliceEvents, func(e Event) bool { return e.Kind == EventTyping && e.Typing })
	if got := texts(t, alice, "bob"); len(got) != 4 {
		t.Errorf("alice's history has %d texts, want 4: %q", len(got), got)
	}
}

func mustContact(t testing.TB, u *user, ref string) Contact {
	t.Helper()
	c, err := u.svc.Contact(ref)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func waitEvent(t testing.TB, ch <-chan Event, match func(Event) bool) Event {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case e := <-ch:
			if match(e) {
				return e
			}
		case <-timeout:
			t.Fatal("event not seen within 10s")
		}
	}
}

func TestSendRefusesBadText(t *testing.T) {
	d := newDirectory()
	alice, bob := newUser(t, d), newUser(t, d)
	befriend(t, alice, bob, "alice", "bob")
	for _, c := range []struct {
		text string
		want error
	}{
		{"", ErrEmptyMessage},
		{strings.Repeat("x", MaxTextBytes+1), ErrTooLong},
		{"\xff\xfe", ErrNotUTF8},
	} {
		if _, err := alice.svc.Send("bob", c.text, ID{}); !errors.Is(err, c.want) {
			t.Errorf("Send(%.10q) = %v, want %v", c.text, err, c.want)
		}
	}
	if _, err := alice.svc.Send("nobody", "hi", ID{}); !errors.Is(err, ErrNoContact) {
		t.Errorf("Send to a stranger = %v, want ErrNoContact", err)
	}
	if _, err := alice.svc.React("bob", ID{1}, "abc", false); !errors.Is(err, ErrBadEmoji) {
		t.Errorf("React with letters = %v, want ErrBadEmoji", err)
	}
	if ms, _ := alice.svc.History("bob", ID{}, 0); len(ms) != 0 {
		t.Errorf("refused messages were stored: %v", ms)
	}
}

// Messages sent while the contact is offline wait in the outbox, survive
// a restart of the sender, and are delivered once the contact is back.
func TestQueuedWhileOffline(t *testing.T) {
	defer func(d time.Duration) { minBackoff = d }(minBackoff)
	minBackoff = 50 * time.Millisecond
	d := newDirectory()
	alice, bob := newUser(t, d), newUser(t, d)
	befriend(t, alice, bob, "alice", "bob")
	bob.stop()
	var ids []ID
	for i := range 5 {
		m, err := alice.svc.Send("bob", fmt.Sprint("queued ", i), ID{})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, m.ID)
	}
	alice.restart()
	bob.start()
	allUsers.set(bob.id(), bob)
	for _, id := range ids {
		waitState(t, alice, "bob", id, Delivered)
	}
	want := []string{"queued 0", "queued 1", "queued 2", "queued 3", "queued 4"}
	if got := texts(t, bob, "alice"); !slices.Equal(got, want) {
		t.Fatalf("bob got %q, want %q", got, want)
	}
}

func TestMessageRequest(t *testing.T) {
	d := newDirectory()
	alice, stranger := newUser(t, d), newUser(t, d)
	allUsers.set(alice.id(), alice)
	allUsers.set(stranger.id(), stranger)
	if _, err := stranger.svc.AddContact(alice.invite(), "alice", false); err != nil {
		t.Fatal(err)
	}
	m, err := stranger.svc.Send("alice", "hello, we have not met", ID{})
	if err != nil {
		t.Fatal(err)
	}
	waitState(t, stranger, "alice", m.ID, Delivered)
	c, err := alice.svc.Contact(stranger.id().String())
	if err != nil || c.State != Request {
		t.Fatalf("stranger at alice: %+v, %v; want a request", c, err)
	}
	if _, err := alice.svc.Send(stranger.id().String(), "hi", ID{}); !errors.Is(err, ErrNotAccepted) {
		t.Errorf("replying to a request = %v, want ErrNotAccepted", err)
	}
	if _, err := alice.svc.SetContactState(stranger.id().String(), Blocked); err != nil {
		t.Fatal(err)
	}
	m2, _ := stranger.svc.Send("alice", "are you there?", ID{})
	time.Sleep(500 * time.Millisecond)
	if got := texts(t, alice, stranger.id().String()); len(got) != 1 {
		t.Errorf("a blocked contact's message was stored: %q", got)
	}
	if st, _ := stranger.svc.hist.get(mustContact(t, stranger, "alice").ID, m2.ID); st.State == Delivered {
		t.Error("a blocked contact's message shows as delivered")
	}
	if _, err := alice.svc.SetContactState(stranger.id().String(), Accepted); err != nil {
		t.Fatal(err)
	}
	reply, err := alice.svc.Send(stranger.id().String(), "welcome", ID{})
	if err != nil {
		t.Fatal(err)
	}
	waitState(t, alice, stranger.id().String(), reply.ID, Delivered)
}

// A peer writing garbage on the chat protocol is cut off; another
// conversation of the same node goes on.
func TestGarbageDisconnects(t *testing.T) {
	d := newDirectory()
	alice, bob, carol := newUser(t, d), newUser(t, d), newUser(t, d)
	befriend(t, alice, bob, "alice", "bob")
	befriend(t, alice, carol, "alice", "carol")
	m, _ := alice.svc.Send("bob", "before", ID{})
	waitState(t, alice, "bob", m.ID, Delivered)

	for i, junk := range [][]byte{
		{0x00},                   // zero-length frame
		{0xff, 0xff, 0xff, 0x7f}, // over the limit
		append([]byte{5}, "hello"...),
		marshalFrame([]byte("not an e2e message at all")),
	} {
		st, err := carol.h.NewStream(t.Context(), alice.id(), ProtocolID)
		if err != nil {
			t.Fatal(err)
		}
		st.Write(junk)
		if i < 3 {
			// Alice resets the stream and closes the connection. (Carol's
			// node may reconnect at once for its own conversation, so the
			// stream is what to watch, not the connection.)
			st.SetReadDeadline(time.Now().Add(10 * time.Second))
			_, err := st.Read(make([]byte, 1))
			var ne net.Error
			if err == nil || (errors.As(err, &ne) && ne.Timeout()) {
				t.Fatalf("junk %d: the stream is still open (%v)", i, err)
			}
		}
		st.Close()
	}
	m2, err := alice.svc.Send("bob", "after", ID{})
	if err != nil {
		t.Fatal(err)
	}
	waitState(t, alice, "bob", m2.ID, Delivered)
	// Carol's own conversation recovers: her node reconnects.
	m3, _ := carol.svc.Send("alice", "still friends?", ID{})
	waitState(t, carol, "alice", m3.ID, Delivered)
}

// A peer that starts a frame and stalls loses the stream once the frame
// is overdue; one that idles between frames keeps it.
func TestStalledFrameEnds(t *testing.T) {
	defer func(d time.Duration) { frameTimeout = d }(frameTimeout)
	frameTimeout = 500 * time.Millisecond
	d := newDirectory()
	alice, carol := newUser(t, d), newUser(t, d)
	befriend(t, alice, carol, "alice", "carol")
	first, _ := carol.svc.Send("alice", "hello", ID{})
	waitState(t, carol, "alice", first.ID, Delivered)
	idle, err := carol.h.NewStream(t.Context(), alice.id(), ProtocolID)
	if err != nil {
		t.Fatal(err)
	}
	stalled, err := carol.h.NewStream(t.Context(), alice.id(), ProtocolID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stalled.Write([]byte{100, 'h', 'a', 'l', 'f'}); err != nil { // 100 bytes announced, 4 sent
		t.Fatal(err)
	}
	stalled.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err = stalled.Read(make([]byte, 1))
	var ne net.Error
	if err == nil || (errors.As(err, &ne) && ne.Timeout()) {
		t.Fatalf("a stalled frame kept its stream open (%v)", err)
	}
	// The idle stream outlived the stalled one's deadline and still works.
	m, _ := carol.svc.Send("alice", "still here", ID{})
	waitState(t, carol, "alice", m.ID, Delivered)
	idle.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if _, err := idle.Read(make([]byte, 1)); !errors.As(err, &ne) || !ne.Timeout() {
		t.Errorf("an idle stream was closed: %v", err)
	}
	idle.Close()
}

// When an acknowledgement is overdue, checkConns pings each connection to
// the contact: one that answers is kept, one that does not is closed with
// the stream on it, so that the next send reconnects or goes to the
// mailbox instead of writing into a dead stream.
func TestCheckConns(t *testing.T) {
	d := newDirectory()
	alice, bob := newUser(t, d), newUser(t, d)
	befriend(t, alice, bob, "alice", "bob")
	m, _ := alice.svc.Send("bob", "hello", ID{})
	waitState(t, alice, "bob", m.ID, Delivered)
	cv := alice.svc.conv(mustContact(t, alice, "bob").ID)
	// One connection: libp2p lets a peer hold only two ping streams at
	// once, and a third is refused, which is an answer.
	for _, c := range alice.h.Network().ConnsToPeer(bob.id())[1:] {
		c.Close()
	}
	m2, _ := alice.svc.Send("bob", "on the one connection", ID{})
	waitState(t, alice, "bob", m2.ID, Delivered)
	alive := alice.h.Network().ConnsToPeer(bob.id())
	alice.svc.checkConns(t.Context(), cv, bob.id(), nil)
	for _, c := range alive {
		if c.IsClosed() {
			t.Errorf("a connection that answers pings was closed: %v", c)
		}
	}
	// Bob's node no longer answers on this connection: what reaches it
	// goes nowhere, as behind a router that lost its address.
	defer func(d time.Duration) { liveTimeout = d }(liveTimeout)
	liveTimeout = 500 * time.Millisecond
	bob.h.SetStreamHandler(ping.ID, func(s network.Stream) { io.Copy(io.Discard, s) })
	dead := alice.h.Network().ConnsToPeer(bob.id())
	alice.svc.checkConns(t.Context(), cv, bob.id(), nil)
	// (Either of them may dial a new connection at once; that is fine.)
	for _, c := range dead {
		if !c.IsClosed() {
			t.Errorf("a connection that does not answer was kept: %v", c)
		}
	}
	cv.mu.Lock()
	out := cv.out
	cv.mu.Unlock()
	if out != nil && slices.Contains(dead, out.Conn()) {
		t.Error("the stream on the dead connection was kept")
	}
}

// A contact with a new identity: replace keeps the conversation, shows a
// notice and clears the verified mark. Without replace it is refused.
func TestIdentityChange(t *testing.T) {
	d := newDirectory()
	alice, bob := newUser(t, d), newUser(t, d)
	befriend(t, alice, bob, "alice", "bob")
	m, _ := alice.svc.Send("bob", "old bob", ID{})
	waitState(t, alice, "bob", m.ID, Delivered)
	if _, err := alice.svc.Verify("bob", true, nil); err != nil {
		t.Fatal(err)
	}
	newBob := newUser(t, d)
	allUsers.set(newBob.id(), newBob)
	if _, err := alice.svc.AddContact(newBob.invite(), "bob", false); !errors.Is(err, ErrIdentityChange) {
		t.Fatalf("adding a new identity under a taken name = %v, want ErrIdentityChange", err)
	}
	c, err := alice.svc.AddContact(newBob.invite(), "bob", true)
	if err != nil {
		t.Fatal(err)
	}
	if c.Verified || c.Peer != newBob.id() {
		t.Errorf("after the change: %+v", c)
	}
	ms, _ := alice.svc.History("bob", ID{}, 0)
	if len(ms) != 2 || ms[0].Kind != Notice || ms[0].Notice != NoticeIdentityChanged || !strings.Contains(ms[0].Text, "safety number") {
		t.Fatalf("history after the change: %+v", ms)
	}
	if _, err := newBob.svc.AddContact(alice.invite(), "alice", false); err != nil {
		t.Fatal(err)
	}
	m2, _ := alice.svc.Send("bob", "new bob", ID{})
	waitState(t, alice, "bob", m2.ID, Delivered)
	if got := texts(t, newBob, "alice"); !slices.Equal(got, []string{"new bob"}) {
		t.Errorf("new bob got %q", got)
	}
}

// Both sides write first at the same moment: each gets the other's
// messages, and afterwards they talk in one session.
func TestSimultaneousFirstMessages(t *testing.T) {
	d := newDirectory()
	alice, bob := newUser(t, d), newUser(t, d)
	befriend(t, alice, bob, "alice", "bob")
	var ids [2][]ID
	for i := range 3 {
		a, _ := alice.svc.Send("bob", fmt.Sprint("a", i), ID{})
		b, _ := bob.svc.Send("alice", fmt.Sprint("b", i), ID{})
		ids[0], ids[1] = append(ids[0], a.ID), append(ids[1], b.ID)
	}
	for i := range 3 {
		waitState(t, alice, "bob", ids[0][i], Delivered)
		waitState(t, bob, "alice", ids[1][i], Delivered)
	}
	for i := range 20 {
		a, _ := alice.svc.Send("bob", fmt.Sprint("later a", i), ID{})
		b, _ := bob.svc.Send("alice", fmt.Sprint("later b", i), ID{})
		waitState(t, alice, "bob", a.ID, Delivered)
		waitState(t, bob, "alice", b.ID, Delivered)
	}
	if a, b := texts(t, alice, "bob"), texts(t, bob, "alice"); !slices.Equal(a, b) || len(a) != 46 {
		t.Fatalf("histories differ or are short: %d vs %d", len(a), len(b))
	}
}

// Strangers cannot fill the disk: past MaxPendingRequests pending message
// requests, a new stranger's first message is dropped and nothing of it is
// stored.
func TestRequestCap(t *testing.T) {
	d := newDirectory()
	alice := newUser(t, d)
	var strangers []peer.ID
	for range MaxPendingRequests {
		_, pub, _ := crypto.GenerateEd25519Key(rand.Reader)
		id, _ := peer.IDFromPublicKey(pub)
		strangers = append(strangers, id)
	}
	err := alice.st.Write(false, func(w *store.Batch) error {
		for i, p := range strangers {
			c := Contact{ID: ID{byte(i + 1)}, Peer: p, State: Request}
			if err := alice.svc.contacts.put(w, c, ""); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	alice.svc.contacts.invalidate()
	one := newUser(t, d)
	if _, err := alice.svc.admitRequest(one.id()); !errors.Is(err, errDrop) {
		t.Fatalf("request past the cap: %v, want errDrop", err)
	}
	if _, err := alice.svc.SetContactState(strangers[0].String(), Blocked); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.svc.admitRequest(one.id()); err != nil {
		t.Fatalf("request under the cap refused: %v", err)
	}
}

// Bob loses his session (restored from an old backup, say): he asks Alice
// for a new one, and her messages get through again, none lost.
func TestPeerLostSession(t *testing.T) {
	d := newDirectory()
	alice, bob := newUser(t, d), newUser(t, d)
	befriend(t, alice, bob, "alice", "bob")
	m, _ := alice.svc.Send("bob", "before", ID{})
	waitState(t, alice, "bob", m.ID, Delivered)
	b, _ := bob.svc.Send("alice", "reply", ID{})
	waitState(t, bob, "alice", b.ID, Delivered)

	bob.stop()
	bob.start()
	allUsers.set(bob.id(), bob)
	aliceAtBob := mustContact(t, bob, "alice")
	if err := bob.svc.sessions.Delete(aliceAtBob.ID[:]); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		m, err := alice.svc.Send("bob", fmt.Sprint("after ", i), ID{})
		if err != nil {
			t.Fatal(err)
		}
		waitState(t, alice, "bob", m.ID, Delivered)
	}
	want := []string{"before", "reply", "after 0", "after 1", "after 2"}
	if got := texts(t, bob, "alice"); !slices.Equal(got, want) {
		t.Fatalf("bob has %q, want %q", got, want)
	}
}

// A reaction item retransmitted after a later one was applied (its ack was
// lost) changes nothing: a removed reaction does not come back.
func TestStaleReactionIgnored(t *testing.T) {
	d := newDirectory()
	alice, bob := newUser(t, d), newUser(t, d)
	befriend(t, alice, bob, "alice", "bob")
	m, _ := alice.svc.Send("bob", "react to me", ID{})
	waitState(t, alice, "bob", m.ID, Delivered)
	c := mustContact(t, alice, "bob")
	older, newer := ID{1}, ID{2}
	cv := alice.svc.conv(c.ID)
	apply := func(r wireReaction) {
		cv.mu.Lock()
		defer cv.mu.Unlock()
		meta, _ := alice.svc.hist.getMeta(c.ID)
		err := alice.st.Write(false, func(w *store.Batch) error {
			_, _, err := alice.svc.apply(w, cv, &c, &meta, &payload{Reactions: []wireReaction{r}}, time.Now(), nil)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	apply(wireReaction{ID: older, Target: m.ID, Emoji: "🎉"})
	apply(wireReaction{ID: newer, Target: m.ID, Emoji: "🎉", Remove: true})
	apply(wireReaction{ID: older, Target: m.ID, Emoji: "🎉"}) // retransmitted
	got, _ := alice.svc.hist.get(c.ID, m.ID)
	if len(got.Reactions) != 0 {
		t.Fatalf("a stale reaction came back: %+v", got.Reactions)
	}
}
