package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"time"
)

// MaxSkippedChains caps the receiving chains with stored skipped keys per
// state: a header that no current key opens is tried against each of them.
const MaxSkippedChains = 64

// Received is a decrypted message.
type Received struct {
	Plaintext []byte
	// Initial is set for initial (prekey) messages. The caller records
	// ReplayID in its ReplayCache until ReplayUntil, after it has committed
	// the session, and deletes the one-time prekey OneTimeID if OneTimeUsed.
	Initial     bool
	ReplayID    [32]byte
	ReplayUntil time.Time
	OneTimeUsed bool
	OneTimeID   uint32
}

// Session is a Double Ratchet session with one peer: the current state
// plus up to MaxArchivedStates previous ones. A Session is not safe for
// concurrent use.
type Session struct {
	self, peer Peer
	states     []*state // states[0] is current
	sc         *scratch
}

func clonePeer(p Peer) Peer {
	return Peer{Key: slices.Clone(p.Key), PeerID: slices.Clone(p.PeerID)}
}

// Peer returns the remote party.
func (s *Session) Peer() Peer { return clonePeer(s.peer) }

func (s *Session) scratch() *scratch {
	if s.sc == nil {
		s.sc = newScratch()
	}
	return s.sc
}

func (s *Session) initState(st *state) {
	st.adSend = adHash(s.self, s.peer, &st.initID)
	st.adRecv = adHash(s.peer, s.self, &st.initID)
	if st.cache == nil {
		st.cache = new(aeadCache)
	}
}

func (s *Session) checkLocal(l *Local) error {
	if l == nil || len(l.Identity.Key) != 64 || !bytes.Equal(l.Identity.Key[32:], s.self.Key) {
		return fmt.Errorf("%w: session belongs to another local identity", ErrWrongPeer)
	}
	return nil
}

// Encrypt encrypts plaintext for the peer in the current state. Until the
// peer replied in that state, the result is an initial message.
func (s *Session) Encrypt(l *Local, plaintext []byte, now time.Time) ([]byte, error) {
	if len(plaintext) > MaxPlaintext {
		return nil, fmt.Errorf("%w: plaintext of %d bytes, at most %d", ErrTooLarge, len(plaintext), MaxPlaintext)
	}
	if err := s.checkLocal(l); err != nil {
		return nil, err
	}
	st := s.states[0]
	if !st.pending {
		return st.encrypt(s.scratch(), l.rand(), plaintext)
	}
	// Encrypt into a copy so that a failure leaves the session unchanged.
	t := *st
	inner, err := t.encrypt(s.scratch(), l.rand(), plaintext)
	if err != nil {
		return nil, err
	}
	out, err := s.sealInitial(&t, l.rand(), inner)
	if err != nil {
		return nil, err
	}
	*st = t
	return out, nil
}

// errNoHeaderKey: no header key of a state opened the header; try the next.
var errNoHeaderKey = fmt.Errorf("%w: no header key opens the header", ErrInvalidMessage)

// Decrypt decrypts a normal or initial message from the peer. On any error
// the session is exactly as it was.
func (s *Session) Decrypt(l *Local, msg []byte, now time.Time) (*Received, error) {
	if len(msg) > MaxMessageSize {
		return nil, fmt.Errorf("%w: message of %d bytes", ErrTooLarge, len(msg))
	}
	if err := s.checkLocal(l); err != nil {
		return nil, err
	}
	if IsInitial(msg) {
		return s.decryptInitial(l, msg, now)
	}
	sc := s.scratch()
	for i, st := range s.states {
		pt, u, err := st.decrypt(sc, l.rand(), msg, now)
		if errors.Is(err, errNoHeaderKey) {
			continue
		}
		if err != nil {
			return nil, err
		}
		confirms := st.initiator && !st.confirmed
		st.commit(u)
		if i > 0 && confirms {
			// The peer answered in a session we initiated and archived
			// unconfirmed (we lost a tie-break, or took a late initial
			// message of the peer for a reset): it chose this one, follow.
			// Other archived states only decrypt late messages: promoting
			// them would switch back to a session the peer abandoned.
			s.promote(i)
		}
		s.prune(now)
		return &Received{Plaintext: pt}, nil
	}
	return nil, fmt.Errorf("%w: message does not belong to this session", ErrInvalidMessage)
}

// decryptInitial handles an initial message on an existing session: a
// repeat of the peer's initial messages of a state we hold, or a new
// exchange (simultaneous initiation or a peer reset).
func (s *Session) decryptInitial(l *Local, msg []byte, now time.Time) (*Received, error) {
	ek, ct, _, _, err := splitInitial(msg)
	if err != nil {
		return nil, err
	}
	rid := replayID(ek, ct)
	for _, st := range s.states {
		if st.initID != rid {
			continue
		}
		if st.initiator {
			return nil, fmt.Errorf("%w: our own initial message", ErrInvalidMessage)
		}
		sender, inner, err := openRepeat(st, msg)
		if err != nil {
			return nil, err
		}
		if !samePeer(sender, s.peer) {
			return nil, fmt.Errorf("%w: initial message from another identity", ErrWrongPeer)
		}
		pt, u, err := st.decrypt(s.scratch(), l.rand(), inner, now)
		if err != nil {
			if errors.Is(err, errNoHeaderKey) {
				// The envelope is authentic (sealed under this state's
				// EnvKey) but no key is left for its message: received
				// already, or its key was evicted.
				err = fmt.Errorf("%w: initial message already received", ErrReplay)
			}
			return nil, err
		}
		st.commit(u)
		s.prune(now)
		return &Received{Plaintext: pt, Initial: true, ReplayID: rid, ReplayUntil: time.Unix(st.replayUntil, 0)}, nil
	}
	ns, rec, err := acceptInitial(l, msg, now, &s.peer)
	if err != nil {
		return nil, err
	}
	st := ns.states[0]
	s.initState(st)
	cur := s.states[0]
	if cur.initiator && !cur.confirmed && bytes.Compare(s.peer.PeerID, s.self.PeerID) > 0 {
		// Simultaneous initiation, and the session we initiated wins the
		// tie-break (smaller PeerID): keep ours current, archive theirs so
		// that their messages still decrypt.
		s.states = slices.Insert(s.states, 1, st)
	} else {
		// Their session wins the tie-break, or ours is confirmed and the
		// peer started over (e.g. reinstalled): theirs becomes current.
		s.states = slices.Insert(s.states, 0, st)
	}
	if len(s.states) > 1+MaxArchivedStates {
		for _, old := range s.states[1+MaxArchivedStates:] {
			old.wipe()
		}
		s.states = s.states[:1+MaxArchivedStates]
	}
	s.prune(now)
	return rec, nil
}

// promote makes states[i] current (the peer is sending in it).
func (s *Session) promote(i int) {
	st := s.states[i]
	copy(s.states[1:i+1], s.states[:i])
	s.states[0] = st
}

// prune drops skipped keys older than SkippedKeyTTL, then the oldest keys
// beyond MaxSkippedKeys (all states together), and the oldest chains beyond
// MaxSkippedChains per state.
func (s *Session) prune(now time.Time) {
	cutoff := now.Add(-SkippedKeyTTL).Unix()
	total := 0
	for _, st := range s.states {
		chains := st.skipped[:0]
		for _, c := range st.skipped {
			i := 0
			for i < len(c.keys) && c.keys[i].at < cutoff {
				clear(c.keys[i].seed[:])
				i++
			}
			c.keys = c.keys[i:]
			if len(c.keys) > 0 {
				chains = append(chains, c)
			}
		}
		clear(st.skipped[len(chains):])
		st.skipped = chains
		if n := len(st.skipped) - MaxSkippedChains; n > 0 {
			for _, c := range st.skipped[:n] {
				for j := range c.keys {
					clear(c.keys[j].seed[:])
				}
			}
			st.skipped = slices.Delete(st.skipped, 0, n)
		}
		total += st.numSkipped()
	}
	for excess := total - MaxSkippedKeys; excess > 0; {
		// The state whose oldest key is oldest (later states on ties: they
		// are archived).
		var victim *state
		for _, st := range s.states {
			if len(st.skipped) > 0 && (victim == nil || st.skipped[0].keys[0].at <= victim.skipped[0].keys[0].at) {
				victim = st
			}
		}
		c := &victim.skipped[0]
		n := min(excess, len(c.keys))
		for j := range n {
			clear(c.keys[j].seed[:])
		}
		c.keys = c.keys[n:]
		if len(c.keys) == 0 {
			victim.skipped = slices.Delete(victim.skipped, 0, 1)
		}
		excess -= n
	}
}

func (st *state) wipe() {
	for _, c := range st.skipped {
		for j := range c.keys {
			clear(c.keys[j].seed[:])
		}
	}
	st.skipped = nil
	for _, k := range []*[32]byte{&st.rk, &st.dhsPriv, &st.cks, &st.ckr, &st.hks, &st.nhks, &st.hkr, &st.nhkr, &st.envKey} {
		clear(k[:])
	}
	st.dhs = nil
	st.cache = nil
}

// Wipe zeroes the session's keys. The session is unusable afterwards.
func (s *Session) Wipe() {
	for _, st := range s.states {
		st.wipe()
	}
	if s.sc != nil {
		s.sc.h.wipe()
	}
	s.states = nil
}

// Restart starts a new exchange from the peer's bundle in this session: the
// new state becomes current and what was current is archived, so messages
// the peer still sends in the old states decrypt. The caller restarts when
// the peer says it cannot decrypt what it receives (it lost its state). On
// error s is unchanged.
func (s *Session) Restart(l *Local, b *Bundle, now time.Time) error {
	if err := s.checkLocal(l); err != nil {
		return err
	}
	ns, err := NewSession(l, s.peer, b, now)
	if err != nil {
		return err
	}
	st := ns.states[0]
	s.initState(st)
	s.states = slices.Insert(s.states, 0, st)
	if len(s.states) > 1+MaxArchivedStates {
		for _, old := range s.states[1+MaxArchivedStates:] {
			old.wipe()
		}
		s.states = s.states[:1+MaxArchivedStates]
	}
	s.prune(now)
	return nil
}
