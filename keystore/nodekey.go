package keystore

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"runtime"

	"github.com/libp2p/go-libp2p/core/crypto"
	pb "github.com/libp2p/go-libp2p/core/crypto/pb"
)

// maxNodeKeyLen bounds how much of a node key file is read. An Ed25519 key
// in MarshalPrivateKey encoding is 68 bytes.
const maxNodeKeyLen = 1 << 10

// LoadOrCreateNodeKey returns the infrastructure daemon's Ed25519 libp2p key
// from the file at path, which holds it without passphrase in libp2p's
// crypto.MarshalPrivateKey encoding. If the file does not exist it is created
// atomically with mode 0600. A file that group or others may access is
// refused (ErrInsecureMode), and so is one that does not hold an Ed25519 key
// (ErrCorrupt); such a file is never overwritten.
func LoadOrCreateNodeKey(path string) (crypto.PrivKey, error) {
	k, err := loadNodeKey(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return k, err
	}
	priv, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("create node key %s: %w", path, err)
	}
	b, err := crypto.MarshalPrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("create node key %s: %w", path, err)
	}
	err = createFile(path, b)
	clear(b)
	if errors.Is(err, fs.ErrExist) {
		// Another process created it first: use that one.
		return loadNodeKey(path)
	}
	if err != nil {
		return nil, fmt.Errorf("create node key %s: %w", path, err)
	}
	return priv, nil
}

// loadNodeKey reads the node key at path. A missing file gives an error
// that matches fs.ErrNotExist.
func loadNodeKey(path string) (crypto.PrivKey, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("load node key: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("load node key %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("load node key %s: %w: not a regular file", path, ErrCorrupt)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 && runtime.GOOS != "windows" {
		return nil, fmt.Errorf("load node key %s: %w (mode %04o); run: chmod 600 %s", path, ErrInsecureMode, perm, path)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxNodeKeyLen+1))
	if err != nil {
		return nil, fmt.Errorf("load node key %s: %w", path, err)
	}
	defer clear(b)
	corrupt := func(why string) error {
		return fmt.Errorf("load node key %s: %w: %s; move the file away to create a new key (the node's peer ID will change)", path, ErrCorrupt, why)
	}
	if len(b) > maxNodeKeyLen {
		return nil, corrupt("file too large")
	}
	k, err := crypto.UnmarshalPrivateKey(b)
	if err != nil {
		return nil, corrupt(err.Error())
	}
	if k.Type() != pb.KeyType_Ed25519 {
		return nil, corrupt(fmt.Sprintf("a %s key, want Ed25519", k.Type()))
	}
	// libp2p keeps seed || public key and does not check that they belong
	// together; a flipped bit in either would give a node whose signatures
	// do not match its PeerID.
	raw, err := k.Raw()
	if err != nil || len(raw) != ed25519.PrivateKeySize {
		return nil, corrupt("bad Ed25519 key length")
	}
	defer clear(raw)
	if !bytes.Equal(ed25519.NewKeyFromSeed(raw[:ed25519.SeedSize]).Public().(ed25519.PublicKey), raw[ed25519.SeedSize:]) {
		return nil, corrupt("the public half does not match the private half")
	}
	return k, nil
}
