package chat

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/discordopus/discordopus/e2e"
	"github.com/discordopus/discordopus/internal/frame"
	"github.com/discordopus/discordopus/store"
)

// errDrop is a frame that is ignored without ending the stream: one from
// a blocked contact, a stranger past the request cap, or one that does not
// decrypt (which a session reset repairs).
var errDrop = errors.New("frame dropped")

// maxBadFrames is how many undecryptable frames in a row a stream may
// carry before the peer is disconnected.
const maxBadFrames = 16

// typingGap is the least time between two typing events shown for one
// contact: a peer cannot flood the UI with them.
const typingGap = time.Second

// frameTimeout is how long a frame may take to arrive once its first byte
// has: a stream may idle between frames for as long as the conversation
// lasts, but a peer cannot hold it, and the frame's buffer, by stalling
// halfway through one.
var frameTimeout = 30 * time.Second // a var for tests

// handleStream reads frames from a contact until the stream ends. A frame
// that breaks the protocol resets the stream and closes the connection to
// its sender; other conversations are not affected.
func (s *Service) handleStream(ctx context.Context, st network.Stream) {
	remote := st.Conn().RemotePeer()
	stop := context.AfterFunc(ctx, func() { st.Reset() })
	defer stop()
	r := bufio.NewReaderSize(st, 16<<10)
	bad := 0
	for {
		st.SetReadDeadline(time.Time{})
		_, err := r.Peek(1)
		if err == nil {
			st.SetReadDeadline(time.Now().Add(frameTimeout))
		}
		body, err := readFrame(r)
		if err != nil {
			if errors.Is(err, ErrBadFrame) && ctx.Err() == nil {
				s.disconnect(st, remote, err)
			} else {
				st.Close()
			}
			return
		}
		env, restart, err := parseFrameBody(body)
		switch {
		case err != nil:
		case restart:
			s.peerAskedRestart(remote)
		default:
			err = s.receive(remote, env)
		}
		switch {
		case err == nil:
			bad = 0
		case errors.Is(err, errDrop):
			s.log.Debug("dropped a frame", "peer", remote, "err", err)
			if bad++; bad > maxBadFrames {
				s.disconnect(st, remote, fmt.Errorf("%d frames in a row did not decrypt", bad))
				return
			}
		default:
			s.disconnect(st, remote, err)
			return
		}
	}
}

func (s *Service) disconnect(st network.Stream, p peer.ID, why error) {
	s.log.Warn("closing a chat stream that broke the protocol", "peer", p, "err", why)
	st.Reset()
	s.o.Host.Network().ClosePeer(p)
}

// readFrame reads one length-prefixed frame (see package frame).
func readFrame(r *bufio.Reader) ([]byte, error) {
	b, err := frame.Read(r, MaxFrameBytes)
	if errors.Is(err, frame.ErrMalformed) {
		return nil, fmt.Errorf("%w: %w", ErrBadFrame, err)
	}
	return b, err
}

// receive decrypts and applies one end-to-end message from remote.
func (s *Service) receive(remote peer.ID, env []byte) error {
	return s.receiveFrom(remote, env, false)
}

// receiveFrom decrypts and applies one end-to-end message from remote,
// received on a stream or, if viaMailbox, from this node's mailbox (where
// the sender is only a guess being tried, so a failure asks nothing).
func (s *Service) receiveFrom(remote peer.ID, env []byte, viaMailbox bool) error {
	c, err := s.contacts.byPeer(remote)
	isNew := errors.Is(err, ErrNoContact)
	if isNew {
		// Contacts are created one at a time (see contactMu): look again
		// under the lock, as AddContact may just have added this peer.
		s.contactMu.Lock()
		defer s.contactMu.Unlock()
		c, err = s.contacts.byPeer(remote)
		isNew = errors.Is(err, ErrNoContact)
	}
	switch {
	case isNew:
		if !e2e.IsInitial(env) {
			return fmt.Errorf("%w: not an initial message, from a stranger", errDrop)
		}
		if c, err = s.admitRequest(remote); err != nil {
			return err
		}
	case err != nil:
		return err
	case c.State == Blocked:
		return fmt.Errorf("%w: blocked", errDrop)
	}

	var cv *conv
	if isNew {
		cv = newConv(c.ID) // in s.convs only once the stranger is stored
	} else {
		cv = s.conv(c.ID)
	}
	var acks []ID
	restart := false
	defer func() { // after the unlock below
		if len(acks) > 0 || restart {
			s.kick(cv)
		}
	}()
	cv.mu.Lock()
	defer cv.mu.Unlock()
	if !isNew {
		// The user may have blocked the contact or given it a new identity
		// since the lookup above; under cv.mu the record is current.
		if c, err = s.contacts.get(c.ID); err != nil {
			return err
		}
		if c.Peer != remote || c.State == Blocked {
			return fmt.Errorf("%w: contact changed", errDrop)
		}
	}
	if err := s.loadQueue(cv); err != nil {
		return err
	}
	sess, rec, err := s.open(cv, remote, env)
	if err != nil {
		if !viaMailbox && !isNew && !e2e.IsInitial(env) && errors.Is(err, errDrop) {
			// A message of a session this node does not have (it lost its
			// state): ask the contact to start a new one.
			restart = s.askRestart(cv)
		}
		return err
	}
	p, err := parsePayload(rec.Plaintext)
	if err != nil {
		return err // authenticated, yet malformed: the peer is broken
	}
	meta, err := s.hist.getMeta(c.ID)
	if err != nil {
		return err
	}
	state, err := sess.MarshalBinary()
	if err != nil {
		return err
	}
	now := s.now()
	var events []Event
	err = s.o.Store.Write(false, func(w *store.Batch) error {
		events, acks = nil, nil
		if err := w.Put(s.sessions, c.ID[:], state); err != nil {
			return err
		}
		if rec.Initial {
			if ttl := rec.ReplayUntil.Sub(now); ttl > 0 {
				if err := w.Put(s.replay, rec.ReplayID[:], nil, store.WithTTL(ttl)); err != nil {
					return err
				}
			}
		}
		if isNew {
			if err := s.contacts.put(w, c, ""); err != nil {
				return err
			}
			events = append(events, Event{Kind: EventContact, Contact: c.ID})
		}
		var err error
		acks, events, err = s.apply(w, cv, &c, &meta, p, now, events)
		if err != nil {
			return err
		}
		return s.hist.putMeta(w, c.ID, meta)
	})
	if isNew {
		s.contacts.invalidate()
	}
	if err != nil {
		cv.session = nil // it may be ahead of the stored one
		return fmt.Errorf("storing what %s sent: %w", c.DisplayName(), err)
	}
	cv.session = sess
	if isNew {
		s.mu.Lock()
		s.convs[c.ID] = cv
		s.mu.Unlock()
	}
	if rec.OneTimeUsed {
		if err := s.o.Prekeys.ConsumeOneTime(rec.OneTimeID); err != nil {
			s.log.Warn("consuming a one-time prekey", "err", err)
		}
	}
	if p.Typing == typingStarted && now.Sub(cv.typingSeen) >= typingGap && s.Settings().TypingIndicators {
		cv.typingSeen = now
		events = append(events, Event{Kind: EventTyping, Contact: c.ID, Typing: true})
	} else if p.Typing == typingStopped {
		cv.typingSeen = time.Time{}
		events = append(events, Event{Kind: EventTyping, Contact: c.ID, Typing: false})
	}
	for _, e := range events {
		s.events.publish(e)
	}
	cv.addAcks(acks)
	return nil
}

// admitRequest makes a contact record for a stranger's first message, if
// the cap on pending requests allows. The record is stored with what the
// message carried. Called with s.contactMu held.
func (s *Service) admitRequest(remote peer.ID) (Contact, error) {
	if _, err := identityKey(remote); err != nil {
		return Contact{}, fmt.Errorf("%w: %w", errDrop, err)
	}
	all, err := s.contacts.all()
	if err != nil {
		return Contact{}, err
	}
	pending := 0
	for _, c := range all {
		if c.State == Request {
			pending++
		}
	}
	if pending >= MaxPendingRequests {
		return Contact{}, fmt.Errorf("%w: %d message requests are pending already", errDrop, pending)
	}
	return Contact{ID: s.ids.next(s.now()), Peer: remote, State: Request, AddedAt: s.now()}, nil
}

// open decrypts env in the conversation's session, or accepts it as the
// first message of a new one, and returns the session to store.
func (s *Service) open(cv *conv, remote peer.ID, env []byte) (*e2e.Session, *e2e.Received, error) {
	if cv.session == nil {
		v, err := s.sessions.Get(cv.id[:])
		switch {
		case err == nil:
			sess, err := e2e.ParseSession(v)
			if err != nil {
				return nil, nil, fmt.Errorf("reading the session: %w", err)
			}
			if string(sess.Peer().PeerID) == string(remote) { // else: of a previous identity
				cv.session = sess
			}
		case !errors.Is(err, store.ErrNotFound):
			return nil, nil, err
		}
	}
	now := s.now()
	if cv.session == nil {
		if !e2e.IsInitial(env) {
			return nil, nil, fmt.Errorf("%w: no session for a follow-up message", errDrop)
		}
		sess, from, rec, err := e2e.Accept(s.local(), env, now)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: %w", errDrop, err)
		}
		want, err := e2ePeer(remote)
		if err != nil || string(from.PeerID) != string(remote) || !bytes.Equal(from.Key, want.Key) {
			return nil, nil, fmt.Errorf("%w: initial message from %s names another sender", ErrBadFrame, remote)
		}
		return sess, rec, nil
	}
	// Decrypt leaves the session as it was on any error. On success it
	// has advanced in memory; if storing the result fails, receive drops
	// it so that the stored state is read again.
	rec, err := cv.session.Decrypt(s.local(), env, now)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", errDrop, err)
	}
	return cv.session, rec, nil
}

// apply stores what a payload says. It returns the IDs to acknowledge and
// the events to publish once stored. Called with cv.mu held.
func (s *Service) apply(w *store.Batch, cv *conv, c *Contact, meta *convMeta, p *payload, now time.Time, events []Event) (_ []ID, _ []Event, err error) {
	var acks []ID
	stored := map[ID]*Message{} // this batch's messages, not yet readable from the store
	for _, wm := range p.Messages {
		dup, err := s.hist.exists(c.ID, wm.ID)
		if err != nil {
			return nil, nil, err
		}
		if dup || stored[wm.ID] != nil {
			acks = append(acks, wm.ID) // the ack was lost: send it again
			continue
		}
		if c.State == Request {
			if meta.Requests >= MaxRequestMessages {
				continue // not stored, not acknowledged
			}
			meta.Requests++
		}
		m := Message{ID: wm.ID, Contact: c.ID, Kind: TextMessage, SentAt: time.UnixMilli(wm.SentAt), ReceivedAt: now, Text: wm.Text, ReplyTo: wm.ReplyTo}
		if err := s.hist.put(w, m); err != nil {
			return nil, nil, err
		}
		stored[m.ID] = &m
		meta.Unread++
		acks = append(acks, wm.ID)
		events = append(events, Event{Kind: EventMessage, Contact: c.ID, Message: &m, Unread: meta.Unread})
	}
	for _, r := range p.Reactions {
		acks = append(acks, r.ID)
		if c.State != Accepted {
			continue // a stranger's reactions are not stored
		}
		var m Message
		if sm := stored[r.Target]; sm != nil {
			m = *sm
		} else if m, err = s.hist.get(c.ID, r.Target); err != nil {
			continue // a reaction to a message this side does not have
		}
		if last, ok := m.PeerReactions[r.Emoji]; ok && string(last[:]) >= string(r.ID[:]) {
			continue // older than what was applied: a retransmission
		}
		changed := react(&m, r.Emoji, false, r.Remove)
		if _, ok := m.PeerReactions[r.Emoji]; ok || len(m.PeerReactions) < 2*MaxReactions {
			if m.PeerReactions == nil {
				m.PeerReactions = map[string]ID{}
			}
			m.PeerReactions[r.Emoji] = r.ID
			changed = true
		}
		if changed {
			if err := s.hist.put(w, m); err != nil {
				return nil, nil, err
			}
			if sm := stored[m.ID]; sm != nil {
				*sm = m
			}
			events = append(events, Event{Kind: EventReaction, Contact: c.ID, Message: &m})
		}
	}
	if st := p.Settings; st != nil && string(st.ID[:]) > string(meta.SettingsID[:]) {
		meta.SettingsID = st.ID
		meta.PeerReadReceipts = st.ReadReceipts
		if len(st.Mailbox) > 0 {
			meta.PeerMailbox = st.Mailbox
		}
	}
	if p.Settings != nil {
		acks = append(acks, p.Settings.ID)
	}
	var changed []Message
	if err := s.acknowledged(w, cv, p.Delivered, &changed); err != nil {
		return nil, nil, err
	}
	if len(p.Read) > 0 && s.Settings().ReadReceipts {
		for _, id := range p.Read {
			if err := s.hist.setState(w, c.ID, id, Read, func(m Message) bool { return m.Outgoing && m.State != Read }, &changed); err != nil {
				return nil, nil, err
			}
		}
	}
	for i := range changed {
		events = append(events, Event{Kind: EventState, Contact: c.ID, Message: &changed[i]})
	}
	return acks, events, nil
}
