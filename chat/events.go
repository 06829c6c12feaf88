package chat

import "sync"

// EventKind says what an Event is about.
type EventKind string

const (
	EventMessage  EventKind = "message"  // a new message, incoming or outgoing, or a notice
	EventState    EventKind = "state"    // an outgoing message's delivery state changed
	EventReaction EventKind = "reaction" // a message's reactions changed
	EventTyping   EventKind = "typing"   // the contact started or stopped typing
	EventContact  EventKind = "contact"  // a contact was added, changed or is a new request
	EventRead     EventKind = "read"     // unread count of a conversation changed
)

// Event tells subscribers what changed.
type Event struct {
	Kind    EventKind `json:"kind"`
	Contact ID        `json:"contact"`
	Message *Message  `json:"message,omitempty"`
	Typing  bool      `json:"typing,omitempty"`
	Unread  int       `json:"unread,omitempty"`
}

const eventBuffer = 512

type eventHub struct {
	mu     sync.Mutex
	subs   map[chan Event]struct{}
	closed bool
}

func (h *eventHub) subscribe() (<-chan Event, func()) {
	h.mu.Lock()
	defer h.mu.Unlock()
	ch := make(chan Event, eventBuffer)
	if h.closed {
		close(ch)
		return ch, func() {}
	}
	if h.subs == nil {
		h.subs = map[chan Event]struct{}{}
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

func (h *eventHub) publish(e Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for ch := range h.subs {
		select {
		case ch <- e:
		default: // a slow subscriber misses this one
		}
	}
}

func (h *eventHub) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for ch := range h.subs {
		close(ch)
	}
	h.subs = nil
}
