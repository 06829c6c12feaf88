package dht

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	"github.com/libp2p/go-libp2p/core/routing"
	ma "github.com/multiformats/go-multiaddr"
)

func TestParseMode(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Mode
		ok   bool
	}{
		{"", ModeAuto, true},
		{"auto", ModeAuto, true},
		{"server", ModeServer, true},
		{"client", ModeClient, true},
		{"Server", 0, false},
		{" server", 0, false},
		{"dht", 0, false},
		{"servers", 0, false},
	} {
		got, err := ParseMode(tc.in)
		if (err == nil) != tc.ok || (tc.ok && got != tc.want) {
			t.Errorf("ParseMode(%q) = %v, %v; want %v, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
		if tc.ok && got.String() != map[Mode]string{ModeAuto: "auto", ModeServer: "server", ModeClient: "client"}[tc.want] {
			t.Errorf("Mode(%d).String() = %q", got, got.String())
		}
		if tc.ok && tc.in != "" {
			if back, err := ParseMode(got.String()); err != nil || back != got {
				t.Errorf("ParseMode(%v.String()) = %v, %v", got, back, err)
			}
		}
	}
}

// TestModeOnLoopback: server and client run as asked; auto stays a client
// on loopback, where AutoNAT never sees the node publicly reachable (which is
// why every other test here asks for server mode).
func TestModeOnLoopback(t *testing.T) {
	tn := newTestNet(t)
	for _, tc := range []struct {
		mode  Mode
		want  Mode
		serve bool
	}{
		{ModeServer, ModeServer, true},
		{ModeClient, ModeClient, false},
		{ModeAuto, ModeClient, false},
	} {
		o := testOptions()
		o.Mode = tc.mode
		n := tn.addLoopback(o)
		if got := n.d.Mode(); got != tc.want {
			t.Errorf("%v node runs as %v, want %v", tc.mode, got, tc.want)
		}
		if serves := slices.Contains(n.h.Mux().Protocols(), ProtocolID); serves != tc.serve {
			t.Errorf("%v node serves %s: %v, want %v", tc.mode, ProtocolID, serves, tc.serve)
		}
	}
}

func randomPeerID(tb testing.TB) peer.ID {
	tb.Helper()
	_, id := newIdentity(tb)
	return id
}

// findPeerReturns runs FindPeer and fails the test if it has not returned
// within watchdog: a guard against hanging, far above the timeouts in play,
// not a measure of speed.
func findPeerReturns(t *testing.T, ctx context.Context, d *DHT, id peer.ID, watchdog time.Duration) (peer.AddrInfo, error) {
	t.Helper()
	type result struct {
		ai  peer.AddrInfo
		err error
	}
	ch := make(chan result, 1)
	go func() {
		ai, err := d.FindPeer(ctx, id)
		ch <- result{ai, err}
	}()
	select {
	case r := <-ch:
		return r.ai, r.err
	case <-time.After(watchdog):
		t.Fatalf("FindPeer(%s) has not returned after %v", id, watchdog)
		return peer.AddrInfo{}, nil
	}
}

// TestFindPeerNotFound: a peer that never existed, and one that has left,
// are reported as errors, not hangs and not bogus addresses.
func TestFindPeerNotFound(t *testing.T) {
	o := testOptions()
	o.FindPeerTimeout = 2 * time.Second
	tn := startSwarm(t, 6, 2, o)
	tn.waitReady(time.Minute, 3)
	a := tn.nodes[0]
	ctx := context.Background()

	_, err := findPeerReturns(t, ctx, a.d, randomPeerID(t), time.Minute)
	if !errors.Is(err, routing.ErrNotFound) {
		t.Errorf("FindPeer of a peer that never existed: %v, want routing.ErrNotFound", err)
	}

	gone := tn.nodes[5]
	gone.stop(t)
	waitFor(t, time.Minute, func() (bool, string) {
		for _, n := range tn.nodes[:5] {
			if n.h.Network().Connectedness(gone.h.ID()) == network.Connected {
				return false, "a node still has a connection to the closed host"
			}
		}
		return true, ""
	})
	if ai, err := findPeerReturns(t, ctx, a.d, gone.h.ID(), time.Minute); err == nil {
		t.Errorf("FindPeer of a peer that has left returned %v", ai)
	}

	// A caller's context that has already ended gets no answer, even for a
	// peer a is connected to (where kad alone would answer locally).
	target := tn.nodes[3]
	cctxConnect, cancelConnect := context.WithTimeout(ctx, 20*time.Second)
	defer cancelConnect()
	if err := a.h.Connect(cctxConnect, target.info()); err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if ai, err := findPeerReturns(t, cctx, a.d, target.h.ID(), time.Minute); err == nil {
		t.Errorf("FindPeer with a cancelled context returned %v", ai)
	}
}

// TestFindPeerStalledRoute: the only peer a node can ask accepts the query
// and never answers. FindPeer must give up with an error once
// FindPeerTimeout (2 s here) has passed. Without our deadline kad ends such
// a lookup only after 20 s (two 10 s read timeouts), so FindPeer must
// return well before that: the 9 s bound leaves the noisy machine 7 s of
// slack and still tells our deadline from kad's.
func TestFindPeerStalledRoute(t *testing.T) {
	tn := newTestNet(t)
	o := testOptions()
	o.FindPeerTimeout = 2 * time.Second
	a := tn.addLoopback(o)

	release := make(chan struct{})
	stalled := make(chan struct{}, 16)
	staller := newLoopbackHost(t)
	t.Cleanup(func() { staller.Close() })
	t.Cleanup(func() { close(release) }) // runs before staller.Close
	staller.SetStreamHandler(ProtocolID, func(s network.Stream) {
		s.Read(make([]byte, 1)) // the request has arrived
		select {
		case stalled <- struct{}{}:
		default:
		}
		<-release
		s.Reset()
	})
	a.h.Peerstore().AddAddrs(staller.ID(), staller.Addrs(), time.Hour)
	if _, err := a.d.Kad().RoutingTable().TryAddPeer(staller.ID(), true, false); err != nil {
		t.Fatalf("put the staller in the routing table: %v", err)
	}

	start := time.Now()
	_, err := findPeerReturns(t, context.Background(), a.d, randomPeerID(t), time.Minute)
	if err == nil {
		t.Fatal("FindPeer through a peer that never answers succeeded")
	}
	if took := time.Since(start); took > 9*time.Second {
		t.Fatalf("FindPeer returned after %v: FindPeerTimeout (2 s) was not applied", took)
	}
	select {
	case <-stalled:
	default:
		t.Fatalf("FindPeer failed (%v) without ever querying the stalling peer", err)
	}
	t.Logf("FindPeer: %v", err)
}

// deadAddr is a loopback TCP address nobody listens on: a port we opened and
// closed again.
func deadAddr(tb testing.TB) ma.Multiaddr {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return ma.StringCast("/ip4/127.0.0.1/tcp/" + strconv.Itoa(port))
}

// TestFindPeerStaleAddress: a's routing table holds b, but at an address b
// no longer listens on (b restarted or moved). FindPeer must still find b
// at its current address, which b's neighbours return during the lookup.
// kad-dht alone fails here: it dials b from the routing table first, fails,
// and drops b from that lookup (see DHT.FindPeer).
func TestFindPeerStaleAddress(t *testing.T) {
	const nodes, lookups = 20, 30
	r, seed := testRand(t)
	tn := startSwarm(t, nodes, 3, testOptions())
	tn.waitReady(2*time.Minute, 10)
	tn.settle(2 * time.Minute)
	dead := deadAddr(t)
	ctx := context.Background()

	interferences := 0
	for i, pr := range randomPairs(r, nodes, lookups) {
		a, b := tn.nodes[pr[0]], tn.nodes[pr[1]]
		err := retryInterfered(&interferences, func() error {
			a.h.Network().ClosePeer(b.h.ID())
			b.h.Network().ClosePeer(a.h.ID())
			a.h.Peerstore().ClearAddrs(b.h.ID())
			a.h.Peerstore().AddAddrs(b.h.ID(), []ma.Multiaddr{dead}, peerstore.RecentlyConnectedAddrTTL)
			if _, err := a.d.Kad().RoutingTable().TryAddPeer(b.h.ID(), true, false); err != nil {
				t.Fatalf("put b in a's routing table: %v", err)
			}
			if a.d.Kad().RoutingTable().Find(b.h.ID()) == "" {
				t.Fatalf("b not in a's routing table")
			}
			ai, err := a.d.FindPeer(ctx, b.h.ID())
			if err == nil && !slices.ContainsFunc(ai.Addrs, func(x ma.Multiaddr) bool { return slices.ContainsFunc(b.h.Addrs(), x.Equal) }) {
				err = fmt.Errorf("returned %v, not b's address %v", ai.Addrs, b.h.Addrs())
			}
			if err != nil && interfered(a, b) {
				err = fmt.Errorf("%w: %w", errInterfered, err)
			}
			return err
		})
		if err != nil {
			t.Errorf("seed %d, lookup %d: node %d finding node %d at a stale address: %v", seed, i, pr[0], pr[1], err)
		}
	}
	t.Logf("%d lookups disturbed by the target and repeated", interferences)
}
