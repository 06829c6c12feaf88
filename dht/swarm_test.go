package dht

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// lookupResult is one traced FindPeer of b by a.
type lookupResult struct {
	ai      peer.AddrInfo
	hops    int
	queried int // peers the lookup sent a query
	took    time.Duration
}

// tracedFindPeer makes a forget b, then looks b up through a's DHT and
// checks that the DHT (not a leftover connection or routing table entry)
// produced b, with at least one of b's own addresses.
func tracedFindPeer(tb testing.TB, ctx context.Context, a, b *testNode) (lookupResult, error) {
	tb.Helper()
	if err := forget(tb, a, b); err != nil {
		return lookupResult{}, err
	}
	ectx, cancel, tr := traceLookup(ctx, b.h.ID())
	start := time.Now()
	ai, err := a.d.FindPeer(ectx, b.h.ID())
	took := time.Since(start)
	cancel()
	tr.wait()
	res := lookupResult{ai: ai, hops: tr.hops, queried: tr.queried, took: took}
	if err == nil {
		err = checkFound(b, res, tr)
	}
	if err != nil && interfered(a, b) {
		return res, fmt.Errorf("%w: %w", errInterfered, err)
	}
	return res, err
}

// checkFound checks a FindPeer result for b: b, learned from a response,
// with at least one of b's own addresses.
func checkFound(b *testNode, res lookupResult, tr *lookupTrace) error {
	if res.ai.ID != b.h.ID() {
		return fmt.Errorf("FindPeer returned %s", res.ai.ID)
	}
	if !tr.learnedFromResponse() {
		return fmt.Errorf("target not learned from any peer's response (hops %d, %d query events): the lookup did not route", tr.hops, tr.events)
	}
	own := b.h.Addrs()
	if !slices.ContainsFunc(res.ai.Addrs, func(a ma.Multiaddr) bool { return slices.ContainsFunc(own, a.Equal) }) {
		return fmt.Errorf("FindPeer returned addresses %v, none of them b's own %v", res.ai.Addrs, own)
	}
	return nil
}

// TestLoopbackSwarm50FindPeer builds 50 real hosts on 127.0.0.1, each
// bootstrapping from a few early nodes through Serve, and then requires
// every one of 100 random lookups to succeed: a, knowing nothing of b (no
// connection, no address, no routing table entry), finds b through the DHT,
// a.Connect to what FindPeer returned succeeds, and those addresses alone
// are enough for a host that never saw b to connect to it.
// Finally every goroutine must be gone once the nodes are shut down.
func TestLoopbackSwarm50FindPeer(t *testing.T) {
	if testing.Short() {
		t.Skip("50 real hosts: skipped in -short mode")
	}
	const nodes, nboot, lookups = 50, 3, 100
	r, seed := testRand(t)
	start := time.Now()

	tn := startSwarm(t, nodes, nboot, testOptions())
	prober := newLoopbackHost(t) // no DHT: b has no reason to dial it
	t.Cleanup(func() { prober.Close() })
	// Ready, and a routing table of at least 10 peers everywhere: the
	// refresh that Serve starts on joining must have filled it beyond the
	// bootstrap peers.
	tn.waitReady(2*time.Minute, 10)
	// Let the refreshes that joining set off run out: the nodes' own
	// traffic is what interferes with a lookup (see errInterfered).
	tn.settle(2 * time.Minute)
	joined := time.Since(start)

	ctx := context.Background()
	var failed, interferences int
	var hops []int
	for i, pr := range randomPairs(r, nodes, lookups) {
		a, b := tn.nodes[pr[0]], tn.nodes[pr[1]]
		var res lookupResult
		err := retryInterfered(&interferences, func() error {
			var err error
			res, err = tracedFindPeer(t, ctx, a, b)
			return err
		})
		if err == nil {
			err = connectWith(ctx, a.h, res.ai, "a")
		}
		if err == nil {
			// The returned addresses alone must reach b: a host that has
			// never seen b dials them afresh. (Not a itself after closing
			// its connection: b, just reached by a, is likely dialling a
			// back at that moment for its own routing table check, and two
			// hosts that dial each other at once from their reused listening
			// ports on loopback collide in one TCP connection that neither
			// side can secure.)
			prober.Network().ClosePeer(b.h.ID())
			prober.Peerstore().ClearAddrs(b.h.ID())
			err = connectWith(ctx, prober, res.ai, "a fresh host")
			prober.Network().ClosePeer(b.h.ID())
		}
		if err != nil {
			failed++
			t.Errorf("seed %d, lookup %d: node %d (%s) finding node %d (%s): %v", seed, i, pr[0], a.h.ID(), pr[1], b.h.ID(), err)
			continue
		}
		hops = append(hops, res.hops)
	}
	t.Logf("%d of %d lookups succeeded; hops: %s; %d lookups disturbed by the target and repeated", lookups-failed, lookups, hopHistogram(hops), interferences)
	looked := time.Since(start) - joined

	tn.close()
	prober.Close()
	closed := time.Since(start) - joined - looked
	verifyNoLeaks(t)
	t.Logf("time: joined %v, lookups %v, shutdown %v, leak check %v", joined.Round(time.Millisecond),
		looked.Round(time.Millisecond), closed.Round(time.Millisecond), (time.Since(start) - joined - looked - closed).Round(time.Millisecond))
}

// connectWith connects h to ai within 30 s.
func connectWith(ctx context.Context, h host.Host, ai peer.AddrInfo, who string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := h.Connect(ctx, ai); err != nil {
		return fmt.Errorf("%s cannot connect to the returned addresses %v: %w", who, ai.Addrs, err)
	}
	return nil
}

// hopHistogram renders "2:31 3:60 4:9".
func hopHistogram(hops []int) string {
	count := map[int]int{}
	for _, h := range hops {
		count[h]++
	}
	keys := make([]int, 0, len(count))
	for k := range count {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	s := ""
	for _, k := range keys {
		s += fmt.Sprintf("%d:%d ", k, count[k])
	}
	return s
}
