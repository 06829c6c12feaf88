package dht

import (
	"context"
	"slices"
	"testing"
	"time"

	kad "github.com/libp2p/go-libp2p-kad-dht"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
)

// ipfsKad is the public IPFS (Amino) DHT protocol.
const ipfsKad protocol.ID = "/ipfs/kad/1.0.0"

// TestIsolationFromIPFSDHT connects a server of the public IPFS DHT (stock
// go-libp2p-kad-dht, default protocol, no bootstrap peers so it stays on
// loopback) to several of our nodes. Identify tells each side what the other
// speaks, and since no protocol is shared: the IPFS node's routing table
// stays empty and it cannot look anything up through our nodes, it cannot
// even open a stream of its protocol to them, and none of our nodes admits
// it to its routing table.
func TestIsolationFromIPFSDHT(t *testing.T) {
	const ours = 6
	tn := startSwarm(t, ours, 2, testOptions())
	tn.waitReady(time.Minute, 1)
	target := tn.nodes[ours-1] // the IPFS node never connects to it
	contacts := tn.nodes[:3]

	// Our nodes speak our protocol and not the IPFS one.
	for _, n := range tn.nodes {
		protos := n.h.Mux().Protocols()
		if !slices.Contains(protos, ProtocolID) || slices.Contains(protos, ipfsKad) {
			t.Fatalf("node %s serves %v: want %s and not %s", n.h.ID(), protos, ProtocolID, ipfsKad)
		}
	}

	ih := newLoopbackHost(t)
	t.Cleanup(func() { ih.Close() })
	ipfs, err := kad.New(ih, kad.Mode(kad.ModeServer)) // stock Amino settings
	if err != nil {
		t.Fatalf("start IPFS DHT: %v", err)
	}
	t.Cleanup(func() { ipfs.Close() })
	if protos := ih.Mux().Protocols(); !slices.Contains(protos, ipfsKad) || slices.Contains(protos, ProtocolID) {
		t.Fatalf("IPFS node serves %v: want %s and not %s", protos, ipfsKad, ProtocolID)
	}

	// A control node of ours joins through the same contacts at the same
	// time: once its routing table holds all of them, identify and routing
	// table admission have had their chance on the IPFS node too.
	control := tn.addLoopback(testOptions())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, c := range contacts {
		if err := ih.Connect(ctx, c.info()); err != nil {
			t.Fatalf("IPFS node connect to %s: %v", c.h.ID(), err)
		}
		if err := control.h.Connect(ctx, c.info()); err != nil {
			t.Fatalf("control node connect to %s: %v", c.h.ID(), err)
		}
	}
	waitFor(t, time.Minute, func() (bool, string) {
		for _, c := range contacts {
			if control.d.Kad().RoutingTable().Find(c.h.ID()) == "" {
				return false, "control node has not admitted all contacts to its routing table"
			}
			// Identify has run both ways.
			if !speaks(ih, c.h.ID(), ProtocolID) || !speaks(c.h, ih.ID(), ipfsKad) {
				return false, "identify has not completed between the IPFS node and our contacts"
			}
		}
		return true, ""
	})
	for _, c := range contacts {
		if speaks(ih, c.h.ID(), ipfsKad) {
			t.Errorf("our node %s advertises %s to the IPFS node", c.h.ID(), ipfsKad)
		}
	}

	// Give the IPFS node's refresh a go, then look.
	select {
	case <-ipfs.RefreshRoutingTable():
	case <-ctx.Done():
		t.Fatal("IPFS routing table refresh did not finish")
	}
	if n := ipfs.RoutingTable().Size(); n != 0 {
		t.Errorf("IPFS node's routing table holds %d peers (%v), want 0", n, ipfs.RoutingTable().ListPeers())
	}

	// It cannot find one of our nodes it is not connected to...
	fctx, fcancel := context.WithTimeout(ctx, 10*time.Second)
	ai, err := ipfs.FindPeer(fctx, target.h.ID())
	fcancel()
	if err == nil {
		t.Errorf("IPFS node found our node %s at %v", target.h.ID(), ai.Addrs)
	}
	// ...nor get any of our peers out of a query.
	gctx, gcancel := context.WithTimeout(ctx, 10*time.Second)
	closest, err := ipfs.GetClosestPeers(gctx, string(target.h.ID()))
	gcancel()
	if err == nil && len(closest) > 0 {
		t.Errorf("IPFS node's GetClosestPeers returned %v", closest)
	}
	// ...nor even open a stream of its protocol to ours.
	for _, c := range contacts {
		s, err := ih.NewStream(ctx, c.h.ID(), ipfsKad)
		if err == nil {
			// Multistream negotiates lazily: the error may show on first use.
			_, err = s.Write([]byte{0})
			if err == nil {
				_, err = s.Read(make([]byte, 1))
			}
			s.Reset()
		}
		if err == nil {
			t.Errorf("IPFS node opened a %s stream to our node %s", ipfsKad, c.h.ID())
		}
	}

	// And none of ours ever admitted it.
	for _, n := range tn.nodes {
		if n.d.Kad().RoutingTable().Find(ih.ID()) != "" {
			t.Errorf("our node %s has the IPFS node in its routing table", n.h.ID())
		}
	}
	// Our own kind, meanwhile, did get in: the check above is not vacuous.
	if control.d.RoutingTableSize() == 0 {
		t.Error("control node's routing table is empty")
	}
	if _, err := control.d.FindPeer(ctx, target.h.ID()); err != nil {
		t.Errorf("control node cannot find %s: %v", target.h.ID(), err)
	}
}

// speaks reports whether h's peerstore records p as supporting proto.
func speaks(h host.Host, p peer.ID, proto protocol.ID) bool {
	ps, err := h.Peerstore().SupportsProtocols(p, proto)
	return err == nil && len(ps) > 0
}
