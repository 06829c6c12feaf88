package store

import (
	"bytes"
	"errors"
	"fmt"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

// nsSeparator ends every namespace prefix. It is not in a name's alphabet,
// so no namespace's prefix is a prefix of another's.
const nsSeparator = '/'

// maxNameLen bounds a namespace name.
const maxNameLen = 32

// Namespace is one package's share of the store: its keys are stored as
// name + "/" + key, and it can neither read nor iterate another namespace's
// keys. It is safe for concurrent use.
type Namespace struct {
	s      *Store
	name   string
	prefix []byte
}

// Namespace returns the handle for name, which must be 1 to 32 characters
// of [a-z0-9-]. Names are constants in the calling package, so an invalid
// one is a programmer error: Namespace panics on it.
func (s *Store) Namespace(name string) *Namespace {
	if err := validName(name); err != nil {
		panic(err)
	}
	p := make([]byte, 0, len(name)+1)
	p = append(p, name...)
	p = append(p, nsSeparator)
	return &Namespace{s: s, name: name, prefix: p}
}

func validName(name string) error {
	if len(name) == 0 || len(name) > maxNameLen {
		return fmt.Errorf("store: namespace name %q: want 1 to %d characters", name, maxNameLen)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return fmt.Errorf("store: namespace name %q: character %q is not in [a-z0-9-]", name, c)
		}
	}
	return nil
}

// Name returns the namespace's name.
func (n *Namespace) Name() string { return n.name }

// PutOption modifies one Put.
type PutOption func(*putConfig)

type putConfig struct {
	ttl     time.Duration
	hasTTL  bool
	durable bool
}

// WithTTL makes the record expire d after Put, by the store's clock
// (Options.Now). An expired record reads as absent. d must be positive.
func WithTTL(d time.Duration) PutOption {
	return func(c *putConfig) { c.ttl, c.hasTTL = d, true }
}

// Durable makes Put return only once the record is on stable storage
// (fsynced), so that neither a crash nor a power loss can lose it. Without
// it, a write survives the process being killed but may be lost if the
// machine loses power shortly after.
func Durable() PutOption {
	return func(c *putConfig) { c.durable = true }
}

func (n *Namespace) fullKey(key []byte) ([]byte, error) {
	if len(key) == 0 {
		return nil, fmt.Errorf("store: %s: empty key", n.name)
	}
	if len(key) > MaxKeySize {
		return nil, fmt.Errorf("store: %s: key is %d bytes, over the %d-byte limit", n.name, len(key), MaxKeySize)
	}
	k := make([]byte, 0, len(n.prefix)+len(key))
	k = append(k, n.prefix...)
	return append(k, key...), nil
}

// Put seals value and stores it under key, replacing any earlier value.
func (n *Namespace) Put(key, value []byte, opts ...PutOption) error {
	var c putConfig
	for _, o := range opts {
		o(&c)
	}
	return n.s.Write(c.durable, func(b *Batch) error { return b.Put(n, key, value, opts...) })
}

// entry checks key and value and seals value into a Badger entry.
func (n *Namespace) entry(key, value []byte, c putConfig) (*badger.Entry, error) {
	fk, err := n.fullKey(key)
	if err != nil {
		return nil, err
	}
	if len(value) > MaxValueSize {
		return nil, fmt.Errorf("store: %s: value is %d bytes, over the %d-byte limit", n.name, len(value), MaxValueSize)
	}
	if c.hasTTL && c.ttl <= 0 {
		return nil, fmt.Errorf("store: %s: TTL %v is not positive", n.name, c.ttl)
	}
	s := n.s
	var expiry int64 // Unix nanoseconds; 0 means none
	if c.hasTTL {
		expiry = s.now().Add(c.ttl).UnixNano()
		if expiry <= 0 {
			return nil, fmt.Errorf("store: %s: expiry before 1970", n.name)
		}
	}
	sealed, err := seal(s.aead, fk, value, expiry)
	if err != nil {
		return nil, err
	}
	e := badger.NewEntry(fk, sealed)
	if expiry != 0 {
		// Badger compares ExpiresAt (Unix seconds) with the wall clock and
		// drops the entry at compaction. Round up so that Badger never hides
		// a record before the store's clock says it has expired.
		e.ExpiresAt = uint64((expiry + int64(time.Second) - 1) / int64(time.Second))
	}
	return e, nil
}

// Get returns the value stored under key, or an error wrapping ErrNotFound
// if there is none or it has expired, or ErrTampered if it fails
// authentication. The returned slice belongs to the caller.
func (n *Namespace) Get(key []byte) ([]byte, error) {
	fk, err := n.fullKey(key)
	if err != nil {
		return nil, err
	}
	s := n.s
	if !s.enter() {
		return nil, ErrClosed
	}
	defer s.leave()

	var sealed []byte
	err = s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(fk)
		if err != nil {
			return err
		}
		sealed, err = item.ValueCopy(nil)
		return err
	})
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, fmt.Errorf("store: %s: %w", n.name, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("store: %s: get: %w", n.name, err)
	}
	v, expiry, err := openSealed(s.aead, fk, sealed)
	if err != nil {
		return nil, fmt.Errorf("store: %s: get: %w", n.name, err)
	}
	if s.expired(expiry) {
		return nil, fmt.Errorf("store: %s: %w", n.name, ErrNotFound)
	}
	return v, nil
}

func (s *Store) expired(expiry int64) bool {
	return expiry != 0 && s.now().UnixNano() >= expiry
}

// Delete removes key. Deleting a missing key is not an error. Deletes are
// not synced: after a power loss a deleted record may come back.
func (n *Namespace) Delete(key []byte) error {
	return n.s.Write(false, func(b *Batch) error { return b.Delete(n, key) })
}

// Iterate calls fn for each live record whose key starts with prefix, in
// ascending key order, or descending if reverse (for newest-first paging
// over time-ordered keys). Keys are relative to the namespace. Both key and
// value are fresh copies that fn may keep.
//
// Iteration reads one consistent snapshot; expired records are skipped.
// It stops at the first error: a record that fails authentication (an
// error wrapping ErrTampered), or an error from fn, which Iterate returns
// unchanged; if fn returns ErrStop, Iterate stops and returns nil. fn may
// read and write the store but must not call Close.
func (n *Namespace) Iterate(prefix []byte, reverse bool, fn func(key, value []byte) error) error {
	if len(prefix) > MaxKeySize {
		return fmt.Errorf("store: %s: prefix is %d bytes, over the %d-byte limit", n.name, len(prefix), MaxKeySize)
	}
	s := n.s
	if !s.enter() {
		return ErrClosed
	}
	defer s.leave()

	full := make([]byte, 0, len(n.prefix)+len(prefix))
	full = append(full, n.prefix...)
	full = append(full, prefix...)

	var fnErr error // fn's error, returned as it is
	err := s.db.View(func(txn *badger.Txn) error {
		o := badger.DefaultIteratorOptions
		o.PrefetchSize = 16
		o.Reverse = reverse
		var seek []byte
		if reverse {
			// In reverse, Seek lands on the largest key <= its argument; the
			// prefix's successor is above every key with the prefix. Badger's
			// Prefix option would end the iteration at once if a key equal
			// to the successor exists, so bounds are checked here instead.
			seek = successor(full)
		} else {
			o.Prefix = full
			seek = full
		}
		it := txn.NewIterator(o)
		defer it.Close()
		for it.Seek(seek); it.Valid(); it.Next() {
			item := it.Item()
			k := item.Key()
			if !bytes.HasPrefix(k, full) {
				if reverse && bytes.Compare(k, full) > 0 {
					continue // the successor itself
				}
				return nil
			}
			sealed, err := item.ValueCopy(nil)
			if err != nil {
				return err
			}
			v, expiry, err := openSealed(s.aead, k, sealed)
			if err != nil {
				return err
			}
			if s.expired(expiry) {
				continue
			}
			if err := fn(bytes.Clone(k[len(n.prefix):]), v); err != nil {
				fnErr = err
				return err
			}
		}
		return nil
	})
	if fnErr != nil {
		if errors.Is(fnErr, ErrStop) {
			return nil
		}
		return fnErr
	}
	if err != nil {
		return fmt.Errorf("store: %s: iterate: %w", n.name, err)
	}
	return nil
}

// successor returns the shortest key greater than every key that starts
// with p. p always starts with a namespace name, whose bytes are not 0xff,
// so there is always a byte to increment.
func successor(p []byte) []byte {
	s := bytes.Clone(p)
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] != 0xff {
			s[i]++
			return s[:i+1]
		}
	}
	panic("store: successor of an all-0xff prefix")
}
