package store

import (
	"fmt"

	"github.com/dgraph-io/badger/v4"
)

// Batch collects writes to any namespaces of one store, applied together:
// after a crash either all of them are there or none is.
type Batch struct {
	s   *Store
	txn *badger.Txn
}

// Write runs fn with a batch and commits what fn put into it, atomically.
// If fn returns an error nothing is written. If durable, Write returns only
// once the batch is on disk (see Durable).
func (s *Store) Write(durable bool, fn func(*Batch) error) error {
	if !s.enter() {
		return ErrClosed
	}
	defer s.leave()
	if durable {
		s.gate.Lock()
		defer s.gate.Unlock()
	} else {
		s.gate.RLock()
		defer s.gate.RUnlock()
	}
	txn := s.db.NewTransaction(true)
	defer txn.Discard()
	if err := fn(&Batch{s: s, txn: txn}); err != nil {
		return err
	}
	if err := txn.Commit(); err != nil {
		return fmt.Errorf("store: write: %w", err)
	}
	if durable {
		if err := s.db.Sync(); err != nil {
			return fmt.Errorf("store: write: sync: %w", err)
		}
	}
	return nil
}

// Put adds a sealed write of value under key in namespace n. The Durable
// option is ignored here: durability belongs to the whole batch.
func (b *Batch) Put(n *Namespace, key, value []byte, opts ...PutOption) error {
	if n.s != b.s {
		return fmt.Errorf("store: %s: namespace of another store", n.name)
	}
	var c putConfig
	for _, o := range opts {
		o(&c)
	}
	e, err := n.entry(key, value, c)
	if err != nil {
		return err
	}
	if err := b.txn.SetEntry(e); err != nil {
		return fmt.Errorf("store: %s: put: %w", n.name, err)
	}
	return nil
}

// Delete adds the removal of key in namespace n.
func (b *Batch) Delete(n *Namespace, key []byte) error {
	if n.s != b.s {
		return fmt.Errorf("store: %s: namespace of another store", n.name)
	}
	fk, err := n.fullKey(key)
	if err != nil {
		return err
	}
	if err := b.txn.Delete(fk); err != nil {
		return fmt.Errorf("store: %s: delete: %w", n.name, err)
	}
	return nil
}
