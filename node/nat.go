package node

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/host/autorelay"
	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/client"
	pbv2 "github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/pb"
	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/proto"
	"github.com/libp2p/go-libp2p/p2p/protocol/holepunch"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/discordopus/discordopus/dht"
)

// How a desktop gets through NATs (see doc.go, "Reachability"):
//
//   - AutoNAT (v1 against the infrastructure nodes, v2 per address) tells
//     whether the node is reachable from the internet.
//   - When it is not, AutoRelay reserves a slot at a relay: one from the
//     config's "relays", else a DHT server that offers the relay protocol
//     (identify says which do). The node's addresses then include the
//     relay's circuit address, and the DHT hands that out.
//   - Whoever reaches us through the relay triggers DCUtR: both sides dial
//     each other's observed public addresses at once, and on most NATs
//     that punches a hole and the relayed connection is replaced by a
//     direct one. Behind a symmetric NAT it cannot work; the relay stays.
//   - UPnP/NAT-PMP asks the home router for a port mapping where it can.

// relayRetry is how soon AutoRelay tries a relay again after it failed
// (refused, unreachable, or gone); libp2p's default is an hour.
const relayRetry = 30 * time.Second

// natState is what the node learns about its reachability, for doctor.
type natState struct {
	mu           sync.Mutex
	reachability network.Reachability
	punches      map[peer.ID]punch // the last hole punch with each peer
	observed     map[peer.ID]observation
	cuts         map[peer.ID]cut // relayed connections that closed, leaving none
	reservation  reservationTry  // AutoRelay's last reservation request
}

// maxCuts bounds the cut circuits remembered; the oldest makes room.
const maxCuts = 256

// cut is a relayed connection that closed while it was the only
// connection to its peer: the relay ended it (its limits on time and
// data) or went away. Doctor tells the user until they reconnect.
type cut struct {
	at    time.Time
	relay string
}

// reservationTry is how AutoRelay's last request for a relay slot ended.
type reservationTry struct {
	at  time.Time
	err error
}

// watchCircuits records relayed connections that close leaving the peer
// unreachable, and logs them: the user is told in doctor and the UI. A new
// connection to the peer, or a last one that was direct, clears the record;
// closes while the node shuts down are not cuts.
func (n *Node) watchCircuits() {
	n.host.Network().Notify(&network.NotifyBundle{
		ConnectedF: func(_ network.Network, c network.Conn) { n.nat.clearCut(c.RemotePeer()) },
		DisconnectedF: func(net network.Network, c network.Conn) {
			p := c.RemotePeer()
			if len(net.ConnsToPeer(p)) > 0 || n.closing.Load() {
				return
			}
			if !isRelayed(c.RemoteMultiaddr()) {
				n.nat.clearCut(p)
				return
			}
			relay := relayOf(c.RemoteMultiaddr())
			n.nat.cutCircuit(p, relay, time.Now())
			n.log.Warn("the relayed connection to a peer was cut; reconnecting when there is something to send", "peer", p, "relay", relay)
		},
	})
}

func (s *natState) clearCut(p peer.ID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.cuts, p)
}

func (s *natState) cutCircuit(p peer.ID, relay string, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cuts == nil {
		s.cuts = map[peer.ID]cut{}
	}
	putBounded(s.cuts, p, cut{at: at, relay: relay}, maxCuts, func(c cut) time.Time { return c.at })
}

func (s *natState) lastCut(p peer.ID) (cut, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.cuts[p]
	return c, ok
}

// reservationTracer hears how AutoRelay's reservation requests end; the
// rest goes to libp2p's own tracer.
type reservationTracer struct {
	autorelay.MetricsTracer
	st *natState
}

func (t reservationTracer) ReservationRequestFinished(refresh bool, err error) {
	t.st.mu.Lock()
	t.st.reservation = reservationTry{at: time.Now(), err: err}
	t.st.mu.Unlock()
	t.MetricsTracer.ReservationRequestFinished(refresh, err)
}

func (s *natState) lastReservation() reservationTry {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reservation
}

// reservationProblem says in plain words why a relay slot was not had.
func reservationProblem(err error) string {
	var re client.ReservationError
	if !errors.As(err, &re) {
		return "the relay could not be reached (" + err.Error() + ")"
	}
	switch re.Status {
	case pbv2.Status_RESERVATION_REFUSED:
		return "the relay refused a reservation (it is full, or holds as many as it allows from your address)"
	case pbv2.Status_RESOURCE_LIMIT_EXCEEDED:
		return "the relay is at its limits"
	case pbv2.Status_PERMISSION_DENIED:
		return "the relay does not relay for you"
	}
	return "the relay could not be reached (" + re.Reason + ")"
}

// punch is how the last hole punch with a peer ended.
type punch struct {
	at      time.Time
	success bool
	err     string
}

// Trace records hole-punch outcomes (holepunch.EventTracer).
func (s *natState) Trace(e *holepunch.Event) {
	var p punch
	switch ev := e.Evt.(type) {
	case *holepunch.EndHolePunchEvt:
		p = punch{success: ev.Success, err: ev.Error}
	case *holepunch.DirectDialEvt:
		if !ev.Success {
			return // a hole punch follows
		}
		p = punch{success: true}
	default:
		return
	}
	p.at = time.Unix(0, e.Timestamp)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.punches == nil {
		s.punches = map[peer.ID]punch{}
	}
	s.punches[e.Remote] = p
}

func (s *natState) lastPunch(p peer.ID) (punch, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.punches[p]
	return v, ok
}

func (s *natState) setReachability(r network.Reachability) {
	s.mu.Lock()
	s.reachability = r
	s.mu.Unlock()
}

func (s *natState) getReachability() network.Reachability {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reachability
}

// natOptions are the libp2p options of a desktop's NAT traversal; relays
// finds relay candidates once the host exists. Port mapping (UPnP,
// NAT-PMP) is asked of the router only by a node that listens beyond
// loopback: one that does not has no port to map (and tests on loopback
// send nothing to the machine's network).
func natOptions(st *natState, relays autorelay.PeerSource, listen []ma.Multiaddr, reg prometheus.Registerer) []libp2p.Option {
	if reg == nil {
		reg = prometheus.NewRegistry() // the tracer's metrics go nowhere
	}
	tracer := reservationTracer{autorelay.NewMetricsTracer(autorelay.WithRegisterer(reg)), st}
	opts := []libp2p.Option{
		libp2p.EnableRelay(),
		libp2p.EnableHolePunching(holepunch.WithTracer(st)),
		libp2p.EnableAutoRelayWithPeerSource(relays,
			autorelay.WithMinCandidates(1), autorelay.WithBootDelay(0),
			autorelay.WithBackoff(relayRetry), autorelay.WithMinInterval(10*time.Second),
			autorelay.WithMetricsTracer(tracer)),
		libp2p.EnableAutoNATv2(),
	}
	if slices.ContainsFunc(listen, func(a ma.Multiaddr) bool { return !manet.IsIPLoopback(a) }) {
		opts = append(opts, libp2p.NATPortMap())
	}
	return opts
}

// relayCandidates feeds AutoRelay: the configured relays first, then the
// peers this node is connected to (its DHT servers) that offer the relay
// protocol, as identify told, then the relays that advertise themselves
// in the DHT. libp2p may call it before New has stored the host, hence
// the atomic.
func (n *Node) relayCandidates(ctx context.Context, num int) <-chan peer.AddrInfo {
	out := make(chan peer.AddrInfo, num)
	hp := n.self.Load()
	if hp == nil {
		close(out)
		return out
	}
	h := *hp
	go func() {
		defer close(out)
		seen := map[peer.ID]bool{}
		send := func(ai peer.AddrInfo) bool {
			if seen[ai.ID] || ai.ID == h.ID() {
				return true
			}
			seen[ai.ID] = true
			select {
			case out <- ai:
				return len(seen) < num
			case <-ctx.Done():
				return false
			}
		}
		relays, _ := n.cfg.RelayPeers()
		for _, ai := range relays {
			if !send(ai) {
				return
			}
		}
		ps := h.Peerstore()
		for _, p := range h.Network().Peers() {
			if ok, _ := ps.SupportsProtocols(p, proto.ProtoIDv2Hop); len(ok) == 0 {
				continue
			}
			if !send(ps.PeerInfo(p)) {
				return
			}
		}
		for _, ai := range n.dht.FindService(ctx, dht.ServiceRelay, num) {
			if !send(ai) {
				return
			}
		}
	}()
	return out
}

// watchNAT keeps natState current: the reachability AutoNAT finds, and
// the public address each peer saw us at (identify), for doctor's guess.
func (n *Node) watchNAT(ctx context.Context) error {
	sub, err := n.host.EventBus().Subscribe([]any{
		new(event.EvtLocalReachabilityChanged), new(event.EvtPeerIdentificationCompleted),
	})
	if err != nil {
		return err
	}
	defer sub.Close()
	for {
		select {
		case <-ctx.Done():
			return nil
		case e, ok := <-sub.Out():
			if !ok {
				return nil
			}
			switch e := e.(type) {
			case event.EvtLocalReachabilityChanged:
				n.nat.setReachability(e.Reachability)
				n.log.Info("reachability", "is", e.Reachability)
			case event.EvtPeerIdentificationCompleted:
				if a := e.ObservedAddr; a != nil && manet.IsPublicAddr(a) && !isRelayed(a) {
					n.nat.observe(e.Peer, a)
				}
			}
		}
	}
}
