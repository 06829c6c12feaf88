package chat

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/discordopus/discordopus/e2e"
	"github.com/discordopus/discordopus/store"
)

// outItem is one queued item that the contact must acknowledge, as kept
// in "outbox"/<contact ID><item ID> until the Delivered receipt arrives.
type outItem struct {
	ID       ID            `json:"id"`
	Message  *wireMessage  `json:"message,omitempty"`
	Reaction *wireReaction `json:"reaction,omitempty"`
	Settings *wireSettings `json:"settings,omitempty"`
	// DepositedUntil is when the copy deposited in the contact's mailbox
	// expires; zero if none was.
	DepositedUntil time.Time `json:"deposited_until,omitzero"`
}

// conv is the live state of one conversation: its session, its queue and
// its stream. mu serializes everything that touches the session, so that
// encryption, decryption and the writes that persist them happen one at a
// time per contact.
type conv struct {
	id ID

	mu         sync.Mutex
	loaded     bool      // queue holds the outbox
	queue      []outItem // unacknowledged items in ID order
	sentAt     map[ID]time.Time
	acks       []ID         // Delivered receipts to send, without repeats
	acked      map[ID]bool  // what acks holds
	read       []ID         // Read receipts to send
	typing     int          // typing state to send
	typingSent time.Time    // last typing start sent
	typingSeen time.Time    // last typing start received
	session    *e2e.Session // nil until loaded or created
	out        network.Stream
	running    bool
	wake       chan struct{}
	backoff    time.Duration
	nextTry    time.Time
	// Restarts: askRestart is a request to send to the contact, restart
	// one of theirs to act on; the times rate-limit both.
	askRestart, restart       bool
	askedRestart, restartedAt time.Time
	deposit                   *pendingDeposit // sealed, not yet in the contact's mailbox
	// stale is set when something sent on the stream went unacknowledged
	// for ackTimeout: the connection under it may be dead (see checkConn).
	stale bool
}

func newConv(id ID) *conv {
	return &conv{id: id, sentAt: map[ID]time.Time{}, acked: map[ID]bool{}, wake: make(chan struct{}, 1)}
}

// maxPendingAcks bounds the receipts waiting to go out to one contact.
const maxPendingAcks = 4 * maxPayloadItems

// addAcks queues Delivered receipts, each once. Called with cv.mu held.
func (cv *conv) addAcks(ids []ID) {
	for _, id := range ids {
		if !cv.acked[id] && len(cv.acks) < maxPendingAcks {
			cv.acked[id] = true
			cv.acks = append(cv.acks, id)
		}
	}
}

// restartGap is the least time between two restarts of a session, asked
// or made: a confused peer cannot make the two sides restart in a loop.
const restartGap = 30 * time.Second

// askRestart notes that the contact should start a new session, because a
// message of theirs belonged to none this node has. It reports whether
// the worker must be woken. Called with cv.mu held.
func (s *Service) askRestart(cv *conv) bool {
	now := s.now()
	if cv.askRestart || now.Sub(cv.askedRestart) < restartGap {
		return false
	}
	cv.askRestart, cv.askedRestart = true, now
	return true
}

// peerAskedRestart handles a contact's restart request: the next payload
// goes out in a new session, and everything unacknowledged is sent again
// in it.
func (s *Service) peerAskedRestart(remote peer.ID) {
	c, err := s.contacts.byPeer(remote)
	if err != nil || c.State == Blocked {
		return
	}
	cv := s.conv(c.ID)
	cv.mu.Lock()
	now := s.now()
	if now.Sub(cv.restartedAt) < restartGap {
		cv.mu.Unlock()
		return
	}
	cv.restart, cv.restartedAt = true, now
	clear(cv.sentAt)
	cv.mu.Unlock()
	s.log.Info("contact asked for a new session", "contact", c.DisplayName())
	s.kick(cv)
}

func (s *Service) conv(id ID) *conv {
	s.mu.Lock()
	defer s.mu.Unlock()
	cv := s.convs[id]
	if cv == nil {
		cv = newConv(id)
		s.convs[id] = cv
	}
	return cv
}

func (cv *conv) closeStream() {
	if cv.out != nil {
		cv.out.Reset()
		cv.out = nil
	}
}

// enqueue stores item in the outbox, together with the message that
// message returns (if it is not nil): it runs under the conversation's
// lock, so it reads and changes a message without racing receipts and
// reactions. Then delivery starts.
func (s *Service) enqueue(c Contact, item outItem, message func() (*Message, error)) error {
	cv := s.conv(c.ID)
	cv.mu.Lock()
	if err := s.loadQueue(cv); err != nil {
		cv.mu.Unlock()
		return err
	}
	var m *Message
	if message != nil {
		var err error
		if m, err = message(); err != nil {
			cv.mu.Unlock()
			return err
		}
	}
	v, _ := json.Marshal(item)
	var stale []ID // older settings, which the new ones replace
	if item.Settings != nil {
		for _, it := range cv.queue {
			if it.Settings != nil {
				stale = append(stale, it.ID)
			}
		}
	}
	err := s.o.Store.Write(false, func(w *store.Batch) error {
		for _, id := range stale {
			if err := w.Delete(s.outbox, msgKey(c.ID, id)); err != nil {
				return err
			}
		}
		if m != nil {
			if err := s.hist.put(w, *m); err != nil {
				return err
			}
		}
		return w.Put(s.outbox, msgKey(c.ID, item.ID), v)
	})
	if err != nil {
		cv.mu.Unlock()
		return fmt.Errorf("queueing for %s: %w", c.DisplayName(), err)
	}
	cv.queue = slices.DeleteFunc(cv.queue, func(it outItem) bool { return slices.Contains(stale, it.ID) })
	cv.queue = append(cv.queue, item)
	cv.mu.Unlock()
	s.kick(cv)
	return nil
}

// loadQueue reads the conversation's outbox once. Called with cv.mu held.
func (s *Service) loadQueue(cv *conv) error {
	if cv.loaded {
		return nil
	}
	var q []outItem
	err := s.outbox.Iterate(cv.id[:], false, func(_, v []byte) error {
		var it outItem
		if err := json.Unmarshal(v, &it); err != nil {
			return err
		}
		q = append(q, it)
		return nil
	})
	if err != nil {
		return fmt.Errorf("reading the outbox: %w", err)
	}
	cv.queue = append(q, cv.queue...)
	cv.loaded = true
	return nil
}

// resumeOutbox restarts delivery for every conversation with queued items.
func (s *Service) resumeOutbox() error {
	var pending []ID
	err := s.outbox.Iterate(nil, false, func(k, _ []byte) error {
		id, _ := idFromBytes(k[:16])
		if len(pending) == 0 || pending[len(pending)-1] != id {
			pending = append(pending, id)
		}
		return nil
	})
	for _, id := range pending {
		s.kick(s.conv(id))
	}
	return err
}

// kick makes sure the conversation's worker runs. Once Serve is stopping
// no worker starts.
func (s *Service) kick(cv *conv) {
	cv.mu.Lock()
	defer cv.mu.Unlock()
	if !cv.running {
		s.mu.Lock()
		ctx := s.ctx
		if ctx != nil && !s.stopping {
			cv.running = true
			s.wg.Go(func() { s.work(ctx, cv) })
		}
		s.mu.Unlock()
		return
	}
	select {
	case cv.wake <- struct{}{}:
	default:
	}
}

// peerConnected retries delivery to the contact at the other end of a new
// connection at once. If we had another connection to them, they dialled
// anew, perhaps because that one died under us without a word (see
// checkConns); it is checked.
func (s *Service) peerConnected(conn network.Conn) {
	p := conn.RemotePeer()
	c, err := s.contacts.byPeer(p)
	if err != nil {
		return
	}
	s.mu.Lock()
	cv := s.convs[c.ID]
	ctx := s.ctx
	s.mu.Unlock()
	if ctx != nil && len(s.o.Host.Network().ConnsToPeer(p)) > 1 {
		s.wg.Go(func() { s.checkConns(ctx, cv, p, conn) })
	}
	s.retryNow(cv)
}

// retryNow ends a conversation's backoff and wakes its worker.
func (s *Service) retryNow(cv *conv) {
	if cv == nil {
		return
	}
	cv.mu.Lock()
	cv.nextTry, cv.backoff = time.Time{}, 0
	cv.mu.Unlock()
	s.kick(cv)
}

// work delivers a conversation's queue until it is empty.
func (s *Service) work(ctx context.Context, cv *conv) {
	for {
		wait, done := s.step(ctx, cv)
		if done {
			return
		}
		if wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				cv.mu.Lock()
				cv.running = false
				cv.mu.Unlock()
				return
			case <-cv.wake:
			case <-t.C:
			}
			t.Stop()
		}
	}
}

// step sends one payload if there is something to send. It returns how
// long to wait before the next step, or done when the worker may stop.
func (s *Service) step(ctx context.Context, cv *conv) (wait time.Duration, done bool) {
	now := s.now()
	cv.mu.Lock()
	if err := s.loadQueue(cv); err != nil {
		s.log.Error("outbox", "err", err)
	}
	s.expireDeposits(cv, now)
	control := len(cv.acks) > 0 || len(cv.read) > 0 || cv.typing != typingNone || cv.askRestart
	due, nextDue := s.dueItems(cv, now)
	switch {
	case ctx.Err() != nil || (!control && len(cv.queue) == 0):
		cv.running = false
		cv.mu.Unlock()
		return 0, true
	case !control && len(due) == 0:
		cv.mu.Unlock()
		return nextDue, false
	case now.Before(cv.nextTry):
		cv.typing = typingNone // stale by the time the peer is back
		wait := cv.nextTry.Sub(now)
		cv.mu.Unlock()
		return wait, false
	}
	cv.mu.Unlock()

	c, err := s.contacts.get(cv.id)
	if err != nil || c.State == Blocked {
		cv.mu.Lock()
		cv.acks, cv.read, cv.typing, cv.running = nil, nil, typingNone, false
		cv.mu.Unlock()
		return 0, true
	}
	cv.mu.Lock()
	stale := cv.stale
	cv.stale = false
	cv.mu.Unlock()
	if stale {
		s.checkConns(ctx, cv, c.Peer, nil)
	}
	if err := s.send(ctx, cv, c, now); err != nil {
		if ctx.Err() != nil {
			return 0, false
		}
		cv.mu.Lock()
		cv.closeStream()
		cv.backoff = min(max(2*cv.backoff, minBackoff), maxBackoff)
		cv.nextTry = s.now().Add(cv.backoff)
		cv.typing = typingNone
		backoff := cv.backoff
		cv.mu.Unlock()
		s.log.Info("contact unreachable; will retry", "contact", c.DisplayName(), "retry_in", backoff, "err", err)
		if s.o.Mailbox != nil {
			if err := s.depositAll(ctx, cv, c); err != nil {
				s.log.Warn("mailbox deposit failed; will retry", "contact", c.DisplayName(), "err", err)
			}
		}
		return 0, false
	}
	cv.mu.Lock()
	cv.backoff = 0
	cv.mu.Unlock()
	return 0, false
}

// dueItems returns the queued items to send now: never sent, or sent and
// not acknowledged for ackTimeout (the receiver deduplicates). It also says
// when the next one falls due. Called with cv.mu held.
func (s *Service) dueItems(cv *conv, now time.Time) (due []outItem, next time.Duration) {
	next = ackTimeout
	inflight := 0
	for _, it := range cv.queue {
		sent, ok := cv.sentAt[it.ID]
		if !ok {
			if inflight < maxInflight {
				due = append(due, it)
			}
			continue
		}
		inflight++
		if left := sent.Add(ackTimeout).Sub(now); left > 0 {
			next = min(next, left)
			continue
		}
		delete(cv.sentAt, it.ID)
		cv.stale = true
		due = append(due, it)
	}
	return due, next
}

// send connects, makes sure there is a session, and writes one payload.
func (s *Service) send(ctx context.Context, cv *conv, c Contact, now time.Time) error {
	cv.mu.Lock()
	st := cv.out
	cv.mu.Unlock()
	if st == nil {
		cctx, cancel := context.WithTimeout(ctx, connectTimeout)
		err := s.o.Connect(cctx, c.Peer, c.Addrs)
		cancel()
		if err != nil {
			return fmt.Errorf("connecting: %w", err)
		}
	}
	sctx, cancel := context.WithTimeout(ctx, streamTimeout)
	defer cancel()
	if st == nil {
		var err error
		st, err = s.o.Host.NewStream(network.WithAllowLimitedConn(sctx, "chat"), c.Peer, ProtocolID)
		if err != nil {
			return fmt.Errorf("opening a chat stream: %w", err)
		}
		cv.mu.Lock()
		cv.closeStream()
		cv.out = st
		// What went out on an earlier stream, or to the mailbox, and is
		// still unacknowledged may have died with it or still wait there:
		// send it again now (the contact deduplicates).
		clear(cv.sentAt)
		cv.mu.Unlock()
	}
	st.SetWriteDeadline(time.Now().Add(streamTimeout))
	cv.mu.Lock()
	ask := cv.askRestart
	cv.askRestart = false
	cv.mu.Unlock()
	if ask {
		if _, err := st.Write(marshalRestartFrame()); err != nil {
			cv.mu.Lock()
			cv.askRestart = true
			cv.mu.Unlock()
			return fmt.Errorf("writing: %w", err)
		}
	}
	if err := s.ensureSession(sctx, cv, c); err != nil {
		return err
	}

	cv.mu.Lock()
	if cv.session == nil { // dropped meanwhile (identity change, block)
		cv.mu.Unlock()
		return nil
	}
	due, _ := s.dueItems(cv, now)
	p := s.buildPayload(cv, due)
	if p.empty() {
		cv.mu.Unlock()
		return nil
	}
	env, sent, err := s.sealPayload(cv, p)
	if err != nil {
		cv.putBack(p)
		cv.mu.Unlock()
		return err
	}
	for _, id := range p.ackIDs() {
		cv.sentAt[id] = now
	}
	cv.mu.Unlock()

	if _, err := st.Write(marshalFrame(env)); err != nil {
		cv.mu.Lock()
		for _, id := range p.ackIDs() {
			delete(cv.sentAt, id)
		}
		cv.putBack(p)
		cv.mu.Unlock()
		return fmt.Errorf("writing: %w", err)
	}
	for i := range sent {
		s.events.publish(Event{Kind: EventState, Contact: cv.id, Message: &sent[i]})
	}
	return nil
}

// putBack returns the receipts of a payload that did not go out to the
// queue, so that they go in the next. Called with cv.mu held.
func (cv *conv) putBack(p *payload) {
	cv.addAcks(p.Delivered)
	cv.read = append(p.Read, cv.read...)
}

// ensureSession loads the contact's session or starts one from their
// published prekey bundle, and restarts it if the contact asked.
func (s *Service) ensureSession(ctx context.Context, cv *conv, c Contact) error {
	cv.mu.Lock()
	defer cv.mu.Unlock()
	if cv.session != nil && !cv.restart {
		return nil
	}
	if cv.session != nil { // the contact asked for a new session
		cv.mu.Unlock()
		bundle, err := s.o.FetchBundle(ctx, c.Peer)
		cv.mu.Lock()
		if err != nil {
			return fmt.Errorf("fetching prekeys: %w", err)
		}
		if cv.session == nil {
			return nil // dropped meanwhile; the next step starts afresh
		}
		if err := cv.session.Restart(s.local(), bundle, s.now()); err != nil {
			return fmt.Errorf("restarting the session: %w", err)
		}
		cv.restart = false
		return nil
	}
	v, err := s.sessions.Get(cv.id[:])
	switch {
	case err == nil:
		sess, err := e2e.ParseSession(v)
		if err != nil {
			return fmt.Errorf("reading the session: %w", err)
		}
		if string(sess.Peer().PeerID) == string(c.Peer) {
			cv.session = sess
			return nil
		}
		// A session of the contact's previous identity: start anew.
	case !errors.Is(err, store.ErrNotFound):
		return err
	}
	cv.mu.Unlock()
	bundle, err := s.o.FetchBundle(ctx, c.Peer)
	cv.mu.Lock()
	if err != nil {
		return fmt.Errorf("fetching prekeys: %w", err)
	}
	if cv.session != nil { // the contact started one meanwhile
		return nil
	}
	remote, err := e2ePeer(c.Peer)
	if err != nil {
		return err
	}
	cv.session, err = e2e.NewSession(s.local(), remote, bundle, s.now())
	cv.restart = false
	return err
}

// buildPayload fills one payload with receipts, typing and due items, up
// to the item and size limits (sizes are those of the encoded items).
// Called with cv.mu held; takes what it uses.
func (s *Service) buildPayload(cv *conv, due []outItem) *payload {
	p := &payload{Typing: cv.typing}
	cv.typing = typingNone
	const idField = 2 + len(ID{}) // tag, length, 16 bytes
	size, items := 4, 1
	take := func(ids []ID) ([]ID, []ID) {
		n := min(len(ids), (maxPayloadItems-items)/4, (MaxPayloadBytes/4)/idField)
		items += n
		size += n * idField
		return ids[:n:n], ids[n:]
	}
	p.Delivered, cv.acks = take(cv.acks)
	for _, id := range p.Delivered {
		delete(cv.acked, id)
	}
	p.Read, cv.read = take(cv.read)
	for _, it := range due {
		var need int
		switch {
		case it.Message != nil:
			need = 4 + len(it.Message.marshal())
		case it.Reaction != nil:
			need = 4 + len(it.Reaction.marshal())
		default:
			need = 4 + 2*idField
		}
		if items+1 > maxPayloadItems || size+need > MaxPayloadBytes {
			break
		}
		items++
		size += need
		switch {
		case it.Message != nil:
			p.Messages = append(p.Messages, *it.Message)
		case it.Reaction != nil:
			p.Reactions = append(p.Reactions, *it.Reaction)
		case it.Settings != nil:
			p.Settings = it.Settings // only the newest is queued
		}
	}
	return p
}

// sealPayload encrypts p in the session and stores the advanced session
// before a byte leaves, so a message key is never used twice. In the same
// write, messages that were Sending become Sent: they are handed to the
// stream next (and if that fails they are sent again). It returns the
// envelope and the messages it moved. Called with cv.mu held.
func (s *Service) sealPayload(cv *conv, p *payload) ([]byte, []Message, error) {
	env, err := cv.session.Encrypt(s.local(), p.marshal(), s.now())
	if err != nil {
		return nil, nil, fmt.Errorf("encrypting: %w", err)
	}
	state, err := cv.session.MarshalBinary()
	if err != nil {
		return nil, nil, err
	}
	var sent []Message
	err = s.o.Store.Write(false, func(w *store.Batch) error {
		sent = sent[:0]
		if err := w.Put(s.sessions, cv.id[:], state); err != nil {
			return err
		}
		for _, wm := range p.Messages {
			if err := s.hist.setState(w, cv.id, wm.ID, Sent, func(m Message) bool { return m.State == Sending }, &sent); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		cv.session = nil // ahead of the stored one: read it again
		return nil, nil, fmt.Errorf("saving the session: %w", err)
	}
	return env, sent, nil
}

// acknowledged handles the contact's Delivered receipts: the items leave
// the outbox and messages show as delivered. Called with cv.mu held, inside
// the batch that stores the payload they came in.
func (s *Service) acknowledged(w *store.Batch, cv *conv, ids []ID, changed *[]Message) error {
	for _, id := range ids {
		i := slices.IndexFunc(cv.queue, func(it outItem) bool { return it.ID == id })
		if i < 0 {
			// Already acknowledged, or given up on: a receipt that comes
			// after the mailbox copy expired still tells the truth.
			if err := s.hist.setState(w, cv.id, id, Delivered, func(m Message) bool { return m.Outgoing && m.State == Failed }, changed); err != nil {
				return err
			}
			continue
		}
		it := cv.queue[i]
		cv.queue = slices.Delete(cv.queue, i, i+1)
		delete(cv.sentAt, id)
		if err := w.Delete(s.outbox, msgKey(cv.id, id)); err != nil {
			return err
		}
		if it.Message == nil {
			continue
		}
		if err := s.hist.setState(w, cv.id, id, Delivered, func(m Message) bool { return m.State != Read }, changed); err != nil {
			return err
		}
	}
	return nil
}
