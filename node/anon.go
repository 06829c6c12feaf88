package node

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	tls "github.com/libp2p/go-libp2p/p2p/security/tls"
	quic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"

	"github.com/discordopus/discordopus/dht"
)

// anonymous is a dial-only libp2p host under a throwaway identity, with a
// DHT client of its own. A desktop's mailbox traffic goes through two of
// them, one for deposits and one for drains, each with a new identity
// every time the node starts: the lookups that find holders and the
// connections that deposit and fetch never carry the node's PeerID, so
// neither holders nor DHT observers can tie a mailbox address to a person
// by its identity, and a holder cannot tell that the fetcher of one
// address is the depositor at another. What is left: the IP address shows
// (a relay will hide it); one draining identity fetches every epoch's
// address while the node runs, so a holder on two epochs' paths can link
// those addresses to each other (not to a PeerID); and a deposit follows,
// by moments, the lookup of the contact from the node's own PeerID. A fresh
// identity per drain would remove the second; it costs a DHT join each time.
type anonymous struct {
	h host.Host
	d *dht.DHT
}

func newAnonymous(cfg Config, log *slog.Logger) (*anonymous, error) {
	priv, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		return nil, err
	}
	h, err := libp2p.New(
		libp2p.Identity(priv),
		libp2p.NoListenAddrs,
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.Transport(quic.NewTransport),
		libp2p.Security(noise.ID, noise.New),
		libp2p.Security(tls.ID, tls.New),
		libp2p.Muxer(yamux.ID, yamux.DefaultTransport),
		libp2p.UserAgent("discordopus/"+Version),
		libp2p.DisableMetrics(),
	)
	if err != nil {
		return nil, fmt.Errorf("anonymous host: %w", err)
	}
	bootstrap, _ := cfg.BootstrapPeers()
	d, err := dht.New(h, dht.Options{
		Mode:              dht.ModeClient,
		Bootstrap:         bootstrap,
		AllowPrivateAddrs: cfg.PrivateAddrs,
		Logger:            log.With("component", "anonymous-dht"),
	})
	if err != nil {
		h.Close()
		return nil, err
	}
	return &anonymous{h: h, d: d}, nil
}

// anonSeedPeers is how many of the node's DHT peers an anonymous client
// is introduced to, besides the bootstrap peers (on a LAN there are none).
const anonSeedPeers = 8

// serveAnonymous runs the anonymous DHT clients until ctx ends.
func (n *Node) serveAnonymous(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	for _, a := range n.anon {
		wg.Go(func() { a.d.Serve(ctx) })
	}
	<-ctx.Done()
	return nil
}

// seedAnonymous introduces the anonymous DHT clients whose routing table
// is empty to some of the node's own DHT peers, so they work where the
// node found its peers by mDNS alone, and again after they lost theirs.
// The drain loop calls it before every drain; the dials run at once,
// each within anonSeedTimeout.
func (n *Node) seedAnonymous(ctx context.Context) {
	peers := n.dht.Kad().RoutingTable().ListPeers()
	var wg sync.WaitGroup
	for _, a := range n.anon {
		if a.d.RoutingTableSize() > 0 {
			continue
		}
		for _, p := range peers[:min(len(peers), anonSeedPeers)] {
			wg.Go(func() {
				cctx, cancel := context.WithTimeout(ctx, anonSeedTimeout)
				defer cancel()
				err := a.h.Connect(cctx, peer.AddrInfo{ID: p, Addrs: n.host.Peerstore().Addrs(p)})
				if err != nil && !errors.Is(err, context.Canceled) {
					n.log.Debug("introducing an anonymous DHT client", "peer", p, "err", err)
				}
			})
		}
	}
	wg.Wait()
}

// anonSeedTimeout bounds one introduction of an anonymous client.
const anonSeedTimeout = 5 * time.Second

func (a *anonymous) close() error {
	return errors.Join(a.d.Close(), a.h.Close())
}
