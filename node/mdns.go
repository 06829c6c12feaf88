package node

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/discovery/mdns"
	ma "github.com/multiformats/go-multiaddr"
)

// mdnsService is our own mDNS service name, so we meet DiscordOpus nodes on
// the LAN and not every IPFS node.
const mdnsService = "_discordopus._udp"

const (
	mdnsDialTimeout = 10 * time.Second
	// maxLANPeers bounds the LAN address book; a LAN has far fewer nodes.
	maxLANPeers = 256
)

// lanPeers remembers the addresses mDNS announced for each LAN peer. A
// production host advertises only public addresses, so once identify has
// run the peerstore forgets a LAN peer's private ones; and mDNS answers once.
// Without this book a LAN peer could not be dialled again after a
// disconnect. It lives outside the peerstore on purpose: nothing in it is
// ever handed to the DHT.
type lanPeers struct {
	mu    sync.Mutex
	addrs map[peer.ID][]ma.Multiaddr
}

func (l *lanPeers) put(ai peer.AddrInfo) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.addrs == nil {
		l.addrs = make(map[peer.ID][]ma.Multiaddr)
	}
	if _, ok := l.addrs[ai.ID]; !ok && len(l.addrs) >= maxLANPeers {
		return
	}
	l.addrs[ai.ID] = ai.Addrs
}

func (l *lanPeers) get(id peer.ID) (peer.AddrInfo, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	addrs, ok := l.addrs[id]
	return peer.AddrInfo{ID: id, Addrs: addrs}, ok
}

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
			n.foundOnLAN(ctx, ai)
		}
	}
}

// foundOnLAN records a peer heard on the LAN and connects to it.
func (n *Node) foundOnLAN(ctx context.Context, ai peer.AddrInfo) {
	if ai.ID == n.host.ID() {
		return
	}
	n.lan.put(ai)
	if n.host.Network().Connectedness(ai.ID) == network.Connected {
		return
	}
	dctx, cancel := context.WithTimeout(ctx, mdnsDialTimeout)
	defer cancel()
	if err := n.host.Connect(dctx, ai); err != nil {
		n.log.Debug("LAN peer unreachable", "peer", ai.ID, "err", err)
		return
	}
	n.log.Info("found peer on the LAN", "peer", ai.ID)
}

type mdnsNotifee func(peer.AddrInfo)

func (f mdnsNotifee) HandlePeerFound(ai peer.AddrInfo) { f(ai) }
