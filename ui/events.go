package ui

import (
	"encoding/json"
	"net/http"
	"sync"
	"time"

	"github.com/discordopus/discordopus/chat"
	"github.com/gorilla/websocket"
)

// event is one frame of the /api/events stream (see API.md).
type event struct {
	Type    string      `json:"type"` // hello, state, chat, network
	State   *State      `json:"state,omitempty"`
	Network *Network    `json:"network,omitempty"`
	Chat    *chat.Event `json:"-"`
}

// MarshalJSON flattens a chat event into the frame, as API.md shows it.
func (e event) MarshalJSON() ([]byte, error) {
	if e.Chat == nil {
		type plain event
		return json.Marshal(plain(e))
	}
	return json.Marshal(struct {
		Type string `json:"type"`
		*chat.Event
	}{e.Type, e.Chat})
}

// Stream timing.
const (
	pingEvery   = 20 * time.Second
	pongWithin  = 2*pingEvery + writeWithin
	writeWithin = 10 * time.Second
	// subscriberBuffer is how far a page may fall behind before it is
	// dropped; it reconnects and catches up from the API.
	subscriberBuffer = 1024
)

// hub fans events out to the open pages.
type hub struct {
	mu     sync.Mutex
	subs   map[chan []byte]struct{}
	closed bool
}

func newHub() *hub { return &hub{subs: map[chan []byte]struct{}{}} }

func (h *hub) subscribe() (<-chan []byte, func()) {
	h.mu.Lock()
	defer h.mu.Unlock()
	ch := make(chan []byte, subscriberBuffer)
	if h.closed {
		close(ch)
		return ch, func() {}
	}
	h.subs[ch] = struct{}{}
	return ch, func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		if _, ok := h.subs[ch]; ok {
			delete(h.subs, ch)
			close(ch)
		}
	}
}

// publish sends e to every page; one that cannot keep up is dropped.
func (h *hub) publish(e event) {
	b, err := json.Marshal(e)
	if err != nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for ch := range h.subs {
		select {
		case ch <- b:
		default:
			delete(h.subs, ch)
			close(ch)
		}
	}
}

func (h *hub) empty() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs) == 0
}

func (h *hub) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for ch := range h.subs {
		delete(h.subs, ch)
		close(ch)
	}
}

// events upgrades to a WebSocket and streams events until the page goes
// away or falls too far behind. The guard has checked Host, Origin and
// the token already; the upgrader checks the Origin again.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	up := websocket.Upgrader{
		ReadBufferSize: 1024, WriteBufferSize: 16 << 10,
		CheckOrigin: func(r *http.Request) bool { return s.ownOrigin(r.Header.Get("Origin")) },
	}
	conn, err := up.Upgrade(w, r, nil)
	if err != nil {
		return // the upgrader answered already
	}
	defer conn.Close()
	events, cancel := s.hub.subscribe()
	defer cancel()

	// The page sends nothing; reading notices it close and answers pings.
	// A page that stops answering our pings is gone after pongWithin.
	conn.SetReadLimit(4 << 10)
	conn.SetReadDeadline(time.Now().Add(pongWithin))
	conn.SetPongHandler(func(string) error { return conn.SetReadDeadline(time.Now().Add(pongWithin)) })
	gone := make(chan struct{})
	go func() {
		defer close(gone)
		for {
			if _, _, err := conn.NextReader(); err != nil {
				return
			}
		}
	}()
	write := func(b []byte) error {
		conn.SetWriteDeadline(time.Now().Add(writeWithin))
		return conn.WriteMessage(websocket.TextMessage, b)
	}
	st := s.app.current()
	hello, _ := json.Marshal(event{Type: "hello", State: &st})
	if write(hello) != nil {
		return
	}
	ping := time.NewTicker(pingEvery)
	defer ping.Stop()
	for {
		select {
		case <-gone:
			return
		case <-r.Context().Done():
			return
		case b, ok := <-events:
			if !ok { // dropped, or the server stops
				conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseGoingAway, "catch up"), time.Now().Add(time.Second))
				return
			}
			if write(b) != nil {
				return
			}
		case <-ping.C:
			if conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(writeWithin)) != nil {
				return
			}
		}
	}
}
