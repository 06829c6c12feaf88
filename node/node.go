package node

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p"
	record "github.com/libp2p/go-libp2p-record"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/relay"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/discordopus/discordopus/chat"
	"github.com/discordopus/discordopus/dht"
	"github.com/discordopus/discordopus/keystore"
	"github.com/discordopus/discordopus/mailbox"
	"github.com/discordopus/discordopus/store"
)

// Files in the data directory.
const (
	nodeKeyFile   = "node.key" // infrastructure identity, no passphrase
	storeDir      = "db"
	controlSocket = "control.sock"
)

// ErrNotInitialized means the data directory holds no identity yet.
var ErrNotInitialized = errors.New("no identity here yet")

// KeystorePath is where a desktop node keeps its keystore.
func KeystorePath(dataDir string) string { return filepath.Join(dataDir, keystore.FileName) }

// RequireIdentity returns an error wrapping ErrNotInitialized, saying what
// to do, if dataDir holds no keystore.
func RequireIdentity(dataDir string) error {
	if _, err := os.Stat(KeystorePath(dataDir)); errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w in %s: run `discordopus init` first", ErrNotInitialized, dataDir)
	}
	return nil
}

// FullAddrs writes addrs as multiaddr strings ending in /p2p/<id>.
func FullAddrs(id peer.ID, addrs []ma.Multiaddr) []string {
	out := make([]string, 0, len(addrs))
	for _, a := range addrs {
		out = append(out, a.Encapsulate(ma.StringCast("/p2p/"+id.String())).String())
	}
	return out
}

// NodeKeyPath is where an infrastructure node keeps its identity key.
func NodeKeyPath(dataDir string) string { return filepath.Join(dataDir, nodeKeyFile) }

// Options say what node to build.
type Options struct {
	Role    Role
	DataDir string
	Config  Config
	// Passphrase unlocks a desktop node's keystore. It is called only once
	// the data directory is locked, so a second instance fails fast.
	Passphrase func() ([]byte, error)
	Logger     *slog.Logger
	// Metrics, if set, receives libp2p's and the node's metrics; Config.Metrics
	// says where to serve them.
	Metrics *prometheus.Registry
}

// Node is one running DiscordOpus node.
type Node struct {
	role    Role
	dataDir string
	cfg     Config
	log     *slog.Logger

	lock      *dirLock
	keys      *keystore.Keystore // nil on infrastructure nodes
	store     *store.Store       // nil on infrastructure nodes
	identity  ed25519.PrivateKey // a copy of the keystore's, for e2e; nil on infrastructure nodes
	prekeys   *keystore.PrekeyStore
	publisher *dht.BundlePublisher
	chat      *chat.Service
	mailbox   *mailbox.Server           // the mailbox role; nil unless configured
	relay     *relay.Relay              // the relay role; nil unless configured
	nat       natState                  // reachability and hole punches, for doctor
	self      atomic.Pointer[host.Host] // n.host, for what libp2p calls back early
	repairer  *mailbox.Repairer
	// A desktop's own mailbox: its keys, and the replicated client on two
	// anonymous hosts, one to deposit and one to drain.
	mailboxKeys *mailbox.Keys
	anon        []*anonymous
	depositNet  *mailbox.Network
	drainNet    *mailbox.Network
	drained     struct { // the last drain of the own mailbox
		sync.Mutex
		at  time.Time
		err string
	}
	host     host.Host
	dht      *dht.DHT
	lan      lanPeers // addresses heard by mDNS
	control  net.Listener
	metrics  net.Listener
	registry *prometheus.Registry

	closeOnce sync.Once
	closing   atomic.Bool // set once Close starts
	closeErr  error
}

// New builds a node: it locks the data directory, unlocks the identity,
// opens the store, starts the libp2p host and its DHT, and binds the control
// socket and metrics endpoint. Nothing talks to the network until Serve.
func New(o Options) (_ *Node, err error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if err := o.Config.Validate(); err != nil {
		return nil, err
	}
	n := &Node{role: o.Role, dataDir: o.DataDir, cfg: o.Config, log: o.Logger, registry: o.Metrics}
	defer func() {
		if err != nil {
			n.Close()
		}
	}()
	if n.lock, err = lockDataDir(o.DataDir); err != nil {
		return nil, err
	}
	priv, err := n.openIdentity(o)
	if err != nil {
		return nil, err
	}
	listen, _ := o.Config.ListenAddrs()
	var reg prometheus.Registerer
	if o.Metrics != nil {
		reg = o.Metrics
	}
	var extra []libp2p.Option
	if o.Role == RoleDesktop {
		extra = natOptions(&n.nat, n.relayCandidates, listen, reg)
	}
	if n.host, err = newHost(o.Role, priv, listen, !o.Config.PrivateAddrs, reg, extra...); err != nil {
		return nil, err
	}
	if o.Role == RoleDesktop {
		n.watchCircuits()
	}
	bootstrap, _ := o.Config.BootstrapPeers()
	mode, _ := dht.ParseMode(o.Config.DHTMode)
	n.dht, err = dht.New(n.host, dht.Options{
		Mode:              mode,
		Bootstrap:         bootstrap,
		AllowPrivateAddrs: o.Config.PrivateAddrs,
		Namespaces:        map[string]record.Validator{dht.PrekeyNamespace: dht.PrekeyValidator()},
		Logger:            o.Logger,
	})
	if err != nil {
		return nil, err
	}
	n.self.Store(&n.host) // after the DHT: relayCandidates uses both
	if n.keys != nil {
		if err := n.openChat(); err != nil {
			return nil, err
		}
	}
	if o.Config.Mailbox {
		if err := n.openMailboxRole(); err != nil {
			return nil, err
		}
	}
	if o.Config.Relay {
		opts := o.Config.RelayLimits.options()
		if reg != nil {
			opts = append(opts, relay.WithMetricsTracer(relay.NewMetricsTracer(relay.WithRegisterer(reg))))
		}
		// Started here, not left to libp2p's reachability guess: whoever
		// turned the role on knows the node is reachable.
		if n.relay, err = relay.New(n.host, opts...); err != nil {
			return nil, fmt.Errorf("relay role: %w", err)
		}
	}
	if n.control, err = listenControl(filepath.Join(o.DataDir, controlSocket)); err != nil {
		return nil, err
	}
	if o.Metrics != nil && o.Config.Metrics != "" {
		n.registerMetrics(o.Metrics)
		if n.metrics, err = net.Listen("tcp", o.Config.Metrics); err != nil {
			return nil, fmt.Errorf("metrics endpoint %s: %w", o.Config.Metrics, err)
		}
	}
	return n, nil
}

// openIdentity unlocks the desktop keystore and opens the store, or loads
// an infrastructure node's key.
func (n *Node) openIdentity(o Options) (crypto.PrivKey, error) {
	if o.Role == RoleInfrastructure {
		priv, err := keystore.LoadOrCreateNodeKey(NodeKeyPath(o.DataDir))
		if err != nil || !o.Config.Mailbox {
			return priv, err
		}
		// The mailbox role keeps envelopes in a store of its own.
		n.store, err = openInfraStore(o.DataDir, priv, o.Logger)
		return priv, err
	}
	if err := RequireIdentity(o.DataDir); err != nil {
		return nil, err
	}
	path := KeystorePath(o.DataDir)
	if o.Passphrase == nil {
		return nil, errors.New("keystore is locked and no passphrase source was given")
	}
	pass, err := o.Passphrase()
	if err != nil {
		return nil, err
	}
	n.keys, err = keystore.Open(path, pass)
	clear(pass)
	if err != nil {
		return nil, err
	}
	encKey, sealKey := n.keys.Subkey(keystore.LabelStoreEncryption), n.keys.Subkey(keystore.LabelStoreSeal)
	n.store, err = store.Open(store.Options{
		Dir:           filepath.Join(o.DataDir, storeDir),
		EncryptionKey: encKey,
		SealKey:       sealKey,
		Logger:        o.Logger,
	})
	clear(encKey) // the store keeps copies
	clear(sealKey)
	if err != nil {
		return nil, err
	}
	return n.keys.PrivKey(), nil
}

// Serve runs the node's services until ctx ends, then shuts everything down:
// the DHT is closed, the host stopped, the store flushed and closed, the
// data directory unlocked.
func (n *Node) Serve(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	serve := func(name string, f func(context.Context) error) {
		wg.Go(func() {
			if err := f(ctx); err != nil && ctx.Err() == nil {
				n.log.Error("service stopped", "service", name, "err", err)
			}
		})
	}
	serve("dht", n.dht.Serve)
	serve("nat-watch", n.watchNAT)
	if n.store != nil {
		serve("store", n.store.Serve)
	}
	if n.mailbox != nil {
		serve("mailbox", n.mailbox.Serve)
		serve("mailbox-repair", n.repairer.Serve)
	}
	if n.chat != nil {
		serve("prekeys", n.prekeys.Serve)
		serve("prekey-publisher", n.publishPrekeys)
		serve("chat", n.chat.Serve)
		serve("mailbox-drain", n.drainMailbox)
		serve("anonymous-dht", n.serveAnonymous)
	}
	if n.relay != nil {
		serve("relay-advertise", n.advertiseRelay)
	}
	if n.cfg.MDNS {
		serve("mdns", n.serveMDNS)
	}
	serve("control", n.serveControl)
	if n.metrics != nil {
		serve("metrics", n.serveMetrics)
	}
	n.log.Info("node started", "role", n.role, "peer", n.host.ID(), "addrs", n.host.Addrs())
	<-ctx.Done()
	n.log.Info("shutting down")
	wg.Wait()
	return n.Close()
}

// Close releases everything New acquired. Serve calls it on return; call it
// yourself only for a node you never served.
func (n *Node) Close() error {
	n.closing.Store(true)
	n.closeOnce.Do(func() {
		var errs []error
		if n.control != nil {
			n.control.Close()
		}
		if n.metrics != nil {
			n.metrics.Close()
		}
		if n.relay != nil {
			errs = append(errs, n.relay.Close())
		}
		if n.dht != nil {
			errs = append(errs, n.dht.Close())
		}
		for _, a := range n.anon {
			errs = append(errs, a.close())
		}
		if n.host != nil {
			errs = append(errs, n.host.Close())
		}
		if n.prekeys != nil {
			n.prekeys.Close()
		}
		if n.mailboxKeys != nil {
			n.mailboxKeys.Wipe()
		}
		clear(n.identity)
		if n.store != nil {
			errs = append(errs, n.store.Close())
		}
		if n.keys != nil {
			n.keys.Close()
		}
		n.lock.release()
		n.closeErr = errors.Join(errs...)
	})
	return n.closeErr
}

// ID is the node's PeerID.
func (n *Node) ID() peer.ID { return n.host.ID() }

// Host is the libp2p host, for the protocol services built on it.
func (n *Node) Host() host.Host { return n.host }

// DHT is the node's handle on the private Kademlia network.
func (n *Node) DHT() *dht.DHT { return n.dht }

// MetricsAddr is where the metrics endpoint listens, or "" if none.
func (n *Node) MetricsAddr() string {
	if n.metrics == nil {
		return ""
	}
	return n.metrics.Addr().String()
}

// Store is the encrypted local store; nil on infrastructure nodes.
func (n *Node) Store() *store.Store { return n.store }

// Addrs are the node's full multiaddrs (with /p2p/<PeerID>) on every
// interface it listens on. Unlike what it publishes (see newHost), this
// includes private addresses: it is for the node's owner to read.
func (n *Node) Addrs() []string { return FullAddrs(n.host.ID(), n.listenAddrs()) }

// listenAddrs are the addresses the node can be reached at: those it
// listens on, unspecified IPs expanded to the interfaces' addresses, and
// those it advertises (which add public addresses that peers observed, for
// a node behind NAT).
func (n *Node) listenAddrs() []ma.Multiaddr {
	ifaces, _ := n.host.Network().InterfaceListenAddresses()
	var addrs []ma.Multiaddr
	for _, a := range append(ifaces, n.host.Addrs()...) {
		// The relay client "listens" on a bare /p2p-circuit, which is no
		// address anyone can dial.
		if manet.IsThinWaist(a) && !slices.ContainsFunc(addrs, a.Equal) {
			addrs = append(addrs, a)
		}
	}
	return addrs
}

// PeerEvent says a peer connected or went away.
type PeerEvent struct {
	Peer      peer.ID
	Connected bool
	Total     int // connected peers after the event
}

// WatchPeers calls f, from its own goroutine, for every peer that
// connects or disconnects until ctx ends. It subscribes before it returns,
// so a caller that watches before Serve misses no peer that Serve brings.
// f must not block: libp2p's event bus waits for its slowest subscriber.
func (n *Node) WatchPeers(ctx context.Context, f func(PeerEvent)) error {
	sub, err := n.host.EventBus().Subscribe(new(event.EvtPeerConnectednessChanged))
	if err != nil {
		return fmt.Errorf("watch peers: %w", err)
	}
	go func() {
		defer sub.Close()
		for {
			select {
			case <-ctx.Done():
				return
			case e, ok := <-sub.Out():
				if !ok {
					return
				}
				ev := e.(event.EvtPeerConnectednessChanged)
				switch ev.Connectedness {
				case network.Connected, network.NotConnected:
					f(PeerEvent{Peer: ev.Peer, Connected: ev.Connectedness == network.Connected, Total: len(n.host.Network().Peers())})
				}
			}
		}
	}()
	return nil
}

// shutdownTimeout bounds how long the metrics server may take to stop.
const shutdownTimeout = 5 * time.Second
