// Package store is the node's local database: Badger v4 encrypted at rest,
// with every value sealed by an AEAD bound to its key.
//
// # Why two layers
//
// Badger encrypts its tables, value log and write-ahead logs with AES-CTR
// under data keys wrapped by Options.EncryptionKey. That hides content from
// whoever reads the disk, but it is not authenticated: a byte changed on
// disk decrypts to a different byte, and unless a checksum happens to cover
// it Badger hands back a different value with no error. So every value is
// also sealed with XChaCha20-Poly1305 under Options.SealKey, with the
// record's full key and expiry as associated data. A value that was altered,
// moved to another key or namespace, or had its expiry changed fails
// authentication and reads as ErrTampered, never as other data.
//
// # Sealed value format (version 1)
//
//	offset  size  field
//	0       1     format version, 0x01
//	1       8     expiry, Unix nanoseconds, big-endian; 0 = never expires
//	9       24    nonce, random for every write
//	33      n+16  XChaCha20-Poly1305 ciphertext of the n-byte value, with tag
//
// The associated data is
//
//	"discordopus/store/v1" 0x00 || bytes 0..8 (version, expiry) || full record key
//
// where the full record key is the Badger key (namespace prefix included).
// The key is not stored in the value: it is the position the value is read
// from. Decoding checks 49 <= length <= MaxValueSize+49 and the version
// before it allocates anything; testdata/sealed_v1.txt is an independently
// computed known-answer vector.
//
// # Key layout
//
// Each package works in its own Namespace, obtained once with
// s.Namespace("chat"). A record key k in namespace "chat" is stored as the
// Badger key "chat" + "/" + k. Names are 1 to 32 characters of [a-z0-9-],
// so the separator cannot occur in a name and no namespace's prefix is a
// prefix of another's: Get, Delete and Iterate in one namespace cannot
// reach another's keys. Namespace panics on an invalid name (names are
// constants; a bad one is a programmer error). Keys outside every
// namespace are reserved: those beginning with 0x00 are the store's own
// (0x00 "store/check", a sealed constant that tells a wrong SealKey at
// Open), those beginning with "!badger!" are Badger's. Keys are 1 to
// MaxKeySize bytes; values up to MaxValueSize. Values above 8 KiB go to
// Badger's value log, smaller ones stay in the LSM tree.
//
// # TTL
//
// Put(k, v, WithTTL(d)) sets the expiry to Options.Now()+d and seals it into
// the value's authenticated header. Get treats a record whose expiry is at
// or before Options.Now() as absent (ErrNotFound) and Iterate skips it, so
// tests can move an injected clock by days. Badger's own ExpiresAt is set
// too, rounded up to the second, so that compaction eventually drops the
// record; Badger compares it with the wall clock, so a record is absent as
// soon as either clock says it has expired (in production both are the wall
// clock). Putting a key again replaces its expiry.
//
// # Durability
//
// What fsyncs in Badger v4 (v4.9.6, read from its source): every file is
// written through mmap, and "sync" means msync(MS_SYNC) of the mapping.
//   - Options.SyncWrites=true syncs the value log and the memtable's
//     write-ahead log after every write batch. It is off here: it would
//     make every write pay for two flushes.
//   - DB.Sync() syncs the current memtable's write-ahead log and the
//     current value-log file, and nothing else.
//   - A value-log rotation syncs the finished file; a memtable rotation
//     does not sync the old write-ahead log (it is synced only when it is
//     flushed to a table, which happens in the background). Tables,
//     MANIFEST and KEYREGISTRY are synced when written; Close syncs all.
//
// Durable() therefore commits and then calls DB.Sync() while holding the
// store's write gate exclusively; ordinary Puts, Deletes and GC passes hold
// it shared. No other write can rotate the memtable between the commit and
// the sync, so the sync covers the write-ahead log that holds the record
// (and the value-log file, or the rotation already synced it). When Put
// returns, the record is on stable storage. A Durable put delays other
// writes by one sync.
//
// Writes without Durable() are in the page cache when Put returns: they
// survive the process being killed (SIGKILL, panic) but not a power loss or
// kernel crash shortly after. Deletes are not synced; after a power loss a
// deleted record may come back. One window remains that the store cannot
// close from outside Badger: value-log GC moves live values into the
// unsynced current logs and then deletes the old file; Serve calls DB.Sync
// right after each rewrite, so the window is the time between the two.
// On Windows Badger's msync is a no-op and on macOS msync does not flush the
// drive's cache, so there Durable protects against process crashes only.
//
// A crash while Badger rotates its memtable can leave the new memtable's
// write-ahead log created but empty, which Badger alone refuses to open.
// Open removes such zero-length *.mem files first: they hold no data.
//
// # Lifecycle
//
// Open creates the directory (0700) if needed and checks it is writable,
// naming the path in the error. A directory that another process (or
// another Store in this process) has open gives ErrLocked; a wrong
// EncryptionKey or SealKey gives ErrWrongKey. Serve runs value-log GC every
// Options.GCInterval (RunValueLogGC(0.5) until there is nothing to rewrite)
// and returns nil when its context ends; it does not close the store.
// Close waits for operations in progress, then closes Badger, which flushes
// the memtable and syncs the files; it may be called more than once, and
// after Serve returned. Any operation after Close returns ErrClosed.
//
// Badger is tuned for a desktop app: 16 MiB memtables (two), 32 MiB block
// cache, 16 MiB index cache, 64 MiB value-log files, two compactors, no
// compression (values are ciphertext), table block checksums verified on
// read. Badger's log goes to the slog logger, warnings and errors only.
//
// # What an attacker with the disk can and cannot do
//
// Without the keys, someone who reads the data directory learns the sizes
// and rough number of records, when files were written, and little else:
// keys and values are encrypted by Badger, values again by the seal.
// Someone who can also write to it can destroy data: delete or truncate
// files, roll the whole directory back to an older copy, or corrupt it so
// that records read as ErrNotFound or ErrTampered or the store refuses to
// open. They cannot make Get or Iterate return a value that was not written
// under that key by this store, move a value to another key or namespace,
// or extend or remove a record's expiry; those all fail authentication.
// They can make a record look deleted or expired early (by corrupting
// Badger's metadata), and replay an older value of the same key.
//
// Known Badger limitations, found by this package's tests: some corrupted
// table trailers make badger.Open panic in a goroutine of its own, which no
// recover can catch, so the process dies instead of Open returning an error
// (the data is still never misread); a corrupted length in KEYREGISTRY can
// make Badger allocate up to 4 GiB before failing; and a failed badger.Open
// leaves two goroutines running (its cache monitor and allocator pool).
package store
