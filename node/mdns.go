package node

import (
	"context"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/discovery/mdns"
)

// mdnsService is our own mDNS service name, so we meet DiscordOpus nodes on
// the LAN and not every IPFS node.
const mdnsService = "_discordopus._udp"

const mdnsDialTimeout = 10 * time.Second

// serveMDNS announces this node on the LAN and connects to the DiscordOpus
// nodes it hears, until ctx ends.
func (n *Node) serveMDNS(ctx context.Context) error {
	found := make(chan peer.AddrInfo, 32)
	svc := mdns.NewMdnsService(n.host, mdnsService, mdnsNotifee(func(ai peer.AddrInfo) {
		select {
		case found <- ai:
		default: // a burst of announcements; the next round repeats them
		}
	}))
	if err := svc.Start(); err != nil {
		return fmt.Errorf("mDNS: %w", err)
	}
	defer svc.Close()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ai := <-found:
			if ai.ID == n.host.ID() || n.host.Network().Connectedness(ai.ID) == network.Connected {
				continue
			}
			dctx, cancel := context.WithTimeout(ctx, mdnsDialTimeout)
			err := n.host.Connect(dctx, ai)
			cancel()
			if err != nil {
				n.log.Debug("mDNS peer unreachable", "peer", ai.ID, "err", err)
				continue
			}
			n.log.Info("found peer on the LAN", "peer", ai.ID)
		}
	}
}

type mdnsNotifee func(peer.AddrInfo)

func (f mdnsNotifee) HandlePeerFound(ai peer.AddrInfo) { f(ai) }
