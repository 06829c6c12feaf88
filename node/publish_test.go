package node

import (
	"bufio"
	"context"
	"encoding/binary"
	"io"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	kadpb "github.com/libp2p/go-libp2p-kad-dht/pb"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
	"google.golang.org/protobuf/proto"

	"github.com/discordopus/discordopus/dht"
)

// TestPublishedAddrs asks a DHT server, with a raw FIND_NODE as any stranger
// could, for the addresses of a desktop node connected to it. In production
// it must hand out no loopback or private address; with private_addrs (LAN
// and tests) it does, which shows the question reaches the answer.
func TestPublishedAddrs(t *testing.T) {
	for _, private := range []bool{false, true} {
		cfg := testConfig()
		cfg.PrivateAddrs = private
		server, err := New(infraOptions(t, cfg))
		if err != nil {
			t.Fatal(err)
		}
		stopServer := serve(t, server)
		desktop, err := New(Options{Role: RoleDesktop, DataDir: newDesktopDir(t), Config: cfg, Passphrase: passphrase(testPassphrase), Logger: discardLogger()})
		if err != nil {
			t.Fatal(err)
		}
		stopDesktop := serve(t, desktop)
		serverInfo := peer.AddrInfo{ID: server.ID(), Addrs: server.Host().Network().ListenAddresses()}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		if err := desktop.Host().Connect(ctx, serverInfo); err != nil {
			t.Fatal(err)
		}
		// Identify has run once the server knows the desktop's protocols.
		for {
			if protos, _ := server.Host().Peerstore().GetProtocols(desktop.ID()); len(protos) > 0 {
				break
			}
			if ctx.Err() != nil {
				t.Fatal("identify never completed")
			}
			time.Sleep(20 * time.Millisecond)
		}

		addrs := findNodeRaw(ctx, t, serverInfo, desktop.ID())
		cancel()
		privateSeen := 0
		for _, a := range addrs {
			if !manet.IsPublicAddr(a) {
				privateSeen++
			}
		}
		switch {
		case !private && privateSeen > 0:
			t.Errorf("production server handed out private addresses of a peer: %v", addrs)
		case private && privateSeen == 0:
			t.Errorf("with private_addrs the server should return the peer's loopback address; got %v", addrs)
		}
		stopDesktop()
		stopServer()
	}
}

// findNodeRaw sends one FIND_NODE for target to server from a fresh host and
// returns the addresses the answer gives for target.
func findNodeRaw(ctx context.Context, t *testing.T, server peer.AddrInfo, target peer.ID) []ma.Multiaddr {
	t.Helper()
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.DisableMetrics())
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if err := h.Connect(ctx, server); err != nil {
		t.Fatal(err)
	}
	s, err := h.NewStream(ctx, server.ID, dht.ProtocolID)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.SetDeadline(time.Now().Add(10 * time.Second))
	req, err := proto.Marshal(kadpb.NewMessage(kadpb.Message_FIND_NODE, []byte(target), 0))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Write(append(binary.AppendUvarint(nil, uint64(len(req))), req...)); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(s)
	n, err := binary.ReadUvarint(r)
	if err != nil || n > 1<<20 {
		t.Fatalf("response length %d: %v", n, err)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		t.Fatal(err)
	}
	var resp kadpb.Message
	if err := proto.Unmarshal(body, &resp); err != nil {
		t.Fatal(err)
	}
	var out []ma.Multiaddr
	for _, p := range resp.CloserPeers {
		if peer.ID(p.Id) == target {
			out = append(out, p.Addresses()...)
		}
	}
	return out
}
