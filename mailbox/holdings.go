package mailbox

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"
	"maps"
	"math"
	"slices"
	"time"

	"github.com/discordopus/discordopus/store"
)

// Store namespaces; doc.go, "Storage".
const (
	nsEnvelopes = "mailbox"
	nsIndex     = "mailbox-index"
	nsAcked     = "mailbox-acked"
)

// entry is what the holder keeps in memory about one envelope.
type entry struct {
	expires int64 // Unix ms
	size    int
}

// Bounds on tombstones (remembered acknowledgements). Past them an ACK
// still deletes what it names, but is not remembered: at worst a late
// replica of a delivered envelope is stored and delivered again, and the
// recipient's end-to-end layer drops it as a replay.
const (
	maxTombstonesPerAddress = 4096
	maxTombstonesTotal      = 1 << 18
)

// tomb is what the holder keeps in memory about one tombstone.
type tomb struct {
	expires int64 // Unix ms
	signed  bool  // the record holds the recipient's release
}

// box is one address's envelopes.
type box struct {
	entries  map[[32]byte]entry
	bytes    int64
	earliest int64 // no entry expires before this (a lower bound)
}

// holdings is the accounting of everything held, kept in memory and
// rebuilt from the index namespace on open. Every method is called with
// Server.mu held; the store is written before memory is changed, so a
// failed write leaves the two consistent.
type holdings struct {
	st        *store.Store
	envelopes *store.Namespace
	index     *store.Namespace
	acked     *store.Namespace

	boxes    map[Address]*box
	count    int
	bytes    int64
	earliest int64 // no entry anywhere expires before this (a lower bound)

	tombs         map[Address]map[[32]byte]tomb
	tombCount     int
	tombsEarliest int64 // no tombstone expires before this (a lower bound)
}

func recordKey(a Address, id [32]byte) []byte {
	k := make([]byte, 0, len(a)+len(id))
	k = append(k, a[:]...)
	return append(k, id[:]...)
}

func openHoldings(st *store.Store) (*holdings, error) {
	h := &holdings{
		st:        st,
		envelopes: st.Namespace(nsEnvelopes),
		index:     st.Namespace(nsIndex),
		acked:     st.Namespace(nsAcked),
		boxes:     map[Address]*box{},
		earliest:  math.MaxInt64,

		tombs:         map[Address]map[[32]byte]tomb{},
		tombsEarliest: math.MaxInt64,
	}
	err := h.index.Iterate(nil, false, func(k, v []byte) error {
		if len(k) != 2*idSize {
			return fmt.Errorf("%w: index key of %d bytes", errBadRecord, len(k))
		}
		expires, size, err := decodeIndex(v)
		if err != nil {
			return err
		}
		h.add(Address(k[:idSize]), [32]byte(k[idSize:]), entry{expires: expires, size: size})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("mailbox: reading what this holder holds: %w", err)
	}
	err = h.acked.Iterate(nil, false, func(k, v []byte) error {
		if len(k) != 2*idSize {
			return fmt.Errorf("%w: tombstone key of %d bytes", errBadRecord, len(k))
		}
		expires, payload, err := decodeStored(v)
		if err != nil {
			return err
		}
		h.addTomb(Address(k[:idSize]), [32]byte(k[idSize:]), tomb{expires: expires, signed: len(payload) == releasePayload})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("mailbox: reading the acknowledgements this holder remembers: %w", err)
	}
	return h, nil
}

// releasePayload is the payload of a signed tombstone record: the
// recipient's epoch public key and its release.
const releasePayload = ed25519.PublicKeySize + releaseSize

func (h *holdings) addTomb(a Address, id [32]byte, t tomb) {
	m := h.tombs[a]
	if m == nil {
		m = map[[32]byte]tomb{}
		h.tombs[a] = m
	}
	if _, ok := m[id]; !ok {
		h.tombCount++
	}
	m[id] = t
	h.tombsEarliest = min(h.tombsEarliest, t.expires)
}

func (h *holdings) add(a Address, id [32]byte, e entry) {
	b := h.boxes[a]
	if b == nil {
		b = &box{entries: map[[32]byte]entry{}, earliest: math.MaxInt64}
		h.boxes[a] = b
	}
	b.entries[id] = e
	b.bytes += int64(e.size)
	b.earliest = min(b.earliest, e.expires)
	h.count++
	h.bytes += int64(e.size)
	h.earliest = min(h.earliest, e.expires)
}

func (h *holdings) remove(a Address, id [32]byte) {
	b := h.boxes[a]
	if b == nil {
		return
	}
	e, ok := b.entries[id]
	if !ok {
		return
	}
	delete(b.entries, id)
	b.bytes -= int64(e.size)
	h.count--
	h.bytes -= int64(e.size)
	if len(b.entries) == 0 {
		delete(h.boxes, a)
	}
}

func (h *holdings) lookup(a Address, id [32]byte) (entry, bool) {
	if b := h.boxes[a]; b != nil {
		e, ok := b.entries[id]
		return e, ok
	}
	return entry{}, false
}

// store writes an envelope with its index record and accounts for it.
func (h *holdings) store(a Address, id [32]byte, env []byte, expires int64, now time.Time) error {
	ttl := time.UnixMilli(expires).Sub(now)
	if ttl <= 0 {
		return refuse(ErrExpired, "expired %v ago", -ttl)
	}
	k := recordKey(a, id)
	err := h.st.Write(false, func(w *store.Batch) error {
		if err := w.Put(h.envelopes, k, encodeStored(expires, env), store.WithTTL(ttl)); err != nil {
			return err
		}
		return w.Put(h.index, k, encodeIndex(expires, len(env)), store.WithTTL(ttl))
	})
	if err != nil {
		return fmt.Errorf("storing an envelope: %w", err)
	}
	h.add(a, id, entry{expires: expires, size: len(env)})
	return nil
}

// ackedUntil reports whether (a, id) was acknowledged, until when that is
// remembered, and whether the recipient's release is kept with it.
func (h *holdings) ackedUntil(a Address, id [32]byte, now time.Time) (until int64, signed, ok bool) {
	t, ok := h.tombs[a][id]
	if !ok || t.expires <= now.UnixMilli() {
		return 0, false, false
	}
	return t.expires, t.signed, true
}

// releaseOf reads the recipient's public key and release of a signed
// tombstone.
func (h *holdings) releaseOf(a Address, id [32]byte) (pub, release []byte, err error) {
	v, err := h.acked.Get(recordKey(a, id))
	if err != nil {
		return nil, nil, err
	}
	_, payload, err := decodeStored(v)
	if err != nil {
		return nil, nil, err
	}
	if len(payload) != releasePayload {
		return nil, nil, store.ErrNotFound // a tombstone without a release
	}
	return payload[:ed25519.PublicKeySize], payload[ed25519.PublicKeySize:], nil
}

// released lists a's unexpired signed tombstones, in id order, with the
// public key they verify under.
func (h *holdings) released(a Address, now time.Time) (pub []byte, out []tombstone, err error) {
	ms := now.UnixMilli()
	var n int
	for _, t := range h.tombs[a] {
		if t.signed && t.expires > ms {
			n++
		}
	}
	if n == 0 {
		return nil, nil, nil
	}
	out = make([]tombstone, 0, n)
	err = h.acked.Iterate(a[:], false, func(k, v []byte) error {
		if len(k) != 2*idSize {
			return fmt.Errorf("%w: tombstone key of %d bytes", errBadRecord, len(k))
		}
		expires, payload, err := decodeStored(v)
		if err != nil {
			return err
		}
		if expires <= ms || len(payload) != releasePayload {
			return nil
		}
		if pub == nil {
			pub = slices.Clone(payload[:ed25519.PublicKeySize])
		}
		out = append(out, tombstone{id: [32]byte(k[idSize:]), expires: expires, release: slices.Clone(payload[ed25519.PublicKeySize:])})
		return nil
	})
	return pub, out, err
}

// release deletes the envelopes of a that ts name and remembers each of
// them (held or not) as acknowledged, until the envelope's expiry if it
// is held, else until the tombstone's own expiry, never past horizon
// (Unix ms). A tombstone with a
// release, which must have been verified under pub, keeps it; one without
// does not replace one with. Past the tombstone bounds nothing more is
// remembered. It returns how many envelopes it deleted.
func (h *holdings) release(a Address, pub []byte, ts []tombstone, horizon int64, now time.Time) (int, error) {
	type put struct {
		id      [32]byte
		t       tomb
		payload []byte
	}
	ms := now.UnixMilli()
	var (
		del  [][32]byte
		puts []put
		seen = make(map[[32]byte]bool, len(ts))
	)
	known := h.tombs[a]
	for _, t := range ts {
		if seen[t.id] {
			continue
		}
		seen[t.id] = true
		exp := horizon
		if e, ok := h.lookup(a, t.id); ok {
			del = append(del, t.id)
			exp = min(e.expires, horizon)
		} else if t.expires > 0 {
			exp = min(t.expires, horizon)
		}
		if exp <= ms {
			continue
		}
		signed := t.release != nil && len(pub) == ed25519.PublicKeySize
		old, had := known[t.id]
		switch {
		case !had:
			if len(known)+len(puts) >= maxTombstonesPerAddress || h.tombCount+len(puts) >= maxTombstonesTotal {
				continue
			}
		case old.signed && !signed:
			continue
		case signed && !old.signed:
		case exp > old.expires:
		default:
			continue
		}
		if had {
			exp = max(exp, old.expires)
		}
		var payload []byte
		if signed {
			payload = append(append(make([]byte, 0, releasePayload), pub...), t.release...)
		}
		puts = append(puts, put{t.id, tomb{expires: exp, signed: signed}, payload})
	}
	if len(del) == 0 && len(puts) == 0 {
		return 0, nil
	}
	err := h.st.Write(false, func(w *store.Batch) error {
		for _, id := range del {
			k := recordKey(a, id)
			if err := w.Delete(h.envelopes, k); err != nil {
				return err
			}
			if err := w.Delete(h.index, k); err != nil {
				return err
			}
		}
		for _, p := range puts {
			ttl := time.UnixMilli(p.t.expires).Sub(now)
			if err := w.Put(h.acked, recordKey(a, p.id), encodeStored(p.t.expires, p.payload), store.WithTTL(ttl)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("deleting acknowledged envelopes: %w", err)
	}
	for _, id := range del {
		h.remove(a, id)
	}
	for _, p := range puts {
		h.addTomb(a, p.id, p.t)
	}
	return len(del), nil
}

// collectTombs forgets expired tombstones (the store has dropped their
// records already).
func (h *holdings) collectTombs(now time.Time) {
	ms := now.UnixMilli()
	if h.tombsEarliest > ms {
		return
	}
	next := int64(math.MaxInt64)
	for a, m := range h.tombs {
		for id, t := range m {
			if t.expires <= ms {
				delete(m, id)
				h.tombCount--
			} else {
				next = min(next, t.expires)
			}
		}
		if len(m) == 0 {
			delete(h.tombs, a)
		}
	}
	h.tombsEarliest = next
}

// delete removes the envelopes ids of a, which have expired. Ids it does not hold are
// skipped. It returns how many it removed.
func (h *holdings) delete(a Address, ids [][32]byte) (int, error) {
	var del [][32]byte
	seen := make(map[[32]byte]bool, len(ids))
	for _, id := range ids {
		if _, ok := h.lookup(a, id); ok && !seen[id] {
			seen[id] = true
			del = append(del, id)
		}
	}
	if len(del) == 0 {
		return 0, nil
	}
	err := h.st.Write(false, func(w *store.Batch) error {
		for _, id := range del {
			k := recordKey(a, id)
			if err := w.Delete(h.envelopes, k); err != nil {
				return err
			}
			if err := w.Delete(h.index, k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("deleting expired envelopes: %w", err)
	}
	for _, id := range del {
		h.remove(a, id)
	}
	return len(del), nil
}

// collectBox deletes a's expired envelopes, if any can have expired.
func (h *holdings) collectBox(a Address, now time.Time) error {
	b := h.boxes[a]
	ms := now.UnixMilli()
	if b == nil || b.earliest > ms {
		return nil
	}
	var expired [][32]byte
	next := int64(math.MaxInt64)
	for id, e := range b.entries {
		if e.expires <= ms {
			expired = append(expired, id)
		} else {
			next = min(next, e.expires)
		}
	}
	for len(expired) > 0 {
		n := min(len(expired), 256) // bounds one batch
		if _, err := h.delete(a, expired[:n]); err != nil {
			return err
		}
		expired = expired[n:]
	}
	if b := h.boxes[a]; b != nil {
		b.earliest = next
	}
	return nil
}

// collect deletes every expired envelope, if any can have expired, and
// reports how many.
func (h *holdings) collect(now time.Time) (int, error) {
	ms := now.UnixMilli()
	h.collectTombs(now)
	if h.earliest > ms {
		return 0, nil
	}
	before := h.count
	next := int64(math.MaxInt64)
	for _, a := range slices.Collect(maps.Keys(h.boxes)) {
		if err := h.collectBox(a, now); err != nil {
			return before - h.count, err
		}
		if b := h.boxes[a]; b != nil {
			next = min(next, b.earliest)
		}
	}
	h.earliest = next
	return before - h.count, nil
}

// live lists a's unexpired envelopes after cursor (all if cursor is nil),
// in id order.
func (h *holdings) live(a Address, cursor *[32]byte, now time.Time) [][32]byte {
	b := h.boxes[a]
	if b == nil {
		return nil
	}
	ms := now.UnixMilli()
	ids := make([][32]byte, 0, len(b.entries))
	for id, e := range b.entries {
		if e.expires > ms && (cursor == nil || bytes.Compare(id[:], cursor[:]) > 0) {
			ids = append(ids, id)
		}
	}
	slices.SortFunc(ids, func(x, y [32]byte) int { return bytes.Compare(x[:], y[:]) })
	return ids
}

// read returns a held envelope, checked against its id.
func (h *holdings) read(a Address, id [32]byte) (Held, error) {
	v, err := h.envelopes.Get(recordKey(a, id))
	if err != nil {
		return Held{}, err
	}
	expires, env, err := decodeStored(v)
	if err != nil {
		return Held{}, err
	}
	if sha256.Sum256(env) != id {
		return Held{}, fmt.Errorf("%w: envelope does not match its id", errBadRecord)
	}
	return Held{ID: id, Envelope: env, Expires: time.UnixMilli(expires)}, nil
}
