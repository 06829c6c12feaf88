package store

import (
	"context"
	"crypto/cipher"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	badger "github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
)

// Errors callers can test for with errors.Is.
var (
	// ErrNotFound: no live record under the key (never written, deleted or expired).
	ErrNotFound = errors.New("store: not found")
	// ErrTampered: a record failed authentication. It was altered on disk,
	// moved to another key, had its expiry changed, or was sealed under
	// another seal key. Its content is never returned.
	ErrTampered = errors.New("store: record failed authentication (tampered, moved or sealed under another key)")
	// ErrLocked: another process (or another Store in this process) has the
	// data directory open.
	ErrLocked = errors.New("data directory is in use by another process")
	// ErrWrongKey: the encryption key or the seal key does not open this
	// data directory.
	ErrWrongKey = errors.New("wrong key for this data directory")
	// ErrClosed: the Store was closed.
	ErrClosed = errors.New("store: closed")
	// ErrStop, returned by an Iterate callback, ends the iteration early
	// without an error.
	ErrStop = errors.New("store: stop iteration")
)

// DefaultGCInterval is how often Serve runs value-log GC when
// Options.GCInterval is zero.
const DefaultGCInterval = 10 * time.Minute

// gcDiscardRatio is the share of a value-log file that must be garbage
// before GC rewrites it (Badger's recommended 0.5).
const gcDiscardRatio = 0.5

// maxGCRounds bounds the rewrites in one GC run so that one run cannot keep
// the write gate busy indefinitely.
const maxGCRounds = 64

// Options configure Open.
type Options struct {
	// Dir is the data directory; it is created (0700) if missing.
	Dir string
	// EncryptionKey is Badger's 32-byte at-rest key (AES-256-CTR).
	EncryptionKey []byte
	// SealKey is the 32-byte XChaCha20-Poly1305 key that seals every value.
	SealKey []byte
	// Logger receives Badger's warnings and errors and the store's own;
	// nil means slog.Default().
	Logger *slog.Logger
	// Now is the clock for TTLs; nil means time.Now.
	Now func() time.Time
	// GCInterval is how often Serve runs value-log GC; zero means
	// DefaultGCInterval.
	GCInterval time.Duration

	// tune, set only by tests, adjusts Badger's options after the defaults.
	tune func(*badger.Options)
}

// Store is the node's local database. Its methods are safe for concurrent use.
type Store struct {
	db         *badger.DB
	aead       cipher.AEAD
	now        func() time.Time
	log        *slog.Logger
	gcInterval time.Duration

	// gate orders writes against Durable puts: ordinary writes, deletes and
	// GC passes hold it shared; a Durable put holds it exclusively from its
	// commit until DB.Sync returns, so no other write can rotate the memtable
	// in between (see "Durability" in doc.go).
	gate sync.RWMutex

	// Lifecycle: every operation enters and leaves; Close marks the store
	// closed and waits for the operations in progress before closing Badger.
	mu        sync.Mutex
	idle      *sync.Cond
	active    int
	closed    bool
	closeOnce sync.Once
	closeErr  error

	gcRewrites atomic.Int64 // value-log files rewritten by Serve; read by tests
	gcRuns     atomic.Int64 // GC runs started by Serve; read by tests
}

// checkKey is the store's own record, outside every namespace (names cannot
// begin with 0x00): a sealed constant that tells a wrong SealKey at Open.
var checkKey = []byte("\x00store/check")

var checkValue = []byte("discordopus store v1")

// Open opens (creating if needed) the database in o.Dir.
//
// It returns an error wrapping ErrLocked if the directory is already open,
// ErrWrongKey if either key does not match an existing database, and an error
// naming the path if the directory cannot be created or written.
func Open(o Options) (*Store, error) {
	if o.Dir == "" {
		return nil, errors.New("store: Options.Dir is empty")
	}
	if len(o.EncryptionKey) != 32 {
		return nil, fmt.Errorf("store: encryption key is %d bytes, want 32", len(o.EncryptionKey))
	}
	aead, err := newAEAD(o.SealKey)
	if err != nil {
		return nil, err
	}
	s := &Store{
		aead:       aead,
		now:        o.Now,
		log:        o.Logger,
		gcInterval: o.GCInterval,
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.log = s.log.With("component", "store")
	if s.gcInterval <= 0 {
		s.gcInterval = DefaultGCInterval
	}
	s.idle = sync.NewCond(&s.mu)

	if err := checkDir(o.Dir); err != nil {
		return nil, err
	}
	bo := badgerOptions(o.Dir, o.EncryptionKey, s.log)
	if o.tune != nil {
		o.tune(&bo)
	}
	if removed, err := removeEmptyMemtables(o.Dir); err != nil {
		return nil, fmt.Errorf("store: open %q: %w", o.Dir, err)
	} else if removed > 0 {
		s.log.Warn("removed empty memtable logs left by a crash", "count", removed)
	}
	db, err := badger.Open(bo)
	if err != nil {
		return nil, openError(o.Dir, err)
	}
	s.db = db
	if err := s.check(); err != nil {
		_ = db.Close()
		return nil, err
	}
	return s, nil
}

// badgerOptions tunes Badger for a desktop app: small memtables and caches,
// no compression (values are ciphertext), block checksums verified on read so
// that a corrupted table is an error rather than garbage.
func badgerOptions(dir string, encKey []byte, log *slog.Logger) badger.Options {
	key := make([]byte, len(encKey))
	copy(key, encKey)
	return badger.DefaultOptions(dir).
		WithEncryptionKey(key).
		WithIndexCacheSize(16 << 20).
		WithBlockCacheSize(32 << 20).
		WithMemTableSize(16 << 20).
		WithNumMemtables(2).
		WithNumLevelZeroTables(4).
		WithNumLevelZeroTablesStall(8).
		WithNumCompactors(2).
		WithValueThreshold(8 << 10).
		WithValueLogFileSize(64 << 20).
		WithCompression(options.None).
		WithChecksumVerificationMode(options.OnBlockRead).
		WithVerifyValueChecksum(true).
		WithDetectConflicts(false).
		WithMetricsEnabled(false).
		WithNumGoroutines(2).
		WithLogger(badgerLogger{log.With("component", "badger")})
}

// checkDir creates dir if needed and proves it is a writable directory, so
// that the error names the path instead of surfacing from deep in Badger.
func checkDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("store: data directory %q cannot be created: %w", dir, err)
	}
	f, err := os.CreateTemp(dir, ".write-probe-*")
	if err != nil {
		return fmt.Errorf("store: data directory %q is not writable: %w", dir, err)
	}
	name := f.Name()
	err = f.Close()
	if rerr := os.Remove(name); err == nil {
		err = rerr
	}
	if err != nil {
		return fmt.Errorf("store: data directory %q is not writable: %w", dir, err)
	}
	return nil
}

// openError turns Badger's Open errors into kinds callers can act on.
// Badger formats its directory-lock error with %+v, not %w (y.Wrapf outside
// its debug mode), so the only stable signal is its text.
func openError(dir string, err error) error {
	switch {
	case strings.Contains(err.Error(), "Another process is using this Badger database"):
		return fmt.Errorf("store: open %q: %w", dir, ErrLocked)
	case errors.Is(err, badger.ErrEncryptionKeyMismatch):
		return fmt.Errorf("store: open %q: encryption key: %w", dir, ErrWrongKey)
	default:
		return fmt.Errorf("store: open %q: %w", dir, err)
	}
}

// check opens the store's check record, or writes it on first use. A check
// record that does not open means SealKey is not the key this store was
// created with (or the record was tampered with; the two cannot be told
// apart, and both must stop the node).
func (s *Store) check() error {
	var sealed []byte
	err := s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(checkKey)
		if err != nil {
			return err
		}
		sealed, err = item.ValueCopy(nil)
		return err
	})
	switch {
	case errors.Is(err, badger.ErrKeyNotFound):
		v, err := seal(s.aead, checkKey, checkValue, 0)
		if err != nil {
			return err
		}
		if err := s.db.Update(func(txn *badger.Txn) error { return txn.Set(checkKey, v) }); err != nil {
			return fmt.Errorf("store: write check record: %w", err)
		}
		if err := s.db.Sync(); err != nil {
			return fmt.Errorf("store: sync check record: %w", err)
		}
		return nil
	case err != nil:
		return fmt.Errorf("store: read check record: %w", err)
	}
	v, _, err := openSealed(s.aead, checkKey, sealed)
	if err != nil || string(v) != string(checkValue) {
		return fmt.Errorf("store: seal key does not open the check record: %w", ErrWrongKey)
	}
	return nil
}

// enter registers an operation; it reports false once the store is closed.
func (s *Store) enter() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.active++
	return true
}

func (s *Store) leave() {
	s.mu.Lock()
	s.active--
	if s.active == 0 {
		s.idle.Broadcast()
	}
	s.mu.Unlock()
}

// Close waits for operations in progress, then closes Badger, which flushes
// the memtable to a table and syncs the files. It is safe to call more than
// once and after Serve returned; later calls return the first call's result.
// It must not be called from an Iterate callback.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		for s.active > 0 {
			s.idle.Wait()
		}
		s.mu.Unlock()
		if err := s.db.Close(); err != nil {
			s.closeErr = fmt.Errorf("store: close: %w", err)
		}
	})
	return s.closeErr
}

// Serve runs value-log GC every GCInterval until ctx ends, then returns nil.
// Each run calls RunValueLogGC(0.5) until it reports nothing left to
// rewrite. Serve does not close the store; if the store is closed under it,
// Serve returns ErrClosed.
func (s *Store) Serve(ctx context.Context) error {
	t := time.NewTicker(s.gcInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if err := s.collect(ctx); err != nil {
				return err
			}
		}
	}
}

// collect runs one GC run: rewrites until Badger has nothing worth
// rewriting. Errors other than ErrClosed are logged, not returned: GC fails
// again or succeeds at the next tick, and the data stays readable meanwhile.
func (s *Store) collect(ctx context.Context) error {
	s.gcRuns.Add(1)
	for range maxGCRounds {
		if ctx.Err() != nil {
			return nil
		}
		if !s.enter() {
			return ErrClosed
		}
		s.gate.RLock()
		err := s.db.RunValueLogGC(gcDiscardRatio)
		if err == nil {
			// A rewrite moved live values into the current memtable and
			// value log, unsynced, and deleted the old file. Sync now to
			// close that window as far as we can from outside Badger.
			err = s.db.Sync()
			s.gcRewrites.Add(1)
		}
		s.gate.RUnlock()
		s.leave()
		switch {
		case err == nil:
			continue
		case errors.Is(err, badger.ErrNoRewrite), errors.Is(err, badger.ErrRejected):
			return nil
		default:
			s.log.Warn("value-log GC failed", "err", err)
			return nil
		}
	}
	return nil
}

// badgerLogger forwards Badger's warnings and errors to slog and drops its
// info and debug chatter.
type badgerLogger struct{ l *slog.Logger }

func (b badgerLogger) Errorf(f string, args ...any) {
	b.l.Error(strings.TrimSpace(fmt.Sprintf(f, args...)))
}

func (b badgerLogger) Warningf(f string, args ...any) {
	b.l.Warn(strings.TrimSpace(fmt.Sprintf(f, args...)))
}

func (badgerLogger) Infof(string, ...any)  {}
func (badgerLogger) Debugf(string, ...any) {}

// removeEmptyMemtables deletes zero-length *.mem files in dir and reports
// how many. A crash between Badger creating a memtable's write-ahead log and
// sizing it leaves such a file, which Badger then refuses to open ("Create a
// new file"), sizing it on the way so that a second try fails too. It holds
// nothing. A live Badger creates and sizes a log in two steps, so this runs
// under Badger's own directory lock (a flock on the directory): a store in
// use elsewhere makes it return ErrLocked instead.
func removeEmptyMemtables(dir string) (int, error) {
	d, err := os.Open(dir)
	if err != nil {
		return 0, err
	}
	defer d.Close()
	if err := syscall.Flock(int(d.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return 0, ErrLocked
		}
		return 0, fmt.Errorf("lock: %w", err)
	}
	defer syscall.Flock(int(d.Fd()), syscall.LOCK_UN)
	entries, err := d.ReadDir(-1)
	if err != nil {
		return 0, err
	}
	removed := 0
	for _, e := range entries {
		if e.Type().IsRegular() && strings.HasSuffix(e.Name(), ".mem") {
			if fi, err := e.Info(); err == nil && fi.Size() == 0 {
				if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
					return removed, err
				}
				removed++
			}
		}
	}
	return removed, nil
}
