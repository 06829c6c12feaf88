package e2e

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"google.golang.org/protobuf/encoding/protowire"
)

type libsignalFingerprintVectors struct {
	Iterations    int    `json:"iterations"`
	AliceIdentity string `json:"alice_identity"`
	BobIdentity   string `json:"bob_identity"`
	AliceStableID string `json:"alice_stable_id"`
	BobStableID   string `json:"bob_stable_id"`
	Displayable   string `json:"displayable"`
	Scannable     []struct {
		Version uint32 `json:"version"`
		Alice   string `json:"alice"`
		Bob     string `json:"bob"`
	} `json:"scannable"`
	Encoding struct {
		Version    uint32 `json:"version"`
		Local      string `json:"local"`
		Remote     string `json:"remote"`
		Serialized string `json:"serialized"`
	} `json:"encoding"`
}

type ourFingerprintVectors struct {
	Version uint32 `json:"version"`
	Keys    map[string]struct {
		Seed   string `json:"seed"`
		Public string `json:"public"`
	} `json:"keys"`
	Pairs []struct {
		Local        string `json:"local"`
		Remote       string `json:"remote"`
		SafetyNumber string `json:"safety_number"`
		QRLocal      string `json:"qr_local"`
		QRRemote     string `json:"qr_remote"`
	} `json:"pairs"`
}

// TestFingerprintLibsignalVectors checks the generic core against
// libsignal's known answers: Signal's keys (0x05 || X25519) and phone
// numbers as stable IDs, versions 1 and 2.
func TestFingerprintLibsignalVectors(t *testing.T) {
	var v libsignalFingerprintVectors
	readVectors(t, "fingerprint_libsignal.json", &v)
	aKey, bKey := unhex(t, v.AliceIdentity), unhex(t, v.BobIdentity)
	a := logicalFingerprint(v.Iterations, aKey, []byte(v.AliceStableID))
	b := logicalFingerprint(v.Iterations, bKey, []byte(v.BobStableID))

	if got := displayableFingerprint(a, b); got != v.Displayable {
		t.Errorf("Alice's displayable fingerprint = %s, want %s", got, v.Displayable)
	}
	if got := displayableFingerprint(b, a); got != v.Displayable {
		t.Errorf("Bob's displayable fingerprint = %s, want %s", got, v.Displayable)
	}
	if len(v.Scannable) != 2 {
		t.Fatalf("%d scannable vectors, want 2", len(v.Scannable))
	}
	var codes []scannableFingerprint
	for _, sv := range v.Scannable {
		alice := scannableFingerprint{version: sv.Version, local: a[:scannableLen], remote: b[:scannableLen]}
		bob := scannableFingerprint{version: sv.Version, local: b[:scannableLen], remote: a[:scannableLen]}
		if got := hex.EncodeToString(alice.marshal()); got != sv.Alice {
			t.Errorf("v%d: Alice's scannable = %s, want %s", sv.Version, got, sv.Alice)
		}
		if got := hex.EncodeToString(bob.marshal()); got != sv.Bob {
			t.Errorf("v%d: Bob's scannable = %s, want %s", sv.Version, got, sv.Bob)
		}
		// Each recognises the other's code, and neither its own.
		for _, c := range []struct {
			name    string
			s       scannableFingerprint
			scanned string
			want    bool
		}{
			{"Alice scans Bob", alice, sv.Bob, true},
			{"Bob scans Alice", bob, sv.Alice, true},
			{"Alice scans her own", alice, sv.Alice, false},
			{"Bob scans his own", bob, sv.Bob, false},
		} {
			got, err := c.s.compare(unhex(t, c.scanned))
			if err != nil || got != c.want {
				t.Errorf("v%d: %s = %v, %v; want %v", sv.Version, c.name, got, err, c.want)
			}
		}
		codes = append(codes, alice)
	}
	// A code of the other version is a version mismatch, not a "no".
	if _, err := codes[0].compare(unhex(t, v.Scannable[1].Bob)); !errors.Is(err, ErrSafetyNumberVersion) {
		t.Errorf("v1 scanning a v2 code: err = %v, want ErrSafetyNumberVersion", err)
	}

	e := v.Encoding
	enc := scannableFingerprint{version: e.Version, local: unhex(t, e.Local), remote: unhex(t, e.Remote)}
	if got := hex.EncodeToString(enc.marshal()); got != e.Serialized {
		t.Errorf("encoding vector = %s, want %s", got, e.Serialized)
	}
	parsed, err := parseScannableFingerprint(unhex(t, e.Serialized))
	if err != nil || parsed.version != e.Version || !bytes.Equal(parsed.local, enc.local) || !bytes.Equal(parsed.remote, enc.remote) {
		t.Errorf("parse of the encoding vector = %+v, %v", parsed, err)
	}
}

// testPeer makes the Peer of an Ed25519 seed, with its PeerID from libp2p.
func testPeer(tb testing.TB, seed []byte) Peer {
	tb.Helper()
	pub := ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey)
	lpub, err := crypto.UnmarshalEd25519PublicKey(pub)
	if err != nil {
		tb.Fatal(err)
	}
	id, err := peer.IDFromPublicKey(lpub)
	if err != nil {
		tb.Fatal(err)
	}
	return Peer{Key: pub, PeerID: []byte(id)}
}

// TestSafetyNumberVectors checks our inputs and version against answers
// computed independently (testdata/README.md).
func TestSafetyNumberVectors(t *testing.T) {
	var v ourFingerprintVectors
	readVectors(t, "fingerprint_discordopus.json", &v)
	if v.Version != SafetyNumberVersion {
		t.Fatalf("vectors are for version %#x, code has %#x", v.Version, SafetyNumberVersion)
	}
	peers := map[string]Peer{}
	for name, k := range v.Keys {
		p := testPeer(t, unhex(t, k.Seed))
		if got := hex.EncodeToString(p.Key); got != k.Public {
			t.Fatalf("%s: public key %s, want %s", name, got, k.Public)
		}
		peers[name] = p
	}
	for _, pair := range v.Pairs {
		l, r := peers[pair.Local], peers[pair.Remote]
		for _, side := range []struct {
			who          string
			local, other Peer
			qr, otherQR  string
		}{
			{pair.Local, l, r, pair.QRLocal, pair.QRRemote},
			{pair.Remote, r, l, pair.QRRemote, pair.QRLocal},
		} {
			sn, err := SafetyNumber(side.local, side.other)
			if err != nil || sn != pair.SafetyNumber {
				t.Errorf("%s/%s: %s's SafetyNumber = %q, %v; want %s", pair.Local, pair.Remote, side.who, sn, err, pair.SafetyNumber)
			}
			qr, err := SafetyNumberQR(side.local, side.other)
			if err != nil || hex.EncodeToString(qr) != side.qr {
				t.Errorf("%s/%s: %s's SafetyNumberQR = %x, %v; want %s", pair.Local, pair.Remote, side.who, qr, err, side.qr)
			}
			ok, err := CompareSafetyNumberQR(side.local, side.other, unhex(t, side.otherQR))
			if err != nil || !ok {
				t.Errorf("%s/%s: %s scanning the other's code = %v, %v; want a match", pair.Local, pair.Remote, side.who, ok, err)
			}
		}
	}
}

// TestSafetyNumberKeyEncoding pins the inputs to libp2p's own encodings.
func TestSafetyNumberKeyEncoding(t *testing.T) {
	p := testPeer(t, bytes.Repeat([]byte{7}, 32))
	key, err := safetyNumberKey(p)
	if err != nil {
		t.Fatal(err)
	}
	lpub, _ := crypto.UnmarshalEd25519PublicKey(p.Key)
	want, err := crypto.MarshalPublicKey(lpub)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(key, want) {
		t.Errorf("key input %x, want libp2p's %x", key, want)
	}
}

// TestSafetyNumberMITM: a substituted key shows on both sides.
func TestSafetyNumberMITM(t *testing.T) {
	alice := testPeer(t, bytes.Repeat([]byte{1}, 32))
	bob := testPeer(t, bytes.Repeat([]byte{2}, 32))
	mallory := testPeer(t, bytes.Repeat([]byte{3}, 32))

	ab, _ := SafetyNumber(alice, bob)
	ba, _ := SafetyNumber(bob, alice)
	if ab != ba || len(ab) != 60 || strings.Trim(ab, "0123456789") != "" {
		t.Fatalf("Alice sees %q, Bob sees %q: want the same 60 digits", ab, ba)
	}
	// Alice holds Mallory's key for Bob.
	am, _ := SafetyNumber(alice, Peer{Key: mallory.Key, PeerID: mallory.PeerID})
	if am == ba {
		t.Error("a substituted key gives the same safety number")
	}
	aliceQR, _ := SafetyNumberQR(alice, mallory)
	bobQR, _ := SafetyNumberQR(bob, alice)
	if ok, err := CompareSafetyNumberQR(bob, alice, aliceQR); ok || err != nil {
		t.Errorf("Bob scanning Alice's code under attack = %v, %v; want no match", ok, err)
	}
	if ok, err := CompareSafetyNumberQR(alice, mallory, bobQR); ok || err != nil {
		t.Errorf("Alice scanning Bob's code under attack = %v, %v; want no match", ok, err)
	}
	if ok, err := CompareSafetyNumberQR(alice, bob, bobQR); !ok || err != nil {
		t.Errorf("Alice scanning Bob's code = %v, %v; want a match", ok, err)
	}
	// Showing one's own code to oneself is not a match.
	if ok, err := CompareSafetyNumberQR(bob, alice, bobQR); ok || err != nil {
		t.Errorf("Bob scanning his own code = %v, %v; want no match", ok, err)
	}
}

func TestSafetyNumberRefusesBadPeers(t *testing.T) {
	alice := testPeer(t, bytes.Repeat([]byte{1}, 32))
	bob := testPeer(t, bytes.Repeat([]byte{2}, 32))
	for name, p := range map[string]Peer{
		"another's PeerID":  {Key: alice.Key, PeerID: bob.PeerID},
		"base58 PeerID":     {Key: alice.Key, PeerID: []byte(peer.ID(alice.PeerID).String())},
		"no PeerID":         {Key: alice.Key},
		"short key":         {Key: alice.Key[:31], PeerID: alice.PeerID},
		"no key":            {PeerID: alice.PeerID},
		"PeerID with extra": {Key: alice.Key, PeerID: append(bytes.Clone(alice.PeerID), 0)},
	} {
		if _, err := SafetyNumber(p, bob); err == nil {
			t.Errorf("%s: SafetyNumber accepted it as local", name)
		}
		if _, err := SafetyNumberQR(bob, p); err == nil {
			t.Errorf("%s: SafetyNumberQR accepted it as remote", name)
		}
		if _, err := CompareSafetyNumberQR(bob, p, nil); err == nil {
			t.Errorf("%s: CompareSafetyNumberQR accepted it as remote", name)
		}
	}
}

func TestCompareSafetyNumberQRErrors(t *testing.T) {
	alice := testPeer(t, bytes.Repeat([]byte{1}, 32))
	bob := testPeer(t, bytes.Repeat([]byte{2}, 32))
	bobQR, _ := SafetyNumberQR(bob, alice)
	fp := func(num protowire.Number, content []byte) []byte {
		inner := protowire.AppendBytes(protowire.AppendTag(nil, 1, protowire.BytesType), content)
		return protowire.AppendBytes(protowire.AppendTag(nil, num, protowire.BytesType), inner)
	}
	version := func(v uint64) []byte {
		return protowire.AppendVarint(protowire.AppendTag(nil, 1, protowire.VarintType), v)
	}
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	parsed, err := parseScannableFingerprint(bobQR)
	if err != nil {
		t.Fatal(err)
	}
	l, r := parsed.local, parsed.remote

	for _, c := range []struct {
		name    string
		scanned []byte
		want    error // nil: parses, and matches if match
		match   bool
	}{
		{"Bob's code", bobQR, nil, true},
		{"fields reordered", cat(fp(3, r), fp(2, l), version(uint64(SafetyNumberVersion))), nil, true},
		{"unknown field skipped", cat(bobQR, protowire.AppendVarint(protowire.AppendTag(nil, 9, protowire.VarintType), 1)), nil, true},
		{"repeated field: last wins", cat(fp(2, r), bobQR), nil, true},
		{"truncated fingerprint", cat(version(uint64(SafetyNumberVersion)), fp(2, l[:31]), fp(3, r)), nil, false},
		{"Signal version 2", cat(version(2), fp(2, l), fp(3, r)), ErrSafetyNumberVersion, false},
		{"no version", cat(fp(2, l), fp(3, r)), ErrSafetyNumberVersion, false},
		{"version out of range", cat(version(1<<32|uint64(SafetyNumberVersion)), fp(2, l), fp(3, r)), ErrSafetyNumberQR, false},
		{"no remote fingerprint", cat(version(uint64(SafetyNumberVersion)), fp(2, l)), ErrSafetyNumberQR, false},
		{"no local fingerprint", cat(version(uint64(SafetyNumberVersion)), fp(3, r)), ErrSafetyNumberQR, false},
		{"empty", nil, ErrSafetyNumberVersion, false},
		{"text", []byte("https://example.com/"), ErrSafetyNumberQR, false},
		{"truncated", bobQR[:len(bobQR)-1], ErrSafetyNumberQR, false},
		{"version as bytes", cat(protowire.AppendBytes(protowire.AppendTag(nil, 1, protowire.BytesType), []byte{1}), fp(2, l), fp(3, r)), ErrSafetyNumberQR, false},
		{"oversized", cat(bobQR, protowire.AppendBytes(protowire.AppendTag(nil, 9, protowire.BytesType), make([]byte, maxSafetyNumberQR))), ErrSafetyNumberQR, false},
	} {
		ok, err := CompareSafetyNumberQR(alice, bob, c.scanned)
		switch {
		case c.want != nil && !errors.Is(err, c.want):
			t.Errorf("%s: err = %v, want %v", c.name, err, c.want)
		case c.want == nil && err != nil:
			t.Errorf("%s: err = %v", c.name, err)
		case ok != c.match:
			t.Errorf("%s: match = %v, want %v", c.name, ok, c.match)
		}
	}
}

func TestFormatSafetyNumber(t *testing.T) {
	const sn = "300354477692869396892869876765458257569162576843440918079131"
	const want = "30035 44776 92869 39689 28698 76765 45825 75691 62576 84344 09180 79131"
	if got := FormatSafetyNumber(sn); got != want {
		t.Errorf("FormatSafetyNumber = %q, want %q", got, want)
	}
	if got := FormatSafetyNumber(want); got != want {
		t.Errorf("formatting twice = %q, want %q", got, want)
	}
	if got := FormatSafetyNumber("1234567"); got != "12345 67" {
		t.Errorf("FormatSafetyNumber(1234567) = %q", got)
	}
	if got := FormatSafetyNumber(""); got != "" {
		t.Errorf("FormatSafetyNumber(\"\") = %q", got)
	}
}

// FuzzParseSafetyNumberQR: scanned bytes never panic the parser; what it
// accepts re-encodes to a payload that parses to the same values.
func FuzzParseSafetyNumberQR(f *testing.F) {
	f.Add([]byte{})
	var v libsignalFingerprintVectors
	readVectors(f, "fingerprint_libsignal.json", &v)
	for _, s := range v.Scannable {
		f.Add(unhex(f, s.Alice))
	}
	alice := testPeer(f, bytes.Repeat([]byte{1}, 32))
	bob := testPeer(f, bytes.Repeat([]byte{2}, 32))
	qr, _ := SafetyNumberQR(alice, bob)
	f.Add(qr)
	// Compare through the parsed form: the 5200 SHA-512 rounds per party
	// would otherwise dominate every run.
	ours, err := parseScannableFingerprint(qr)
	if err != nil {
		f.Fatal(err)
	}
	ours.local, ours.remote = ours.remote, ours.local // Bob's view
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := parseScannableFingerprint(b)
		if err != nil {
			if !errors.Is(err, ErrSafetyNumberQR) {
				t.Fatalf("error %v does not wrap ErrSafetyNumberQR", err)
			}
			return
		}
		if len(b) > maxSafetyNumberQR {
			t.Fatalf("accepted %d bytes", len(b))
		}
		again, err := parseScannableFingerprint(s.marshal())
		if err != nil {
			t.Fatalf("re-encoding does not parse: %v", err)
		}
		if again.version != s.version || !bytes.Equal(again.local, s.local) || !bytes.Equal(again.remote, s.remote) {
			t.Fatalf("re-encoding changed %+v into %+v", s, again)
		}
		// Comparing must not fail other than by the documented errors.
		if _, err := ours.compare(b); err != nil &&
			!errors.Is(err, ErrSafetyNumberQR) && !errors.Is(err, ErrSafetyNumberVersion) {
			t.Fatalf("compare: %v", err)
		}
	})
}
