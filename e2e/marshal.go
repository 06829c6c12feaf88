package e2e

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

const sessionVersion = 1

// State flags (first flags byte, then second).
const (
	fInitiator = 1 << iota
	fConfirmed
	fPending
	fOPK
	fEnv
	fDHr
	fCKs
	fCKr
)

const (
	fHKs = 1 << iota
	fNHKs
	fHKr
	fNHKr
	fAll2 = fHKs | fNHKs | fHKr | fNHKr
)

const skippedKeySize = 4 + 32 + 8

// MarshalBinary encodes the session (layout in doc.go). The result holds
// secret keys: store it only sealed.
func (s *Session) MarshalBinary() ([]byte, error) {
	if len(s.states) == 0 {
		return nil, fmt.Errorf("%w: session was wiped", ErrMalformed)
	}
	b := make([]byte, 0, 256+len(s.states)*512)
	b = append(b, sessionVersion)
	for _, p := range []Peer{s.self, s.peer} {
		b = append(b, p.Key...)
		b = append(b, byte(len(p.PeerID)))
		b = append(b, p.PeerID...)
	}
	b = append(b, byte(len(s.states)))
	for _, st := range s.states {
		b = st.appendBinary(b)
	}
	return b, nil
}

func bit(b bool, f byte) byte {
	if b {
		return f
	}
	return 0
}

func (st *state) appendBinary(b []byte) []byte {
	f1 := bit(st.initiator, fInitiator) | bit(st.confirmed, fConfirmed) | bit(st.pending, fPending) |
		bit(st.opkUsed, fOPK) | bit(st.hasEnv, fEnv) | bit(st.hasDHr, fDHr) | bit(st.hasCKs, fCKs) | bit(st.hasCKr, fCKr)
	f2 := bit(st.hasHKs, fHKs) | bit(st.hasNHKs, fNHKs) | bit(st.hasHKr, fHKr) | bit(st.hasNHKr, fNHKr)
	b = append(b, f1, f2)
	b = append(b, st.initID[:]...)
	if st.pending {
		b = append(b, st.ek[:]...)
		b = append(b, st.kemCT...)
		b = binary.BigEndian.AppendUint32(b, st.opkID)
	}
	if st.hasEnv {
		b = append(b, st.envKey[:]...)
	}
	b = binary.BigEndian.AppendUint64(b, uint64(st.replayUntil))
	b = append(b, st.rk[:]...)
	b = append(b, st.dhsPriv[:]...)
	b = append(b, st.dhsPub[:]...)
	opt := func(has bool, k *[32]byte) {
		if has {
			b = append(b, k[:]...)
		}
	}
	opt(st.hasDHr, &st.dhr)
	opt(st.hasCKs, &st.cks)
	opt(st.hasCKr, &st.ckr)
	opt(st.hasHKs, &st.hks)
	opt(st.hasNHKs, &st.nhks)
	opt(st.hasHKr, &st.hkr)
	opt(st.hasNHKr, &st.nhkr)
	b = binary.BigEndian.AppendUint32(b, st.ns)
	b = binary.BigEndian.AppendUint32(b, st.pn)
	b = binary.BigEndian.AppendUint32(b, st.nr)
	b = binary.BigEndian.AppendUint16(b, uint16(len(st.skipped)))
	for _, c := range st.skipped {
		b = append(b, c.hk[:]...)
		b = binary.BigEndian.AppendUint16(b, uint16(len(c.keys)))
		for _, k := range c.keys {
			b = binary.BigEndian.AppendUint32(b, k.n)
			b = append(b, k.seed[:]...)
			b = binary.BigEndian.AppendUint64(b, uint64(k.at))
		}
	}
	return b
}

// reader is a bounds-checked cursor; after the first short read every read
// returns zeros and err is set.
type reader struct {
	b   []byte
	bad bool
}

func (r *reader) next(n int) []byte {
	if r.bad || n > len(r.b) {
		r.bad = true
		return make([]byte, n)
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) u8() byte        { return r.next(1)[0] }
func (r *reader) u16() int        { return int(binary.BigEndian.Uint16(r.next(2))) }
func (r *reader) u32() uint32     { return binary.BigEndian.Uint32(r.next(4)) }
func (r *reader) u64() uint64     { return binary.BigEndian.Uint64(r.next(8)) }
func (r *reader) key(k *[32]byte) { copy(k[:], r.next(32)) }

// ParseSession decodes what MarshalBinary produced. Only the canonical
// encoding is accepted, and counts are checked against the remaining length
// before anything is allocated.
func ParseSession(b []byte) (*Session, error) {
	bad := func(what string) (*Session, error) {
		return nil, fmt.Errorf("%w: session: %s", ErrMalformed, what)
	}
	r := &reader{b: b}
	if r.u8() != sessionVersion {
		return bad("version")
	}
	s := &Session{}
	for _, p := range []*Peer{&s.self, &s.peer} {
		p.Key = bytes.Clone(r.next(identitySize))
		n := int(r.u8())
		if n == 0 || n > MaxPeerIDSize {
			return bad("PeerID length")
		}
		p.PeerID = bytes.Clone(r.next(n))
	}
	n := int(r.u8())
	if r.bad || n < 1 || n > 1+MaxArchivedStates {
		return bad("state count")
	}
	total := 0
	for range n {
		st, err := parseState(r, &total)
		if err != nil {
			return nil, err
		}
		s.initState(st)
		s.states = append(s.states, st)
	}
	if r.bad || len(r.b) != 0 {
		return bad("length")
	}
	if err := s.self.check(); err != nil {
		return nil, err
	}
	if err := s.peer.check(); err != nil {
		return nil, err
	}
	// Canonical: re-encoding must give the input back.
	if again, _ := s.MarshalBinary(); !bytes.Equal(again, b) {
		return bad("not canonical")
	}
	return s, nil
}

func parseState(r *reader, total *int) (*state, error) {
	bad := func(what string) (*state, error) {
		return nil, fmt.Errorf("%w: session state: %s", ErrMalformed, what)
	}
	f1, f2 := r.u8(), r.u8()
	if f2&^fAll2 != 0 {
		return bad("flags")
	}
	st := &state{
		initiator: f1&fInitiator != 0, confirmed: f1&fConfirmed != 0, pending: f1&fPending != 0,
		opkUsed: f1&fOPK != 0, hasEnv: f1&fEnv != 0, hasDHr: f1&fDHr != 0, hasCKs: f1&fCKs != 0, hasCKr: f1&fCKr != 0,
		hasHKs: f2&fHKs != 0, hasNHKs: f2&fNHKs != 0, hasHKr: f2&fHKr != 0, hasNHKr: f2&fNHKr != 0,
	}
	if (st.pending && (!st.initiator || st.confirmed || !st.hasEnv)) || (st.opkUsed && !st.pending) || (!st.initiator && !st.confirmed) {
		return bad("inconsistent flags")
	}
	r.key(&st.initID)
	if st.pending {
		r.key(&st.ek)
		st.kemCT = bytes.Clone(r.next(kemCTSize))
		st.opkID = r.u32()
	}
	if st.hasEnv {
		r.key(&st.envKey)
	}
	st.replayUntil = int64(r.u64())
	r.key(&st.rk)
	r.key(&st.dhsPriv)
	r.key(&st.dhsPub)
	opt := func(has bool, k *[32]byte) {
		if has {
			r.key(k)
		}
	}
	opt(st.hasDHr, &st.dhr)
	opt(st.hasCKs, &st.cks)
	opt(st.hasCKr, &st.ckr)
	opt(st.hasHKs, &st.hks)
	opt(st.hasNHKs, &st.nhks)
	opt(st.hasHKr, &st.hkr)
	opt(st.hasNHKr, &st.nhkr)
	st.ns, st.pn, st.nr = r.u32(), r.u32(), r.u32()
	nc := r.u16()
	if r.bad || nc > MaxSkippedChains || nc*(32+2+skippedKeySize) > len(r.b) {
		return bad("skipped chain count")
	}
	if nc > 0 {
		st.skipped = make([]skippedChain, nc)
	}
	for i := range st.skipped {
		c := &st.skipped[i]
		r.key(&c.hk)
		nk := r.u16()
		*total += nk
		if r.bad || nk == 0 || *total > MaxSkippedKeys || nk*skippedKeySize > len(r.b) {
			return bad("skipped key count")
		}
		c.keys = make([]skippedKey, nk)
		for j := range c.keys {
			c.keys[j].n = r.u32()
			r.key(&c.keys[j].seed)
			c.keys[j].at = int64(r.u64())
		}
	}
	if r.bad {
		return bad("truncated")
	}
	return st, nil
}
