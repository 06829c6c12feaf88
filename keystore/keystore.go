package keystore

import (
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// FileName is the keystore's name inside the data directory.
const FileName = "keystore"

// Subkey labels. A label, once used for data on disk, never changes meaning.
const (
	// LabelStoreEncryption derives Badger's at-rest (AES) encryption key.
	LabelStoreEncryption = "store/encryption"
	// LabelStoreSeal derives the AEAD key that seals records in the store.
	LabelStoreSeal = "store/seal"
	// LabelMailbox derives the mailbox secret, from which each epoch's
	// mailbox key comes (see package mailbox).
	LabelMailbox = "mailbox/secret"
)

// subkeyInfoPrefix is prepended to a label to form the HKDF info.
const subkeyInfoPrefix = "discordopus/v1/"

// Params are Argon2id's cost parameters.
type Params struct {
	Time      uint32 // passes over memory
	MemoryKiB uint32 // memory in KiB
	Threads   uint8  // parallelism (lanes)
}

// DefaultParams are the parameters new keystore files are written with.
var DefaultParams = Params{Time: 3, MemoryKiB: 64 << 10, Threads: 4}

// Errors a person can act on. They are wrapped with the path and details;
// test for them with errors.Is. A missing file is errors.Is(err, fs.ErrNotExist).
var (
	ErrWrongPassphrase    = errors.New("wrong passphrase, or the keystore file was modified")
	ErrCorrupt            = errors.New("keystore file is corrupt")
	ErrWeakParams         = errors.New("keystore key derivation parameters are below the minimum")
	ErrUnsupportedVersion = errors.New("keystore file format is not supported by this version")
	ErrExists             = errors.New("a keystore already exists; refusing to overwrite an identity")
	ErrEmptyPassphrase    = errors.New("empty passphrase")
	ErrNoPassphrase       = errors.New("no passphrase given")
	ErrPassphraseMismatch = errors.New("passphrases do not match")
	ErrInsecureMode       = errors.New("key file is accessible by other users")
)

// Keystore is an unwrapped keystore: the data key and the identity key, in
// memory. It is safe for concurrent use.
type Keystore struct {
	mu      sync.Mutex
	closed  bool
	dataKey []byte             // 32 bytes
	priv    ed25519.PrivateKey // 64 bytes; privKey aliases it
	privKey crypto.PrivKey
	id      peer.ID
}

// Create makes a new identity and data key and writes them to a new keystore
// file at path, wrapped under passphrase. It fails with ErrExists if path
// exists: it never overwrites an identity. The directory must exist.
func Create(path string, passphrase []byte) (*Keystore, error) {
	if len(passphrase) == 0 {
		return nil, fmt.Errorf("create keystore %s: %w", path, ErrEmptyPassphrase)
	}
	if err := DefaultParams.check(); err != nil {
		return nil, fmt.Errorf("create keystore %s: DefaultParams: %w", path, err)
	}
	if _, err := os.Lstat(path); err == nil {
		return nil, fmt.Errorf("create keystore %s: %w", path, ErrExists)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, wrapErr("create keystore", path, err)
	}

	pt := make([]byte, plaintextLen)
	defer clear(pt)
	if _, err := rand.Read(pt); err != nil { // data key || ed25519 seed
		return nil, err
	}
	file, _, err := wrap(DefaultParams, passphrase, pt)
	if err != nil {
		return nil, wrapErr("create keystore", path, err)
	}
	if err := createFile(path, file); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("create keystore %s: %w", path, ErrExists)
		}
		return nil, wrapErr("create keystore", path, err)
	}
	return newKeystore(pt)
}

// Open reads the keystore file at path and unwraps it with passphrase.
func Open(path string, passphrase []byte) (*Keystore, error) {
	pt, err := readAndUnwrap(path, passphrase)
	if err != nil {
		return nil, wrapErr("open keystore", path, err)
	}
	defer clear(pt)
	return newKeystore(pt)
}

// ChangePassphrase rewraps the keystore at path under newPass, atomically:
// after a crash at any point, either oldPass or newPass opens it. The data
// key and the identity (PeerID) stay the same.
func ChangePassphrase(path string, oldPass, newPass []byte) error {
	if len(newPass) == 0 {
		return fmt.Errorf("change keystore passphrase %s: new passphrase: %w", path, ErrEmptyPassphrase)
	}
	b, err := readLimited(path, maxReadLen)
	if err != nil {
		return wrapErr("change keystore passphrase", path, err)
	}
	h, _, _, err := decodeFile(b)
	if err != nil {
		return wrapErr("change keystore passphrase", path, err)
	}
	pt, err := unwrap(b, oldPass)
	if err != nil {
		return wrapErr("change keystore passphrase", path, err)
	}
	defer clear(pt)

	p := DefaultParams
	p.Time = max(p.Time, h.params.Time)
	p.MemoryKiB = max(p.MemoryKiB, h.params.MemoryKiB)
	p.Threads = max(p.Threads, h.params.Threads)
	file, kek, err := wrap(p, newPass, pt)
	if err != nil {
		return wrapErr("change keystore passphrase", path, err)
	}
	defer clear(kek)
	verify := func(back []byte) error {
		got, err := openFile(back, kek)
		if err != nil {
			return err
		}
		defer clear(got)
		if subtle.ConstantTimeCompare(got, pt) != 1 {
			return fmt.Errorf("%w: read back different keys", ErrCorrupt)
		}
		return nil
	}
	if err := replaceFile(path, file, verify); err != nil {
		return wrapErr("change keystore passphrase", path, err)
	}
	return nil
}

// wrap derives a KEK from passphrase under a fresh salt and seals pt under a
// fresh nonce. It returns the file and the KEK, which the caller must clear.
func wrap(p Params, passphrase, pt []byte) (file, kek []byte, err error) {
	if err := p.check(); err != nil {
		return nil, nil, err
	}
	rnd := make([]byte, saltLen+nonceLen)
	if _, err := rand.Read(rnd); err != nil {
		return nil, nil, err
	}
	h := header{params: p, salt: rnd[:saltLen], nonce: rnd[saltLen:]}
	kek = deriveKEK(passphrase, h.salt, p)
	file, err = sealFile(h, kek, pt)
	if err != nil {
		clear(kek)
		return nil, nil, err
	}
	return file, kek, nil
}

// unwrap decodes file, checking its structure and parameters before
// deriving the KEK, and returns the plaintext (caller clears it).
func unwrap(file, passphrase []byte) ([]byte, error) {
	h, ad, ct, err := decodeFile(file)
	if err != nil {
		return nil, err
	}
	if len(passphrase) == 0 {
		return nil, ErrEmptyPassphrase
	}
	kek := deriveKEK(passphrase, h.salt, h.params)
	defer clear(kek)
	return unseal(h, ad, ct, kek)
}

func readAndUnwrap(path string, passphrase []byte) ([]byte, error) {
	b, err := readLimited(path, maxReadLen)
	if err != nil {
		return nil, err
	}
	return unwrap(b, passphrase)
}

// newKeystore builds a Keystore from plaintext = data key || seed, copying
// what it keeps.
func newKeystore(pt []byte) (*Keystore, error) {
	k := &Keystore{
		dataKey: make([]byte, keyLen),
		priv:    ed25519.NewKeyFromSeed(pt[keyLen:plaintextLen]),
	}
	copy(k.dataKey, pt[:keyLen])
	// For a 64-byte input, UnmarshalEd25519PrivateKey keeps the slice it is
	// given, so Close can zero the key libp2p holds as well.
	priv, err := crypto.UnmarshalEd25519PrivateKey(k.priv)
	if err != nil {
		k.Close()
		return nil, fmt.Errorf("%w: identity key: %v", ErrCorrupt, err)
	}
	id, err := peer.IDFromPrivateKey(priv)
	if err != nil {
		k.Close()
		return nil, fmt.Errorf("%w: identity key: %v", ErrCorrupt, err)
	}
	k.privKey, k.id = priv, id
	return k, nil
}

// PrivKey returns the Ed25519 identity key. It panics after Close.
func (k *Keystore) PrivKey() crypto.PrivKey {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.closed {
		panic("keystore: PrivKey called after Close")
	}
	return k.privKey
}

// PeerID returns the identity's libp2p peer ID.
func (k *Keystore) PeerID() peer.ID { return k.id }

// Subkey derives the 32-byte key for label from the data key:
// HKDF-SHA256(data key, salt = none, info = "discordopus/v1/" + label).
// Use the Label constants. The caller owns the result and should clear it
// when done. It panics after Close or for an empty label.
func (k *Keystore) Subkey(label string) []byte {
	if label == "" {
		panic("keystore: Subkey with an empty label")
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.closed {
		panic("keystore: Subkey called after Close")
	}
	out, err := hkdf.Key(sha256.New, k.dataKey, nil, subkeyInfoPrefix+label, keyLen)
	if err != nil {
		panic("keystore: hkdf: " + err.Error()) // only for lengths > 255*32
	}
	return out
}

// Close zeroes the key material (best effort), including the bytes behind
// the key PrivKey returned: call it only when nothing uses that key any more.
// Close is idempotent.
func (k *Keystore) Close() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.closed = true
	clear(k.dataKey)
	clear(k.priv)
}

// wrapErr says what was being done to which keystore.
func wrapErr(op, path string, err error) error {
	return fmt.Errorf("%s %s: %w", op, path, err)
}
