package chat

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/discordopus/discordopus/e2e"
	"github.com/discordopus/discordopus/store"
)

// AddContact adds the person an invite names, under name (empty: the name
// the invite suggests). Adding someone
// already known updates their addresses (and accepts a pending request).
// A name that belongs to a contact with another identity is refused with
// ErrIdentityChange unless replace is set: then that contact keeps its
// conversation, takes the new identity, loses its verified mark, and a
// notice in the conversation says that the safety number changed.
func (s *Service) AddContact(inv Invite, name string, replace bool) (Contact, error) {
	if name == "" {
		name = inv.Name // the name the invite suggests
	}
	if err := CheckName(name); err != nil {
		return Contact{}, err
	}
	if inv.Peer == s.o.Host.ID() {
		return Contact{}, ErrSelf
	}
	if _, err := identityKey(inv.Peer); err != nil {
		return Contact{}, err
	}
	s.contactMu.Lock()
	defer s.contactMu.Unlock()
	addrs := make([]string, 0, len(inv.Addrs))
	for _, a := range inv.Addrs {
		addrs = append(addrs, a.String())
	}
	all, err := s.contacts.all()
	if err != nil {
		return Contact{}, err
	}
	var named, known *Contact
	for i := range all {
		if all[i].Name == name {
			named = &all[i]
		}
		if all[i].Peer == inv.Peer {
			known = &all[i]
		}
	}
	switch {
	case known != nil:
		if named != nil && named.ID != known.ID {
			return Contact{}, fmt.Errorf("%w: %q", ErrNameTaken, name)
		}
		c := *known
		wasRequest := c.State == Request
		c.Name, c.Addrs = name, addrs
		if c.State != Blocked {
			c.State = Accepted
		}
		if err := s.saveContact(c, "", nil); err != nil {
			return Contact{}, err
		}
		if wasRequest {
			s.queueSettings(c)
		}
		return c, nil
	case named != nil && !replace:
		return Contact{}, fmt.Errorf("%w: %q is %s; if they have a new identity, add the invite again with replace", ErrIdentityChange, name, named.Peer)
	case named != nil:
		c := *named
		old := c.Peer
		c.Peer, c.Addrs, c.Verified = inv.Peer, addrs, false
		notice := s.notice(c, fmt.Sprintf("Your safety number with %s changed: they have a new identity key. Verify it again.", name))
		notice.Notice = NoticeIdentityChanged
		if err := s.saveContact(c, old, &notice); err != nil {
			return Contact{}, err
		}
		s.events.publish(Event{Kind: EventMessage, Contact: c.ID, Message: &notice})
		s.queueSettings(c)
		return c, nil
	}
	c := Contact{ID: s.ids.next(s.now()), Peer: inv.Peer, Name: name, State: Accepted, Addrs: addrs, AddedAt: s.now()}
	if err := s.saveContact(c, "", nil); err != nil {
		return Contact{}, err
	}
	s.queueSettings(c)
	return c, nil
}

// saveContact writes c (and a notice, if any); old is c's previous PeerID,
// whose session is dropped, as it is for a blocked contact. It holds the
// conversation's lock, so no frame being received meanwhile writes back a
// session of the old identity.
func (s *Service) saveContact(c Contact, old peer.ID, notice *Message) error {
	cv := s.conv(c.ID)
	cv.mu.Lock()
	defer cv.mu.Unlock()
	if (old != "" && old != c.Peer) || c.State == Blocked {
		cv.session = nil
		cv.deposit = nil
		cv.closeStream()
	}
	err := s.o.Store.Write(true, func(w *store.Batch) error {
		if err := s.contacts.put(w, c, old); err != nil {
			return err
		}
		if old != "" && old != c.Peer {
			if err := w.Delete(s.sessions, c.ID[:]); err != nil {
				return err
			}
		}
		if notice != nil {
			return s.hist.put(w, *notice)
		}
		return nil
	})
	s.contacts.invalidate()
	if err != nil {
		return fmt.Errorf("saving contact %s: %w", c.DisplayName(), err)
	}
	s.events.publish(Event{Kind: EventContact, Contact: c.ID})
	return nil
}

func (s *Service) notice(c Contact, text string) Message {
	now := s.now()
	return Message{ID: s.ids.next(now), Contact: c.ID, Kind: Notice, SentAt: now, ReceivedAt: now, Text: text}
}

// SetContactState accepts or blocks a contact or a message request.
func (s *Service) SetContactState(ref string, state ContactState) (Contact, error) {
	if state != Accepted && state != Blocked {
		return Contact{}, fmt.Errorf("contact state %q: want accepted or blocked", state)
	}
	c, err := s.Contact(ref)
	if err != nil {
		return Contact{}, err
	}
	was := c.State
	c.State = state
	if c.Name == "" {
		c.Name = c.DisplayName()
	}
	if err := s.saveContact(c, "", nil); err != nil {
		return Contact{}, err
	}
	if state != Blocked && was != Accepted {
		s.queueSettings(c)
	}
	return c, nil
}

// SafetyNumber returns the 60-digit safety number for a contact and the
// payload of its QR code.
func (s *Service) SafetyNumber(ref string) (Contact, string, []byte, error) {
	c, err := s.Contact(ref)
	if err != nil {
		return Contact{}, "", nil, err
	}
	remote, err := e2ePeer(c.Peer)
	if err != nil {
		return c, "", nil, err
	}
	local := s.o.Identity.Public()
	num, err := e2e.SafetyNumber(local, remote)
	if err != nil {
		return c, "", nil, err
	}
	qr, err := e2e.SafetyNumberQR(local, remote)
	return c, num, qr, err
}

// ErrQRMismatch means a scanned safety-number code is not this contact's.
var ErrQRMismatch = errors.New("the scanned code does not match: this is not the identity you have for this contact")

// Verify marks a contact verified (or not). If scanned is not nil it must
// be the contact's QR payload, which is checked first.
func (s *Service) Verify(ref string, verified bool, scanned []byte) (Contact, error) {
	c, err := s.Contact(ref)
	if err != nil {
		return Contact{}, err
	}
	if scanned != nil {
		remote, err := e2ePeer(c.Peer)
		if err != nil {
			return c, err
		}
		ok, err := e2e.CompareSafetyNumberQR(s.o.Identity.Public(), remote, scanned)
		if err != nil {
			return c, err
		}
		if !ok {
			return c, ErrQRMismatch
		}
	}
	c.Verified = verified
	return c, s.saveContact(c, "", nil)
}

func e2ePeer(p peer.ID) (e2e.Peer, error) {
	key, err := identityKey(p)
	if err != nil {
		return e2e.Peer{}, err
	}
	return e2e.Peer{Key: key, PeerID: []byte(p)}, nil
}

// Send queues a text message (a reply if replyTo is set) to a contact and
// returns it in the Sending state; delivery goes on in the background,
// retried with backoff while the contact is unreachable.
func (s *Service) Send(ref, text string, replyTo ID) (Message, error) {
	if err := checkText(text); err != nil {
		return Message{}, err
	}
	c, err := s.sendable(ref)
	if err != nil {
		return Message{}, err
	}
	now := s.now()
	m := Message{ID: s.ids.next(now), Contact: c.ID, Kind: TextMessage, Outgoing: true, SentAt: now, Text: text, ReplyTo: replyTo, State: Sending}
	item := outItem{ID: m.ID, Message: &wireMessage{ID: m.ID, SentAt: now.UnixMilli(), Text: text, ReplyTo: replyTo}}
	if err := s.enqueue(c, item, func() (*Message, error) { return &m, nil }); err != nil {
		return Message{}, err
	}
	s.events.publish(Event{Kind: EventMessage, Contact: c.ID, Message: &m})
	return m, nil
}

// React adds (or removes) an emoji reaction to a message of a conversation.
func (s *Service) React(ref string, target ID, emoji string, remove bool) (Message, error) {
	if err := checkEmoji(emoji); err != nil {
		return Message{}, err
	}
	c, err := s.sendable(ref)
	if err != nil {
		return Message{}, err
	}
	item := outItem{ID: s.ids.next(s.now())}
	item.Reaction = &wireReaction{ID: item.ID, Target: target, Emoji: emoji, Remove: remove}
	var m Message
	err = s.enqueue(c, item, func() (*Message, error) {
		var err error
		if m, err = s.hist.get(c.ID, target); err != nil {
			return nil, fmt.Errorf("reacting to %s: %w", target, err)
		}
		react(&m, emoji, true, remove)
		return &m, nil
	})
	if err != nil {
		return Message{}, err
	}
	s.events.publish(Event{Kind: EventReaction, Contact: c.ID, Message: &m})
	return m, nil
}

func (s *Service) sendable(ref string) (Contact, error) {
	c, err := s.Contact(ref)
	if err != nil {
		return Contact{}, err
	}
	switch c.State {
	case Request:
		return Contact{}, ErrNotAccepted
	case Blocked:
		return Contact{}, ErrBlocked
	}
	return c, nil
}

// History returns up to limit messages of a conversation older than
// before (the newest if before is zero), newest first.
func (s *Service) History(ref string, before ID, limit int) ([]Message, error) {
	c, err := s.Contact(ref)
	if err != nil {
		return nil, err
	}
	return s.hist.page(c.ID, before, limit)
}

// Conversations lists every contact's conversation with its unread count
// and last message.
func (s *Service) Conversations() ([]Conversation, error) {
	all, err := s.contacts.all()
	if err != nil {
		return nil, err
	}
	out := make([]Conversation, 0, len(all))
	for _, c := range all {
		meta, err := s.hist.getMeta(c.ID)
		if err != nil {
			return nil, err
		}
		conv := Conversation{Contact: c, Unread: meta.Unread, LastRead: meta.LastRead, PeerReadReceipts: meta.PeerReadReceipts}
		last, err := s.hist.page(c.ID, ID{}, 1)
		if err != nil {
			return nil, err
		}
		if len(last) == 1 {
			conv.Last = &last[0]
		}
		out = append(out, conv)
	}
	return out, nil
}

// MarkRead marks a conversation read up to its newest message and, if both
// sides share read receipts, tells the contact which messages were read.
func (s *Service) MarkRead(ref string) error {
	c, err := s.Contact(ref)
	if err != nil {
		return err
	}
	cv := s.conv(c.ID)
	receipts := false
	defer func() { // after the unlock below
		if receipts {
			s.kick(cv)
		}
	}()
	cv.mu.Lock()
	defer cv.mu.Unlock()
	meta, err := s.hist.getMeta(c.ID)
	if err != nil {
		return err
	}
	var read []ID
	var newest ID
	err = s.hist.messages.Iterate(c.ID[:], true, func(k, v []byte) error {
		var m Message
		if err := json.Unmarshal(v, &m); err != nil {
			return err
		}
		if newest.IsZero() {
			newest = m.ID
		}
		if !meta.LastRead.IsZero() && string(m.ID[:]) <= string(meta.LastRead[:]) {
			return store.ErrStop
		}
		if !m.Outgoing && m.Kind == TextMessage {
			read = append(read, m.ID)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if newest.IsZero() || (meta.Unread == 0 && newest == meta.LastRead) {
		return nil
	}
	meta.Unread, meta.LastRead = 0, newest
	if err := s.o.Store.Write(false, func(w *store.Batch) error { return s.hist.putMeta(w, c.ID, meta) }); err != nil {
		return err
	}
	s.events.publish(Event{Kind: EventRead, Contact: c.ID})
	if s.Settings().ReadReceipts && meta.PeerReadReceipts && c.State == Accepted && len(read) > 0 {
		cv.read = append(cv.read, read...)
		receipts = true
	}
	return nil
}

// SetTyping tells a contact that the user started or stopped typing. It
// is ephemeral: never stored, never retried, and starts are sent at most
// once per typingInterval.
func (s *Service) SetTyping(ref string, typing bool) error {
	if !s.Settings().TypingIndicators {
		return nil
	}
	c, err := s.sendable(ref)
	if err != nil {
		return err
	}
	cv := s.conv(c.ID)
	cv.mu.Lock()
	now := s.now()
	if typing && now.Sub(cv.typingSent) < typingInterval {
		cv.mu.Unlock()
		return nil
	}
	if typing {
		cv.typingSent = now
		cv.typing = typingStarted
	} else {
		cv.typingSent = time.Time{}
		cv.typing = typingStopped
	}
	cv.mu.Unlock()
	s.kick(cv)
	return nil
}

// Settings returns the user's chat settings.
func (s *Service) Settings() Settings {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.prefs
}

var settingsKey = []byte("local")

func (s *Service) loadSettings() (Settings, error) {
	v, err := s.settings.Get(settingsKey)
	if errors.Is(err, store.ErrNotFound) {
		return Settings{TypingIndicators: true}, nil
	}
	if err != nil {
		return Settings{}, err
	}
	var st Settings
	err = json.Unmarshal(v, &st)
	return st, err
}

// SetSettings changes the user's chat settings and tells every contact
// what changed about read receipts.
func (s *Service) SetSettings(st Settings) error {
	if st.DisplayName != "" {
		if err := CheckName(st.DisplayName); err != nil {
			return fmt.Errorf("display name: %w", err)
		}
	}
	v, _ := json.Marshal(st)
	if err := s.settings.Put(settingsKey, v, store.Durable()); err != nil {
		return err
	}
	s.mu.Lock()
	changed := s.prefs.ReadReceipts != st.ReadReceipts
	s.prefs = st
	s.mu.Unlock()
	if !changed {
		return nil
	}
	all, err := s.contacts.all()
	if err != nil {
		return err
	}
	for _, c := range all {
		if c.State == Accepted {
			s.queueSettings(c)
		}
	}
	return nil
}

// queueSettings tells c what this side shares.
func (s *Service) queueSettings(c Contact) {
	item := outItem{ID: s.ids.next(s.now())}
	item.Settings = &wireSettings{ID: item.ID, ReadReceipts: s.Settings().ReadReceipts}
	if mb := s.o.Mailbox; mb != nil {
		from := mb.Epoch(s.now())
		item.Settings.Mailbox = mb.Keys(from, from+announceEpochs-1)
	}
	if err := s.enqueue(c, item, nil); err != nil {
		s.log.Warn("queueing settings", "contact", c.ID, "err", err)
	}
}
