// Package keystore holds a user's identity key and the data key that
// protects everything else the node keeps on disk.
//
// A keystore is one small file, <data-dir>/keystore ([FileName]). It holds,
// wrapped under a key derived from the user's passphrase:
//
//   - the data key: 32 random bytes from crypto/rand. It never leaves the
//     process in clear; everything else is derived from it with
//     [Keystore.Subkey].
//   - the identity: the 32-byte seed of an Ed25519 key generated from
//     crypto/rand. Its libp2p PeerID is the user's identity, so losing or
//     replacing it means becoming someone else.
//
// Neither key is ever written to disk in clear, and no public key or PeerID is
// stored either: both are recomputed from the seed after unwrapping.
//
// # File format, version 1
//
// All integers are big-endian. A version 1 file is exactly 136 bytes.
//
//	offset size field
//	     0    4 magic      "DOKS"
//	     4    1 version    1
//	     5    1 kdf        1 = Argon2id (RFC 9106), the only one defined
//	     6    4 t          Argon2id passes (uint32)
//	    10    4 m          Argon2id memory in KiB (uint32)
//	    14    1 p          Argon2id parallelism (uint8)
//	    15    1 salt_len   16; any other value is refused
//	    16   16 salt       random, new on every write
//	    32   24 nonce      random, new on every write
//	    56   80 ciphertext XChaCha20-Poly1305 (64 bytes + 16-byte tag)
//
// The header is bytes 0..55 (everything before the ciphertext, nonce
// included). It is the AEAD's associated data, so the version, the KDF id, its
// parameters and the salt are all authenticated: changing any of them makes
// the file fail to open, just as a wrong passphrase does.
//
//	KEK        = Argon2id(passphrase, salt, t, m, p, 32 bytes)
//	plaintext  = data_key (32) || ed25519_seed (32)
//	ciphertext = XChaCha20-Poly1305-Seal(key=KEK, nonce, plaintext, ad=bytes 0..55)
//
// The passphrase is used as given, byte for byte (no normalisation). The
// Argon2id secret and associated-data inputs are empty.
//
// Decoding checks, in this order and before allocating anything or running
// Argon2: the magic (else [ErrCorrupt]); the version (else
// [ErrUnsupportedVersion]); the KDF id (else [ErrUnsupportedVersion]); the
// exact length of 136 bytes and salt_len = 16 (else [ErrCorrupt]); the
// ceilings (else [ErrCorrupt]); the floors (else [ErrWeakParams]). Only then is
// the KEK derived and the ciphertext opened. Whatever the file's size, at
// most 4 KiB and one byte of it are read. Because the length is exact, a
// truncated or extended file is always [ErrCorrupt].
//
// # KDF parameters: floor and ceiling
//
// New files are written with [DefaultParams]: t=3, m=64 MiB, p=4.
//
// Floor: t >= 3, m >= 65536 KiB (64 MiB), p >= 1. The parameters are
// authenticated, so changing them in an existing file only makes it fail to
// open; the floor is for files that were weak from the start (a bug, a test
// build, a tool that is not ours): we refuse to keep an identity behind a KDF
// that is cheap to brute-force, with [ErrWeakParams], before any Argon2 run.
// The floor for t and m equals the default, the cost chosen for this machine
// class. p may be lower than the default because Argon2id's memory hardness
// comes from m and t: fewer lanes make the derivation slower for us on a
// multicore machine but no cheaper for an attacker. The floor must never rise
// above what a released version wrote, or old keystores would stop opening;
// raise [DefaultParams] instead, and [ChangePassphrase] carries old files up
// to it. [Create] refuses to write a file below the floor.
//
// Ceiling: t <= 100, m <= 4 GiB (4194304 KiB), p <= 64. We never write such
// files. A file above the ceiling is refused as [ErrCorrupt] before any Argon2
// run, so a damaged or hostile file cannot make us allocate more than 4 GiB or
// start more than 64 threads. (Work is still bounded only by t * m, up to
// 400 GiB of memory passes, which takes minutes, not hours.)
//
// # Subkeys
//
// [Keystore.Subkey] returns HKDF-SHA256 (RFC 5869) of the data key with an
// empty salt and info = "discordopus/v1/" + label, 32 bytes. The data key is
// uniformly random, so no salt is needed. Labels are constants in this
// package ([LabelStoreEncryption], [LabelStoreSeal]); a label, once used for
// data on disk, never changes meaning.
//
// # Changing the passphrase
//
// [ChangePassphrase] opens the file with the old passphrase, then writes the
// same data key and seed under the new one, with a new salt and a new nonce,
// and t, m, p each the larger of [DefaultParams] and the old file's value (a
// change never weakens the KDF). The rewrite is atomic:
//
//  1. remove a stale <path>.tmp left by an earlier crash, create <path>.tmp
//     with O_EXCL and mode 0600, write the new file into it;
//  2. fsync <path>.tmp and close it; read it back and check that it opens with
//     the new KEK (no second Argon2 run);
//  3. rename <path>.tmp over <path>;
//  4. fsync the directory.
//
// A crash before step 3 leaves the old file, which opens with the old
// passphrase; a crash after it leaves the new file, which opens with the new
// one. There is no moment at which neither works. A crash before step 3 may
// leave <path>.tmp behind, holding the same keys wrapped under the new
// passphrase; the next write removes it, and nothing reads it. The data key
// and the identity never change, so nothing encrypted under them needs
// rewriting and the PeerID stays the same. [Create] writes the same way but puts the file
// in place with link(2) instead of rename, which fails if the path exists, so
// an identity is never overwritten ([ErrExists]).
//
// # Node key
//
// The headless infrastructure daemon holds no user data and must start
// unattended, so its libp2p identity is an Ed25519 key kept without
// passphrase in a mode-0600 file ([LoadOrCreateNodeKey]) in libp2p's
// crypto.MarshalPrivateKey encoding. A file that group or others may access
// is refused ([ErrInsecureMode]); a file that does not decode to an Ed25519
// key whose stored public half matches its seed is refused ([ErrCorrupt]).
// Neither is ever overwritten: the error names the file and the fix.
//
// # Passphrases
//
// [ReadPassphrase] and [ReadNewPassphrase] take the passphrase from, in this
// order: a file (--passphrase-file; exactly one trailing "\n" or "\r\n" is
// removed), the environment variable DISCORDOPUS_PASSPHRASE, or a no-echo
// prompt on the terminal (twice, compared, for a new passphrase). With none
// of them and no terminal, they fail with [ErrNoPassphrase] naming all three.
// An empty passphrase is always refused ([ErrEmptyPassphrase]). Passphrases
// are []byte so that callers can zero them; a passphrase that came from the
// environment also lives in the process environment, which cannot be wiped.
//
// # Threat model
//
// The keystore protects the keys against someone who obtains a copy of the
// data directory (a stolen laptop, a backup) but not the passphrase: their
// cost is one Argon2id run at the file's parameters per guess. It detects,
// but cannot tell apart, a wrong passphrase and a modified file: with an AEAD
// both are just an authentication failure, so [ErrWrongPassphrase] reads
// "wrong passphrase, or the keystore file was modified". It does not protect
// against malware running as the user while the keystore is open, nor
// against a weak passphrase. Zeroing of key material in memory ([Keystore.Close])
// is best effort: the Go runtime may have copied it, and Argon2's working
// memory is left to the garbage collector.
//
// # Prekeys
//
// [PrekeyStore] keeps the user's signed prekey generations (one X25519 and
// one ML-KEM-1024 prekey under one ID, see package e2e) and optional one-time
// X25519 prekeys, in a store namespace of their own (every value sealed by
// the store), and produces the [e2e.Bundle] that package dht publishes.
//
// Rotation. [PrekeyStore.Rotate] (run at open and every CheckInterval by
// Serve) makes a new generation once the newest is Rotation (default 7 days)
// old. The one it replaces is retired at that moment (the new one's creation
// time) but kept, because initial messages made from the old bundle may
// still arrive: through the DHT, where a stale copy may be served for up to
// 48 hours, and above all through mailboxes, which hold a message for up to
// 30 days. A retired generation is deleted, and its keys wiped in memory,
// once it has been retired for Grace (default 35 days: the longest mailbox
// TTL plus the DHT's record lifetime and some slack). With the defaults a
// node holds about six generations. A newest generation dated more than
// Rotation in the future (the clock was stepped back) counts as due, so a
// clock error cannot stop rotation; a clock stepped forward deletes retired
// generations early, a risk every time-based scheme shares.
//
// One-time prekeys. OneTime (default 0) is how many the bundle offers; used
// ones ([PrekeyStore.ConsumeOneTime]) are replaced at once. The default is
// none because a DHT record cannot hand each one out exactly once: every
// sender fetching the bundle sees the same keys, so two senders may pick the
// same one, and the second sender's initial message then fails (the key
// was consumed) until it retries with a fresh bundle. Forward secrecy of
// the first message rests on the signed prekeys' rotation instead. If
// OneTime is lowered, keys already made stay published until used. A
// one-time prekey deleted on use may come back after a power loss (store
// deletes are not synced): it can then be used a second time.
//
// Sequence numbers. Every change to the bundle takes a new record sequence
// number, max(previous + 1, now in Unix milliseconds), persisted (fsynced)
// before the change itself: so it never goes backwards across restarts or
// clock steps, a crash can only skip numbers, and after a reinstall that
// lost the store the time part still puts it above the old records.
//
// Layout in the namespace (integers big-endian):
//
//	"gen/" || id (4 bytes)  a generation: e2e.Prekeys.MarshalBinary
//	"otk/" || id (4 bytes)  a one-time prekey: e2e.OneTimePrekey.MarshalBinary
//	"meta"                  version 1 (1 byte) || seq (8) || next one-time ID (4)
//
// Generation IDs count up from a random start below 2^31 (the newest ID + 1),
// so they never wrap and their key order is their age; one-time IDs count up
// from their own random start, kept in "meta".
package keystore
