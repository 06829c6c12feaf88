package offlinetest

import (
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"path/filepath"
	"runtime/debug"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	record "github.com/libp2p/go-libp2p-record"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"

	"github.com/discordopus/discordopus/dht"
	"github.com/discordopus/discordopus/mailbox"
	"github.com/discordopus/discordopus/store"
)

// clock is the time every component of a test reads. It runs with real
// time from a fixed start (so that epochs, UTC days, fall where the test
// expects) and jumps when the test moves it. It must run: chat waits out
// its retry backoff on real timers until the clock passes the retry time,
// so a clock that stood still would keep a backing-off sender waiting.
type clock struct {
	mu     sync.Mutex
	start  time.Time // real time at the start
	base   time.Time // this clock's time at the start
	offset time.Duration
}

// newClock starts at 01:00 UTC, so that the day has room for the hours
// the tests move it by before they mean to cross into another epoch.
func newClock() *clock {
	return &clock{start: time.Now(), base: time.Date(2030, 6, 1, 1, 0, 0, 0, time.UTC)}
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.base.Add(time.Since(c.start) + c.offset)
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.offset += d
	c.mu.Unlock()
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// newHost starts a libp2p host on loopback, TCP only, with priv as its
// identity (a random one if nil).
func newHost(t testing.TB, priv crypto.PrivKey) host.Host {
	t.Helper()
	opts := []libp2p.Option{libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"),
		libp2p.Transport(tcp.NewTCPTransport), libp2p.DisableRelay(), libp2p.DisableMetrics()}
	if priv != nil {
		opts = append(opts, libp2p.Identity(priv))
	}
	h, err := libp2p.New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// newDHT makes a DHT on h as package node does: our protocol, the prekey
// namespace validated, loopback addresses allowed.
func newDHT(t testing.TB, h host.Host, mode dht.Mode, boot []peer.AddrInfo) *dht.DHT {
	t.Helper()
	d, err := dht.New(h, dht.Options{
		Mode:              mode,
		Bootstrap:         boot,
		AllowPrivateAddrs: true,
		Namespaces:        map[string]record.Validator{dht.PrekeyNamespace: dht.PrekeyValidator()},
		FindPeerTimeout:   10 * time.Second,
		Logger:            discardLogger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func randomKey() []byte {
	k := make([]byte, 32)
	rand.Read(k)
	return k
}

// services runs Serve functions until stopped.
type services struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	ctx    context.Context
}

func newServices() *services {
	ctx, cancel := context.WithCancel(context.Background())
	return &services{ctx: ctx, cancel: cancel}
}

func (s *services) serve(t testing.TB, name string, f func(context.Context) error) {
	s.wg.Go(func() {
		if err := f(s.ctx); err != nil && s.ctx.Err() == nil {
			t.Errorf("%s: %v", name, err)
		}
	})
}

// stop ends every service and waits for them, a minute at most.
func (s *services) stop(t testing.TB) {
	s.cancel()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Error("services did not stop within a minute")
	}
}

// infra is a DHT server that holds mailboxes: a host, a DHT, a store, a
// mailbox holder and its repairer, whose rounds the test drives.
type infra struct {
	dir             string
	encKey, sealKey []byte
	h               host.Host
	d               *dht.DHT
	st              *store.Store
	srv             *mailbox.Server
	tick            chan time.Time
	svc             *services
	down            bool
	stopOnce        sync.Once
	t               testing.TB
}

type swarm struct {
	t     testing.TB
	clock *clock
	nodes []*infra
}

func newSwarm(t testing.TB, clk *clock, n int) *swarm {
	t.Helper()
	sw := &swarm{t: t, clock: clk}
	// Last of the cleanups: give the stores' memory back before the next
	// test builds its own swarm.
	t.Cleanup(debug.FreeOSMemory)
	for range n {
		sw.add()
	}
	sw.waitReady(sw.nodes)
	return sw
}

// boot is a few live nodes to join through.
func (sw *swarm) boot() []peer.AddrInfo {
	var out []peer.AddrInfo
	for _, n := range sw.live() {
		out = append(out, peer.AddrInfo{ID: n.h.ID(), Addrs: n.h.Addrs()})
		if len(out) == 3 {
			break
		}
	}
	return out
}

func (sw *swarm) live() []*infra {
	return slices.DeleteFunc(slices.Clone(sw.nodes), func(n *infra) bool { return n.down })
}

// add starts a new node with a fresh data directory and keys.
func (sw *swarm) add() *infra {
	n := &infra{dir: sw.t.TempDir(), encKey: randomKey(), sealKey: randomKey(), t: sw.t}
	sw.start(n)
	return n
}

// revive brings a stopped node's holder back with what its store holds,
// on a new host, and waits until it has joined.
func (sw *swarm) revive(old *infra) *infra {
	n := &infra{dir: old.dir, encKey: old.encKey, sealKey: old.sealKey, t: sw.t}
	sw.start(n)
	sw.waitReady([]*infra{n})
	return n
}

func (sw *swarm) start(n *infra) {
	t := sw.t
	t.Helper()
	var err error
	n.h = newHost(t, nil)
	n.st, err = store.Open(store.Options{Dir: filepath.Join(n.dir, "db"), EncryptionKey: n.encKey, SealKey: n.sealKey,
		Now: sw.clock.Now, Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	// Expired envelopes are collected every half second rather than every
	// minute, so that the TTL test sees them go without waiting.
	n.srv, err = mailbox.NewServer(n.h, mailbox.ServerOptions{Store: n.st, Now: sw.clock.Now, GCInterval: 500 * time.Millisecond, Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	n.d = newDHT(t, n.h, dht.ModeServer, sw.boot())
	n.tick = make(chan time.Time)
	rep, err := mailbox.NewRepairer(n.srv, mailbox.RepairOptions{Closest: n.d, Tick: n.tick, Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	n.svc = newServices()
	n.svc.serve(t, "mailbox", n.srv.Serve)
	// The holder's protocol is registered before the node joins, so that
	// identify tells every peer it meets that it holds mailboxes.
	for deadline := time.Now().Add(5 * time.Second); !slices.Contains(n.h.Mux().Protocols(), mailbox.ProtocolID); {
		if time.Now().After(deadline) {
			t.Fatal("the mailbox holder did not register its protocol")
		}
		time.Sleep(time.Millisecond)
	}
	n.svc.serve(t, "dht", n.d.Serve)
	n.svc.serve(t, "repair", rep.Serve)
	sw.nodes = append(sw.nodes, n)
	t.Cleanup(n.stop)
}

// stop takes the node off the network; its data directory stays.
func (n *infra) stop() {
	n.stopOnce.Do(func() {
		n.down = true
		n.svc.stop(n.t)
		n.h.Close()
		if err := n.st.Close(); err != nil {
			n.t.Errorf("closing a holder's store: %v", err)
		}
	})
}

// waitReady waits until nodes have joined and know a fair part of the
// swarm, then has every live node refresh its routing table once.
func (sw *swarm) waitReady(nodes []*infra) {
	t := sw.t
	t.Helper()
	want := min(len(sw.live())-1, 10)
	deadline := time.Now().Add(time.Minute)
	for _, n := range nodes {
		for n.d.RoutingTableSize() < want {
			if time.Now().After(deadline) {
				t.Fatalf("a node's routing table has %d peers after a minute, want %d", n.d.RoutingTableSize(), want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	for _, n := range sw.live() {
		wg.Go(func() {
			select {
			case <-n.d.Kad().RefreshRoutingTable():
			case <-ctx.Done():
			}
		})
	}
	wg.Wait()
}

// repair drives every live node's repairer through k complete rounds,
// all nodes at once. A repairer takes a tick only between rounds, so the
// (k+1)-th tick is taken once the k-th round is over; that last round
// runs on in the background, which is harmless (rounds are idempotent).
func (sw *swarm) repair(k int) {
	sw.t.Helper()
	var wg sync.WaitGroup
	for _, n := range sw.live() {
		wg.Go(func() {
			for range k + 1 {
				select {
				case n.tick <- sw.clock.Now():
				case <-time.After(time.Minute):
					sw.t.Error("a repairer took no tick for a minute")
					return
				}
			}
		})
	}
	wg.Wait()
}

// holding counts, per live node, the envelopes it holds for a.
func (sw *swarm) holding(a mailbox.Address) map[*infra]int {
	sw.t.Helper()
	out := map[*infra]int{}
	for _, n := range sw.live() {
		envs, err := n.srv.Envelopes(a)
		if err != nil {
			sw.t.Fatal(err)
		}
		if len(envs) > 0 {
			out[n] = len(envs)
		}
	}
	return out
}

// distinct counts the different envelopes live nodes hold for a.
func (sw *swarm) distinct(a mailbox.Address) int {
	sw.t.Helper()
	ids := map[[32]byte]bool{}
	for _, n := range sw.live() {
		envs, err := n.srv.Envelopes(a)
		if err != nil {
			sw.t.Fatal(err)
		}
		for _, e := range envs {
			ids[e.ID] = true
		}
	}
	return len(ids)
}

// trueClosest are the k live servers nearest a, by kad distance.
func (sw *swarm) trueClosest(a mailbox.Address, k int) []*infra {
	var ids []peer.ID
	byID := map[peer.ID]*infra{}
	for _, n := range sw.live() {
		ids = append(ids, n.h.ID())
		byID[n.h.ID()] = n
	}
	var out []*infra
	for _, p := range dht.SortByDistance(a[:], ids)[:k] {
		out = append(out, byID[p])
	}
	return out
}

// records counts what a holder's store keeps in a namespace.
func (n *infra) records(t testing.TB, ns string) int {
	t.Helper()
	c := 0
	if err := n.st.Namespace(ns).Iterate(nil, false, func(_, _ []byte) error { c++; return nil }); err != nil {
		t.Fatal(err)
	}
	return c
}
