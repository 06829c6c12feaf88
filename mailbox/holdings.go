package mailbox

import (
	"bytes"
	"crypto/sha256"
	"errors"
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
	return h, nil
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

// ackedUntil reports whether (a, id) was acknowledged, and until when
// that is remembered.
func (h *holdings) ackedUntil(a Address, id [32]byte) (int64, bool, error) {
	v, err := h.acked.Get(recordKey(a, id))
	if errors.Is(err, store.ErrNotFound) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	expires, _, err := decodeStored(v)
	if err != nil {
		return 0, false, err
	}
	return expires, true, nil
}

// delete removes the envelopes ids of a; if acked, it remembers them until
// their expiry. Ids it does not hold are skipped. It returns how many it
// removed.
func (h *holdings) delete(a Address, ids [][32]byte, acked bool, now time.Time) (int, error) {
	type gone struct {
		id  [32]byte
		exp int64
	}
	var del []gone
	seen := make(map[[32]byte]bool, len(ids))
	for _, id := range ids {
		if e, ok := h.lookup(a, id); ok && !seen[id] {
			seen[id] = true
			del = append(del, gone{id, e.expires})
		}
	}
	if len(del) == 0 {
		return 0, nil
	}
	err := h.st.Write(false, func(w *store.Batch) error {
		for _, g := range del {
			k := recordKey(a, g.id)
			if err := w.Delete(h.envelopes, k); err != nil {
				return err
			}
			if err := w.Delete(h.index, k); err != nil {
				return err
			}
			if ttl := time.UnixMilli(g.exp).Sub(now); acked && ttl > 0 {
				if err := w.Put(h.acked, k, encodeStored(g.exp, nil), store.WithTTL(ttl)); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("deleting envelopes: %w", err)
	}
	for _, g := range del {
		h.remove(a, g.id)
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
		if _, err := h.delete(a, expired[:n], false, now); err != nil {
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
