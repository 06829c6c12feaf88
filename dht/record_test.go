package dht

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"google.golang.org/protobuf/encoding/protowire"
)

const testNS = "test"

// testKey returns a deterministic Ed25519 key, distinct per name, and its
// PeerID. (Ed25519 is what our identities are: the PeerID embeds the key.)
func testKey(tb testing.TB, name string) (crypto.PrivKey, peer.ID) {
	tb.Helper()
	seed := sha256.Sum256([]byte("dht test key " + name))
	return keyFrom(tb, bytes.NewReader(seed[:]))
}

func mustSign(tb testing.TB, priv crypto.PrivKey, ns string, seq uint64, payload []byte) []byte {
	tb.Helper()
	v, err := SignRecord(priv, ns, seq, payload)
	if err != nil {
		tb.Fatalf("SignRecord: %v", err)
	}
	return v
}

// signRaw signs (key, seq, payload) as SignRecord does, and returns the
// record unencoded, so that tests can alter or re-encode it.
func signRaw(tb testing.TB, priv crypto.PrivKey, key string, seq uint64, payload []byte) SignedRecord {
	tb.Helper()
	sig, err := priv.Sign(signingInput(key, seq, payload))
	if err != nil {
		tb.Fatal(err)
	}
	return SignedRecord{Seq: seq, Payload: payload, Signature: sig}
}

func wantBad(tb testing.TB, what string, err error) {
	tb.Helper()
	if err == nil {
		tb.Errorf("%s: accepted, want ErrBadRecord", what)
	} else if !errors.Is(err, ErrBadRecord) {
		tb.Errorf("%s: error %v does not wrap ErrBadRecord", what, err)
	}
}

func TestSignRecordRoundTrip(t *testing.T) {
	priv, owner := testKey(t, "owner")
	key := RecordKey(testNS, owner)
	for _, payload := range [][]byte{nil, {0}, []byte("a prekey bundle"), bytes.Repeat([]byte{0xa5}, 4096)} {
		value := mustSign(t, priv, testNS, 42, payload)
		rec, err := OpenRecord(key, value)
		if err != nil {
			t.Fatalf("OpenRecord of a fresh record (payload %d bytes): %v", len(payload), err)
		}
		if rec.Seq != 42 || !bytes.Equal(rec.Payload, payload) {
			t.Errorf("OpenRecord = seq %d payload %s, want seq 42 payload %s", rec.Seq, short(rec.Payload), short(payload))
		}
		if !bytes.Equal(rec.marshal(), value) {
			t.Errorf("re-encoding the opened record gives different bytes")
		}
		if err := (SignedNamespace{}).Validate(key, value); err != nil {
			t.Errorf("Validate: %v", err)
		}
	}
}

// A record is bound to its key: owner, namespace and all.
func TestOpenRecordWrongKey(t *testing.T) {
	priv, owner := testKey(t, "owner")
	otherPriv, other := testKey(t, "other")

	// Signed by another key, offered under my key.
	wantBad(t, "record signed by another key", func() error {
		_, err := OpenRecord(RecordKey(testNS, owner), mustSign(t, otherPriv, testNS, 1, []byte("x")))
		return err
	}())
	// Another key's signature over my key's signing input.
	forged := signRaw(t, otherPriv, RecordKey(testNS, owner), 1, []byte("x")).marshal()
	wantBad(t, "my key's record signed by another", func() error {
		_, err := OpenRecord(RecordKey(testNS, owner), forged)
		return err
	}())
	// My record replayed under someone else's key or another namespace.
	mine := mustSign(t, priv, testNS, 1, []byte("x"))
	wantBad(t, "replayed under another owner", func() error {
		_, err := OpenRecord(RecordKey(testNS, other), mine)
		return err
	}())
	wantBad(t, "replayed under another namespace", func() error {
		_, err := OpenRecord(RecordKey("other", owner), mine)
		return err
	}())

	// Owners whose keys are not Ed25519 are refused even with a good
	// signature: their signatures may be malleable (see doc.go).
	for _, typ := range []int{crypto.Secp256k1, crypto.ECDSA} {
		k, _, err := crypto.GenerateKeyPairWithReader(typ, 256, bytes.NewReader(bytes.Repeat([]byte{7}, 4096)))
		if err != nil {
			t.Fatal(err)
		}
		id, err := peer.IDFromPrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		v := signRaw(t, k, RecordKey(testNS, id), 1, []byte("x")).marshal()
		_, err = OpenRecord(RecordKey(testNS, id), v)
		wantBad(t, fmt.Sprintf("record of a %v owner", k.Type()), err)
	}

	// Keys that do not name an Ed25519 owner.
	hashed, err := peer.Decode("QmNnooDu7bfjPFoTZYxMNLWUQJyrVwtbZg5gBMjTezGAJN") // sha256 multihash: no key inside
	if err != nil {
		t.Fatal(err)
	}
	for name, key := range map[string]string{
		"no namespace":        string(owner),
		"empty":               "",
		"not a peer ID":       "/" + testNS + "/not-a-peer",
		"hashed peer ID":      RecordKey(testNS, hashed),
		"namespace only":      "/" + testNS,
		"owner of wrong kind": "/" + testNS + "/" + owner.String(), // text form, not the ID bytes
	} {
		_, err := OpenRecord(key, mine)
		wantBad(t, "key "+name, err)
	}
}

func TestOpenRecordTampered(t *testing.T) {
	priv, owner := testKey(t, "owner")
	key := RecordKey(testNS, owner)
	good := signRaw(t, priv, key, 7, []byte("payload"))
	if _, err := OpenRecord(key, good.marshal()); err != nil {
		t.Fatalf("untampered record: %v", err)
	}
	flip := func(b []byte, i int) []byte { b = bytes.Clone(b); b[i] ^= 1; return b }
	for name, rec := range map[string]SignedRecord{
		"seq raised":         {Seq: 8, Payload: good.Payload, Signature: good.Signature},
		"seq lowered":        {Seq: 6, Payload: good.Payload, Signature: good.Signature},
		"payload changed":    {Seq: 7, Payload: []byte("pAyload"), Signature: good.Signature},
		"payload extended":   {Seq: 7, Payload: []byte("payload!"), Signature: good.Signature},
		"payload emptied":    {Seq: 7, Payload: nil, Signature: good.Signature},
		"signature bit":      {Seq: 7, Payload: good.Payload, Signature: flip(good.Signature, 10)},
		"signature last bit": {Seq: 7, Payload: good.Payload, Signature: flip(good.Signature, len(good.Signature)-1)},
		"signature short":    {Seq: 7, Payload: good.Payload, Signature: good.Signature[:63]},
		"signature long":     {Seq: 7, Payload: good.Payload, Signature: append(bytes.Clone(good.Signature), 0)},
		"signature empty":    {Seq: 7, Payload: good.Payload},
	} {
		_, err := OpenRecord(key, rec.marshal())
		wantBad(t, name, err)
	}
}

// Wire-level encodings of records, built field by field.
type field struct {
	num protowire.Number
	typ protowire.Type
	v   uint64 // varint and fixed values
	b   []byte // bytes values
}

func encode(fields ...field) []byte {
	var b []byte
	for _, f := range fields {
		b = protowire.AppendTag(b, f.num, f.typ)
		switch f.typ {
		case protowire.VarintType:
			b = protowire.AppendVarint(b, f.v)
		case protowire.BytesType:
			b = protowire.AppendBytes(b, f.b)
		case protowire.Fixed64Type:
			b = protowire.AppendFixed64(b, f.v)
		case protowire.Fixed32Type:
			b = protowire.AppendFixed32(b, uint32(f.v))
		case protowire.StartGroupType:
			b = protowire.AppendTag(b, f.num, protowire.EndGroupType)
		}
	}
	return b
}

func TestOpenRecordMalformed(t *testing.T) {
	priv, owner := testKey(t, "owner")
	key := RecordKey(testNS, owner)
	rec := signRaw(t, priv, key, 3, []byte("payload"))
	ver := field{1, protowire.VarintType, recordVersion, nil}
	seq := field{2, protowire.VarintType, rec.Seq, nil}
	pay := field{3, protowire.BytesType, 0, rec.Payload}
	sig := field{4, protowire.BytesType, 0, rec.Signature}

	valid := encode(ver, seq, pay, sig)
	if !bytes.Equal(valid, rec.marshal()) {
		t.Fatal("test encoder disagrees with marshal")
	}
	if _, err := OpenRecord(key, valid); err != nil {
		t.Fatalf("valid encoding rejected: %v", err)
	}
	// Only the canonical encoding is accepted, so that a record has exactly
	// one valid byte string: the same content in another protobuf encoding
	// is refused, although it carries a valid signature.
	overlong := func(v uint64) []byte { // one byte longer than needed
		b := protowire.AppendVarint(nil, v)
		b[len(b)-1] |= 0x80
		return append(b, 0)
	}
	for name, value := range map[string][]byte{
		"reordered fields":        encode(sig, pay, seq, ver),
		"payload before seq":      encode(ver, pay, seq, sig),
		"overlong version varint": append(append([]byte{0x08}, overlong(recordVersion)...), encode(seq, pay, sig)...),
		"overlong seq varint":     append(append(encode(ver), append([]byte{0x10}, overlong(rec.Seq)...)...), encode(pay, sig)...),
		"overlong payload length": append(append(encode(ver, seq), append([]byte{0x1a}, append(overlong(uint64(len(rec.Payload))), rec.Payload...)...)...), encode(sig)...),
		"overlong tag":            append(append([]byte{0x88, 0x00}, protowire.AppendVarint(nil, recordVersion)...), encode(seq, pay, sig)...),
	} {
		_, err := OpenRecord(key, value)
		wantBad(t, name, err)
	}
	if _, err := OpenRecord(key, append([]byte{0x08}, overlong(recordVersion)...)); err == nil {
		t.Error("test encoder: overlong varint not refused")
	}

	for name, value := range map[string][]byte{
		"empty":                   nil,
		"unknown field 5":         encode(ver, seq, pay, sig, field{5, protowire.VarintType, 1, nil}),
		"unknown field 15 first":  encode(field{15, protowire.BytesType, 0, []byte("x")}, ver, seq, pay, sig),
		"huge field number":       encode(ver, seq, pay, sig, field{protowire.MaxValidNumber, protowire.VarintType, 1, nil}),
		"repeated version":        encode(ver, seq, pay, sig, ver),
		"repeated seq":            encode(ver, seq, seq, pay, sig),
		"repeated seq, other":     encode(ver, seq, pay, sig, field{2, protowire.VarintType, rec.Seq + 1, nil}),
		"repeated payload":        encode(ver, seq, pay, pay, sig),
		"repeated signature":      encode(ver, seq, pay, sig, sig),
		"version as bytes":        encode(field{1, protowire.BytesType, 0, []byte{1}}, seq, pay, sig),
		"seq as bytes":            encode(ver, field{2, protowire.BytesType, 0, []byte{3}}, pay, sig),
		"seq as fixed64":          encode(ver, field{2, protowire.Fixed64Type, rec.Seq, nil}, pay, sig),
		"payload as varint":       encode(ver, seq, field{3, protowire.VarintType, 1, nil}, sig),
		"signature as fixed32":    encode(ver, seq, pay, field{4, protowire.Fixed32Type, 1, nil}),
		"group":                   encode(ver, seq, pay, sig, field{4, protowire.StartGroupType, 0, nil}),
		"version 0":               encode(field{1, protowire.VarintType, 0, nil}, seq, pay, sig),
		"version 2":               encode(field{1, protowire.VarintType, 2, nil}, seq, pay, sig),
		"no version":              encode(seq, pay, sig),
		"no seq":                  encode(ver, pay, sig),
		"no payload":              encode(ver, seq, sig),
		"no signature":            encode(ver, seq, pay),
		"truncated":               valid[:len(valid)-1],
		"truncated tag":           append(bytes.Clone(valid), 0x80),
		"trailing zero byte":      append(bytes.Clone(valid), 0),
		"length past end":         append(encode(ver, seq, pay), 0x22, 0x7f, 1, 2, 3),
		"overlong varint":         append(encode(ver), 0x10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01),
		"field number 0":          append([]byte{0x00, 0x01}, valid...),
		"wire type 6":             append([]byte{0x0e}, valid...),
		"wire type 7":             append([]byte{0x0f}, valid...),
		"64-bit field number tag": append([]byte{0xf8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0x00}, valid...),
	} {
		_, err := OpenRecord(key, value)
		wantBad(t, name, err)
	}
}

// recordOfSize signs a record whose encoding is exactly n bytes.
func recordOfSize(tb testing.TB, priv crypto.PrivKey, key string, n int) []byte {
	tb.Helper()
	for p := n; p >= 0; p-- {
		v := signRaw(tb, priv, key, 1, bytes.Repeat([]byte{'p'}, p)).marshal()
		if len(v) == n {
			return v
		}
	}
	tb.Fatalf("no record of %d bytes", n)
	return nil
}

func TestRecordSizeLimits(t *testing.T) {
	priv, owner := testKey(t, "owner")
	key := RecordKey(testNS, owner)

	// A whole value: MaxRecordSize is accepted, one byte more is refused
	// for its size alone (it is otherwise a well-signed record), before it
	// is decoded.
	atLimit := recordOfSize(t, priv, key, MaxRecordSize)
	if _, err := OpenRecord(key, atLimit); err != nil {
		t.Errorf("record of exactly MaxRecordSize bytes: %v", err)
	}
	over := recordOfSize(t, priv, key, MaxRecordSize+1)
	_, err := OpenRecord(key, over)
	wantBad(t, "record of MaxRecordSize+1 bytes", err)
	if err != nil && !strings.Contains(err.Error(), fmt.Sprintf("%d bytes exceeds %d", MaxRecordSize+1, MaxRecordSize)) {
		t.Errorf("oversized record refused for another reason: %v", err)
	}
	// Garbage of that size too: the size is all that is looked at.
	_, err = OpenRecord(key, bytes.Repeat([]byte{0xff}, 1<<20))
	if err == nil || !strings.Contains(err.Error(), "exceeds") {
		t.Errorf("1 MiB of garbage: %v, want refused for its size", err)
	}
	// SignRecord will not produce what OpenRecord refuses.
	if _, err := SignRecord(priv, testNS, 1, make([]byte, MaxRecordSize)); err == nil {
		t.Error("SignRecord made a record larger than MaxRecordSize")
	}

	// A namespace's payload bound, checked on well-signed records.
	ns := SignedNamespace{MaxPayload: 64}
	if err := ns.Validate(key, mustSign(t, priv, testNS, 1, make([]byte, 64))); err != nil {
		t.Errorf("payload of MaxPayload bytes: %v", err)
	}
	err = ns.Validate(key, mustSign(t, priv, testNS, 1, make([]byte, 65)))
	wantBad(t, "payload of MaxPayload+1 bytes", err)
	if err != nil && !strings.Contains(err.Error(), "payload of 65 bytes exceeds 64") {
		t.Errorf("oversized payload refused for another reason: %v", err)
	}
	if i, err := ns.Select(key, [][]byte{mustSign(t, priv, testNS, 9, make([]byte, 65)), mustSign(t, priv, testNS, 1, nil)}); err != nil || i != 1 {
		t.Errorf("Select = %d, %v; want 1, the only record within MaxPayload", i, err)
	}
	// Out-of-range bounds mean MaxRecordSize.
	for _, max := range []int{0, -1, MaxRecordSize + 1} {
		if err := (SignedNamespace{MaxPayload: max}).Validate(key, atLimit); err != nil {
			t.Errorf("MaxPayload %d: record at MaxRecordSize refused: %v", max, err)
		}
	}
}

func TestSignedNamespaceCheck(t *testing.T) {
	priv, owner := testKey(t, "owner")
	key := RecordKey(testNS, owner)
	errNope := errors.New("not a prekey bundle")
	var gotOwner peer.ID
	ns := SignedNamespace{Check: func(o peer.ID, payload []byte) error {
		gotOwner = o
		if !bytes.HasPrefix(payload, []byte("bundle:")) {
			return errNope
		}
		return nil
	}}
	if err := ns.Validate(key, mustSign(t, priv, testNS, 1, []byte("bundle:1"))); err != nil {
		t.Errorf("payload the check accepts: %v", err)
	}
	if gotOwner != owner {
		t.Errorf("Check got owner %s, want %s", gotOwner, owner)
	}
	err := ns.Validate(key, mustSign(t, priv, testNS, 1, []byte("junk")))
	wantBad(t, "payload the check refuses", err)
	if !errors.Is(err, errNope) {
		t.Errorf("Validate error %v does not wrap the check's error", err)
	}
}

func TestSelect(t *testing.T) {
	priv, owner := testKey(t, "owner")
	otherPriv, _ := testKey(t, "other")
	key := RecordKey(testNS, owner)
	ns := SignedNamespace{}
	v1 := mustSign(t, priv, testNS, 1, []byte("one"))
	v2 := mustSign(t, priv, testNS, 2, []byte("two"))
	v3 := mustSign(t, priv, testNS, 3, []byte("three"))
	forged := signRaw(t, otherPriv, key, 99, []byte("forged")).marshal()
	// Equal sequence numbers: the larger encoded value wins.
	tieLo := mustSign(t, priv, testNS, 5, []byte("aaa"))
	tieHi := mustSign(t, priv, testNS, 5, []byte("b"))
	if bytes.Compare(tieLo, tieHi) > 0 {
		tieLo, tieHi = tieHi, tieLo
	}

	for _, tc := range []struct {
		name   string
		values [][]byte
		want   []byte
	}{
		{"newest first", [][]byte{v3, v1, v2}, v3},
		{"newest middle", [][]byte{v1, v3, v2}, v3},
		{"newest last", [][]byte{v1, v2, v3}, v3},
		{"forged higher seq ignored", [][]byte{forged, v2, v1}, v2},
		{"garbage ignored", [][]byte{[]byte("junk"), nil, v1}, v1},
		{"tie: larger value first", [][]byte{tieHi, tieLo}, tieHi},
		{"tie: larger value last", [][]byte{tieLo, tieHi}, tieHi},
		{"tie beats lower seq", [][]byte{v3, tieLo, tieHi, v2}, tieHi},
		{"duplicates", [][]byte{v2, v2}, v2},
	} {
		i, err := ns.Select(key, tc.values)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if !bytes.Equal(tc.values[i], tc.want) {
			got, _ := OpenRecord(key, tc.values[i])
			t.Errorf("%s: picked %d (seq %d, %q)", tc.name, i, got.Seq, got.Payload)
		}
	}
	for name, values := range map[string][][]byte{
		"none":        nil,
		"all invalid": {forged, []byte("junk")},
	} {
		_, err := ns.Select(key, values)
		wantBad(t, "Select of "+name, err)
	}
}
