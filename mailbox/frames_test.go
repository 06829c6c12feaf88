package mailbox

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
)

// sampleFrames has a frame of every kind, with every field it can carry.
func sampleFrames() []*frame {
	a := Address{1, 2, 3}
	env := []byte("sealed envelope")
	return []*frame{
		{kind: kindDeposit, address: a, envelope: env, ttl: 3600},
		{kind: kindDeposit, address: a, envelope: env},
		{kind: kindFetch, address: a, limit: 10, cursor: [32]byte{9}, hasCursor: true},
		{kind: kindFetch, address: a},
		{kind: kindAck, address: a, ids: [][32]byte{{1}, {2}}},
		{kind: kindReplicate, address: a, envelope: env, expires: 1900000000000},
		{kind: kindChallenge, nonce: [32]byte{7}},
		{kind: kindProof, pub: bytes.Repeat([]byte{4}, 32), sig: bytes.Repeat([]byte{5}, 64)},
		{kind: kindOK, ids: [][32]byte{{3}}, expires: 1900000000000},
		{kind: kindOK},
		{kind: kindEnvelopes, items: []Held{{ID: [32]byte{1}, Envelope: env, Expires: time.UnixMilli(1900000000000)}}, more: true},
		{kind: kindEnvelopes},
		{kind: kindError, code: codeQuota, message: "full", retry: 1500},
	}
}

func decodeAny(b []byte) (*frame, error) {
	if f, err := decodeClientFrame(b); err == nil {
		return f, nil
	}
	return decodeServerFrame(b)
}

func TestFrameRoundTrip(t *testing.T) {
	for _, f := range sampleFrames() {
		b := f.marshal()
		g, err := decodeAny(b)
		if err != nil {
			t.Fatalf("%v: %v", f.kind, err)
		}
		if !bytes.Equal(g.marshal(), b) {
			t.Fatalf("%v: round trip changed the frame", f.kind)
		}
		for i := range g.items { // time.Time's location differs
			g.items[i].Expires = f.items[i].Expires
		}
		if !reflect.DeepEqual(f, g) {
			t.Fatalf("%v: decoded %+v, want %+v", f.kind, g, f)
		}
	}
}

// TestFrameEncoding pins the wire format of a DEPOSIT, written out by
// hand from doc.go.
func TestFrameEncoding(t *testing.T) {
	f := &frame{kind: kindDeposit, address: Address{0xaa}, envelope: []byte("hi"), ttl: 3600}
	want := "0801" + "1001" + // version 1, kind DEPOSIT
		"1a20" + "aa" + strings.Repeat("00", 31) + // address
		"2202" + "6869" + // envelope "hi"
		"28" + "901c" // ttl 3600
	if got := hex.EncodeToString(f.marshal()); got != want {
		t.Fatalf("DEPOSIT encodes as\n%s, want\n%s", got, want)
	}
}

func TestFrameRejects(t *testing.T) {
	head := func(k kind) []byte {
		return appendVarintField(appendVarintField(nil, fVersion, 1), fKind, uint64(k))
	}
	addr := func(b []byte) []byte { return appendBytesField(b, fAddress, make([]byte, 32)) }
	cases := map[string][]byte{
		"empty":               {},
		"no version":          appendVarintField(nil, fKind, 1),
		"version 2":           appendVarintField(appendVarintField(nil, fVersion, 2), fKind, 1),
		"unknown kind":        head(42),
		"missing envelope":    addr(head(kindDeposit)),
		"empty envelope":      appendBytesField(addr(head(kindDeposit)), fEnvelope, nil),
		"huge envelope":       appendBytesField(addr(head(kindDeposit)), fEnvelope, make([]byte, MaxEnvelope+1)),
		"repeated address":    addr(addr(head(kindFetch))),
		"misplaced field":     appendVarintField(addr(head(kindFetch)), fTTL, 5),
		"mistyped field":      appendVarintField(head(kindFetch), fAddress, 5),
		"short cursor":        appendBytesField(addr(head(kindFetch)), fCursor, make([]byte, 31)),
		"ack without ids":     addr(head(kindAck)),
		"replicate no expiry": appendBytesField(addr(head(kindReplicate)), fEnvelope, []byte{1}),
		"expiry zero":         appendVarintField(appendBytesField(addr(head(kindReplicate)), fEnvelope, []byte{1}), fExpires, 0),
		"expiry over int64":   appendVarintField(appendBytesField(addr(head(kindReplicate)), fEnvelope, []byte{1}), fExpires, 1<<63),
		"ok id without time":  appendBytesField(head(kindOK), fID, make([]byte, 32)),
		"ok two ids":          appendVarintField(appendBytesField(appendBytesField(head(kindOK), fID, make([]byte, 32)), fID, make([]byte, 32)), fExpires, 1),
		"more is 2":           appendVarintField(head(kindEnvelopes), fMore, 2),
		"item without id":     appendBytesField(head(kindEnvelopes), fItem, appendVarintField(appendBytesField(nil, 2, []byte{1}), 3, 1)),
		"short signature":     appendBytesField(appendBytesField(head(kindProof), fPub, make([]byte, 32)), fSig, make([]byte, 63)),
		"long message":        appendBytesField(appendVarintField(head(kindError), fCode, 1), fMessage, make([]byte, maxMessage+1)),
		"truncated tag":       append(head(kindFetch), 0x80),
		"truncated bytes":     append(head(kindFetch), 0x1a, 0x20, 1),
		"field number 0":      append(head(kindFetch), 0x00, 0x00),
	}
	ids := addr(head(kindAck))
	for range maxAckIDs + 1 {
		ids = appendBytesField(ids, fID, make([]byte, 32))
	}
	cases["too many ids"] = ids
	for name, b := range cases {
		if f, err := decodeAny(b); err == nil || !errors.Is(err, ErrBadFrame) {
			t.Errorf("%s: decoded %+v, %v", name, f, err)
		}
	}
	// Each direction takes only its own kinds.
	if _, err := decodeServerFrame((&frame{kind: kindFetch}).marshal()); err == nil {
		t.Error("a holder's FETCH accepted")
	}
	if _, err := decodeClientFrame((&frame{kind: kindOK}).marshal()); err == nil {
		t.Error("a client's OK accepted")
	}
}

func TestFrameSkipsUnknownFields(t *testing.T) {
	f := sampleFrames()[0]
	b := f.marshal()
	b = appendVarintField(b, 99, 7)
	b = appendBytesField(b, 100, []byte("from a newer version"))
	b = protowire.AppendTag(b, 101, protowire.Fixed64Type)
	b = protowire.AppendFixed64(b, 1)
	b = protowire.AppendTag(b, 102, protowire.Fixed32Type)
	b = protowire.AppendFixed32(b, 1)
	g, err := decodeClientFrame(b)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(g.marshal(), f.marshal()) {
		t.Fatal("unknown fields changed the frame")
	}
}

func TestReadFrame(t *testing.T) {
	body := (&frame{kind: kindOK}).marshal()
	stream := append(lengthPrefixed(body), lengthPrefixed(body)...)
	r := bufio.NewReader(bytes.NewReader(stream))
	for range 2 {
		if b, err := readFrame(r, 100); err != nil || !bytes.Equal(b, body) {
			t.Fatalf("%x, %v", b, err)
		}
	}
	if _, err := readFrame(r, 100); err != io.EOF {
		t.Fatalf("at the end: %v", err)
	}
	// Oversize is refused before the body is read or allocated.
	r = bufio.NewReader(bytes.NewReader(protowire.AppendVarint(nil, 1<<40)))
	if _, err := readFrame(r, 100); !errors.Is(err, errOversize) || !errors.Is(err, ErrBadFrame) {
		t.Fatalf("oversize: %v", err)
	}
	allocs := testing.AllocsPerRun(10, func() {
		readFrame(bufio.NewReader(bytes.NewReader(protowire.AppendVarint(nil, 1<<40))), 100)
	})
	if allocs > 20 {
		t.Fatalf("%v allocations to refuse an oversize frame", allocs)
	}
}

func TestErrorCodes(t *testing.T) {
	for _, c := range codes {
		e := &Error{Kind: c.err, Message: "why", RetryAfter: time.Second}
		code, msg, retry := errorCode(fmtWrap(e))
		back := errorFromCode(code, msg, retry)
		if back.Kind != c.err || back.Message != "why" || back.RetryAfter != time.Second {
			t.Errorf("%v came back as %+v", c.err, back)
		}
	}
	if code, msg, _ := errorCode(errors.New("disk on fire")); code != codeHolderFailed || msg != "" {
		t.Errorf("internal error: code %d, message %q", code, msg)
	}
	if e := errorFromCode(99, "", 0); e.Kind != ErrHolderFailed || !strings.Contains(e.Message, "99") {
		t.Errorf("unknown code: %+v", e)
	}
	if e := errorFromCode(codeQuota, "a\x1b[31mred\nline"+strings.Repeat("é", 400), 0); strings.ContainsAny(e.Message, "\x1b\n") || len(e.Message) > maxMessage || !strings.HasPrefix(e.Message, "a[31mredline") {
		t.Errorf("message not cleaned: %q", e.Message)
	}
}

func fmtWrap(err error) error { return errors.Join(err) }

func TestStoredRecords(t *testing.T) {
	exp, p, err := decodeStored(encodeStored(42, []byte("env")))
	if err != nil || exp != 42 || string(p) != "env" {
		t.Fatalf("%d %q %v", exp, p, err)
	}
	exp, n, err := decodeIndex(encodeIndex(42, 1000))
	if err != nil || exp != 42 || n != 1000 {
		t.Fatalf("%d %d %v", exp, n, err)
	}
	for _, b := range [][]byte{nil, {1}, {2, 0, 0, 0, 0, 0, 0, 0, 1}, {1, 0, 0, 0, 0, 0, 0, 0, 0}, encodeStored(1, make([]byte, MaxEnvelope+1))} {
		if _, _, err := decodeStored(b); !errors.Is(err, errBadRecord) {
			t.Errorf("%x: %v", b, err)
		}
	}
	for _, b := range [][]byte{encodeStored(1, []byte{1, 2, 3}), encodeIndex(1, 0), encodeIndex(1, MaxEnvelope+1)} {
		if _, _, err := decodeIndex(b); !errors.Is(err, errBadRecord) {
			t.Errorf("index %x: %v", b, err)
		}
	}
}
