package node

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// Doctor is what `discordopus doctor` and the UI show about how this node
// reaches and is reached: plain facts, and per contact the connection in
// use with the reason in plain words.
type Doctor struct {
	Reachability string   `json:"reachability"` // public, private or unknown
	NAT          string   `json:"nat"`          // a guess: none, cone, symmetric, unknown
	NATReason    string   `json:"nat_reason"`
	Addrs        []string `json:"addrs"`    // what the node tells others
	Observed     []string `json:"observed"` // its public address as peers saw it
	Relays       []string `json:"relays"`   // relays holding a reservation for it
	// RelayProblem says why no relay holds a reservation, when the last
	// request for one failed.
	RelayProblem string          `json:"relay_problem,omitempty"`
	Bootstrap    []BootstrapPath `json:"bootstrap"`
	Contacts     []ContactPath   `json:"contacts,omitempty"`
}

// BootstrapPath is one bootstrap peer and whether it is connected.
type BootstrapPath struct {
	Peer      string `json:"peer"`
	Connected bool   `json:"connected"`
}

// ContactPath is how this node is connected to one contact.
type ContactPath struct {
	Name      string `json:"name"`
	Peer      string `json:"peer"`
	Path      string `json:"path"`                // direct, hole-punched, relayed, none
	Transport string `json:"transport,omitempty"` // QUIC or TCP
	Relay     string `json:"relay,omitempty"`     // the relay's PeerID when relayed
	Cut       bool   `json:"cut,omitempty"`       // not connected since a relay cut the connection
	Reason    string `json:"reason"`
}

// maxObservers bounds the observations kept for the NAT guess.
const maxObservers = 32

// observation is our address as one peer saw it, from identify.
type observation struct {
	addr ma.Multiaddr
	at   time.Time
}

func (s *natState) observe(p peer.ID, a ma.Multiaddr) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.observed == nil {
		s.observed = map[peer.ID]observation{}
	}
	putBounded(s.observed, p, observation{addr: a, at: time.Now()}, maxObservers, func(o observation) time.Time { return o.at })
}

// natGuess reads the observations: the same public port seen by several
// peers is a NAT that keeps its mapping (cone: hole punching works); a
// different port per peer is a symmetric NAT (it does not); our own
// listen address seen from outside is no NAT at all. Only the peers we
// are still connected to count: what one saw over a connection that has
// closed may be an address the NAT no longer has (a relayed connection
// does not count: the observation came from a direct one).
func (s *natState) natGuess(listen []ma.Multiaddr, connected func(peer.ID) bool) (guess, reason string, observed []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ports := map[string]map[string]int{} // transport → "ip:port" → observers
	observers := 0
	for p, o := range s.observed {
		if !connected(p) {
			continue
		}
		observers++
		ip, port, transport, ok := ipPort(o.addr)
		if !ok {
			continue
		}
		if ports[transport] == nil {
			ports[transport] = map[string]int{}
		}
		ports[transport][ip+":"+port]++
	}
	for transport, seen := range ports {
		for hp, count := range seen {
			observed = append(observed, fmt.Sprintf("%s/%s (seen by %d)", hp, transport, count))
		}
	}
	slices.Sort(observed)
	for _, l := range listen {
		ip, port, transport, ok := ipPort(l)
		if ok && ports[transport][ip+":"+port] > 0 {
			return "none", "peers reach us at our own address: there is no NAT in the way", observed
		}
	}
	switch {
	case observers == 0:
		return "unknown", "no peer has told us how it sees us yet", observed
	case observers == 1:
		return "unknown", "only one peer has told us how it sees us; two are needed to tell NAT types apart", observed
	}
	for _, seen := range ports {
		if len(seen) > 1 {
			return "symmetric", "peers see us at different ports: the NAT picks a new one for each peer (symmetric), so hole punching cannot work and a relay carries our connections", observed
		}
	}
	return "cone", "every peer sees us at the same address and port: the NAT keeps its mapping, so hole punching can work", observed
}

// ipPort splits an IP address with a TCP or UDP port.
func ipPort(a ma.Multiaddr) (ip, port, transport string, ok bool) {
	for _, c := range a {
		switch c.Protocol().Code {
		case ma.P_IP4, ma.P_IP6:
			ip = c.Value()
		case ma.P_TCP:
			port, transport = c.Value(), "tcp"
		case ma.P_UDP:
			port, transport = c.Value(), "udp"
		}
	}
	return ip, port, transport, ip != "" && port != ""
}

func isRelayed(a ma.Multiaddr) bool {
	_, err := a.ValueForProtocol(ma.P_CIRCUIT)
	return err == nil
}

// relayOf is the relay's PeerID in a circuit address.
func relayOf(a ma.Multiaddr) string {
	var last string
	for _, c := range a {
		switch c.Protocol().Code {
		case ma.P_P2P:
			last = c.Value()
		case ma.P_CIRCUIT:
			return last
		}
	}
	return ""
}

func transportOf(a ma.Multiaddr) string {
	if _, err := a.ValueForProtocol(ma.P_QUIC_V1); err == nil {
		return "QUIC"
	}
	return "TCP"
}

// Doctor reports the node's reachability and its contacts' connections.
func (n *Node) Doctor() Doctor {
	listen, _ := n.host.Network().InterfaceListenAddresses() // 0.0.0.0 expanded to the interfaces'
	d := Doctor{Reachability: reachabilityName(n.nat.getReachability())}
	d.NAT, d.NATReason, d.Observed = n.nat.natGuess(listen, n.directlyConnected)
	for _, a := range n.host.Addrs() {
		d.Addrs = append(d.Addrs, a.String())
		if isRelayed(a) {
			if r := relayOf(a); r != "" && !slices.Contains(d.Relays, r) {
				d.Relays = append(d.Relays, r)
			}
		}
	}
	if try := n.nat.lastReservation(); try.err != nil && len(d.Relays) == 0 {
		d.RelayProblem = fmt.Sprintf("No relay slot: %s (at %s). Trying other relays; people behind strict NATs may reach you only through your mailbox until then.",
			reservationProblem(try.err), try.at.Format(time.TimeOnly))
	}
	for _, ai := range n.dht.Bootstrap() {
		d.Bootstrap = append(d.Bootstrap, BootstrapPath{Peer: ai.ID.String(), Connected: n.host.Network().Connectedness(ai.ID) == network.Connected})
	}
	if n.chat != nil {
		contacts, _ := n.chat.Contacts()
		for _, c := range contacts {
			d.Contacts = append(d.Contacts, n.contactPath(c.DisplayName(), c.Peer, d.NAT))
		}
	}
	return d
}

// directlyConnected says whether a connection to p that is not relayed is
// open: what p observed of us holds only as long as one is.
func (n *Node) directlyConnected(p peer.ID) bool {
	return slices.ContainsFunc(n.host.Network().ConnsToPeer(p), func(c network.Conn) bool {
		return !isRelayed(c.RemoteMultiaddr())
	})
}

func reachabilityName(r network.Reachability) string {
	switch r {
	case network.ReachabilityPublic:
		return "public"
	case network.ReachabilityPrivate:
		return "private"
	}
	return "unknown"
}

// contactPath says how we are connected to p, and why, in plain words.
func (n *Node) contactPath(name string, p peer.ID, natGuess string) ContactPath {
	cp := ContactPath{Name: name, Peer: p.String(), Path: "none"}
	var direct, relayed network.Conn
	for _, c := range n.host.Network().ConnsToPeer(p) {
		if isRelayed(c.RemoteMultiaddr()) {
			relayed = c
		} else if direct == nil {
			direct = c
		}
	}
	punch, punched := n.nat.lastPunch(p)
	switch {
	case direct != nil && punched && punch.success:
		cp.Path, cp.Transport = "hole-punched", transportOf(direct.RemoteMultiaddr())
		cp.Reason = fmt.Sprintf("You and %s are behind NATs; a hole was punched through them, so you are connected directly (%s).", name, cp.Transport)
	case direct != nil:
		cp.Path, cp.Transport = "direct", transportOf(direct.RemoteMultiaddr())
		cp.Reason = fmt.Sprintf("You and %s are connected directly (%s).", name, cp.Transport)
	case relayed != nil:
		cp.Path, cp.Relay = "relayed", relayOf(relayed.RemoteMultiaddr())
		via := "relay " + shortID(cp.Relay)
		switch {
		case natGuess == "symmetric":
			cp.Reason = fmt.Sprintf("You are behind a strict (symmetric) NAT, so a direct connection to %s cannot be made: you are connected through %s.", name, via)
		case punched && !punch.success:
			cp.Reason = fmt.Sprintf("You and %s could not connect directly (the hole punch failed: at least one of you is behind a strict NAT), so you are connected through %s.", name, via)
		default:
			cp.Reason = fmt.Sprintf("You and %s are connected through %s while a direct connection is tried.", name, via)
		}
	default:
		cp.Reason = fmt.Sprintf("Not connected to %s now. Messages to %s wait in their mailbox until one of you reaches the other.", name, name)
		if c, ok := n.nat.lastCut(p); ok {
			cp.Relay, cp.Cut = c.relay, true
			cp.Reason = fmt.Sprintf("The relayed connection to %s through relay %s was cut at %s: a relay ends a connection at its limits on time and data, or it went away. "+
				"Reconnecting when there is something to send; until then messages to %s wait in their mailbox.",
				name, shortID(c.relay), c.at.Format(time.TimeOnly), name)
		}
	}
	return cp
}

func shortID(id string) string {
	if len(id) > 12 {
		return "…" + id[len(id)-8:]
	}
	return id
}

// String is the doctor's report for a terminal.
func (d Doctor) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "reachability: %s\n", d.Reachability)
	fmt.Fprintf(&b, "NAT: %s (%s)\n", d.NAT, d.NATReason)
	for _, o := range d.Observed {
		fmt.Fprintf(&b, "observed: %s\n", o)
	}
	for _, a := range d.Addrs {
		fmt.Fprintf(&b, "address: %s\n", a)
	}
	if len(d.Relays) == 0 {
		fmt.Fprintln(&b, "relay reservations: none")
	}
	if d.RelayProblem != "" {
		fmt.Fprintf(&b, "relay problem: %s\n", d.RelayProblem)
	}
	for _, r := range d.Relays {
		fmt.Fprintf(&b, "relay reservation: %s\n", r)
	}
	for _, bp := range d.Bootstrap {
		state := "unreachable"
		if bp.Connected {
			state = "connected"
		}
		fmt.Fprintf(&b, "bootstrap %s: %s\n", bp.Peer, state)
	}
	for _, c := range d.Contacts {
		fmt.Fprintf(&b, "contact %s: %s — %s\n", c.Name, c.Path, c.Reason)
	}
	return b.String()
}
