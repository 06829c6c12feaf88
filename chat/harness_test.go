package chat

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"

	"github.com/discordopus/discordopus/e2e"
	"github.com/discordopus/discordopus/internal/poll"
	"github.com/discordopus/discordopus/keystore"
	"github.com/discordopus/discordopus/store"
)

// The tests run real libp2p hosts on 127.0.0.1 (TCP only), each with its
// own store in a temporary directory. Prekey bundles are looked up in a
// map shared by the test's users instead of the DHT, which dht/ tests.

// directory stands in for the DHT: users' published bundles by PeerID,
// and a mailbox network that holds deposits by key.
type directory struct {
	mu      sync.Mutex
	bundles map[peer.ID]*keystore.PrekeyStore
	boxes   map[string][][]byte // deposits by mailbox key
	// failDeposits makes that many deposits fail (and counts attempts).
	failDeposits, depositCalls int
}

// fakeMailbox is one user's view of the directory's mailboxes. Its keys
// are derived from the user's PeerID: the tests check chat's use of
// mailboxes, package mailbox checks their cryptography.
type fakeMailbox struct {
	d     *directory
	owner peer.ID
}

func (f fakeMailbox) Epoch(t time.Time) uint64 { return uint64(t.Unix() / 86400) }

func (f fakeMailbox) key(p peer.ID, epoch uint64) MailboxKey {
	h := sha256.Sum256(fmt.Appendf(nil, "%s/%d", p, epoch))
	return MailboxKey{Epoch: epoch, Key: h[:]}
}

func (f fakeMailbox) Keys(from, to uint64) []MailboxKey {
	var out []MailboxKey
	for e := from; e <= to; e++ {
		out = append(out, f.key(f.owner, e))
	}
	return out
}

func (f fakeMailbox) Deposit(_ context.Context, k MailboxKey, env []byte, _ time.Duration) error {
	f.d.mu.Lock()
	defer f.d.mu.Unlock()
	f.d.depositCalls++
	stored := false
	for _, e := range f.d.boxes[string(k.Key)] {
		stored = stored || bytes.Equal(e, env) // holders deduplicate
	}
	if !stored {
		f.d.boxes[string(k.Key)] = append(f.d.boxes[string(k.Key)], bytes.Clone(env))
	}
	if f.d.failDeposits > 0 {
		// Like a quorum error: some holders stored it, too few.
		f.d.failDeposits--
		return errors.New("too few mailbox holders stored the envelope")
	}
	return nil
}

// drain hands every envelope waiting for u (in the epochs around now) to
// its chat service, deleting what it took, and returns how many it took.
func (u *user) drain() int {
	f := fakeMailbox{d: u.net, owner: u.id()}
	now := f.Epoch(u.now())
	n := 0
	for e := now - 1; e <= now+1; e++ {
		k := string(f.key(u.id(), e).Key)
		u.net.mu.Lock()
		envs := u.net.boxes[k]
		delete(u.net.boxes, k)
		u.net.mu.Unlock()
		for _, env := range envs {
			if err := u.svc.ReceiveMailbox(env); err != nil && !errors.Is(err, ErrUndecryptable) {
				u.t.Errorf("ReceiveMailbox: %v", err)
			}
			n++
		}
	}
	return n
}

// waiting counts the envelopes deposited for u.
func (d *directory) waiting(u *user) int {
	f := fakeMailbox{d: d, owner: u.id()}
	d.mu.Lock()
	defer d.mu.Unlock()
	n := 0
	now := f.Epoch(u.now())
	for e := now - 1; e <= now+1; e++ {
		n += len(d.boxes[string(f.key(u.id(), e).Key)])
	}
	return n
}

func (d *directory) fetch(_ context.Context, p peer.ID) (*e2e.Bundle, error) {
	d.mu.Lock()
	ps := d.bundles[p]
	d.mu.Unlock()
	if ps == nil {
		return nil, fmt.Errorf("no bundle for %s", p)
	}
	b, _, err := ps.Bundle()
	return b, err
}

// user is one person's node as the chat package sees it.
type user struct {
	t       testing.TB
	dir     string
	priv    crypto.PrivKey
	key     ed25519.PrivateKey
	h       host.Host
	st      *store.Store
	prekeys *keystore.PrekeyStore
	svc     *Service
	cancel  context.CancelFunc
	done    chan error
	net     *directory
	now     func() time.Time
}

func newDirectory() *directory {
	return &directory{bundles: map[peer.ID]*keystore.PrekeyStore{}, boxes: map[string][][]byte{}}
}

// newUser creates an identity and starts its node.
func newUser(t testing.TB, d *directory) *user {
	t.Helper()
	priv, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := priv.Raw()
	u := &user{t: t, dir: t.TempDir(), priv: priv, key: ed25519.PrivateKey(raw), net: d, now: time.Now}
	u.start()
	t.Cleanup(u.stop)
	return u
}

var (
	testEncKey  = make([]byte, 32)
	testSealKey = make([]byte, 32)
)

func init() {
	rand.Read(testEncKey)
	rand.Read(testSealKey)
}

func quietLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// start (re)opens the user's store and starts host and service.
func (u *user) start() {
	t := u.t
	t.Helper()
	var err error
	u.h, err = libp2p.New(libp2p.Identity(u.priv), libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"),
		libp2p.Transport(tcp.NewTCPTransport), libp2p.DisableRelay(), libp2p.DisableMetrics())
	if err != nil {
		t.Fatal(err)
	}
	u.st, err = store.Open(store.Options{Dir: filepath.Join(u.dir, "db"), EncryptionKey: testEncKey, SealKey: testSealKey, Logger: quietLogger(t), Now: func() time.Time { return u.now() }})
	if err != nil {
		t.Fatal(err)
	}
	u.prekeys, err = keystore.OpenPrekeys(u.st.Namespace("prekeys"), keystore.PrekeyOptions{Identity: u.key, Logger: quietLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	u.net.mu.Lock()
	u.net.bundles[u.h.ID()] = u.prekeys
	u.net.mu.Unlock()
	u.svc, err = New(Options{
		Host: u.h, Store: u.st, Identity: e2e.Identity{Key: u.key, PeerID: []byte(u.h.ID())}, Prekeys: u.prekeys,
		Connect:     u.connect,
		FetchBundle: u.net.fetch,
		Mailbox:     fakeMailbox{d: u.net, owner: u.h.ID()},
		Now:         func() time.Time { return u.now() },
		Logger:      quietLogger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	u.cancel, u.done = cancel, make(chan error, 1)
	svc := u.svc
	go func() { u.done <- svc.Serve(ctx) }()
}

// connect dials the contact at the address their host listens on, as an
// invite or the DHT would give it.
func (u *user) connect(ctx context.Context, p peer.ID, addrs []string) error {
	u.net.mu.Lock()
	ps := u.net.bundles[p]
	u.net.mu.Unlock()
	if ps == nil {
		return fmt.Errorf("unknown peer %s", p)
	}
	for _, other := range allUsers.get(p) {
		return u.h.Connect(ctx, peer.AddrInfo{ID: p, Addrs: other.h.Addrs()})
	}
	return fmt.Errorf("peer %s is offline", p)
}

// allUsers maps PeerIDs to running users, so connect can find addresses.
var allUsers = &registry{m: map[peer.ID]*user{}}

type registry struct {
	mu sync.Mutex
	m  map[peer.ID]*user
}

func (r *registry) get(p peer.ID) []*user {
	r.mu.Lock()
	defer r.mu.Unlock()
	if u := r.m[p]; u != nil && u.svc != nil {
		return []*user{u}
	}
	return nil
}

func (r *registry) set(p peer.ID, u *user) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if u == nil {
		delete(r.m, p)
	} else {
		r.m[p] = u
	}
}

func (u *user) id() peer.ID { return u.h.ID() }

// stop ends the service and closes host and store, as a shutdown does.
func (u *user) stop() {
	if u.svc == nil {
		return
	}
	allUsers.set(u.h.ID(), nil)
	u.cancel()
	if err := <-u.done; err != nil {
		u.t.Errorf("Serve: %v", err)
	}
	u.h.Close()
	u.prekeys.Close()
	if err := u.st.Close(); err != nil {
		u.t.Errorf("store close: %v", err)
	}
	u.svc = nil
}

func (u *user) restart() {
	u.stop()
	u.start()
	allUsers.set(u.h.ID(), u)
}

func (u *user) invite() Invite { return Invite{Peer: u.id(), Addrs: u.h.Addrs()} }

// befriend adds a and b to each other as contacts named by the other.
func befriend(t testing.TB, a, b *user, aName, bName string) {
	t.Helper()
	allUsers.set(a.id(), a)
	allUsers.set(b.id(), b)
	if _, err := a.svc.AddContact(b.invite(), bName, false); err != nil {
		t.Fatalf("AddContact: %v", err)
	}
	if _, err := b.svc.AddContact(a.invite(), aName, false); err != nil {
		t.Fatalf("AddContact: %v", err)
	}
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, d time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	poll.Until(t, d, 10*time.Millisecond, what, cond)
}

// waitState waits until the message's state at its sender is want.
func waitState(t testing.TB, u *user, contact string, id ID, want DeliveryState) {
	t.Helper()
	waitFor(t, 20*time.Second, "state "+string(want), func() (bool, string) {
		c, err := u.svc.Contact(contact)
		if err != nil {
			return false, err.Error()
		}
		m, err := u.svc.hist.get(c.ID, id)
		if err != nil {
			return false, err.Error()
		}
		return m.State == want, string(m.State)
	})
}

// texts returns a conversation's texts, oldest first.
func texts(t testing.TB, u *user, contact string) []string {
	t.Helper()
	ms, err := u.svc.History(contact, ID{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]string, 0, len(ms))
	for i := len(ms) - 1; i >= 0; i-- {
		if ms[i].Kind == TextMessage {
			out = append(out, ms[i].Text)
		}
	}
	return out
}
