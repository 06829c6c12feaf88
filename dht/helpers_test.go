package dht

import (
	"context"
	cryptorand "crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/routing"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"
	"go.uber.org/goleak"
)

// The harness shared by the tests and the benchmark: real libp2p hosts on
// 127.0.0.1 (TCP only, no relay, no mDNS, no metrics), each running our DHT
// in server mode with private addresses allowed, as LAN and test
// deployments do (see doc.go).

// loopback is the only address the tests listen on or dial.
const loopback = "/ip4/127.0.0.1/tcp/0"

// newLoopbackHost starts a libp2p host that listens on loopback only.
func newLoopbackHost(tb testing.TB) host.Host {
	tb.Helper()
	h, err := libp2p.New(
		libp2p.ListenAddrStrings(loopback),
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.DisableRelay(),
		libp2p.DisableMetrics(),
	)
	if err != nil {
		tb.Fatalf("start libp2p host: %v", err)
	}
	for _, a := range h.Addrs() {
		if !isLoopbackAddr(a) {
			h.Close()
			tb.Fatalf("host listens on %s, want loopback only", a)
		}
	}
	return h
}

func isLoopbackAddr(a ma.Multiaddr) bool {
	v, err := a.ValueForProtocol(ma.P_IP4)
	return err == nil && v == "127.0.0.1"
}

// testNode is one host with our DHT on it, Serve running in a goroutine.
type testNode struct {
	h       host.Host
	d       *DHT
	cancel  context.CancelFunc // ends this node's Serve
	done    chan error         // Serve's result
	stopped bool
}

// stop ends the node in the order a node must be shut down: Serve first
// (which closes the DHT), then the host. (A host closed under a running DHT keeps dialling out
// for a while, and its half-made connections confuse the peers it dials.)
func (n *testNode) stop(tb testing.TB) {
	tb.Helper()
	if n.stopped {
		return
	}
	n.stopped = true
	n.cancel()
	select {
	case err := <-n.done:
		if err != nil {
			tb.Errorf("Serve of %s returned %v", n.h.ID(), err)
		}
	case <-time.After(time.Minute):
		tb.Errorf("Serve of %s did not return within a minute of its context ending", n.h.ID())
	}
	if err := n.h.Close(); err != nil {
		tb.Errorf("close host: %v", err)
	}
}

func (n *testNode) info() peer.AddrInfo {
	return peer.AddrInfo{ID: n.h.ID(), Addrs: n.h.Addrs()}
}

// testNet owns a set of nodes and tears them down in order: end every Serve
// (which closes the DHT), then close the hosts.
type testNet struct {
	tb     testing.TB
	ctx    context.Context
	cancel context.CancelFunc
	nodes  []*testNode
	closed bool
}

func newTestNet(tb testing.TB) *testNet {
	ctx, cancel := context.WithCancel(context.Background())
	tn := &testNet{tb: tb, ctx: ctx, cancel: cancel}
	tb.Cleanup(tn.close)
	return tn
}

// testOptions are the Options every test node starts from.
func testOptions() Options {
	return Options{
		Mode:              ModeServer, // ModeAuto stays a client on loopback
		AllowPrivateAddrs: true,
		FindPeerTimeout:   30 * time.Second, // generous: the machine is shared and noisy
		Logger:            quietLogger(),
	}
}

// add starts a node on h with options o and runs its Serve.
func (tn *testNet) add(h host.Host, o Options) *testNode {
	tn.tb.Helper()
	d, err := New(h, o)
	if err != nil {
		h.Close()
		tn.tb.Fatalf("dht.New: %v", err)
	}
	ctx, cancel := context.WithCancel(tn.ctx)
	n := &testNode{h: h, d: d, cancel: cancel, done: make(chan error, 1)}
	tn.nodes = append(tn.nodes, n)
	go func() { n.done <- d.Serve(ctx) }()
	return n
}

// addLoopback starts a loopback host and a node on it.
func (tn *testNet) addLoopback(o Options) *testNode {
	tn.tb.Helper()
	return tn.add(newLoopbackHost(tn.tb), o)
}

// startSwarm starts n loopback nodes; node i bootstraps from the first
// min(i, nboot) nodes ("a few early nodes").
func startSwarm(tb testing.TB, n, nboot int, o Options) *testNet {
	tb.Helper()
	tn := newTestNet(tb)
	for i := range n {
		oi := o
		oi.Bootstrap = nil
		for j := range min(i, nboot) {
			oi.Bootstrap = append(oi.Bootstrap, tn.nodes[j].info())
		}
		tn.addLoopback(oi)
	}
	return tn
}

// waitReady waits until every node's Ready is closed and its routing table
// holds at least minRT peers, polling up to deadline.
func (tn *testNet) waitReady(deadline time.Duration, minRT int) {
	tn.tb.Helper()
	waitFor(tn.tb, deadline, func() (bool, string) {
		notReady, small := 0, 0
		for _, n := range tn.nodes {
			select {
			case <-n.d.Ready():
			default:
				notReady++
			}
			if n.d.RoutingTableSize() < minRT {
				small++
			}
		}
		return notReady == 0 && small == 0,
			fmt.Sprintf("%d of %d nodes not Ready, %d with fewer than %d routing table peers", notReady, len(tn.nodes), small, minRT)
	})
}

// settle waits until every node has run a routing table refresh pass after
// those already under way or queued (kad batches requests that arrive
// while one runs).
func (tn *testNet) settle(deadline time.Duration) {
	tn.tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	errs := make(chan error, len(tn.nodes))
	for _, n := range tn.nodes {
		go func() {
			select {
			case err := <-n.d.Kad().RefreshRoutingTable():
				errs <- err
			case <-ctx.Done():
				errs <- ctx.Err()
			}
		}()
	}
	failed := 0
	for range tn.nodes {
		if err := <-errs; err != nil {
			failed++
			if ctx.Err() != nil {
				tn.tb.Fatalf("routing table refreshes not done after %v", deadline)
			}
		}
	}
	if failed > 0 {
		// A refresh pass reports lookups that found nothing new as errors
		// now and then; the lookups that follow are what is asserted.
		tn.tb.Logf("%d of %d routing table refreshes reported errors", failed, len(tn.nodes))
	}
}

// close ends every Serve, checks that each returned nil, and closes the
// hosts (all Serves first: none should see its peers vanish under it).
func (tn *testNet) close() {
	if tn.closed {
		return
	}
	tn.closed = true
	tn.cancel()
	for _, n := range tn.nodes {
		if n.stopped {
			continue
		}
		select {
		case err := <-n.done:
			if err != nil {
				tn.tb.Errorf("Serve of %s returned %v", n.h.ID(), err)
			}
		case <-time.After(time.Minute):
			tn.tb.Errorf("Serve of %s did not return within a minute of its context ending", n.h.ID())
		}
	}
	for _, n := range tn.nodes {
		if n.stopped {
			continue
		}
		n.stopped = true
		if err := n.h.Close(); err != nil {
			tn.tb.Errorf("close host: %v", err)
		}
	}
}

// waitFor polls cond until it holds or deadline passes; cond explains itself
// for the failure message. The deadline is a hang guard, not an assertion
// about speed: it is set far above what the condition needs.
func waitFor(tb testing.TB, deadline time.Duration, cond func() (bool, string)) {
	tb.Helper()
	end := time.Now().Add(deadline)
	for {
		ok, why := cond()
		if ok {
			return
		}
		if time.Now().After(end) {
			tb.Fatalf("still not done after %v: %s", deadline, why)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// forget makes a know nothing of b: no connection either way, no address in
// a's peerstore and no entry in a's routing table. (With b left in the
// routing table, a would dial it from there at no address, since we just
// cleared them; that case, with a stale address, is
// TestFindPeerStaleAddress.) It returns errInterfered if b connects to a
// again straight away.
func forget(tb testing.TB, a, b *testNode) error {
	tb.Helper()
	a.h.Network().ClosePeer(b.h.ID())
	b.h.Network().ClosePeer(a.h.ID())
	a.h.Peerstore().ClearAddrs(b.h.ID())
	a.d.Kad().RoutingTable().RemovePeer(b.h.ID())
	if a.h.Network().Connectedness(b.h.ID()) == network.Connected {
		return fmt.Errorf("%w: still connected after ClosePeer", errInterfered)
	}
	if addrs := a.h.Peerstore().Addrs(b.h.ID()); len(addrs) > 0 {
		tb.Fatalf("%s still has addresses of %s after ClearAddrs: %v", a.h.ID(), b.h.ID(), addrs)
	}
	return nil
}

// errInterfered marks a lookup of b by a that b itself disturbed: b
// connected to a on its own business (its routing table upkeep) during
// the lookup, which then ends as soon as a is connected to b, with
// whatever a's peerstore holds for b at that moment, perhaps before
// identify on the new connection has recorded b's addresses. Such a lookup
// says nothing about the DHT either way; the tests try that pair again.
var errInterfered = errors.New("target connected to the searcher by itself")

// interfered reports whether b holds a connection it opened to a.
func interfered(a, b *testNode) bool {
	return slices.ContainsFunc(a.h.Network().ConnsToPeer(b.h.ID()), func(c network.Conn) bool {
		return c.Stat().Direction == network.DirInbound
	})
}

// retryInterfered runs lookup up to three times while it fails with
// errInterfered, counting those in *count.
func retryInterfered(count *int, lookup func() error) error {
	var err error
	for range 3 {
		if err = lookup(); !errors.Is(err, errInterfered) {
			return err
		}
		*count++
	}
	return err
}

// lookupTrace records, from routing query events, how a lookup reached its
// target.
//
// Hop count, as used in the tests and printed by them: every peer the lookup
// queries without having learned it from a response is an initial peer
// (taken from the searcher's own routing table) at depth 1; a peer first
// learned from the response of a peer at depth d is at depth d+1. The hops
// of a lookup are the depth of the target when it was first learned (or 1
// if it was an initial peer): the number of request/response exchanges on
// the chain from the searcher to the target, the last of them the one that
// reaches the target itself.
type lookupTrace struct {
	target  peer.ID
	mu      sync.Mutex
	depth   map[peer.ID]int
	hops    int // 0: target never learned
	events  int
	queried int // peers sent a query
	done    chan struct{}
}

// traceLookup returns a context that records query events for a lookup of
// target, and the trace; cancel the returned context, then call wait.
func traceLookup(ctx context.Context, target peer.ID) (context.Context, context.CancelFunc, *lookupTrace) {
	ctx, cancel := context.WithCancel(ctx)
	ectx, events := routing.RegisterForQueryEvents(ctx)
	tr := &lookupTrace{target: target, depth: map[peer.ID]int{}, done: make(chan struct{})}
	go func() {
		defer close(tr.done)
		for ev := range events { // closed once ctx ends
			tr.record(ev)
		}
	}()
	return ectx, cancel, tr
}

func (tr *lookupTrace) record(ev *routing.QueryEvent) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.events++
	switch ev.Type {
	case routing.DialingPeer, routing.SendingQuery:
		if ev.Type == routing.SendingQuery {
			tr.queried++
		}
		if _, ok := tr.depth[ev.ID]; !ok {
			tr.depth[ev.ID] = 1 // queried without being learned: an initial peer
			if ev.ID == tr.target && tr.hops == 0 {
				tr.hops = 1
			}
		}
	case routing.PeerResponse:
		d, ok := tr.depth[ev.ID]
		if !ok {
			d = 1
			tr.depth[ev.ID] = d
		}
		for _, ai := range ev.Responses {
			if _, ok := tr.depth[ai.ID]; !ok {
				tr.depth[ai.ID] = d + 1
				if ai.ID == tr.target && tr.hops == 0 {
					tr.hops = d + 1
				}
			}
		}
	}
}

// wait waits for the event reader to finish (after the context ended).
func (tr *lookupTrace) wait() { <-tr.done }

// learnedFromResponse reports whether the target reached the searcher
// through a peer's response (hops > 1), rather than from its routing table.
func (tr *lookupTrace) learnedFromResponse() bool { return tr.hops > 1 }

// testRand returns a seeded RNG; DHT_TEST_SEED overrides the seed.
func testRand(tb testing.TB) (*rand.Rand, uint64) {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("DHT_TEST_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			tb.Fatalf("DHT_TEST_SEED: %v", err)
		}
		seed = v
	}
	tb.Logf("random seed %d (rerun with DHT_TEST_SEED=%d)", seed, seed)
	return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), seed
}

// randomPairs picks count ordered pairs (a, b), a != b, of indices below n,
// with every index a searcher (a) in turn before any repeats, so that with
// count >= n every node looks someone up.
func randomPairs(r *rand.Rand, n, count int) [][2]int {
	pairs := make([][2]int, 0, count)
	for len(pairs) < count {
		a, b := len(pairs)%n, r.IntN(n)
		if a != b {
			pairs = append(pairs, [2]int{a, b})
		}
	}
	return pairs
}

// percentile returns the p-th percentile (0..100, nearest rank) of sorted.
func percentile[T any](sorted []T, p float64) T {
	i := int(float64(len(sorted))*p/100+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func sortedDurations(ds []time.Duration) []time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// quietLogger drops the DHT's logs: with dozens of nodes they drown the
// test output. Tests that assert on logs use a captureHandler instead.
func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// captureHandler keeps log records for tests that assert on them.
type captureHandler struct {
	mu   *sync.Mutex
	msgs *[]string
}

func newCaptureLogger() (*slog.Logger, func() []string) {
	h := captureHandler{mu: new(sync.Mutex), msgs: new([]string)}
	return slog.New(h), func() []string {
		h.mu.Lock()
		defer h.mu.Unlock()
		return slices.Clone(*h.msgs)
	}
}

func (h captureHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h captureHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	*h.msgs = append(*h.msgs, r.Message)
	return nil
}
func (h captureHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h captureHandler) WithGroup(string) slog.Handler      { return h }

// leakOptions are the goroutines goleak may ignore. None, as of go-libp2p
// v0.51.0 and go-libp2p-kad-dht v0.42.2: once every DHT and host is closed
// (hosts built as newLoopbackHost does: TCP only, no metrics), nothing of
// theirs keeps running. Add an ignore here only for a goroutine that a
// library starts once per process and never stops, and say which.
func leakOptions() []goleak.Option { return nil }

// verifyNoLeaks waits (up to a minute: goroutines of closed hosts and
// cancelled queries wind down asynchronously) until no unexpected goroutine
// is left, and fails with their stacks otherwise.
func verifyNoLeaks(tb testing.TB) {
	tb.Helper()
	if err := findLeaks(time.Minute); err != nil {
		tb.Errorf("goroutines left running: %v", err)
	}
}

func findLeaks(patience time.Duration) error {
	end := time.Now().Add(patience)
	for {
		err := goleak.Find(leakOptions()...)
		if err == nil || time.Now().After(end) {
			return err
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// newIdentity makes a random Ed25519 key and its PeerID.
func newIdentity(tb testing.TB) (crypto.PrivKey, peer.ID) {
	tb.Helper()
	return keyFrom(tb, cryptorand.Reader)
}

// keyFrom makes an Ed25519 key from the randomness in r, and its PeerID.
func keyFrom(tb testing.TB, r io.Reader) (crypto.PrivKey, peer.ID) {
	tb.Helper()
	priv, _, err := crypto.GenerateEd25519Key(r)
	if err != nil {
		tb.Fatal(err)
	}
	id, err := peer.IDFromPrivateKey(priv)
	if err != nil {
		tb.Fatal(err)
	}
	return priv, id
}
