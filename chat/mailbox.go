package chat

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/discordopus/discordopus/e2e"
	"github.com/discordopus/discordopus/store"
)

// Offline delivery (see doc.go): what cannot reach a contact directly is
// deposited in their mailbox, sealed exactly as on a stream; the node
// drains its own mailbox and hands each envelope to ReceiveMailbox.

// ErrUndecryptable is a mailbox envelope that no session of this node
// opens: not for us, or of a session we no longer have. It can be deleted.
var ErrUndecryptable = errors.New("no session opens this envelope")

// mailboxKey picks the contact's key for the epoch of now, if they
// announced one.
func (s *Service) mailboxKey(contact ID, now time.Time) (MailboxKey, bool) {
	meta, err := s.hist.getMeta(contact)
	if err != nil {
		return MailboxKey{}, false
	}
	epoch := s.o.Mailbox.Epoch(now)
	for _, k := range meta.PeerMailbox {
		if k.Epoch == epoch {
			return k, true
		}
	}
	return MailboxKey{}, false
}

// depositAll seals everything queued for c that is not in their mailbox
// yet, with pending receipts, and deposits it there, a payload at a time.
func (s *Service) depositAll(ctx context.Context, cv *conv, c Contact) error {
	if c.State != Accepted {
		return nil
	}
	now := s.now()
	key, ok := s.mailboxKey(c.ID, now)
	if !ok {
		return nil // they never told us their mailbox
	}
	ctx, cancel := context.WithTimeout(ctx, depositTimeout)
	defer cancel()
	sctx, cancelSession := context.WithTimeout(ctx, streamTimeout)
	defer cancelSession()
	if err := s.ensureSession(sctx, cv, c); err != nil {
		return err
	}
	for range maxInflight / maxPayloadItems {
		cv.mu.Lock()
		d := cv.deposit
		if d == nil {
			if cv.session == nil {
				cv.mu.Unlock()
				return nil
			}
			var pending []outItem
			for _, it := range cv.queue {
				if it.DepositedUntil.IsZero() {
					pending = append(pending, it)
				}
			}
			p := s.buildPayload(cv, pending)
			p.Typing = typingNone // stale by the time it is read
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
			// Until a deposit of these bytes succeeds, retries send the
			// same bytes: holders deduplicate them, and no message key is
			// spent twice. (After a restart they are sealed anew.)
			d = &pendingDeposit{env: env, ids: p.ackIDs(), sent: sent}
			cv.deposit = d
		}
		cv.mu.Unlock()

		if err := s.o.Mailbox.Deposit(ctx, key, d.env, mailboxTTL); err != nil {
			return err
		}
		cv.mu.Lock()
		cv.deposit = nil
		cv.mu.Unlock()
		if err := s.markDeposited(cv, d.ids, now.Add(mailboxTTL)); err != nil {
			return err
		}
		for i := range d.sent {
			s.events.publish(Event{Kind: EventState, Contact: cv.id, Message: &d.sent[i]})
		}
	}
	return nil
}

// pendingDeposit is a sealed payload on its way to a mailbox.
type pendingDeposit struct {
	env  []byte
	ids  []ID      // the items it carries that the contact acknowledges
	sent []Message // messages it moved to Sent
}

// markDeposited records in the outbox that ids wait in the contact's
// mailbox until until, so they are not deposited again.
func (s *Service) markDeposited(cv *conv, ids []ID, until time.Time) error {
	cv.mu.Lock()
	defer cv.mu.Unlock()
	return s.o.Store.Write(false, func(w *store.Batch) error {
		for i := range cv.queue {
			it := &cv.queue[i]
			if !slices.Contains(ids, it.ID) {
				continue
			}
			it.DepositedUntil = until
			v, _ := json.Marshal(*it)
			if err := w.Put(s.outbox, msgKey(cv.id, it.ID), v); err != nil {
				return err
			}
		}
		return nil
	})
}

// expireDeposits gives up on items whose mailbox copy expired without an
// acknowledgement: they leave the outbox, and messages show as Failed so
// the user can send them again. Called with cv.mu held.
func (s *Service) expireDeposits(cv *conv, now time.Time) {
	var gone []outItem
	for _, it := range cv.queue {
		if !it.DepositedUntil.IsZero() && now.After(it.DepositedUntil) {
			gone = append(gone, it)
		}
	}
	if len(gone) == 0 {
		return
	}
	var failed []Message
	err := s.o.Store.Write(false, func(w *store.Batch) error {
		failed = failed[:0]
		for _, it := range gone {
			if err := w.Delete(s.outbox, msgKey(cv.id, it.ID)); err != nil {
				return err
			}
			if it.Message == nil {
				continue
			}
			if err := s.hist.setState(w, cv.id, it.ID, Failed, func(Message) bool { return true }, &failed); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		s.log.Warn("expiring mailbox deposits", "err", err)
		return
	}
	cv.queue = slices.DeleteFunc(cv.queue, func(it outItem) bool {
		return slices.ContainsFunc(gone, func(g outItem) bool { return g.ID == it.ID })
	})
	for _, it := range gone {
		delete(cv.sentAt, it.ID)
	}
	for i := range failed {
		s.events.publish(Event{Kind: EventState, Contact: cv.id, Message: &failed[i]})
	}
}

// ReceiveMailbox takes one envelope drained from this node's mailbox. It
// returns nil once what the envelope carries is stored (or was already),
// so the caller may delete it at the holders; ErrUndecryptable means no
// session opens it, and it may be deleted too.
func (s *Service) ReceiveMailbox(env []byte) error {
	if e2e.IsInitial(env) {
		from, err := e2e.InitialSender(s.local(), env, s.now())
		if err != nil {
			if errors.Is(err, e2e.ErrReplay) {
				return nil // already received
			}
			return fmt.Errorf("%w: %w", ErrUndecryptable, err)
		}
		return discardable(s.receiveFrom(peer.ID(from.PeerID), env, true))
	}
	// A follow-up message names no one: try the sessions of every contact.
	all, err := s.contacts.all()
	if err != nil {
		return err
	}
	for _, c := range all {
		if c.State == Blocked {
			continue
		}
		err := s.receiveFrom(c.Peer, env, true)
		if err == nil {
			return nil
		}
		if !errors.Is(err, errDrop) {
			return err
		}
		if errors.Is(err, e2e.ErrReplay) {
			return nil // this session already took it
		}
	}
	return ErrUndecryptable
}

// discardable turns the reasons a frame is dropped (a blocked sender, a
// stranger past the request cap, a broken payload) into ErrUndecryptable:
// such an envelope will never be of use, so it may be deleted.
func discardable(err error) error {
	if errors.Is(err, errDrop) || errors.Is(err, ErrBadFrame) {
		return fmt.Errorf("%w: %w", ErrUndecryptable, err)
	}
	return err
}

var horizonKey = []byte("mailbox-horizon")

// announceMailbox keeps contacts supplied with this node's mailbox keys:
// when the last epoch announced is fewer than reannounceEpochs away, every
// accepted contact gets a Settings item with the next announceEpochs keys.
// It checks at start and then hourly.
func (s *Service) announceMailbox(ctx context.Context) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		if err := s.reannounce(); err != nil {
			s.log.Warn("announcing mailbox keys", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (s *Service) reannounce() error {
	now := s.o.Mailbox.Epoch(s.now())
	var horizon uint64
	if v, err := s.settings.Get(horizonKey); err == nil && len(v) == 8 {
		horizon = binary.BigEndian.Uint64(v)
	} else if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	if horizon >= now+reannounceEpochs {
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
	return s.settings.Put(horizonKey, binary.BigEndian.AppendUint64(nil, now+announceEpochs-1))
}
