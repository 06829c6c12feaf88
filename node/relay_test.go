package node

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/client"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/discordopus/discordopus/dht"
)

const echoProtocol = "/discordopus/test/echo"

// A relay node carries a circuit between two peers that reserved and
// dialled through it, within its limits: past the configured bytes the
// relayed connection is cut, the peers see their stream fail, and a
// desktop's doctor tells its user. It grants one reservation per IP
// address here, and refuses a second in words the user understands.
func TestRelayRoleLimits(t *testing.T) {
	cfg := testConfig()
	cfg.DHTMode = "server"
	cfg.Relay = true
	cfg.RelayLimits = RelayLimits{CircuitBytes: 64 << 10, ReservationsPerIP: 1}
	cfg.Metrics = "127.0.0.1:0"
	o := infraOptions(t, cfg)
	o.Metrics = newRegistry()
	r, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	serve(t, r)
	relayInfo := peer.AddrInfo{ID: r.ID(), Addrs: r.Host().Addrs()}

	alice := relayClient(t)
	bobNode, err := New(Options{Role: RoleDesktop, DataDir: newDesktopDir(t), Config: testConfig(), Passphrase: passphrase(testPassphrase), Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	serve(t, bobNode)
	bob := bobNode.Host()
	alice.SetStreamHandler(echoProtocol, func(s network.Stream) {
		defer s.Close()
		io.Copy(s, s)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := alice.Connect(ctx, relayInfo); err != nil {
		t.Fatal(err)
	}
	if _, err := client.Reserve(ctx, alice, relayInfo); err != nil {
		t.Fatalf("reservation: %v", err)
	}
	// All of us are on 127.0.0.1: a second reservation from it is refused.
	carol := relayClient(t)
	if err := carol.Connect(ctx, relayInfo); err != nil {
		t.Fatal(err)
	}
	_, err = client.Reserve(ctx, carol, relayInfo)
	if err == nil || !strings.Contains(reservationProblem(err), "refused") {
		t.Errorf("a reservation past the per-IP limit: %v (%v)", err, reservationProblem(err))
	}
	circuit := ma.StringCast("/p2p/" + r.ID().String() + "/p2p-circuit")
	if err := bob.Connect(ctx, relayInfo); err != nil {
		t.Fatal(err)
	}
	if err := bob.Connect(ctx, peer.AddrInfo{ID: alice.ID(), Addrs: []ma.Multiaddr{circuit}}); err != nil {
		t.Fatalf("connecting through the relay: %v", err)
	}
	conns := bob.Network().ConnsToPeer(alice.ID())
	if len(conns) == 0 || !conns[0].Stat().Limited {
		t.Fatalf("the connection to Alice is not the relayed, limited one: %v", conns)
	}
	// The relay carries only what Alice and Bob encrypt for each other:
	// the relayed connection ran its own security handshake end to end,
	// authenticated by Alice's key, not the relay's.
	if k := conns[0].RemotePublicKey(); k == nil || !k.Equals(alice.Peerstore().PubKey(alice.ID())) {
		t.Errorf("the relayed connection is not authenticated by Alice's key (got %v)", k)
	}

	// Relayed streams are for protocols that ask for them: another waits
	// for a direct connection (none comes here).
	short, stop := context.WithTimeout(ctx, time.Second)
	if _, err := bob.NewStream(short, alice.ID(), echoProtocol); err == nil {
		t.Error("a stream without WithAllowLimitedConn went over the relay")
	}
	stop()
	s, err := bob.NewStream(network.WithAllowLimitedConn(ctx, "test"), alice.ID(), echoProtocol)
	if err != nil {
		t.Fatal(err)
	}
	s.SetDeadline(time.Now().Add(20 * time.Second))
	small := bytes.Repeat([]byte("x"), 16<<10)
	if _, err := s.Write(small); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(small))
	if _, err := io.ReadFull(s, got); err != nil || !bytes.Equal(got, small) {
		t.Fatalf("16 KiB through the relay: %v", err)
	}
	// Past 64 KiB the relay cuts the circuit.
	var failed error
	chunk := bytes.Repeat([]byte("y"), 16<<10)
	for i := 0; i < 16 && failed == nil; i++ {
		if _, failed = s.Write(chunk); failed == nil {
			_, failed = io.ReadFull(s, got)
		}
	}
	if failed == nil {
		t.Fatal("256 KiB went through a relay limited to 64 KiB per circuit")
	}
	t.Logf("the relay cut the circuit: %v", failed)
	for {
		if cp := bobNode.contactPath("Alice", alice.ID(), "cone"); strings.Contains(cp.Reason, "was cut") && cp.Relay == r.ID().String() {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("doctor does not tell that the circuit was cut: %+v", bobNode.contactPath("Alice", alice.ID(), "cone"))
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Connected again: the cut is old news.
	if err := bob.Connect(ctx, peer.AddrInfo{ID: alice.ID(), Addrs: []ma.Multiaddr{circuit}}); err != nil {
		t.Fatalf("reconnecting: %v", err)
	}
	if cp := bobNode.contactPath("Alice", alice.ID(), "cone"); cp.Cut || cp.Path == "none" {
		t.Errorf("after reconnecting, doctor says %+v", cp)
	}

	// The relay reports what it does.
	body := httpGet(t, "http://"+r.MetricsAddr()+"/metrics")
	for _, want := range []string{"libp2p_relaysvc_status 1", "libp2p_relaysvc_reservations_total", "libp2p_relaysvc_connections_total"} {
		if !strings.Contains(body, want) {
			t.Errorf("relay metrics lack %q", want)
		}
	}
}

func relayClient(t *testing.T) host.Host {
	t.Helper()
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.EnableRelay(), libp2p.DisableMetrics())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// Relay limits are read from the config, checked, and defaulted.
func TestRelayLimitsConfig(t *testing.T) {
	var c Config
	if err := json.Unmarshal([]byte(`{"relay": true, "relay_limits": {"circuit_duration": "90m", "circuit_bytes": 1048576}}`), &c); err != nil {
		t.Fatal(err)
	}
	l := c.RelayLimits.withDefaults()
	if time.Duration(l.CircuitDuration) != 90*time.Minute || l.CircuitBytes != 1<<20 || l.Reservations != 1024 || l.ReservationsPerIP != 8 {
		t.Errorf("limits %+v", l)
	}
	for _, bad := range []string{
		`{"relay_limits": {"circuit_duration": "1s"}}`,
		`{"relay_limits": {"circuit_bytes": 100}}`,
		`{"relay_limits": {"reservation_ttl": "5s"}}`,
	} {
		c := DefaultConfig(RoleInfrastructure)
		if err := json.Unmarshal([]byte(bad), &c); err != nil {
			t.Fatal(err)
		}
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "relay_limits") {
			t.Errorf("%s: %v, want an error naming relay_limits", bad, err)
		}
	}
	if _, err := parseConfig([]byte(`{"relay_limits": {"circuit_duration": 90}}`), "config.json", RoleInfrastructure); err == nil {
		t.Error("a number for a duration was accepted")
	}
}

// A relay advertises itself in the DHT, and a desktop that was told of no
// relay and is not connected to it gets it from the DHT as a candidate for
// a reservation.
func TestRelayFoundThroughDHT(t *testing.T) {
	infra := func(relay bool, boot ...*Node) *Node {
		cfg := testConfig()
		cfg.Relay = relay
		for _, b := range boot {
			cfg.Bootstrap = append(cfg.Bootstrap, b.Status().Addrs[0])
		}
		n, err := New(infraOptions(t, cfg))
		if err != nil {
			t.Fatal(err)
		}
		serve(t, n)
		return n
	}
	boot := infra(false)
	others := []*Node{infra(false, boot), infra(false, boot)}
	relay := infra(true, boot)
	cfg := testConfig()
	cfg.Bootstrap = []string{boot.Status().Addrs[0]}
	desk, err := New(Options{Role: RoleDesktop, DataDir: newDesktopDir(t), Config: cfg, Passphrase: passphrase(testPassphrase), Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	serve(t, desk)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, n := range append(others, desk) {
		select {
		case <-n.DHT().Ready():
		case <-ctx.Done():
			t.Fatal("the DHT never became ready")
		}
	}
	// Advertised once the relay joined; a lookup finds it from then on.
	for len(desk.DHT().FindService(ctx, dht.ServiceRelay, 4)) == 0 {
		if ctx.Err() != nil {
			t.Fatal("the relay never appeared in the DHT")
		}
		time.Sleep(100 * time.Millisecond)
	}
	desk.Host().Network().ClosePeer(relay.ID())
	var got []peer.ID
	for ai := range desk.relayCandidates(ctx, 8) {
		got = append(got, ai.ID)
	}
	if !slices.Contains(got, relay.ID()) {
		t.Fatalf("relay candidates %v lack the advertised relay %s", got, relay.ID())
	}
	for _, n := range append(others, boot) {
		if slices.Contains(got, n.ID()) {
			t.Errorf("%s is a candidate but runs no relay", n.ID())
		}
	}
}
