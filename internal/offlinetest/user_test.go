package offlinetest

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/discordopus/discordopus/chat"
	"github.com/discordopus/discordopus/dht"
	"github.com/discordopus/discordopus/e2e"
	"github.com/discordopus/discordopus/internal/poll"
	"github.com/discordopus/discordopus/keystore"
	"github.com/discordopus/discordopus/mailbox"
	"github.com/discordopus/discordopus/node"
	"github.com/discordopus/discordopus/store"
)

// user is one person's desktop node, wired as package node wires it
// (node/chat.go, node/mailbox.go) but on the test's clock: a host with
// the person's identity, a client-mode DHT of the swarm, a store, prekeys
// published in the DHT, the chat service, and the replicated mailbox it
// deposits to and drains from. Everything but the data directory and the
// keys goes when the user goes offline.
type user struct {
	t      testing.TB
	name   string
	sw     *swarm
	dir    string
	priv   crypto.PrivKey
	id     peer.ID
	encKey []byte
	seal   []byte
	secret []byte // the mailbox secret (node derives it from the keystore)

	mu  sync.Mutex
	cut map[peer.ID]bool // peers this user's node cannot dial (see unreachable)

	// While online:
	online  bool
	h       host.Host
	d       *dht.DHT
	st      *store.Store
	prekeys *keystore.PrekeyStore
	keys    *mailbox.Keys
	mnet    *mailbox.Network
	svc     *chat.Service
	svcs    *services

	undecryptable int // mailbox envelopes no session opened, over all drains
}

func newUser(t testing.TB, sw *swarm, name string) *user {
	t.Helper()
	priv, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	u := &user{t: t, name: name, sw: sw, dir: t.TempDir(), priv: priv, id: id,
		encKey: randomKey(), seal: randomKey(), secret: randomKey(), cut: map[peer.ID]bool{}}
	t.Cleanup(u.stop)
	return u
}

func (u *user) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(u.t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})).With("user", u.name)
}

// mailboxKeys are the user's mailbox keys, for the test to compute
// addresses with.
func (u *user) mailboxKeys() *mailbox.Keys {
	k, err := mailbox.NewKeys(u.secret)
	if err != nil {
		u.t.Fatal(err)
	}
	u.t.Cleanup(k.Wipe)
	return k
}

// start brings the user's node online: it reopens what the data directory
// holds and waits until the node has joined the DHT and published its
// prekey bundle.
func (u *user) start() {
	t := u.t
	t.Helper()
	clk := u.sw.clock
	log := u.logger()
	var err error
	u.h = newHost(t, u.priv)
	u.st, err = store.Open(store.Options{Dir: filepath.Join(u.dir, "db"), EncryptionKey: u.encKey, SealKey: u.seal, Now: clk.Now, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := u.priv.Raw()
	if err != nil {
		t.Fatal(err)
	}
	identity := ed25519.PrivateKey(raw)
	u.prekeys, err = keystore.OpenPrekeys(u.st.Namespace("prekeys"), keystore.PrekeyOptions{Identity: identity, Now: clk.Now, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	u.d = newDHT(t, u.h, dht.ModeClient, u.sw.boot())
	// The publisher's first tries come before the DHT is joined and fail
	// with a warning each (node's do too); its logs are left out.
	pub, err := u.d.NewBundlePublisher(dht.PublisherOptions{Source: u.prekeys, Changed: u.prekeys.Changed(), Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if u.keys, err = mailbox.NewKeys(u.secret); err != nil {
		t.Fatal(err)
	}
	if u.mnet, err = mailbox.NewNetwork(mailbox.NetworkOptions{Host: u.h, Closest: u.d, Logger: log}); err != nil {
		t.Fatal(err)
	}
	u.svc, err = chat.New(chat.Options{
		Host:        u.h,
		Store:       u.st,
		Identity:    e2e.Identity{Key: identity, PeerID: []byte(u.id)},
		Prekeys:     u.prekeys,
		Connect:     u.connect,
		FetchBundle: u.d.FetchBundle,
		Mailbox:     node.ChatMailbox{Net: u.mnet, Own: u.keys},
		Now:         clk.Now,
		Logger:      log,
	})
	if err != nil {
		t.Fatal(err)
	}
	u.svcs = newServices()
	u.svcs.serve(t, u.name+" dht", u.d.Serve)
	u.svcs.serve(t, u.name+" prekey publisher", func(ctx context.Context) error {
		// As node's publishPrekeys: publish as soon as the DHT is joined.
		go func() {
			select {
			case <-u.d.Ready():
				pub.Republish()
			case <-ctx.Done():
			}
		}()
		return pub.Serve(ctx)
	})
	u.svcs.serve(t, u.name+" chat", u.svc.Serve)
	u.online = true

	deadline := time.Now().Add(time.Minute)
	for u.d.RoutingTableSize() < min(len(u.sw.live()), 10) {
		if time.Now().After(deadline) {
			t.Fatalf("%s's node did not join the DHT", u.name)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for {
		seq, err := pub.Published()
		if seq == u.prekeys.Seq() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s's prekey bundle not published: %v", u.name, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop takes the user's node offline as a shutdown does; the data
// directory and the keys stay.
func (u *user) stop() {
	if !u.online {
		return
	}
	u.online = false
	u.svcs.stop(u.t)
	u.h.Close()
	u.prekeys.Close()
	u.keys.Wipe()
	if err := u.st.Close(); err != nil {
		u.t.Errorf("closing %s's store: %v", u.name, err)
	}
	u.svc = nil
}

// unreachable makes p undialable from this user's node, or dialable
// again: a firewall between the two, for a test that must know which way
// something travelled.
func (u *user) unreachable(p peer.ID, cut bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.cut[p] = cut
}

// connect is chat's Connect, as node's connectContact: an existing
// connection, else the addresses of the invite, else a DHT lookup; every
// dial has a deadline.
func (u *user) connect(ctx context.Context, p peer.ID, addrs []string) error {
	u.mu.Lock()
	cut := u.cut[p]
	u.mu.Unlock()
	if cut {
		return fmt.Errorf("%s cannot reach %s (cut off by the test)", u.name, p)
	}
	if u.h.Network().Connectedness(p) == network.Connected {
		return nil
	}
	var known []ma.Multiaddr
	for _, s := range addrs {
		if a, err := ma.NewMultiaddr(s); err == nil {
			known = append(known, a)
		}
	}
	if len(known) > 0 {
		dctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := u.h.Connect(dctx, peer.AddrInfo{ID: p, Addrs: known})
		cancel()
		if err == nil {
			return nil
		}
	}
	ai, err := u.d.FindPeer(ctx, p)
	if err != nil {
		return err
	}
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return u.h.Connect(dctx, ai)
}

func (u *user) invite() chat.Invite { return chat.Invite{Peer: u.id, Addrs: u.h.Addrs()} }

// drainOnce is node's drain on the test's clock; it returns how many
// envelopes it took.
func (u *user) drainOnce(ctx context.Context) (int, error) {
	taken, undecryptable, err := node.DrainInto(ctx, u.mnet, u.keys, u.svc, u.st.Namespace("node-state"), u.sw.clock.Now())
	u.undecryptable += undecryptable
	return taken, err
}

// befriend adds a and b to each other (an invite each way) and has them
// exchange a message each way, directly: each then has the other's
// session and mailbox keys. It returns the two messages.
func befriend(t testing.TB, a, b *user) (fromA, fromB chat.Message) {
	t.Helper()
	if _, err := a.svc.AddContact(b.invite(), b.name, false); err != nil {
		t.Fatalf("%s adds %s: %v", a.name, b.name, err)
	}
	if _, err := b.svc.AddContact(a.invite(), a.name, false); err != nil {
		t.Fatalf("%s adds %s: %v", b.name, a.name, err)
	}
	var err error
	if fromA, err = a.svc.Send(b.name, "hello from "+a.name, chat.ID{}); err != nil {
		t.Fatal(err)
	}
	if fromB, err = b.svc.Send(a.name, "hello from "+b.name, chat.ID{}); err != nil {
		t.Fatal(err)
	}
	a.waitStates(b.name, []chat.ID{fromA.ID}, chat.Delivered, 30*time.Second)
	b.waitStates(a.name, []chat.ID{fromB.ID}, chat.Delivered, 30*time.Second)
	return fromA, fromB
}

// states maps the user's outgoing messages to contact to their states.
func (u *user) states(contact string) map[chat.ID]chat.DeliveryState {
	u.t.Helper()
	ms, err := u.svc.History(contact, chat.ID{}, 0)
	if err != nil {
		u.t.Fatal(err)
	}
	out := map[chat.ID]chat.DeliveryState{}
	for _, m := range ms {
		if m.Outgoing {
			out[m.ID] = m.State
		}
	}
	return out
}

// count says how many of ids are in state want.
func (u *user) count(contact string, ids []chat.ID, want chat.DeliveryState) int {
	st := u.states(contact)
	n := 0
	for _, id := range ids {
		if st[id] == want {
			n++
		}
	}
	return n
}

// waitStates waits until every message of ids is in state want.
func (u *user) waitStates(contact string, ids []chat.ID, want chat.DeliveryState, d time.Duration) {
	u.t.Helper()
	waitFor(u.t, d, fmt.Sprintf("%s: %d messages %s", u.name, len(ids), want), func() (bool, string) {
		n := u.count(contact, ids, want)
		return n == len(ids), fmt.Sprintf("%d of %d", n, len(ids))
	})
}

// incoming is the user's conversation with contact as it received it:
// the contact's text messages, oldest first.
func (u *user) incoming(contact string) []chat.Message {
	u.t.Helper()
	ms, err := u.svc.History(contact, chat.ID{}, 0)
	if err != nil {
		u.t.Fatal(err)
	}
	var out []chat.Message
	for i := len(ms) - 1; i >= 0; i-- {
		if !ms[i].Outgoing && ms[i].Kind == chat.TextMessage {
			out = append(out, ms[i])
		}
	}
	return out
}

// waitFor polls cond until it holds or d passes.
func waitFor(t testing.TB, d time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	poll.Until(t, d, 5*time.Millisecond, what, cond)
}
