package node

import (
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	tls "github.com/libp2p/go-libp2p/p2p/security/tls"
	quic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/discordopus/discordopus/dht"
)

// Version is reported to peers in identify's agent string.
const Version = "0.1.0-dev"

// ErrPortInUse means a listen address is taken, usually by another node.
var ErrPortInUse = errors.New("listen address already in use")

// newHost builds the libp2p host: TCP and QUIC, Noise and TLS, yamux,
// identify and ping, the role's resource and connection managers, and
// AutoNAT (client everywhere; infrastructure nodes also serve it).
//
// With publicOnly (production), the host advertises only public addresses:
// identify and signed peer records carry no loopback or private address, so
// no DHT server can hand one out. LAN peers still meet through mDNS, which
// announces the interfaces' own addresses.
func newHost(r Role, priv crypto.PrivKey, listen []ma.Multiaddr, publicOnly bool, reg prometheus.Registerer, extra ...libp2p.Option) (host.Host, error) {
	if err := checkListenAddrs(listen); err != nil {
		return nil, err
	}
	rm, err := newResourceManager(r)
	if err != nil {
		return nil, err
	}
	cm, err := newConnManager(r)
	if err != nil {
		return nil, err
	}
	opts := []libp2p.Option{
		libp2p.Identity(priv),
		libp2p.ListenAddrs(listen...),
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.Transport(quic.NewTransport),
		libp2p.Security(noise.ID, noise.New),
		libp2p.Security(tls.ID, tls.New),
		libp2p.Muxer(yamux.ID, yamux.DefaultTransport),
		libp2p.ResourceManager(rm),
		libp2p.ConnectionManager(cm),
		libp2p.Ping(true),
		libp2p.UserAgent("discordopus/" + Version),
	}
	if r == RoleInfrastructure {
		opts = append(opts, libp2p.EnableNATService(), libp2p.EnableAutoNATv2())
	}
	if publicOnly {
		opts = append(opts, libp2p.AddrsFactory(dht.PublicAddrs))
	}
	opts = append(opts, extra...)
	if reg != nil {
		opts = append(opts, libp2p.PrometheusRegisterer(reg))
	} else {
		opts = append(opts, libp2p.DisableMetrics())
	}
	h, err := libp2p.New(opts...)
	if err != nil {
		rm.Close()
		cm.Close()
		// libp2p flattens the listener errors into text.
		if errors.Is(err, syscall.EADDRINUSE) || strings.Contains(err.Error(), syscall.EADDRINUSE.Error()) {
			return nil, fmt.Errorf("%w: %v (is another node running? change \"listen\" in the config or pass --listen)", ErrPortInUse, listen)
		}
		return nil, fmt.Errorf("start libp2p host on %v: %w", listen, err)
	}
	return h, nil
}

// checkListenAddrs binds each fixed-port listen address for a moment, so a
// taken port is reported by name before libp2p starts (a failed libp2p.New
// also leaves goroutines behind).
func checkListenAddrs(listen []ma.Multiaddr) error {
	for _, a := range listen {
		network, hostport, err := manet.DialArgs(a)
		if err != nil || strings.HasSuffix(hostport, ":0") {
			continue // not ours to check, or any port will do
		}
		var c io.Closer
		if strings.HasPrefix(network, "udp") {
			c, err = net.ListenPacket(network, hostport)
		} else {
			c, err = net.Listen(network, hostport)
		}
		if err != nil {
			if errors.Is(err, syscall.EADDRINUSE) {
				return fmt.Errorf("%w: %s (is another node running? change \"listen\" in the config or pass --listen)", ErrPortInUse, a)
			}
			return fmt.Errorf("listen on %s: %w", a, err)
		}
		c.Close()
	}
	return nil
}
