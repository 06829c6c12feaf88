package dht

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	kad "github.com/libp2p/go-libp2p-kad-dht"
	record "github.com/libp2p/go-libp2p-record"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/p2p/net/swarm"
)

// ProtocolPrefix keeps our Kademlia network apart from the public IPFS one.
const ProtocolPrefix protocol.ID = "/discordopus"

// ProtocolID is the one protocol our DHT speaks.
const ProtocolID = ProtocolPrefix + "/kad/1.0.0"

// Mode says whether a node answers DHT queries (server) or only asks (client).
type Mode int

const (
	// ModeAuto is a client until AutoNAT finds the node publicly reachable.
	ModeAuto Mode = iota
	// ModeServer answers queries and stores records: infrastructure nodes.
	ModeServer
	// ModeClient only asks.
	ModeClient
)

// ParseMode reads "auto", "server" or "client".
func ParseMode(s string) (Mode, error) {
	switch s {
	case "auto", "":
		return ModeAuto, nil
	case "server":
		return ModeServer, nil
	case "client":
		return ModeClient, nil
	}
	return 0, fmt.Errorf("DHT mode %q: want auto, server or client", s)
}

func (m Mode) String() string {
	switch m {
	case ModeServer:
		return "server"
	case ModeClient:
		return "client"
	}
	return "auto"
}

func (m Mode) kad() kad.ModeOpt {
	switch m {
	case ModeServer:
		return kad.ModeServer
	case ModeClient:
		return kad.ModeClient
	}
	return kad.ModeAuto
}

// Defaults for Options fields left zero.
const (
	DefaultFindPeerTimeout = 15 * time.Second
	DefaultRefreshInterval = 10 * time.Minute
	bootstrapDialTimeout   = 10 * time.Second
	bootstrapBackoffMin    = time.Second
	bootstrapBackoffMax    = 5 * time.Minute
	identifyWait           = 3 * time.Second
)

// Options configure a DHT.
type Options struct {
	Mode Mode
	// Bootstrap peers are dialled to join the network; empty means LAN only.
	Bootstrap []peer.AddrInfo
	// Namespaces holds the record validators by namespace (see SignedNamespace).
	Namespaces map[string]record.Validator
	// AllowPrivateAddrs keeps loopback and private addresses (LAN and tests).
	AllowPrivateAddrs bool
	FindPeerTimeout   time.Duration
	RefreshInterval   time.Duration
	Logger            *slog.Logger
}

// DHT is a node's handle on the private Kademlia network.
type DHT struct {
	host host.Host
	kad  *kad.IpfsDHT
	opts Options
	log  *slog.Logger

	ready     chan struct{} // closed once the routing table first has a peer
	readyOnce sync.Once
}

// New starts the DHT protocol on h. Call Serve to join the network and Close
// (or end Serve's context) to stop it.
func New(h host.Host, o Options) (*DHT, error) {
	if o.FindPeerTimeout <= 0 {
		o.FindPeerTimeout = DefaultFindPeerTimeout
	}
	if o.RefreshInterval <= 0 {
		o.RefreshInterval = DefaultRefreshInterval
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	validator := record.NamespacedValidator{}
	for ns, v := range o.Namespaces {
		validator[ns] = v
	}
	kopts := []kad.Option{
		kad.ProtocolPrefix(ProtocolPrefix),
		kad.Mode(o.Mode.kad()),
		kad.Validator(validator),
		kad.RoutingTableRefreshPeriod(o.RefreshInterval),
	}
	// Provider records only for our services (see services.go): we route
	// to peers and records, never content.
	store, popts := providerOptions()
	kopts = append(kopts, kad.ProviderDatastore(store), kad.ProviderManagerOpts(popts...))
	if !o.AllowPrivateAddrs {
		kopts = append(kopts,
			kad.AddressFilter(PublicAddrs),
			kad.QueryFilter(kad.PublicQueryFilter),
			kad.RoutingTableFilter(kad.PublicRoutingTableFilter),
		)
	}
	k, err := kad.New(h, kopts...)
	if err != nil {
		return nil, fmt.Errorf("start DHT: %w", err)
	}
	if _, ok := h.Network().(dialBackoffer); !ok {
		o.Logger.Warn("the host's network has no dial backoff to clear: bootstrap retries may wait for libp2p's own", "network", fmt.Sprintf("%T", h.Network()))
	}
	d := &DHT{
		host:  h,
		kad:   k,
		opts:  o,
		log:   o.Logger.With("component", "dht"),
		ready: make(chan struct{}),
	}
	return d, nil
}

// Close stops the DHT protocol. Serve calls it on return.
func (d *DHT) Close() error { return d.kad.Close() }

// Mode reports the mode the DHT runs in right now (auto resolves to one of
// the others).
func (d *DHT) Mode() Mode {
	if d.kad.Mode() == kad.ModeServer {
		return ModeServer
	}
	return ModeClient
}

// RoutingTableSize is the number of peers in the routing table.
func (d *DHT) RoutingTableSize() int { return d.kad.RoutingTable().Size() }

// Ready is closed once the node has joined: its routing table held a peer.
func (d *DHT) Ready() <-chan struct{} { return d.ready }

// Kad exposes the underlying kad-dht for packages that store records.
func (d *DHT) Kad() *kad.IpfsDHT { return d.kad }

// FindPeer looks id up through the DHT, within Options.FindPeerTimeout.
func (d *DHT) FindPeer(ctx context.Context, id peer.ID) (peer.AddrInfo, error) {
	if err := ctx.Err(); err != nil {
		// kad would still answer from the peerstore; a caller that has
		// given up gets no answer.
		return peer.AddrInfo{}, fmt.Errorf("find peer %s: %w", id, err)
	}
	ctx, cancel := context.WithTimeout(ctx, d.opts.FindPeerTimeout)
	defer cancel()
	// The lookup ends by asking id itself, often over the relayed
	// connection it has just made to id's circuit address. Without this,
	// libp2p holds that request until a direct connection appears (none
	// does behind a symmetric NAT), and the lookup with it, for the whole
	// timeout.
	ctx = network.WithAllowLimitedConn(ctx, "dht lookup")
	rt := d.kad.RoutingTable()
	inTable := rt.Find(id) != ""
	ai, err := d.kad.FindPeer(ctx, id)
	if err != nil && inTable && ctx.Err() == nil && rt.Find(id) == "" {
		// kad-dht starts from the routing table and dials id at the addresses
		// it already has before any response can tell it newer ones. If id
		// has moved, that dial fails, id is dropped from the table and from
		// this lookup, and kad reports it not found although its neighbours
		// have just returned its current address. Once more: id is no longer
		// a starting point but learned from responses, and dialled at them.
		ai, err = d.kad.FindPeer(ctx, id)
	}
	if err != nil {
		return peer.AddrInfo{}, fmt.Errorf("find peer %s: %w", id, err)
	}
	return ai, nil
}

// Serve joins the network through the bootstrap peers and keeps the node in
// it: it re-bootstraps with backoff while the routing table is empty. It
// closes the DHT when ctx ends.
func (d *DHT) Serve(ctx context.Context) error {
	defer d.kad.Close()
	backoff := bootstrapBackoffMin
	next := time.Now() // next bootstrap attempt
	poll := time.NewTicker(250 * time.Millisecond)
	defer poll.Stop()
	for {
		if peers := d.Bootstrap(); d.RoutingTableSize() == 0 && len(peers) > 0 && !time.Now().Before(next) {
			reached := d.join(ctx, peers)
			if d.RoutingTableSize() == 0 && ctx.Err() == nil {
				if reached {
					d.log.Warn("bootstrap peers answered but none serves the DHT; retrying", "in", backoff)
				} else {
					d.log.Warn("no bootstrap peer reachable; retrying", "in", backoff)
				}
				next = time.Now().Add(backoff)
				backoff = min(2*backoff, bootstrapBackoffMax)
			}
		}
		if d.RoutingTableSize() > 0 {
			d.readyOnce.Do(func() {
				d.log.Info("joined the DHT", "routing_table", d.RoutingTableSize(), "mode", d.Mode())
				close(d.ready)
			})
			backoff = bootstrapBackoffMin
		}
		// Poll quickly: peers may also arrive through mDNS or inbound
		// connections, and Ready should say so promptly.
		select {
		case <-ctx.Done():
			return nil
		case <-poll.C:
		}
	}
}

// join dials every bootstrap peer concurrently and refreshes the routing
// table if any answered. It reports whether one did.
func (d *DHT) join(ctx context.Context, peers []peer.AddrInfo) bool {
	var wg sync.WaitGroup
	errs := make([]error, len(peers))
	for i, ai := range peers {
		wg.Go(func() {
			dctx, cancel := context.WithTimeout(ctx, bootstrapDialTimeout)
			defer cancel()
			// Dial for real: libp2p's own dial backoff (5 s and up after a
			// failure) would otherwise turn our early retries into no-ops.
			// (WithForceDirectDial would too, but it drops relay addresses.)
			if b, ok := d.host.Network().(dialBackoffer); ok {
				b.Backoff().Clear(ai.ID)
			}
			errs[i] = d.host.Connect(network.WithDialPeerTimeout(dctx, bootstrapDialTimeout), ai)
		})
	}
	wg.Wait()
	connected := 0
	for i, err := range errs {
		if err != nil {
			d.log.Info("bootstrap peer unreachable", "peer", peers[i].ID, "err", err)
			continue
		}
		connected++
	}
	if connected == 0 {
		return false
	}
	d.log.Info("connected to bootstrap peers", "reached", connected, "of", len(peers))
	// A bootstrap peer enters the routing table once identify has shown it
	// speaks our DHT; give that a moment, then start filling the table from
	// our neighbourhood now rather than at the next periodic refresh.
	deadline := time.Now().Add(identifyWait)
	for d.RoutingTableSize() == 0 && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(20 * time.Millisecond)
	}
	if d.RoutingTableSize() > 0 {
		d.kad.ForceRefresh() // buffered result; we don't wait for it
	}
	return true
}

// dialBackoffer is the libp2p swarm's view of its dial backoff.
type dialBackoffer interface{ Backoff() *swarm.DialBackoff }

// Bootstrap returns the bootstrap list.
func (d *DHT) Bootstrap() []peer.AddrInfo { return d.opts.Bootstrap }
