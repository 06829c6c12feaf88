package node

import (
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/p2p/host/resource-manager"
	"github.com/libp2p/go-libp2p/p2p/net/connmgr"

	"github.com/discordopus/discordopus/chat"
	"github.com/discordopus/discordopus/dht"
	"github.com/discordopus/discordopus/mailbox"
)

// roleLimits are the explicit resource budgets of a role. The resource
// manager's autoscaled defaults size themselves from the machine; ours size
// themselves from what the role is for, so a desktop app stays a good
// citizen on a laptop and an infrastructure node serves a community without
// being able to exhaust its server.
type roleLimits struct {
	memory      int64 // bytes libp2p may reserve for connections and streams
	fds         int   // file descriptors for connections
	conns       int   // connections in total
	connsIn     int   // inbound connections
	streamsIn   int   // inbound streams, all peers
	streamsPeer int   // streams per peer
	kadStreams  int   // inbound DHT streams, all peers
	// The connection manager trims back to low once past high.
	connLow, connHigh int
}

var limitsByRole = map[Role]roleLimits{
	// A desktop talks to its contacts, its DHT neighbours and a few relays
	// and mailboxes: a few hundred connections at most.
	RoleDesktop: {
		memory: 256 << 20, fds: 512,
		conns: 400, connsIn: 200, streamsIn: 1024, streamsPeer: 128, kadStreams: 256,
		connLow: 64, connHigh: 192,
	},
	// An infrastructure node is every community member's DHT neighbour,
	// mailbox and relay.
	RoleInfrastructure: {
		memory: 1 << 30, fds: 4096,
		conns: 3000, connsIn: 2800, streamsIn: 8192, streamsPeer: 256, kadStreams: 2048,
		connLow: 1024, connHigh: 2048,
	},
}

// newResourceManager builds the role's resource manager: libp2p's default
// per-service limits scaled to the role's budget, with our own caps on
// connections, streams and the DHT protocol on top.
func newResourceManager(r Role) (network.ResourceManager, error) {
	l := limitsByRole[r]
	scaling := rcmgr.DefaultLimits
	libp2p.SetDefaultServiceLimits(&scaling)
	scaling.AddProtocolLimit(dht.ProtocolID,
		rcmgr.BaseLimit{StreamsInbound: l.kadStreams, StreamsOutbound: l.kadStreams, Streams: 2 * l.kadStreams, Memory: 64 << 20},
		rcmgr.BaseLimitIncrease{})
	// The mailbox holder serves at most 128 requests at once itself (see
	// package mailbox); one peer gets a few at a time, as does chat, where
	// one stream each way per contact is the rule.
	scaling.AddProtocolLimit(mailbox.ProtocolID,
		rcmgr.BaseLimit{StreamsInbound: 256, StreamsOutbound: 256, Streams: 512, Memory: 256 << 20},
		rcmgr.BaseLimitIncrease{})
	scaling.AddProtocolPeerLimit(mailbox.ProtocolID,
		rcmgr.BaseLimit{StreamsInbound: 16, StreamsOutbound: 16, Streams: 32, Memory: 16 << 20},
		rcmgr.BaseLimitIncrease{})
	scaling.AddProtocolPeerLimit(chat.ProtocolID,
		rcmgr.BaseLimit{StreamsInbound: 8, StreamsOutbound: 8, Streams: 16, Memory: 8 << 20},
		rcmgr.BaseLimitIncrease{})
	base := scaling.Scale(l.memory, l.fds)
	partial := rcmgr.PartialLimitConfig{
		System: rcmgr.ResourceLimits{
			Conns:          rcmgr.LimitVal(l.conns),
			ConnsInbound:   rcmgr.LimitVal(l.connsIn),
			ConnsOutbound:  rcmgr.LimitVal(l.conns),
			StreamsInbound: rcmgr.LimitVal(l.streamsIn),
			FD:             rcmgr.LimitVal(l.fds),
			Memory:         rcmgr.LimitVal64(l.memory),
		},
		PeerDefault: rcmgr.ResourceLimits{
			Streams: rcmgr.LimitVal(l.streamsPeer),
		},
	}
	rm, err := rcmgr.NewResourceManager(rcmgr.NewFixedLimiter(partial.Build(base)))
	if err != nil {
		return nil, fmt.Errorf("resource manager: %w", err)
	}
	return rm, nil
}

func newConnManager(r Role) (*connmgr.BasicConnMgr, error) {
	l := limitsByRole[r]
	cm, err := connmgr.NewConnManager(l.connLow, l.connHigh, connmgr.WithGracePeriod(time.Minute))
	if err != nil {
		return nil, fmt.Errorf("connection manager: %w", err)
	}
	return cm, nil
}
