package dht

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// Every node of a small swarm agrees on which servers are closest to a key,
// and the answer is the true XOR order over all the swarm's servers.
func TestClosestPeers(t *testing.T) {
	const nodes = 12
	tn := startSwarm(t, nodes, 2, testOptions())
	tn.waitReady(time.Minute, nodes-1)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	key := []byte("a mailbox address")
	var all []peer.ID
	for _, n := range tn.nodes {
		all = append(all, n.h.ID())
	}
	want := SortByDistance(key, all)
	for _, n := range []*testNode{tn.nodes[0], tn.nodes[nodes-1]} {
		got, err := n.d.ClosestPeers(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		// A node does not list itself: compare with the true order minus it.
		self := slices.DeleteFunc(slices.Clone(want), func(p peer.ID) bool { return p == n.h.ID() })
		if len(got) < 5 || !slices.Equal(got[:5], self[:5]) {
			t.Errorf("%s: closest 5 = %v, want %v", n.h.ID(), got[:min(5, len(got))], self[:5])
		}
	}
	cancel()
	if _, err := tn.nodes[0].d.ClosestPeers(ctx, key); err == nil {
		t.Error("ClosestPeers answered with an ended context")
	}
}
