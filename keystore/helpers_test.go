package keystore

import (
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// katVector is testdata/kat/v1.json: an independently generated version 1
// keystore and what must come out of it.
type katVector struct {
	Passphrase string            `json:"passphrase"`
	Salt       string            `json:"salt"`
	Nonce      string            `json:"nonce"`
	DataKey    string            `json:"data_key"`
	Seed       string            `json:"seed"`
	KEK        string            `json:"kek"`
	PublicKey  string            `json:"public_key"`
	PeerID     string            `json:"peer_id"`
	Subkeys    map[string]string `json:"subkeys"`

	file []byte // testdata/kat/v1.keystore
}

var (
	katOnce sync.Once
	katVec  katVector
	katErr  error
)

func loadKAT(tb testing.TB) katVector {
	tb.Helper()
	v, err := readKAT()
	if err != nil {
		tb.Fatal(err)
	}
	return v
}

func readKAT() (katVector, error) {
	katOnce.Do(func() {
		var b []byte
		if b, katErr = os.ReadFile(filepath.Join("testdata", "kat", "v1.json")); katErr != nil {
			return
		}
		if katErr = json.Unmarshal(b, &katVec); katErr != nil {
			return
		}
		katVec.file, katErr = os.ReadFile(filepath.Join("testdata", "kat", "v1.keystore"))
	})
	v := katVec
	v.file = append([]byte(nil), katVec.file...)
	return v, katErr
}

func unhex(tb testing.TB, s string) []byte {
	tb.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// katKeystore writes the known-answer keystore into a fresh directory and
// returns its path and passphrase.
func katKeystore(t *testing.T) (path string, pass []byte) {
	t.Helper()
	v := loadKAT(t)
	path = filepath.Join(t.TempDir(), FileName)
	if err := os.WriteFile(path, v.file, 0o600); err != nil {
		t.Fatal(err)
	}
	return path, []byte(v.Passphrase)
}

// kdfRuns counts Argon2 runs for the rest of the test and records each KEK.
// Tests that use it must not run in parallel.
type kdfRuns struct {
	n    int
	keks [][]byte
}

func countKDF(t *testing.T) *kdfRuns {
	t.Helper()
	c := &kdfRuns{}
	orig := deriveKEK
	deriveKEK = func(pass, salt []byte, p Params) []byte {
		c.n++
		k := orig(pass, salt, p)
		c.keks = append(c.keks, append([]byte(nil), k...))
		return k
	}
	t.Cleanup(func() { deriveKEK = orig })
	return c
}
