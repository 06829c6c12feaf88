package dht

import (
	"context"
	"testing"
	"time"

	ma "github.com/multiformats/go-multiaddr"
)

func TestPublicAddrs(t *testing.T) {
	for _, tc := range []struct {
		addr string
		keep bool
	}{
		// Reachable from the internet.
		{"/ip4/1.1.1.1/tcp/4001", true},
		{"/ip4/8.8.8.8/udp/4001/quic-v1", true},
		{"/ip4/203.0.114.7/tcp/443/tls/ws", true}, // just outside TEST-NET-3
		{"/ip6/2606:4700:4700::1111/tcp/4001", true},
		{"/ip6/2a01:4f8::1/udp/4001/quic-v1", true},
		{"/dns4/boot.example.org/tcp/4001", true},
		{"/dns/boot.example.org/udp/4001/quic-v1", true},
		{"/ip4/1.2.3.4/tcp/4001/p2p/12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN/p2p-circuit", true},

		// Loopback.
		{"/ip4/127.0.0.1/tcp/4001", false},
		{"/ip4/127.255.0.9/tcp/4001", false},
		{"/ip6/::1/tcp/4001", false},
		{"/dns/localhost/tcp/4001", false},
		{"/dns4/node.localhost/tcp/4001", false},
		// Private (RFC 1918), CGNAT, unique local.
		{"/ip4/10.0.0.1/tcp/4001", false},
		{"/ip4/172.16.5.4/tcp/4001", false},
		{"/ip4/172.31.255.254/udp/4001/quic-v1", false},
		{"/ip4/192.168.1.20/tcp/4001", false},
		{"/ip4/100.64.0.1/tcp/4001", false},
		{"/ip6/fd12:3456:789a::1/tcp/4001", false},
		// Link-local.
		{"/ip4/169.254.10.10/tcp/4001", false},
		{"/ip6/fe80::1/tcp/4001", false},
		{"/ip6zone/eth0/ip6/fe80::1/tcp/4001", false},
		// Other special-purpose ranges.
		{"/ip4/0.0.0.0/tcp/4001", false},
		{"/ip6/::/tcp/4001", false},
		{"/ip4/192.0.2.1/tcp/4001", false},    // TEST-NET-1
		{"/ip4/198.51.100.1/tcp/4001", false}, // TEST-NET-2
		{"/ip4/203.0.113.1/tcp/4001", false},  // TEST-NET-3
		{"/ip4/198.18.0.1/tcp/4001", false},   // benchmarking
		{"/ip4/224.0.0.251/udp/5353", false},  // multicast
		{"/ip4/255.255.255.255/udp/4001", false},
		{"/ip6/2001:db8::1/tcp/4001", false}, // documentation
		{"/ip6/ff02::1/udp/4001", false},     // multicast
		{"/dns/printer.local/tcp/4001", false},
		{"/dns/host.home.arpa/tcp/4001", false},
		{"/ip4/10.1.2.3/tcp/4001/p2p/12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN/p2p-circuit", false},
	} {
		a, err := ma.NewMultiaddr(tc.addr)
		if err != nil {
			t.Fatalf("%s: %v", tc.addr, err)
		}
		got := PublicAddrs([]ma.Multiaddr{a})
		if kept := len(got) == 1; kept != tc.keep {
			t.Errorf("PublicAddrs(%s) kept it: %v, want %v", tc.addr, kept, tc.keep)
		}
	}

	// A mixed list keeps the public ones, in order.
	in := []ma.Multiaddr{
		ma.StringCast("/ip4/127.0.0.1/tcp/1"),
		ma.StringCast("/ip4/1.1.1.1/tcp/1"),
		ma.StringCast("/ip4/192.168.0.2/tcp/1"),
		ma.StringCast("/ip6/2606:4700:4700::1111/tcp/1"),
	}
	got := PublicAddrs(in)
	if len(got) != 2 || !got[0].Equal(in[1]) || !got[1].Equal(in[3]) {
		t.Errorf("PublicAddrs(mixed) = %v, want [%s %s]", got, in[1], in[3])
	}
	if got := PublicAddrs(nil); len(got) != 0 {
		t.Errorf("PublicAddrs(nil) = %v", got)
	}
}

// TestProductionModeRefusesLoopbackPeers runs a node with the production
// address policy (AllowPrivateAddrs false) on loopback: a server of ours that
// it connects to has loopback addresses only, so it must stay out of the
// node's routing table, and the node must not become Ready. A node with
// private addresses allowed, connected at the same time, admits the server:
// the policy, not the network, keeps it out.
func TestProductionModeRefusesLoopbackPeers(t *testing.T) {
	tn := newTestNet(t)
	server := tn.addLoopback(testOptions())
	prod := testOptions()
	prod.AllowPrivateAddrs = false
	strict := tn.addLoopback(prod)
	lax := tn.addLoopback(testOptions())

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// The strict node first; the lax one only once the strict one has
	// identified the server, so that by the time the lax node has admitted
	// it (identify, then a lookup check round trip), the strict node has had
	// at least as long to do the same.
	if err := strict.h.Connect(ctx, server.info()); err != nil {
		t.Fatalf("connect to server: %v", err)
	}
	waitFor(t, time.Minute, func() (bool, string) {
		return speaks(strict.h, server.h.ID(), ProtocolID), "strict node has not identified the server"
	})
	if err := lax.h.Connect(ctx, server.info()); err != nil {
		t.Fatalf("connect to server: %v", err)
	}
	waitFor(t, time.Minute, func() (bool, string) {
		return lax.d.Kad().RoutingTable().Find(server.h.ID()) != "", "node with private addresses allowed has not admitted the server"
	})
	if n := strict.d.RoutingTableSize(); n != 0 {
		t.Errorf("production-mode node admitted %d loopback peers to its routing table", n)
	}
	select {
	case <-strict.d.Ready():
		t.Error("production-mode node became Ready through a loopback-only peer")
	default:
	}
}
