package mailbox

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"math/bits"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

func TestEpoch(t *testing.T) {
	cases := []struct {
		t    time.Time
		want uint64
	}{
		{time.Unix(0, 0), 0},
		{time.Unix(-1, 0), 0},
		{time.Date(1970, 1, 1, 23, 59, 59, 999999999, time.UTC), 0},
		{time.Date(1970, 1, 2, 0, 0, 0, 0, time.UTC), 1},
		{time.Date(2024, 10, 5, 0, 0, 0, 0, time.UTC), 20001},
		{time.Date(2024, 10, 4, 23, 59, 59, 0, time.UTC), 20000},
		// The same instant in another zone is the same epoch: UTC days.
		{time.Date(2024, 10, 5, 1, 0, 0, 0, time.FixedZone("CEST", 2*3600)), 20000},
	}
	for _, c := range cases {
		if got := Epoch(c.t); got != c.want {
			t.Errorf("Epoch(%v) = %d, want %d", c.t, got, c.want)
		}
	}
	for _, e := range []uint64{0, 1, 20000} {
		s := EpochStart(e)
		if Epoch(s) != e || Epoch(s.Add(-time.Nanosecond)) == e && e > 0 || Epoch(s.Add(EpochLength-time.Nanosecond)) != e {
			t.Errorf("EpochStart(%d) = %v is not the epoch's first instant", e, s)
		}
	}
}

// readKAT reads testdata/kat.txt: repeated names collect in order.
func readKAT(t *testing.T) map[string][]string {
	t.Helper()
	f, err := os.Open("testdata/kat.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	kat := map[string][]string{}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<16)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		name, value, _ := strings.Cut(line, " ")
		kat[name] = append(kat[name], value)
	}
	return kat
}

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestKnownAnswers checks the derivation and the proof message against
// values computed with OpenSSL (testdata/README.md).
func TestKnownAnswers(t *testing.T) {
	kat := readKAT(t)
	k, err := NewKeys(unhex(t, kat["secret"][0]))
	if err != nil {
		t.Fatal(err)
	}
	if len(kat["epoch"]) != 3 {
		t.Fatalf("kat.txt has %d epochs", len(kat["epoch"]))
	}
	for i, es := range kat["epoch"] {
		e, _ := strconv.ParseUint(es, 10, 64)
		if got := hex.EncodeToString(k.seed(e)); got != kat["seed"][i] {
			t.Errorf("epoch %d: seed %s, want %s", e, got, kat["seed"][i])
		}
		pub := k.Public(e)
		if pub.Epoch != e || hex.EncodeToString(pub.Key) != kat["public"][i] {
			t.Errorf("epoch %d: public key %x", e, pub.Key)
		}
		if got := pub.Address().String(); got != kat["address"][i] {
			t.Errorf("epoch %d: address %s, want %s", e, got, kat["address"][i])
		}
		if !bytes.Equal(k.Private(e).Public().(ed25519.PublicKey), pub.Key) {
			t.Errorf("epoch %d: private and public keys differ", e)
		}
	}

	hseed := sha256.Sum256([]byte("discordopus mailbox test holder"))
	hpriv, err := crypto.UnmarshalEd25519PrivateKey(ed25519.NewKeyFromSeed(hseed[:]))
	if err != nil {
		t.Fatal(err)
	}
	holderID, _ := peer.IDFromPrivateKey(hpriv)
	if got := hex.EncodeToString([]byte(holderID)); got != kat["holder-peer-id"][0] {
		t.Fatalf("holder PeerID %s", got)
	}
	nonce := [32]byte(unhex(t, kat["nonce"][0]))
	addr := k.Public(20000).Address()
	key := k.Private(20000)
	msg := proofMessage(kindFetch, holderID, nonce, addr, nil)
	if got := hex.EncodeToString(msg); got != kat["fetch-message"][0] {
		t.Fatalf("fetch message\n%s, want\n%s", got, kat["fetch-message"][0])
	}
	p := signer(key)(holderID, nonce, &frame{kind: kindFetch, address: addr})
	if hex.EncodeToString(p.sig) != kat["fetch-signature"][0] {
		t.Errorf("fetch signature %x", p.sig)
	}
	var ids [][32]byte
	for _, s := range kat["ack-id"] {
		ids = append(ids, [32]byte(unhex(t, s)))
	}
	p = signer(key)(holderID, nonce, &frame{kind: kindAck, address: addr, ids: ids})
	if hex.EncodeToString(p.sig) != kat["ack-signature"][0] {
		t.Errorf("ack signature %x", p.sig)
	}
}

// TestAddressesUnlinkable: the addresses (and keys) of a year of epochs,
// and of two secrets, are distinct and share no more than chance would.
func TestAddressesUnlinkable(t *testing.T) {
	s1, s2 := sha256.Sum256([]byte("secret one")), sha256.Sum256([]byte("secret two"))
	k1, _ := NewKeys(s1[:])
	k2, _ := NewKeys(s2[:])
	const epochs = 366
	var addrs, pubs [][]byte
	for e := uint64(20000); e < 20000+epochs; e++ {
		a1, a2 := k1.Public(e).Address(), k2.Public(e).Address()
		if a1 == a2 {
			t.Fatalf("epoch %d: two secrets give one address", e)
		}
		addrs = append(addrs, a1[:], a2[:])
		pubs = append(pubs, k1.Public(e).Key, k2.Public(e).Key)
	}
	for name, set := range map[string][][]byte{"addresses": addrs, "public keys": pubs} {
		seen := map[string]bool{}
		var equal, pairs, dist int
		for i, x := range set {
			if seen[string(x)] {
				t.Fatalf("%s: a repeat", name)
			}
			seen[string(x)] = true
			for _, y := range set[:i] {
				pairs++
				same := 0
				for j := range x {
					if x[j] == y[j] {
						same++
					}
					dist += bits.OnesCount8(x[j] ^ y[j])
				}
				equal += same
				// 9 or more equal bytes of 32 happens with probability
				// ~1e-14 per pair for independent values.
				if same > 8 {
					t.Errorf("%s: two share %d bytes", name, same)
				}
				if bytes.Contains(x, y[:8]) || bytes.Contains(x, y[24:]) {
					t.Errorf("%s: two share an 8-byte run", name)
				}
			}
		}
		// Chance: 1/256 of positions equal, half the bits different.
		meanEqual := float64(equal) / float64(pairs)
		meanDist := float64(dist) / float64(pairs)
		t.Logf("%s: %d pairs, %.3f equal bytes and %.1f differing bits on average", name, pairs, meanEqual, meanDist)
		if meanEqual > 0.2 || meanDist < 125 || meanDist > 131 {
			t.Errorf("%s look correlated: %.3f equal bytes, %.1f bits apart on average", name, meanEqual, meanDist)
		}
	}
}

func TestKeys(t *testing.T) {
	if _, err := NewKeys(make([]byte, 31)); err == nil {
		t.Error("31-byte secret accepted")
	}
	if _, err := NewKeys(make([]byte, 32)); err == nil {
		t.Error("all-zero secret accepted")
	}
	secret := sha256.Sum256([]byte("x"))
	k, err := NewKeys(secret[:])
	if err != nil {
		t.Fatal(err)
	}
	secret[0] ^= 1 // the caller's copy is not Keys'
	k2, _ := NewKeys(secret[:])
	if k.Public(1).Address() == k2.Public(1).Address() {
		t.Fatal("Keys did not copy the secret")
	}
	a := k.Public(7).Address()
	if b, err := ParseAddress(a.String()); err != nil || b != a {
		t.Fatalf("ParseAddress(%s) = %s, %v", a, b, err)
	}
	if _, err := ParseAddress("abc"); err == nil {
		t.Error("short address parsed")
	}
	k.Wipe()
	if k.secret != [32]byte{} {
		t.Fatal("Wipe left the secret")
	}
	defer func() {
		if recover() == nil {
			t.Fatal("Keys used after Wipe did not panic")
		}
	}()
	k.Private(1)
}
