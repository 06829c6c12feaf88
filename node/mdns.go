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
	// mdnsDialDefer is how long the peer with the larger PeerID waits
	// before it dials a LAN peer it heard. Two nodes usually hear each
	// other at the same moment, and libp2p dials TCP from its listening
	// port: two dials at once meet as one simultaneous-open TCP
	// connection on which both sides start the handshake as initiator, and
	// both fail. Waiting lets the smaller PeerID's dial land first.
	mdnsDialDefer = time.Second
	// maxLANPeers bounds the LAN address book; past it the peer heard
	// longest ago makes room.
	maxLANPeers = 256
	// maxLANAddrs bounds the addresses kept per LAN peer.
	maxLANAddrs = 16
)

// lanPeers remembers the addresses of the peers we reached on the LAN. A
// production host advertises only public addresses, so once identify has
// run the peerstore forgets a LAN peer's private ones; and mDNS answers
// once. Without this book a LAN peer could not be dialled again after a
// disconnect. Only addresses that a connection proved (the handshake
// authenticates the PeerID) go in, so a spoofed announcement cannot
// overwrite a real peer's. It lives outside the peerstore on purpose:
// nothing in it is ever handed to the DHT.
type lanPeers struct {
	mu    sync.Mutex
	peers map[peer.ID]lanEntry
}

type lanEntry struct {
	addrs []ma.Multiaddr
	seen  time.Time
}

func (l *lanPeers) put(ai peer.AddrInfo, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.peers == nil {
		l.peers = make(map[peer.ID]lanEntry)
	}
	e := lanEntry{addrs: ai.Addrs[:min(len(ai.Addrs), maxLANAddrs)], seen: now}
	putBounded(l.peers, ai.ID, e, maxLANPeers, func(e lanEntry) time.Time { return e.seen })
}

func (l *lanPeers) get(id peer.ID) (peer.AddrInfo, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.peers[id]
	return peer.AddrInfo{ID: id, Addrs: e.addrs}, ok
}

// forget drops a peer whose LAN addresses no longer work; mDNS brings it
// back when it hears the peer again.
func (l *lanPeers) forget(id peer.ID) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.peers, id)
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

// foundOnLAN connects to a peer heard on the LAN and, once the connection
// proves who it is, remembers its addresses. A peer we are already
// connected to is left alone: its announced addresses are unproven (it may
// have dialled us), and anyone on the LAN can announce any PeerID.
func (n *Node) foundOnLAN(ctx context.Context, ai peer.AddrInfo) {
	if ai.ID == n.host.ID() || n.host.Network().Connectedness(ai.ID) == network.Connected {
		return
	}
	if n.host.ID() > ai.ID {
		select {
		case <-time.After(mdnsDialDefer):
		case <-ctx.Done():
			return
		}
	}
	if n.host.Network().Connectedness(ai.ID) == network.Connected {
		return
	}
	dctx, cancel := context.WithTimeout(ctx, mdnsDialTimeout)
	err := n.host.Connect(dctx, ai)
	cancel()
	if err != nil {
		n.log.Debug("LAN peer unreachable", "peer", ai.ID, "err", err)
		return
	}
	n.lan.put(ai, time.Now())
	n.log.Info("found peer on the LAN", "peer", ai.ID)
}

type mdnsNotifee func(peer.AddrInfo)

func (f mdnsNotifee) HandlePeerFound(ai peer.AddrInfo) { f(ai) }
