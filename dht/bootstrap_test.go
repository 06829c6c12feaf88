package dht

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/net/swarm"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"
)

const noBootstrapMsg = "no bootstrap peer reachable; retrying"

// TestBootstrapRetry: a node whose only bootstrap peer is not up yet (its
// key exists and its address is fixed: a loopback port we opened and closed)
// keeps running, says it cannot reach anyone, is not Ready and retries. Once
// the bootstrap peer comes up at that exact address with that identity, the
// node joins: Ready closes and the peer is in its routing table.
//
// The waits are bounded by the retry schedule, not asserted: our backoff
// starts at 1 s and doubles, and each retry dials for real past the libp2p
// swarm's own dial backoff (TestJoinDialsPastSwarmBackoff), so the node
// gets through within a few seconds of the peer coming up; a minute is the
// hang guard.
func TestBootstrapRetry(t *testing.T) {
	priv, bootID := newIdentity(t)
	addr := deadAddr(t) // nothing listens there yet

	tn := newTestNet(t)
	log, logs := newCaptureLogger()
	o := testOptions()
	o.Bootstrap = []peer.AddrInfo{{ID: bootID, Addrs: []ma.Multiaddr{addr}}}
	o.Logger = log
	n := tn.addLoopback(o)

	// Two failed rounds: it tried, and it tried again.
	waitFor(t, time.Minute, func() (bool, string) {
		got := logs()
		c := 0
		for _, m := range got {
			if m == noBootstrapMsg {
				c++
			}
		}
		return c >= 2, "fewer than two failed bootstrap rounds logged; log: " + strings.Join(got, " | ")
	})
	select {
	case <-n.d.Ready():
		t.Fatal("Ready closed with no bootstrap peer reachable")
	case err := <-n.done:
		t.Fatalf("Serve returned (%v) instead of retrying", err)
	default:
	}
	if s := n.d.RoutingTableSize(); s != 0 {
		t.Fatalf("routing table holds %d peers with no bootstrap peer reachable", s)
	}

	// Now the bootstrap peer comes up, at the address the node was given.
	bh, err := libp2p.New(
		libp2p.Identity(priv),
		libp2p.ListenAddrs(addr),
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.DisableRelay(),
		libp2p.DisableMetrics(),
	)
	if err != nil {
		t.Fatalf("start the bootstrap host at %s: %v (the port was free a moment ago)", addr, err)
	}
	if !slices.ContainsFunc(bh.Addrs(), addr.Equal) {
		bh.Close()
		t.Fatalf("bootstrap host listens on %v, want %s", bh.Addrs(), addr)
	}
	tn.add(bh, testOptions())

	select {
	case <-n.d.Ready():
	case <-time.After(time.Minute):
		t.Fatalf("node has not joined a minute after its bootstrap peer came up; log: %s", strings.Join(logs(), " | "))
	}
	if n.d.Kad().RoutingTable().Find(bootID) == "" {
		t.Errorf("bootstrap peer not in the routing table of the node that joined through it")
	}
	if !slices.Contains(logs(), "joined the DHT") {
		t.Errorf("no 'joined the DHT' log; log: %s", strings.Join(logs(), " | "))
	}
}

// TestJoinDialsPastSwarmBackoff: after a failed dial, libp2p refuses to dial
// the same peer again for a while (its dial backoff). A bootstrap retry must
// dial anyway, or our own 1 s, 2 s, 4 s retries would do nothing.
func TestJoinDialsPastSwarmBackoff(t *testing.T) {
	priv, bootID := newIdentity(t)
	addr := deadAddr(t)
	peers := []peer.AddrInfo{{ID: bootID, Addrs: []ma.Multiaddr{addr}}}

	h := newLoopbackHost(t)
	defer h.Close()
	o := testOptions()
	o.Logger = quietLogger()
	d, err := New(h, o)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ctx := t.Context()
	if d.join(ctx, peers) {
		t.Fatal("join reported reaching a peer that is not there")
	}
	sw, ok := h.Network().(*swarm.Swarm)
	if !ok {
		t.Fatalf("network is a %T, not a swarm", h.Network())
	}
	if !sw.Backoff().Backoff(bootID, addr) {
		t.Fatal("libp2p holds no dial backoff after the failed dial; the test proves nothing")
	}
	bh, err := libp2p.New(libp2p.Identity(priv), libp2p.ListenAddrs(addr), libp2p.Transport(tcp.NewTCPTransport),
		libp2p.DisableRelay(), libp2p.DisableMetrics())
	if err != nil {
		t.Fatalf("start the bootstrap host at %s: %v (the port was free a moment ago)", addr, err)
	}
	defer bh.Close()
	if !d.join(ctx, peers) {
		t.Fatal("join did not dial past libp2p's dial backoff")
	}
}
