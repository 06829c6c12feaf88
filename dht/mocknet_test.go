package dht

import (
	"context"
	"crypto/rand"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	mocknet "github.com/libp2p/go-libp2p/p2p/net/mock"
	ma "github.com/multiformats/go-multiaddr"
)

// TestMocknet300FindPeer runs our DHT on 300 in-process hosts (go-libp2p's
// mocknet: no sockets at all; the addresses below are labels that are never
// dialled). Every pair of hosts is linked, so any may dial any other, but
// each node starts connected to nothing and joins through Serve from three
// random earlier nodes. Once every routing table has filled, 300 lookups
// from random nodes for random targets they know nothing of (as in the
// loopback test: no connection, no address, no routing table entry) must
// all succeed, with the target learned from some peer's response and one
// of its addresses returned.
//
// It logs the hop counts (defined at lookupTrace), the peers queried per
// lookup and the lookup latencies. At this size every lookup takes 2 hops:
// kad answers a FIND_NODE for a peer with that peer itself whenever it
// holds any address for it, and after joining (mocknet trims no
// connections) most nodes hold addresses for most others, so the first
// peers asked, the searcher's closest to the target, hand it over. Mocknet
// runs every host on the same two cores with no network delay, so the
// latencies measure CPU contention more than the protocol.
func TestMocknet300FindPeer(t *testing.T) {
	if testing.Short() {
		t.Skip("300 mocknet hosts: skipped in -short mode")
	}
	const nodes, nboot, lookups = 300, 3, 300
	r, seed := testRand(t)
	start := time.Now()

	mn := mocknet.New()
	t.Cleanup(func() { mn.Close() })
	tn := newTestNet(t) // registered after mn: its cleanup (ending every Serve) runs first
	var hosts []host.Host
	for i := range nodes {
		priv, _, err := crypto.GenerateEd25519Key(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		// Mocknet needs an address per host; it is never dialled.
		h, err := mn.AddPeer(priv, ma.StringCast(fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", 10000+i)))
		if err != nil {
			t.Fatalf("mocknet host %d: %v", i, err)
		}
		hosts = append(hosts, h)
	}
	if err := mn.LinkAll(); err != nil {
		t.Fatal(err)
	}
	for i, h := range hosts {
		o := testOptions()
		for _, j := range r.Perm(max(i, 1))[:min(i, nboot)] {
			o.Bootstrap = append(o.Bootstrap, tn.nodes[j].info())
		}
		tn.add(h, o)
	}
	tn.waitReady(3*time.Minute, 10)
	joined := time.Since(start)
	// Joining 300 nodes at once sets off a storm of routing table refreshes
	// (each node's first one looks up a random key per bucket) that keeps
	// both cores busy for a while after every node is Ready. Wait it out,
	// so that the lookups are timed on a settled network: RefreshRoutingTable
	// answers once a refresh pass has run after the ones already queued.
	tn.settle(3 * time.Minute)
	built := time.Since(start)

	ctx := context.Background()
	var hops, queried []int
	var took []time.Duration
	interferences := 0
	for i, pr := range randomPairs(r, nodes, lookups) {
		a, b := tn.nodes[pr[0]], tn.nodes[pr[1]]
		var res lookupResult
		err := retryInterfered(&interferences, func() error {
			var err error
			res, err = tracedFindPeer(t, ctx, a, b)
			return err
		})
		if err != nil {
			t.Errorf("seed %d, lookup %d: node %d finding node %d: %v", seed, i, pr[0], pr[1], err)
			continue
		}
		hops = append(hops, res.hops)
		queried = append(queried, res.queried)
		took = append(took, res.took)
	}
	looked := time.Since(start) - built

	if len(took) > 0 {
		s := sortedDurations(took)
		sh := slices.Clone(hops)
		slices.Sort(sh)
		t.Logf("mocknet, %d nodes: %d of %d lookups succeeded (%d disturbed by the target and repeated)", nodes, len(took), lookups, interferences)
		t.Logf("hops (count by hops): %s; mean %.2f, p50 %d, p90 %d, max %d", hopHistogram(hops), mean(hops), percentile(sh, 50), percentile(sh, 90), sh[len(sh)-1])
		slices.Sort(queried)
		t.Logf("peers queried per lookup: mean %.1f, p50 %d, p90 %d, max %d", mean(queried), percentile(queried, 50), percentile(queried, 90), queried[len(queried)-1])
		t.Logf("latency: p50 %.1f ms, p90 %.1f ms, p99 %.1f ms, max %.1f ms", ms(percentile(s, 50)), ms(percentile(s, 90)), ms(percentile(s, 99)), ms(s[len(s)-1]))
		t.Logf("time: all nodes joined in %v, refreshes settled after %v, %d lookups in %v", joined.Round(time.Millisecond), built.Round(time.Millisecond), lookups, looked.Round(time.Millisecond))
	}
}

func mean(xs []int) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := 0
	for _, x := range xs {
		s += x
	}
	return float64(s) / float64(len(xs))
}
