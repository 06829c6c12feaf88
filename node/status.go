package node

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/protocol/ping"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"

	"github.com/discordopus/discordopus/chat"
)

// Status is what a node says about itself.
type Status struct {
	PeerID       string   `json:"peer_id"`
	Role         string   `json:"role"`
	Addrs        []string `json:"addrs"`
	Invite       string   `json:"invite"`
	Peers        int      `json:"peers"`
	RoutingTable int      `json:"routing_table"`
	DHTMode      string   `json:"dht_mode"`
	DHTReady     bool     `json:"dht_ready"` // the routing table has peers now
	Bootstrap    int      `json:"bootstrap_peers"`
	// Mailbox is the offline-delivery state: what this node holds for
	// others and how its own mailbox was last collected.
	Mailbox *MailboxStatus `json:"mailbox,omitempty"`
}

// MailboxStatus is the mailbox part of Status.
type MailboxStatus struct {
	Holding   bool      `json:"holding"`             // the mailbox role is on
	Envelopes int       `json:"envelopes,omitempty"` // held for others
	LastDrain time.Time `json:"last_drain,omitzero"` // own mailbox last collected completely
	DrainErr  string    `json:"last_drain_error,omitempty"`
}

// Status reports the node's identity, addresses and place in the network.
func (n *Node) Status() Status {
	return Status{
		PeerID:       n.host.ID().String(),
		Role:         n.role.String(),
		Addrs:        n.Addrs(),
		Invite:       n.Invite().String(),
		Peers:        len(n.host.Network().Peers()),
		RoutingTable: n.dht.RoutingTableSize(),
		DHTMode:      n.dht.Mode().String(),
		DHTReady:     n.dht.RoutingTableSize() > 0,
		Bootstrap:    len(n.dht.Bootstrap()),
		Mailbox:      n.mailboxStatus(),
	}
}

// Invite is what another node needs to reach this one.
func (n *Node) Invite() chat.Invite {
	inv := NewInvite(n.cfg, n.host.ID(), n.listenAddrs())
	if n.chat != nil {
		inv.Name = n.chat.Settings().DisplayName
	}
	return inv
}

// NewInvite makes the invite for id at addrs. Loopback and link-local
// addresses reach no one else, so they are left out unless the config keeps
// private addresses (tests and single-machine setups).
func NewInvite(cfg Config, id peer.ID, addrs []ma.Multiaddr) chat.Invite {
	inv := chat.Invite{Peer: id}
	for _, a := range addrs {
		if cfg.PrivateAddrs || !(manet.IsIPLoopback(a) || manet.IsIP6LinkLocal(a)) {
			inv.Addrs = append(inv.Addrs, a)
		}
	}
	return inv
}

// PeerInfo describes one connected peer.
type PeerInfo struct {
	PeerID    string        `json:"peer_id"`
	Addr      string        `json:"addr"`
	Direction string        `json:"direction"`
	Latency   time.Duration `json:"latency_ns"`
	Agent     string        `json:"agent,omitempty"`
}

// Peers lists the connected peers, sorted by PeerID.
func (n *Node) Peers() []PeerInfo {
	var out []PeerInfo
	for _, p := range n.host.Network().Peers() {
		conns := n.host.Network().ConnsToPeer(p)
		if len(conns) == 0 {
			continue
		}
		c := conns[0]
		info := PeerInfo{
			PeerID:    p.String(),
			Addr:      c.RemoteMultiaddr().String(),
			Direction: strings.ToLower(c.Stat().Direction.String()),
			Latency:   n.host.Peerstore().LatencyEWMA(p),
		}
		if v, err := n.host.Peerstore().Get(p, "AgentVersion"); err == nil {
			info.Agent, _ = v.(string)
		}
		out = append(out, info)
	}
	slices.SortFunc(out, func(a, b PeerInfo) int { return strings.Compare(a.PeerID, b.PeerID) })
	return out
}

// PingResult is the outcome of pinging a peer.
type PingResult struct {
	PeerID string          `json:"peer_id"`
	Addr   string          `json:"addr"`
	Found  string          `json:"found"` // how the peer was located: connected, lan, dht, address, invite
	RTTs   []time.Duration `json:"rtts_ns"`
}

// Ping locates target, connects to it and measures count round trips.
// target is a PeerID (looked up through the DHT), a multiaddr ending in
// /p2p/<PeerID>, or an invite.
func (n *Node) Ping(ctx context.Context, target string, count int) (PingResult, error) {
	if count <= 0 {
		count = 3
	}
	count = min(count, 100)
	ai, found, err := n.Resolve(ctx, target)
	if err != nil {
		return PingResult{}, err
	}
	if ai.ID == n.host.ID() {
		return PingResult{}, errors.New("that is this node's own PeerID")
	}
	res := PingResult{PeerID: ai.ID.String(), Found: found}
	if res.Found, err = n.dial(ctx, ai, found); err != nil {
		return res, err
	}
	if conns := n.host.Network().ConnsToPeer(ai.ID); len(conns) > 0 {
		res.Addr = conns[0].RemoteMultiaddr().String()
	}
	pctx, cancel := context.WithTimeout(ctx, min(time.Duration(count)*5*time.Second, maxPingTime))
	defer cancel()
	results := ping.Ping(pctx, n.host, ai.ID)
	for r := range results {
		if r.Error != nil {
			return res, fmt.Errorf("ping %s: %w", ai.ID, r.Error)
		}
		res.RTTs = append(res.RTTs, r.RTT)
		if len(res.RTTs) == count {
			break
		}
	}
	if len(res.RTTs) < count {
		return res, fmt.Errorf("ping %s: %w", ai.ID, context.DeadlineExceeded)
	}
	return res, nil
}

// Dial budgets.
const (
	maxPingTime    = time.Minute // all of one ping's round trips
	dialTimeout    = 15 * time.Second
	lanDialTimeout = 5 * time.Second
)

// connect dials ai within timeout.
func (n *Node) connect(ctx context.Context, ai peer.AddrInfo, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	// A relayed connection is a connection: chat and the mailbox open
	// their streams over it, and a hole punch replaces it when it can.
	// Without this, libp2p holds out for a direct one until the timeout.
	ctx = network.WithAllowLimitedConn(ctx, "discordopus")
	return n.host.Connect(network.WithDialPeerTimeout(ctx, timeout), ai)
}

// dial connects to ai, found by Resolve as found, and says how it was
// found in the end.
func (n *Node) dial(ctx context.Context, ai peer.AddrInfo, found string) (string, error) {
	var err error
	if found == "lan" {
		// A LAN dial takes milliseconds; if it fails the peer has left or
		// moved: forget its LAN addresses and ask the DHT.
		if err = n.connect(ctx, ai, lanDialTimeout); err == nil {
			return found, nil
		}
		n.lan.forget(ai.ID)
		if ai, err = n.dht.FindPeer(ctx, ai.ID); err != nil {
			return found, err
		}
		found = "dht"
	}
	if err = n.connect(ctx, ai, dialTimeout); err != nil {
		return found, fmt.Errorf("connect to %s: %w", ai.ID, err)
	}
	return found, nil
}

// Resolve turns a PeerID, a /p2p multiaddr or an invite into addresses to
// dial, and says how it found them.
func (n *Node) Resolve(ctx context.Context, target string) (peer.AddrInfo, string, error) {
	target = strings.TrimSpace(target)
	switch {
	case chat.LooksLikeInvite(target):
		inv, err := chat.ParseInvite(target)
		return inv.AddrInfo(), "invite", err
	case strings.HasPrefix(target, "/"):
		a, err := ma.NewMultiaddr(target)
		if err != nil {
			return peer.AddrInfo{}, "", fmt.Errorf("address %q: %w", target, err)
		}
		ai, err := peer.AddrInfoFromP2pAddr(a)
		if err != nil {
			return peer.AddrInfo{}, "", fmt.Errorf("address %q must end in /p2p/<PeerID>: %w", target, err)
		}
		return *ai, "address", nil
	}
	id, err := peer.Decode(target)
	if err != nil {
		return peer.AddrInfo{}, "", fmt.Errorf("%q is not a PeerID, a /p2p multiaddr or an invite", target)
	}
	if c := n.host.Network().Connectedness(id); c == network.Connected || c == network.Limited { // Limited: relayed
		return n.host.Peerstore().PeerInfo(id), "connected", nil
	}
	if ai, ok := n.lan.get(id); ok {
		return ai, "lan", nil
	}
	ai, err := n.dht.FindPeer(ctx, id)
	if err != nil {
		return peer.AddrInfo{}, "", err
	}
	return ai, "dht", nil
}
