package keystore

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"
	pb "github.com/libp2p/go-libp2p/core/crypto/pb"
	"github.com/libp2p/go-libp2p/core/peer"
)

// hkdfSHA256 is RFC 5869 written out with HMAC, independent of crypto/hkdf,
// for one output block (32 bytes).
func hkdfSHA256(ikm, salt, info []byte) []byte {
	if salt == nil {
		salt = make([]byte, sha256.Size)
	}
	ext := hmac.New(sha256.New, salt)
	ext.Write(ikm)
	prk := ext.Sum(nil)
	exp := hmac.New(sha256.New, prk)
	exp.Write(info)
	exp.Write([]byte{1})
	return exp.Sum(nil)
}

func TestRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName)
	pass := []byte("a passphrase for the round trip")
	k1, err := Create(path, pass)
	if err != nil {
		t.Fatal(err)
	}
	defer k1.Close()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 || fi.Size() != fileLen {
		t.Errorf("keystore file: mode %v size %d, want 0600 and %d bytes", fi.Mode().Perm(), fi.Size(), fileLen)
	}

	k2, err := Open(path, pass)
	if err != nil {
		t.Fatal(err)
	}
	defer k2.Close()
	if k1.PeerID() != k2.PeerID() {
		t.Errorf("PeerID after Open %s, after Create %s", k2.PeerID(), k1.PeerID())
	}
	if !k1.PrivKey().Equals(k2.PrivKey()) {
		t.Error("PrivKey differs after Open")
	}
	if k2.PrivKey().Type() != pb.KeyType_Ed25519 {
		t.Errorf("key type %v, want Ed25519", k2.PrivKey().Type())
	}
	if id, _ := peer.IDFromPublicKey(k2.PrivKey().GetPublic()); id != k2.PeerID() {
		t.Errorf("PeerID %s does not match the key's %s", k2.PeerID(), id)
	}
	msg := []byte("signed by the identity")
	sig, err := k2.PrivKey().Sign(msg)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := k1.PrivKey().GetPublic().Verify(msg, sig); !ok || err != nil {
		t.Errorf("signature by opened key does not verify under created key: %v", err)
	}

	labels := []string{LabelStoreEncryption, LabelStoreSeal, "x", "store/seal/"}
	seen := map[string]string{}
	for _, l := range labels {
		a, b := k1.Subkey(l), k2.Subkey(l)
		if len(a) != 32 || !bytes.Equal(a, b) {
			t.Errorf("Subkey(%q): %x after Create, %x after Open", l, a, b)
		}
		if want := hkdfSHA256(k2.dataKey, nil, []byte("discordopus/v1/"+l)); !bytes.Equal(a, want) {
			t.Errorf("Subkey(%q) = %x, HKDF by hand gives %x", l, a, want)
		}
		if other, dup := seen[hex.EncodeToString(a)]; dup {
			t.Errorf("labels %q and %q give the same subkey", l, other)
		}
		seen[hex.EncodeToString(a)] = l
	}
	if bytes.Equal(k1.dataKey, make([]byte, keyLen)) {
		t.Error("data key is all zero")
	}
}

func TestKnownAnswerV1(t *testing.T) {
	v := loadKAT(t)
	runs := countKDF(t)
	path, pass := katKeystore(t)
	k, err := Open(path, pass)
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	if got := k.PeerID().String(); got != v.PeerID {
		t.Errorf("PeerID %s, want %s", got, v.PeerID)
	}
	pub, _ := k.PrivKey().GetPublic().Raw()
	if hex.EncodeToString(pub) != v.PublicKey {
		t.Errorf("public key %x, want %s", pub, v.PublicKey)
	}
	if hex.EncodeToString(k.dataKey) != v.DataKey {
		t.Errorf("data key %x, want %s", k.dataKey, v.DataKey)
	}
	for label, want := range v.Subkeys {
		if got := hex.EncodeToString(k.Subkey(label)); got != want {
			t.Errorf("Subkey(%q) = %s, want %s", label, got, want)
		}
	}
	if runs.n != 1 || hex.EncodeToString(runs.keks[0]) != v.KEK {
		t.Fatalf("%d Argon2 runs, KEK %x, want 1 run giving %s", runs.n, runs.keks, v.KEK)
	}

	// Our writer, given the same inputs, must produce the same bytes.
	h := header{params: DefaultParams, salt: unhex(t, v.Salt), nonce: unhex(t, v.Nonce)}
	pt := append(unhex(t, v.DataKey), unhex(t, v.Seed)...)
	file, err := sealFile(h, unhex(t, v.KEK), pt)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(file, v.file) {
		t.Errorf("sealFile:\n got %x\nwant %x", file, v.file)
	}
}

func TestCreateRefusesExisting(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(path string) error
	}{
		{"keystore", func(p string) error { return os.WriteFile(p, loadKAT(t).file, 0o600) }},
		{"empty file", func(p string) error { return os.WriteFile(p, nil, 0o600) }},
		{"directory", func(p string) error { return os.Mkdir(p, 0o700) }},
		{"dangling symlink", func(p string) error { return os.Symlink(p+".nowhere", p) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), FileName)
			if err := tc.setup(path); err != nil {
				t.Fatal(err)
			}
			before, _ := os.Lstat(path)
			runs := countKDF(t)
			k, err := Create(path, []byte("pass"))
			if !errors.Is(err, ErrExists) {
				t.Fatalf("Create over %s: %v, want ErrExists", tc.name, err)
			}
			if k != nil || runs.n != 0 {
				t.Errorf("got keystore %v after %d Argon2 runs", k, runs.n)
			}
			after, _ := os.Lstat(path)
			if !os.SameFile(before, after) || before.Size() != after.Size() {
				t.Error("existing file was replaced")
			}
		})
	}
}

func TestCreateErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := Create(filepath.Join(dir, FileName), nil); !errors.Is(err, ErrEmptyPassphrase) {
		t.Errorf("empty passphrase: %v, want ErrEmptyPassphrase", err)
	}
	if _, err := Create(filepath.Join(dir, "missing", FileName), []byte("p")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing directory: %v, want fs.ErrNotExist", err)
	}

	orig := DefaultParams
	t.Cleanup(func() { DefaultParams = orig })
	DefaultParams.MemoryKiB = 1 << 10
	runs := countKDF(t)
	path := filepath.Join(dir, FileName)
	if _, err := Create(path, []byte("p")); !errors.Is(err, ErrWeakParams) {
		t.Errorf("weak DefaultParams: %v, want ErrWeakParams", err)
	}
	if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) || runs.n != 0 {
		t.Errorf("weak DefaultParams: file stat %v, %d Argon2 runs; want no file, no run", err, runs.n)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("files left behind: %v", entries)
	}
}

func TestMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName)
	if _, err := Open(path, []byte("p")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Open: %v, want fs.ErrNotExist", err)
	}
	if err := ChangePassphrase(path, []byte("p"), []byte("q")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ChangePassphrase: %v, want fs.ErrNotExist", err)
	}
}

func TestWrongPassphrase(t *testing.T) {
	path, _ := katKeystore(t)
	for _, pass := range []string{"wrong", "correct horse battery staplE", "correct horse battery staple\n"} {
		_, err := Open(path, []byte(pass))
		if !errors.Is(err, ErrWrongPassphrase) {
			t.Fatalf("Open(%q): %v, want ErrWrongPassphrase", pass, err)
		}
		for _, want := range []string{path, "wrong passphrase", "modified"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not mention %q", err, want)
			}
		}
	}
	if _, err := Open(path, nil); !errors.Is(err, ErrEmptyPassphrase) {
		t.Errorf("Open with empty passphrase: %v, want ErrEmptyPassphrase", err)
	}
}

// TestTamperedFields changes each header field, the nonce and the ciphertext
// of a valid file and opens it with the right passphrase.
func TestTamperedFields(t *testing.T) {
	put32 := func(off int, v uint32) func([]byte) {
		return func(b []byte) { binary.BigEndian.PutUint32(b[off:], v) }
	}
	set := func(off int, v byte) func([]byte) { return func(b []byte) { b[off] = v } }
	flip := func(off int) func([]byte) { return func(b []byte) { b[off] ^= 0x01 } }
	cases := []struct {
		name   string
		mutate func([]byte)
		want   error
		argon2 bool // whether the KEK may be derived at all
	}{
		{"magic", flip(0), ErrCorrupt, false},
		{"version 0", set(4, 0), ErrUnsupportedVersion, false},
		{"version 2", set(4, 2), ErrUnsupportedVersion, false},
		{"kdf 0", set(5, 0), ErrUnsupportedVersion, false},
		{"kdf 2", set(5, 2), ErrUnsupportedVersion, false},
		{"t raised", put32(6, 4), ErrWrongPassphrase, true},
		{"t below floor", put32(6, 2), ErrWeakParams, false},
		{"t zero", put32(6, 0), ErrWeakParams, false},
		{"t above ceiling", put32(6, 101), ErrCorrupt, false},
		{"t max", put32(6, 1<<32-1), ErrCorrupt, false},
		{"m raised", put32(10, 64<<10+1), ErrWrongPassphrase, true},
		{"m below floor", put32(10, 64<<10-1), ErrWeakParams, false},
		{"m 8 KiB", put32(10, 8), ErrWeakParams, false},
		{"m above ceiling", put32(10, 4<<20+1), ErrCorrupt, false},
		{"m max", put32(10, 1<<32-1), ErrCorrupt, false},
		{"p raised", set(14, 5), ErrWrongPassphrase, true},
		{"p lowered", set(14, 3), ErrWrongPassphrase, true},
		{"p zero", set(14, 0), ErrWeakParams, false},
		{"p above ceiling", set(14, 65), ErrCorrupt, false},
		{"p max", set(14, 255), ErrCorrupt, false},
		{"salt length 15", set(15, 15), ErrCorrupt, false},
		{"salt length 17", set(15, 17), ErrCorrupt, false},
		{"salt length 0", set(15, 0), ErrCorrupt, false},
		{"salt", flip(16 + 7), ErrWrongPassphrase, true},
		{"nonce", flip(32 + 23), ErrWrongPassphrase, true},
		{"ciphertext", flip(headerLen), ErrWrongPassphrase, true},
		{"tag", flip(fileLen - 1), ErrWrongPassphrase, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path, pass := katKeystore(t)
			b, _ := os.ReadFile(path)
			tc.mutate(b)
			if err := os.WriteFile(path, b, 0o600); err != nil {
				t.Fatal(err)
			}
			runs := countKDF(t)
			k, err := Open(path, pass)
			if err == nil {
				k.Close()
				t.Fatal("tampered file opened")
			}
			if !errors.Is(err, tc.want) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
			if !tc.argon2 && runs.n != 0 {
				t.Errorf("%d Argon2 runs before refusing, want 0", runs.n)
			}
			if tc.argon2 {
				return // TestChangePassphrase covers a change that fails after Argon2
			}
			if err := ChangePassphrase(path, pass, []byte("new")); !errors.Is(err, tc.want) {
				t.Errorf("ChangePassphrase: %v, want %v", err, tc.want)
			}
			if after, _ := os.ReadFile(path); !bytes.Equal(after, b) || runs.n != 0 {
				t.Errorf("ChangePassphrase modified a file it could not open, or ran Argon2 (%d runs)", runs.n)
			}
		})
	}
}

// TestEveryBitFlip flips each bit of a valid file in turn; with the right
// KEK (no Argon2 needed), none of them may open.
func TestEveryBitFlip(t *testing.T) {
	v := loadKAT(t)
	kek := unhex(t, v.KEK)
	if pt, err := openFile(v.file, kek); err != nil || !bytes.Equal(pt, append(unhex(t, v.DataKey), unhex(t, v.Seed)...)) {
		t.Fatalf("unmodified file: %x, %v", pt, err)
	}
	for i := range len(v.file) * 8 {
		b := bytes.Clone(v.file)
		b[i/8] ^= 1 << (i % 8)
		if pt, err := openFile(b, kek); err == nil {
			t.Fatalf("file with bit %d of byte %d flipped opened: %x", i%8, i/8, pt)
		}
	}
}

func TestTruncatedAndExtended(t *testing.T) {
	path, pass := katKeystore(t)
	full, _ := os.ReadFile(path)
	runs := countKDF(t)
	check := func(b []byte) {
		t.Helper()
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := Open(path, pass); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%d-byte file: %v, want ErrCorrupt", len(b), err)
		}
	}
	for n := range len(full) {
		check(full[:n])
	}
	check(append(bytes.Clone(full), 0))
	check(append(bytes.Clone(full), make([]byte, 1<<20)...))
	if runs.n != 0 {
		t.Errorf("%d Argon2 runs, want 0", runs.n)
	}
}

func TestDecodeAllocatesNothing(t *testing.T) {
	file := loadKAT(t).file
	allocs := testing.AllocsPerRun(100, func() {
		if _, _, _, err := decodeFile(file); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("decodeFile allocates %v times per run, want 0", allocs)
	}
}

func TestChangePassphrase(t *testing.T) {
	path, oldPass := katKeystore(t)
	newPass := []byte("a new passphrase")
	before, _ := os.ReadFile(path)
	if err := os.WriteFile(tempPath(path), []byte("stale temp from a crash"), 0o600); err != nil {
		t.Fatal(err)
	}

	if err := ChangePassphrase(path, []byte("not the old one"), newPass); !errors.Is(err, ErrWrongPassphrase) {
		t.Fatalf("wrong old passphrase: %v, want ErrWrongPassphrase", err)
	}
	if err := ChangePassphrase(path, oldPass, nil); !errors.Is(err, ErrEmptyPassphrase) {
		t.Fatalf("empty new passphrase: %v, want ErrEmptyPassphrase", err)
	}
	if b, _ := os.ReadFile(path); !bytes.Equal(b, before) {
		t.Fatal("failed ChangePassphrase modified the file")
	}

	if err := ChangePassphrase(path, oldPass, newPass); err != nil {
		t.Fatal(err)
	}
	after, _ := os.ReadFile(path)
	hb, _, _, _ := decodeFile(before)
	ha, _, _, err := decodeFile(after)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(ha.salt, hb.salt) || bytes.Equal(ha.nonce, hb.nonce) {
		t.Error("salt or nonce reused on rewrap")
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode after change %v, want 0600", fi.Mode().Perm())
	}
	if _, err := os.Lstat(tempPath(path)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("temp file left: %v", err)
	}
	if _, err := Open(path, oldPass); !errors.Is(err, ErrWrongPassphrase) {
		t.Errorf("old passphrase after change: %v, want ErrWrongPassphrase", err)
	}
	k, err := Open(path, newPass)
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	v := loadKAT(t)
	if k.PeerID().String() != v.PeerID || hex.EncodeToString(k.dataKey) != v.DataKey {
		t.Errorf("identity or data key changed: %s %x", k.PeerID(), k.dataKey)
	}
}

// TestChangePassphraseKeepsStrongerParams: a change never lowers the KDF
// parameters of the file below what it had.
func TestChangePassphraseKeepsStrongerParams(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName)
	strong := Params{Time: DefaultParams.Time, MemoryKiB: DefaultParams.MemoryKiB, Threads: 8}
	pt := append(unhex(t, loadKAT(t).DataKey), unhex(t, loadKAT(t).Seed)...)
	file, kek, err := wrap(strong, []byte("old"), pt)
	if err != nil {
		t.Fatal(err)
	}
	clear(kek)
	if err := os.WriteFile(path, file, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := ChangePassphrase(path, []byte("old"), []byte("new")); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	h, _, _, err := decodeFile(b)
	if err != nil {
		t.Fatal(err)
	}
	if h.params != strong {
		t.Errorf("params after change %+v, want %+v", h.params, strong)
	}
}

// TestNoSecretsOnDisk scans every byte of every file in the data directory
// for key material and passphrases, after Create and after a change.
func TestNoSecretsOnDisk(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, FileName)
	oldPass, newPass := []byte("first passphrase 1234"), []byte("second passphrase 5678")
	runs := countKDF(t)
	k, err := Create(path, oldPass)
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	raw, _ := k.PrivKey().Raw()
	marshalled, _ := crypto.MarshalPrivateKey(k.PrivKey())
	secrets := map[string][]byte{
		"data key":           bytes.Clone(k.dataKey),
		"ed25519 seed":       bytes.Clone(k.priv.Seed()),
		"private key (raw)":  raw,
		"private key (pb)":   marshalled,
		"expanded key":       bytes.Clone(k.priv),
		"old passphrase":     oldPass,
		"new passphrase":     newPass,
		"subkey/encryption":  k.Subkey(LabelStoreEncryption),
		"subkey/seal":        k.Subkey(LabelStoreSeal),
		"subkey/other":       k.Subkey("other"),
		"ed25519 seed (hex)": []byte(hex.EncodeToString(k.priv.Seed())),
		"data key (hex)":     []byte(hex.EncodeToString(k.dataKey)),
	}
	scan := func(when string) {
		t.Helper()
		for i, kek := range runs.keks {
			secrets["KEK "+string(rune('0'+i))] = kek
		}
		n := 0
		err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			n++
			for name, s := range secrets {
				// Also look for any 16-byte window of the secret.
				for off := 0; off+16 <= len(s); off++ {
					if bytes.Contains(b, s[off:off+16]) {
						t.Errorf("%s: %s contains the %s (bytes %d..%d)", when, p, name, off, off+16)
						break
					}
				}
			}
			return nil
		})
		if err != nil || n == 0 {
			t.Fatalf("%s: scanned %d files: %v", when, n, err)
		}
	}
	scan("after Create")
	if err := ChangePassphrase(path, oldPass, newPass); err != nil {
		t.Fatal(err)
	}
	scan("after ChangePassphrase")
	if len(runs.keks) != 3 {
		t.Errorf("%d KEKs recorded, want 3 (create, open old, wrap new)", len(runs.keks))
	}
}

func TestClose(t *testing.T) {
	path, pass := katKeystore(t)
	k, err := Open(path, pass)
	if err != nil {
		t.Fatal(err)
	}
	priv := k.PrivKey()
	id := k.PeerID()
	k.Close()
	k.Close()
	if !bytes.Equal(k.dataKey, make([]byte, keyLen)) || !bytes.Equal(k.priv, make([]byte, len(k.priv))) {
		t.Error("key material not zeroed by Close")
	}
	if raw, _ := priv.Raw(); !bytes.Equal(raw, make([]byte, len(raw))) {
		t.Error("the key PrivKey returned still holds key material after Close")
	}
	if k.PeerID() != id {
		t.Error("PeerID changed after Close")
	}
	for name, f := range map[string]func(){
		"Subkey":  func() { k.Subkey(LabelStoreSeal) },
		"PrivKey": func() { k.PrivKey() },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s after Close did not panic", name)
				}
			}()
			f()
		}()
	}
}

func TestSubkeyEmptyLabelPanics(t *testing.T) {
	k, err := newKeystore(make([]byte, plaintextLen))
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if recover() == nil {
			t.Error("Subkey(\"\") did not panic")
		}
	}()
	k.Subkey("")
}
