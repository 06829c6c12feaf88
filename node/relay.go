package node

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/relay"

	"github.com/discordopus/discordopus/dht"
)

// advertiseRetry is the first wait after a failed advertisement; it doubles
// up to advertiseRetryMax.
const (
	advertiseRetry    = 30 * time.Second
	advertiseRetryMax = 10 * time.Minute
)

// advertiseRelay tells the DHT that this node relays, once it has joined
// and then every dht.AdvertiseInterval, so that desktops find it without
// having it in their config (see relayCandidates).
func (n *Node) advertiseRelay(ctx context.Context) error {
	select {
	case <-n.dht.Ready():
	case <-ctx.Done():
		return nil
	}
	retry := advertiseRetry
	for {
		wait := dht.AdvertiseInterval
		if err := n.dht.Advertise(ctx, dht.ServiceRelay); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			n.log.Warn("could not advertise the relay in the DHT; retrying", "in", retry, "err", err)
			wait, retry = retry, min(2*retry, advertiseRetryMax)
		} else {
			n.log.Info("relay advertised in the DHT")
			retry = advertiseRetry
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return nil
		}
	}
}

// RelayLimits bound what the relay role (circuit relay v2) gives each
// peer it relays for. libp2p's defaults (2 minutes and 128 KiB per relayed
// connection) suit only a hole-punch handshake; a conversation, a call or
// a file between two people who cannot reach each other directly needs a
// relay that carries them, so ours are higher. A zero field takes the
// default.
type RelayLimits struct {
	// CircuitDuration ends a relayed connection after this long; the peers
	// open a new one (default 1 h).
	CircuitDuration Duration `json:"circuit_duration,omitzero"`
	// CircuitBytes ends a relayed connection once this much has gone
	// through it in either direction (default 1 GiB).
	CircuitBytes int64 `json:"circuit_bytes,omitempty"`
	// Reservations is how many peers may hold a reservation at once
	// (default 1024).
	Reservations int `json:"reservations,omitempty"`
	// ReservationsPerIP bounds the reservations from one IP address
	// (default 8: a household behind one NAT).
	ReservationsPerIP int `json:"reservations_per_ip,omitempty"`
	// CircuitsPerPeer bounds the relayed connections open to or from one
	// peer at once (default 16).
	CircuitsPerPeer int `json:"circuits_per_peer,omitempty"`
	// ReservationTTL is how long a reservation lasts unless renewed
	// (default 1 h; clients renew well before).
	ReservationTTL Duration `json:"reservation_ttl,omitzero"`
}

// DefaultRelayLimits are the limits a relay runs with unless configured.
func DefaultRelayLimits() RelayLimits {
	return RelayLimits{
		CircuitDuration:   Duration(time.Hour),
		CircuitBytes:      1 << 30,
		Reservations:      1024,
		ReservationsPerIP: 8,
		CircuitsPerPeer:   16,
		ReservationTTL:    Duration(time.Hour),
	}
}

// withDefaults fills the zero fields.
func (l RelayLimits) withDefaults() RelayLimits {
	d := DefaultRelayLimits()
	if l.CircuitDuration == 0 {
		l.CircuitDuration = d.CircuitDuration
	}
	if l.CircuitBytes == 0 {
		l.CircuitBytes = d.CircuitBytes
	}
	if l.Reservations == 0 {
		l.Reservations = d.Reservations
	}
	if l.ReservationsPerIP == 0 {
		l.ReservationsPerIP = d.ReservationsPerIP
	}
	if l.CircuitsPerPeer == 0 {
		l.CircuitsPerPeer = d.CircuitsPerPeer
	}
	if l.ReservationTTL == 0 {
		l.ReservationTTL = d.ReservationTTL
	}
	return l
}

// validate names the first limit that is out of range.
func (l RelayLimits) validate() error {
	switch {
	case l.CircuitDuration < 0 || (l.CircuitDuration != 0 && time.Duration(l.CircuitDuration) < 10*time.Second):
		return fmt.Errorf("relay_limits.circuit_duration %v: at least 10s", time.Duration(l.CircuitDuration))
	case l.CircuitBytes < 0 || (l.CircuitBytes != 0 && l.CircuitBytes < 64<<10):
		return fmt.Errorf("relay_limits.circuit_bytes %d: at least 65536", l.CircuitBytes)
	case l.Reservations < 0, l.ReservationsPerIP < 0, l.CircuitsPerPeer < 0:
		return fmt.Errorf("relay_limits: counts cannot be negative")
	case l.ReservationTTL < 0 || (l.ReservationTTL != 0 && time.Duration(l.ReservationTTL) < time.Minute):
		return fmt.Errorf("relay_limits.reservation_ttl %v: at least 1m", time.Duration(l.ReservationTTL))
	}
	return nil
}

// options are the relay service's options for these limits.
func (l RelayLimits) options() []relay.Option {
	l = l.withDefaults()
	r := relay.DefaultResources()
	r.Limit = &relay.RelayLimit{Duration: time.Duration(l.CircuitDuration), Data: l.CircuitBytes}
	r.ReservationTTL = time.Duration(l.ReservationTTL)
	r.MaxReservations = l.Reservations
	r.MaxReservationsPerIP = l.ReservationsPerIP
	r.MaxCircuits = l.CircuitsPerPeer
	return []relay.Option{relay.WithResources(r)}
}

// Duration is a time.Duration written in config files as "90s", "1h".
type Duration time.Duration

func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("a duration is a string such as \"90s\" or \"1h\": %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}
