package ui

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strconv"

	"github.com/discordopus/discordopus/chat"
	"github.com/discordopus/discordopus/node"
	"github.com/libp2p/go-libp2p/core/network"
)

// maxBody bounds a request body; the longest legitimate one is a message
// of chat.MaxTextBytes in JSON.
const maxBody = 64 << 10

// routes registers the JSON API (see API.md).
func (s *Server) routes(mux *http.ServeMux) {
	handle := func(pattern string, f func(r *http.Request) (any, error)) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			r.Body = http.MaxBytesReader(w, r.Body, maxBody)
			out, err := f(r)
			if err != nil {
				s.log.Debug("API error", "path", r.URL.Path, "err", err)
				writeError(w, err)
				return
			}
			writeJSON(w, http.StatusOK, out)
		})
	}
	a := s.app
	handle("GET /api/state", func(*http.Request) (any, error) { return a.current(), nil })
	handle("POST /api/setup", func(r *http.Request) (any, error) {
		var in struct {
			Passphrase  string `json:"passphrase"`
			DisplayName string `json:"display_name"`
		}
		if err := decode(r, &in); err != nil {
			return nil, err
		}
		if err := a.setup([]byte(in.Passphrase), in.DisplayName); err != nil {
			return nil, err
		}
		return a.current(), nil
	})
	handle("POST /api/unlock", func(r *http.Request) (any, error) {
		var in struct {
			Passphrase string `json:"passphrase"`
		}
		if err := decode(r, &in); err != nil {
			return nil, err
		}
		if err := a.unlock([]byte(in.Passphrase)); err != nil {
			return nil, err
		}
		return a.current(), nil
	})
	handle("GET /api/me", func(*http.Request) (any, error) {
		n, svc, err := a.running()
		if err != nil {
			return nil, err
		}
		return map[string]any{
			"peer_id": n.ID().String(), "invite": n.Invite().String(), "addrs": n.Addrs(),
			"display_name": svc.Settings().DisplayName,
		}, nil
	})

	// Contacts.
	withChat := func(f func(svc *chat.Service, r *http.Request) (any, error)) func(*http.Request) (any, error) {
		return func(r *http.Request) (any, error) {
			_, svc, err := a.running()
			if err != nil {
				return nil, err
			}
			return f(svc, r)
		}
	}
	handle("GET /api/contacts", withChat(func(svc *chat.Service, _ *http.Request) (any, error) {
		cs, err := svc.Contacts()
		return map[string]any{"contacts": nonNil(cs)}, err
	}))
	handle("POST /api/contacts", withChat(func(svc *chat.Service, r *http.Request) (any, error) {
		var in struct {
			Invite  string `json:"invite"`
			Name    string `json:"name"`
			Replace bool   `json:"replace"`
		}
		if err := decode(r, &in); err != nil {
			return nil, err
		}
		inv, err := chat.ParseContactRef(in.Invite)
		if err != nil {
			return nil, err
		}
		c, err := svc.AddContact(inv, in.Name, in.Replace)
		return contactAnswer(c, err)
	}))
	handle("POST /api/contacts/{contact}/state", withChat(func(svc *chat.Service, r *http.Request) (any, error) {
		var in struct {
			State chat.ContactState `json:"state"`
		}
		if err := decode(r, &in); err != nil {
			return nil, err
		}
		if in.State != chat.Accepted && in.State != chat.Blocked {
			return nil, badRequest("state must be \"accepted\" or \"blocked\"")
		}
		return contactAnswer(svc.SetContactState(r.PathValue("contact"), in.State))
	}))
	handle("GET /api/contacts/{contact}/safety-number", withChat(func(svc *chat.Service, r *http.Request) (any, error) {
		c, number, qr, err := svc.SafetyNumber(r.PathValue("contact"))
		if err != nil {
			return nil, err
		}
		return map[string]any{"contact": c, "safety_number": number, "qr": qr}, nil
	}))
	handle("POST /api/contacts/{contact}/verify", withChat(func(svc *chat.Service, r *http.Request) (any, error) {
		var in struct {
			Verified bool   `json:"verified"`
			Scanned  []byte `json:"scanned"`
		}
		if err := decode(r, &in); err != nil {
			return nil, err
		}
		return contactAnswer(svc.Verify(r.PathValue("contact"), in.Verified, in.Scanned))
	}))

	// Conversations.
	handle("GET /api/conversations", withChat(func(svc *chat.Service, _ *http.Request) (any, error) {
		cs, err := svc.Conversations()
		return map[string]any{"conversations": nonNil(cs)}, err
	}))
	handle("GET /api/conversations/{contact}/messages", withChat(func(svc *chat.Service, r *http.Request) (any, error) {
		q := r.URL.Query()
		var before chat.ID
		if err := before.UnmarshalText([]byte(q.Get("before"))); err != nil {
			return nil, badRequest("before is not a message ID")
		}
		limit := 100
		if l := q.Get("limit"); l != "" {
			var err error
			if limit, err = strconv.Atoi(l); err != nil || limit < 1 || limit > 500 {
				return nil, badRequest("limit is 1 to 500")
			}
		}
		ms, err := svc.History(r.PathValue("contact"), before, limit)
		return map[string]any{"messages": nonNil(ms)}, err
	}))
	handle("POST /api/conversations/{contact}/messages", withChat(func(svc *chat.Service, r *http.Request) (any, error) {
		var in struct {
			Text    string  `json:"text"`
			ReplyTo chat.ID `json:"reply_to"`
		}
		if err := decode(r, &in); err != nil {
			return nil, err
		}
		return messageAnswer(svc.Send(r.PathValue("contact"), in.Text, in.ReplyTo))
	}))
	handle("POST /api/conversations/{contact}/reactions", withChat(func(svc *chat.Service, r *http.Request) (any, error) {
		var in struct {
			Target chat.ID `json:"target"`
			Emoji  string  `json:"emoji"`
			Remove bool    `json:"remove"`
		}
		if err := decode(r, &in); err != nil {
			return nil, err
		}
		return messageAnswer(svc.React(r.PathValue("contact"), in.Target, in.Emoji, in.Remove))
	}))
	handle("POST /api/conversations/{contact}/read", withChat(func(svc *chat.Service, r *http.Request) (any, error) {
		return struct{}{}, svc.MarkRead(r.PathValue("contact"))
	}))
	handle("POST /api/conversations/{contact}/typing", withChat(func(svc *chat.Service, r *http.Request) (any, error) {
		var in struct {
			Typing bool `json:"typing"`
		}
		if err := decode(r, &in); err != nil {
			return nil, err
		}
		return struct{}{}, svc.SetTyping(r.PathValue("contact"), in.Typing)
	}))

	// Settings and network.
	handle("GET /api/settings", withChat(func(svc *chat.Service, _ *http.Request) (any, error) {
		return s.settings(svc)
	}))
	handle("PUT /api/settings", withChat(func(svc *chat.Service, r *http.Request) (any, error) {
		var in Settings
		if err := decode(r, &in); err != nil {
			return nil, err
		}
		if err := s.saveSettings(svc, in); err != nil {
			return nil, err
		}
		return s.settings(svc)
	}))
	handle("GET /api/network", func(*http.Request) (any, error) {
		n, _, err := a.running()
		if err != nil {
			return nil, err
		}
		return networkView(n, s.o.Config), nil
	})
}

func contactAnswer(c chat.Contact, err error) (any, error) {
	if err != nil {
		return nil, err
	}
	return map[string]any{"contact": c}, nil
}

func messageAnswer(m chat.Message, err error) (any, error) {
	if err != nil {
		return nil, err
	}
	return map[string]any{"message": m}, nil
}

// nonNil makes an empty list encode as [], not null.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// decode reads a JSON body into v, refusing unknown fields and trailing
// data so that a typo in a client shows at once.
func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return &apiError{status: http.StatusRequestEntityTooLarge, code: "too_large", msg: "That request is too large."}
		}
		return badRequest("the request is not valid JSON for this call: " + err.Error())
	}
	if _, err := dec.Token(); err != io.EOF {
		return badRequest("the request has data after its JSON value")
	}
	return nil
}

// Network is what /api/network answers and "network" events carry.
type Network struct {
	PeerID       string         `json:"peer_id"`
	Addrs        []string       `json:"addrs"`
	Invite       string         `json:"invite"`
	Peers        []NetworkPeer  `json:"peers"`
	RoutingTable int            `json:"routing_table"`
	DHTReady     bool           `json:"dht_ready"`
	Bootstrap    []BootstrapRow `json:"bootstrap"`
	Mailbox      *MailboxRow    `json:"mailbox,omitempty"`
	// NAT is doctor's report: reachability, the NAT type, relays, and how
	// each contact is connected, with the reason in plain words.
	NAT *node.Doctor `json:"nat,omitempty"`
}

// NetworkPeer is one connected peer.
type NetworkPeer struct {
	Peer      string `json:"peer"`
	Addr      string `json:"addr"`
	Direction string `json:"direction"`
}

// BootstrapRow is one configured bootstrap peer and whether it is
// connected now.
type BootstrapRow struct {
	Addr      string `json:"addr"`
	Peer      string `json:"peer"`
	Connected bool   `json:"connected"`
}

// MailboxRow is the offline-delivery state.
type MailboxRow struct {
	Holding        bool   `json:"holding"`
	Envelopes      int    `json:"envelopes,omitempty"`
	LastDrain      string `json:"last_drain,omitempty"`
	LastDrainError string `json:"last_drain_error,omitempty"`
}

func networkView(n *node.Node, cfg node.Config) Network {
	st := n.Status()
	nw := Network{PeerID: st.PeerID, Addrs: st.Addrs, Invite: st.Invite, RoutingTable: st.RoutingTable, DHTReady: st.DHTReady}
	for _, p := range n.Peers() {
		nw.Peers = append(nw.Peers, NetworkPeer{Peer: p.PeerID, Addr: p.Addr, Direction: p.Direction})
	}
	nw.Peers = nonNil(nw.Peers)
	if bps, err := cfg.BootstrapPeers(); err == nil {
		for _, ai := range bps {
			addr := ""
			if len(ai.Addrs) > 0 {
				addr = ai.Addrs[0].String() + "/p2p/" + ai.ID.String()
			}
			connected := n.Host().Network().Connectedness(ai.ID) == network.Connected
			nw.Bootstrap = append(nw.Bootstrap, BootstrapRow{Addr: addr, Peer: ai.ID.String(), Connected: connected})
		}
	}
	nw.Bootstrap = nonNil(nw.Bootstrap)
	d := n.Doctor()
	nw.NAT = &d
	if m := st.Mailbox; m != nil {
		nw.Mailbox = &MailboxRow{Holding: m.Holding, Envelopes: m.Envelopes, LastDrainError: m.DrainErr}
		if !m.LastDrain.IsZero() {
			nw.Mailbox.LastDrain = m.LastDrain.UTC().Format("2006-01-02T15:04:05Z07:00")
		}
	}
	return nw
}

// fingerprint is what a change in the network view is judged by.
func (nw Network) fingerprint() []byte {
	peers := make([]string, 0, len(nw.Peers))
	for _, p := range nw.Peers {
		peers = append(peers, p.Peer)
	}
	slices.Sort(peers)
	b, _ := json.Marshal([]any{nw.Addrs, peers, nw.RoutingTable, nw.DHTReady, nw.Bootstrap, nw.Mailbox, nw.NAT})
	return b
}
