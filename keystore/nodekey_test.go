package keystore

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"
	pb "github.com/libp2p/go-libp2p/core/crypto/pb"
)

func TestNodeKeyCreateAndLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "node.key")
	k1, err := LoadOrCreateNodeKey(path)
	if err != nil {
		t.Fatal(err)
	}
	if k1.Type() != pb.KeyType_Ed25519 {
		t.Errorf("key type %v, want Ed25519", k1.Type())
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %04o, want 0600", fi.Mode().Perm())
	}
	k2, err := LoadOrCreateNodeKey(path)
	if err != nil {
		t.Fatal(err)
	}
	if !k1.Equals(k2) {
		t.Error("second call returned a different key")
	}
	msg := []byte("node")
	sig, err := k2.Sign(msg) // the loaded key must be usable, not zeroed
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := k1.GetPublic().Verify(msg, sig); !ok {
		t.Error("loaded key signs differently from the created one")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("directory holds %v, want only node.key", entries)
	}
	if _, err := LoadOrCreateNodeKey(filepath.Join(dir, "missing", "node.key")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing directory: %v, want fs.ErrNotExist", err)
	}
}

func TestNodeKeyRefusesOpenPermissions(t *testing.T) {
	for _, mode := range []os.FileMode{0o644, 0o640, 0o604, 0o660, 0o606} {
		path := filepath.Join(t.TempDir(), "node.key")
		k, err := LoadOrCreateNodeKey(path)
		if err != nil {
			t.Fatal(err)
		}
		before, _ := os.ReadFile(path)
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		_, err = LoadOrCreateNodeKey(path)
		if !errors.Is(err, ErrInsecureMode) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "chmod 600") {
			t.Errorf("mode %04o: %v, want ErrInsecureMode naming the path and the fix", mode, err)
		}
		if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
			t.Errorf("mode %04o: file was rewritten", mode)
		}
		os.Chmod(path, 0o600)
		if k2, err := LoadOrCreateNodeKey(path); err != nil || !k.Equals(k2) {
			t.Errorf("after chmod 600: %v", err)
		}
	}
}

func TestNodeKeyRefusesCorrupt(t *testing.T) {
	valid := func() []byte {
		k, _, _ := crypto.GenerateEd25519Key(rand.Reader)
		b, _ := crypto.MarshalPrivateKey(k)
		return b
	}()
	secp, _, _ := crypto.GenerateSecp256k1Key(rand.Reader)
	secpBytes, _ := crypto.MarshalPrivateKey(secp)
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"garbage", []byte("this is not a key\n")},
		{"truncated", valid[:len(valid)-1]},
		{"one byte short of the header", valid[:3]},
		{"public half flipped", append(bytes.Clone(valid[:len(valid)-1]), valid[len(valid)-1]^1)},
		{"seed flipped", func() []byte { b := bytes.Clone(valid); b[len(b)-64] ^= 1; return b }()},
		{"secp256k1", secpBytes},
		{"huge", make([]byte, 1<<20)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "node.key")
			if err := os.WriteFile(path, tc.data, 0o600); err != nil {
				t.Fatal(err)
			}
			k, err := LoadOrCreateNodeKey(path)
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), path) {
				t.Errorf("got key %v, err %v; want ErrCorrupt naming the path", k, err)
			}
			if after, _ := os.ReadFile(path); !bytes.Equal(after, tc.data) {
				t.Error("corrupt node key was overwritten")
			}
		})
	}

	dirPath := filepath.Join(t.TempDir(), "node.key")
	os.Mkdir(dirPath, 0o700)
	if _, err := LoadOrCreateNodeKey(dirPath); err == nil {
		t.Error("a directory was accepted as a node key")
	}
}
