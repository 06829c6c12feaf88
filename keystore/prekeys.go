package keystore

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/discordopus/discordopus/e2e"
	"github.com/discordopus/discordopus/store"
)

// Prekey defaults.
const (
	DefaultRotation      = 7 * 24 * time.Hour
	DefaultGrace         = 35 * 24 * time.Hour
	DefaultCheckInterval = time.Hour
)

// PrekeyKV is the part of a store namespace PrekeyStore uses; a
// *store.Namespace is one.
type PrekeyKV interface {
	Put(key, value []byte, opts ...store.PutOption) error
	Get(key []byte) ([]byte, error)
	Delete(key []byte) error
	Iterate(prefix []byte, reverse bool, fn func(key, value []byte) error) error
}

// PrekeyOptions configure OpenPrekeys.
type PrekeyOptions struct {
	// Identity signs the bundle; required.
	Identity ed25519.PrivateKey
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Rand is the source of keys; nil means crypto/rand.
	Rand io.Reader
	// Rotation is the age at which a new generation replaces the newest
	// (default DefaultRotation).
	Rotation time.Duration
	// Grace is how long a replaced generation is kept (default
	// DefaultGrace).
	Grace time.Duration
	// OneTime is how many one-time prekeys to offer (default 0, at most
	// e2e.MaxOneTimePrekeys).
	OneTime int
	// CheckInterval is how often Serve calls Rotate (default
	// DefaultCheckInterval).
	CheckInterval time.Duration
	// Logger receives Serve's failures; nil means slog.Default().
	Logger *slog.Logger
}

// PrekeyStore holds the prekeys. It implements e2e.PrekeyLookup and is safe
// for concurrent use.
type PrekeyStore struct {
	kv PrekeyKV
	o  PrekeyOptions

	mu          sync.Mutex
	gens        []*e2e.Prekeys       // oldest first
	oneTime     []*e2e.OneTimePrekey // by ID
	seq         uint64               // the bundle's current sequence number
	nextOneTime uint32               // next one-time prekey ID
	changed     chan struct{}        // signalled when the bundle changes
	closed      bool
}

var (
	keyMeta       = []byte("meta")
	prefixGen     = []byte("gen/")
	prefixOneTime = []byte("otk/")
)

const (
	metaVersion = 1
	metaSize    = 1 + 8 + 4
)

var (
	// ErrUnknownPrekey: no one-time prekey with that ID is held.
	ErrUnknownPrekey = errors.New("keystore: no such one-time prekey")
	// ErrPrekeysCorrupt: a stored prekey record does not decode.
	ErrPrekeysCorrupt = errors.New("keystore: stored prekeys are corrupt")
)

// OpenPrekeys loads the prekeys kept in kv, creating the first generation
// (and the one-time prekeys) if needed.
func OpenPrekeys(kv PrekeyKV, o PrekeyOptions) (*PrekeyStore, error) {
	if len(o.Identity) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("keystore: prekeys: identity key has %d bytes, want %d", len(o.Identity), ed25519.PrivateKeySize)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Rand == nil {
		o.Rand = rand.Reader
	}
	if o.Rotation <= 0 {
		o.Rotation = DefaultRotation
	}
	if o.Grace <= 0 {
		o.Grace = DefaultGrace
	}
	if o.CheckInterval <= 0 {
		o.CheckInterval = DefaultCheckInterval
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.OneTime < 0 || o.OneTime > e2e.MaxOneTimePrekeys {
		return nil, fmt.Errorf("keystore: prekeys: OneTime %d not in 0..%d", o.OneTime, e2e.MaxOneTimePrekeys)
	}
	s := &PrekeyStore{kv: kv, o: o, changed: make(chan struct{}, 1)}
	if err := s.load(); err != nil {
		s.wipeAll()
		return nil, err
	}
	if _, err := s.Rotate(); err != nil {
		s.wipeAll()
		return nil, err
	}
	return s, nil
}

func (s *PrekeyStore) load() error {
	meta, err := s.kv.Get(keyMeta)
	switch {
	case errors.Is(err, store.ErrNotFound):
		var b [4]byte
		if _, err := io.ReadFull(s.o.Rand, b[:]); err != nil {
			return fmt.Errorf("keystore: prekeys: %w", err)
		}
		s.nextOneTime = randomStartID(b)
	case err != nil:
		return fmt.Errorf("keystore: prekeys: read meta: %w", err)
	case len(meta) != metaSize || meta[0] != metaVersion:
		return fmt.Errorf("keystore: prekeys: meta record: %w", ErrPrekeysCorrupt)
	default:
		s.seq = binary.BigEndian.Uint64(meta[1:9])
		s.nextOneTime = binary.BigEndian.Uint32(meta[9:13])
	}
	err = s.kv.Iterate(prefixGen, false, func(key, value []byte) error {
		defer clear(value)
		p, err := e2e.ParsePrekeys(value)
		if err != nil || !bytes.Equal(key, idKey(prefixGen, p.ID)) {
			return fmt.Errorf("generation %x: %w", key, ErrPrekeysCorrupt)
		}
		s.gens = append(s.gens, p)
		return nil
	})
	if err != nil {
		return fmt.Errorf("keystore: prekeys: load generations: %w", err)
	}
	err = s.kv.Iterate(prefixOneTime, false, func(key, value []byte) error {
		defer clear(value)
		k, err := e2e.ParseOneTimePrekey(value)
		if err != nil || !bytes.Equal(key, idKey(prefixOneTime, k.ID)) {
			return fmt.Errorf("one-time prekey %x: %w", key, ErrPrekeysCorrupt)
		}
		s.oneTime = append(s.oneTime, k)
		return nil
	})
	if err != nil {
		return fmt.Errorf("keystore: prekeys: load one-time prekeys: %w", err)
	}
	if n := len(s.oneTime); n > 0 && s.oneTime[n-1].ID >= s.nextOneTime {
		s.nextOneTime = s.oneTime[n-1].ID + 1 // never reuse an ID
	}
	return nil
}

// randomStartID is a random ID in [1, 2^31): counting up from it cannot
// wrap in any realistic lifetime.
func randomStartID(b [4]byte) uint32 {
	return binary.BigEndian.Uint32(b[:])&0x7fff_ffff | 1
}

func idKey(prefix []byte, id uint32) []byte {
	return binary.BigEndian.AppendUint32(bytes.Clone(prefix), id)
}

// Rotate makes a new generation if the newest is due, deletes generations
// retired for longer than Grace, and tops the one-time prekeys up. It
// reports whether the bundle changed (then Changed is signalled too).
func (s *PrekeyStore) Rotate() (changed bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false, errPrekeysClosed
	}
	defer func() {
		if changed {
			s.notify()
		}
	}()
	now := s.o.Now()
	if n := len(s.gens); n == 0 || s.due(s.gens[n-1], now) {
		if err := s.newGeneration(now); err != nil {
			return changed, err
		}
		changed = true
	}
	// Every generation but the newest was retired when the next was made.
	for len(s.gens) > 1 && now.Sub(s.gens[1].Created) >= s.o.Grace {
		old := s.gens[0]
		if err := s.kv.Delete(idKey(prefixGen, old.ID)); err != nil {
			return changed, fmt.Errorf("keystore: prekeys: delete generation %d: %w", old.ID, err)
		}
		old.Wipe()
		s.gens = s.gens[1:]
	}
	added, err := s.topUp()
	return changed || added, err
}

func (s *PrekeyStore) due(newest *e2e.Prekeys, now time.Time) bool {
	age := now.Sub(newest.Created)
	return age >= s.o.Rotation || age < -s.o.Rotation
}

func (s *PrekeyStore) newGeneration(now time.Time) error {
	var id uint32
	if n := len(s.gens); n > 0 {
		id = s.gens[n-1].ID + 1
	} else {
		var b [4]byte
		if _, err := io.ReadFull(s.o.Rand, b[:]); err != nil {
			return fmt.Errorf("keystore: prekeys: %w", err)
		}
		id = randomStartID(b)
	}
	p, err := e2e.GeneratePrekeys(s.o.Rand, id, now)
	if err != nil {
		return fmt.Errorf("keystore: prekeys: %w", err)
	}
	if err := s.bumpSeq(s.nextOneTime); err != nil {
		p.Wipe()
		return err
	}
	b, err := p.MarshalBinary()
	if err == nil {
		err = s.kv.Put(idKey(prefixGen, id), b, store.Durable())
		clear(b)
	}
	if err != nil {
		p.Wipe()
		return fmt.Errorf("keystore: prekeys: store generation %d: %w", id, err)
	}
	s.gens = append(s.gens, p)
	return nil
}

// topUp makes one-time prekeys until OneTime are held.
func (s *PrekeyStore) topUp() (bool, error) {
	added := false
	for len(s.oneTime) < s.o.OneTime {
		id := s.nextOneTime
		k, err := e2e.GenerateOneTimePrekey(s.o.Rand, id)
		if err != nil {
			return added, fmt.Errorf("keystore: prekeys: %w", err)
		}
		// The ID is spent, with the new seq, before the key is stored.
		if err := s.bumpSeq(id + 1); err != nil {
			k.Wipe()
			return added, err
		}
		s.nextOneTime = id + 1
		b, err := k.MarshalBinary()
		if err == nil {
			err = s.kv.Put(idKey(prefixOneTime, id), b, store.Durable())
			clear(b)
		}
		if err != nil {
			k.Wipe()
			return added, fmt.Errorf("keystore: prekeys: store one-time prekey %d: %w", id, err)
		}
		s.oneTime = append(s.oneTime, k)
		added = true
	}
	return added, nil
}

// bumpSeq persists a new sequence number (and the next one-time ID) before
// the change it numbers.
func (s *PrekeyStore) bumpSeq(nextOneTime uint32) error {
	seq := max(s.seq+1, uint64(max(s.o.Now().UnixMilli(), 0)))
	b := make([]byte, 0, metaSize)
	b = append(b, metaVersion)
	b = binary.BigEndian.AppendUint64(b, seq)
	b = binary.BigEndian.AppendUint32(b, nextOneTime)
	if err := s.kv.Put(keyMeta, b, store.Durable()); err != nil {
		return fmt.Errorf("keystore: prekeys: store sequence number: %w", err)
	}
	s.seq = seq
	return nil
}

func (s *PrekeyStore) notify() {
	select {
	case s.changed <- struct{}{}:
	default:
	}
}

// Changed is signalled (coalesced: one pending signal at most) whenever the
// bundle changes: a new generation or a one-time prekey used or added.
func (s *PrekeyStore) Changed() <-chan struct{} { return s.changed }

// Bundle returns the bundle to publish and its record sequence number, read
// together so that they always belong to each other.
func (s *PrekeyStore) Bundle() (*e2e.Bundle, uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, 0, errPrekeysClosed
	}
	if len(s.gens) == 0 {
		return nil, 0, errors.New("keystore: prekeys: no generation")
	}
	oneTime := s.oneTime[:min(len(s.oneTime), e2e.MaxOneTimePrekeys)]
	b, err := s.gens[len(s.gens)-1].Bundle(s.o.Identity, oneTime)
	if err != nil {
		return nil, 0, fmt.Errorf("keystore: prekeys: bundle: %w", err)
	}
	return b, s.seq, nil
}

// Seq is the sequence number of the current bundle.
func (s *PrekeyStore) Seq() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.seq
}

// SignedPrekeys returns copies of the generations held, newest first. The
// caller owns them and should Wipe them when done.
func (s *PrekeyStore) SignedPrekeys() []*e2e.Prekeys {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*e2e.Prekeys, 0, len(s.gens))
	for _, p := range slices.Backward(s.gens) {
		if c := clonePrekeys(p); c != nil {
			out = append(out, c)
		}
	}
	return out
}

// OneTimePrekey returns a copy of the one-time prekey id, or nil.
func (s *PrekeyStore) OneTimePrekey(id uint32) *e2e.OneTimePrekey {
	s.mu.Lock()
	defer s.mu.Unlock()
	i, ok := s.findOneTime(id)
	if !ok {
		return nil
	}
	b, err := s.oneTime[i].MarshalBinary()
	if err != nil {
		return nil
	}
	defer clear(b)
	k, err := e2e.ParseOneTimePrekey(b)
	if err != nil {
		return nil
	}
	return k
}

// ConsumeOneTime deletes (and wipes) the one-time prekey id, which an
// initial message has used, and makes its replacement. It returns an error
// wrapping ErrUnknownPrekey if no such key is held.
func (s *PrekeyStore) ConsumeOneTime(id uint32) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errPrekeysClosed
	}
	i, ok := s.findOneTime(id)
	if !ok {
		return fmt.Errorf("%w: %d", ErrUnknownPrekey, id)
	}
	if err := s.bumpSeq(s.nextOneTime); err != nil {
		return err
	}
	if err := s.kv.Delete(idKey(prefixOneTime, id)); err != nil {
		return fmt.Errorf("keystore: prekeys: delete one-time prekey %d: %w", id, err)
	}
	s.oneTime[i].Wipe()
	s.oneTime = slices.Delete(s.oneTime, i, i+1)
	s.notify()
	_, err := s.topUp()
	return err
}

func (s *PrekeyStore) findOneTime(id uint32) (int, bool) {
	return slices.BinarySearchFunc(s.oneTime, id, func(k *e2e.OneTimePrekey, id uint32) int {
		switch {
		case k.ID < id:
			return -1
		case k.ID > id:
			return 1
		}
		return 0
	})
}

// Serve calls Rotate every CheckInterval until ctx ends. A failed rotation
// is retried at the next tick; Serve returns only ctx's end.
func (s *PrekeyStore) Serve(ctx context.Context) error {
	t := time.NewTicker(s.o.CheckInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			// A failure leaves the state as it was; the next tick retries.
			if _, err := s.Rotate(); err != nil && !errors.Is(err, errPrekeysClosed) {
				s.o.Logger.Warn("prekey rotation failed", "err", err)
			}
		}
	}
}

// Close wipes every key held in memory; the store must not be used after.
func (s *PrekeyStore) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.wipeAll()
	s.closed = true
}

func (s *PrekeyStore) wipeAll() {
	for _, p := range s.gens {
		p.Wipe()
	}
	for _, k := range s.oneTime {
		k.Wipe()
	}
	s.gens, s.oneTime = nil, nil
}

var errPrekeysClosed = errors.New("keystore: prekeys: closed")

func clonePrekeys(p *e2e.Prekeys) *e2e.Prekeys {
	b, err := p.MarshalBinary()
	if err != nil {
		return nil
	}
	defer clear(b)
	c, err := e2e.ParsePrekeys(b)
	if err != nil {
		return nil
	}
	return c
}
