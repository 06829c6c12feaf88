package dht

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// FuzzOpenRecord feeds arbitrary bytes, as they would arrive from the
// network, to the record decoder under a fixed key. It must never panic;
// anything it refuses must be ErrBadRecord; anything it accepts must round
// trip: re-encoded, the record gives back the same bytes, which are exactly
// what SignRecord makes of the same content (only the canonical encoding is
// accepted, and Ed25519 signatures are deterministic), and Validate and
// Select agree with OpenRecord.
//
// The seed corpus is in testdata/fuzz/FuzzOpenRecord (see testdata/README.md).
func FuzzOpenRecord(f *testing.F) {
	priv, owner := testKey(f, "fuzz")
	key := RecordKey(testNS, owner)
	f.Add(mustSign(f, priv, testNS, 1, []byte("payload")))

	f.Fuzz(func(t *testing.T, value []byte) {
		rec, err := OpenRecord(key, value)
		if err != nil {
			if !errors.Is(err, ErrBadRecord) {
				t.Fatalf("refused with %v, which is not ErrBadRecord", err)
			}
			if (SignedNamespace{}).Validate(key, value) == nil {
				t.Fatal("Validate accepts what OpenRecord refuses")
			}
			return
		}
		if len(value) > MaxRecordSize {
			t.Fatalf("accepted %d bytes, over MaxRecordSize", len(value))
		}
		// Only the canonical encoding is accepted: the record re-encodes to
		// the very bytes it came from...
		if !bytes.Equal(rec.marshal(), value) {
			t.Fatal("accepted a value that is not the canonical encoding of its record")
		}
		// ...which are what SignRecord makes of its content: the owner's
		// one valid byte string for it.
		signed, err := SignRecord(priv, testNS, rec.Seq, rec.Payload)
		if err != nil {
			t.Fatalf("SignRecord of an accepted record's content: %v", err)
		}
		if !bytes.Equal(signed, value) {
			t.Fatal("accepted record differs from what SignRecord makes of its content")
		}
		if err := (SignedNamespace{}).Validate(key, value); err != nil {
			t.Fatalf("Validate refuses what OpenRecord accepts: %v", err)
		}
		if i, err := (SignedNamespace{}).Select(key, [][]byte{[]byte("junk"), value}); err != nil || i != 1 {
			t.Fatalf("Select = %d, %v; want the one valid record", i, err)
		}
	})
}

// TestFuzzCorpusSeeds checks that the seed corpus still covers what it is
// meant to: some valid records (so the round-trip checks run) and some
// refused ones. It reads the same files the fuzz target does.
func TestFuzzCorpusSeeds(t *testing.T) {
	_, owner := testKey(t, "fuzz")
	key := RecordKey(testNS, owner)
	valid, refused := 0, 0
	for _, v := range readFuzzCorpus(t, "testdata/fuzz/FuzzOpenRecord") {
		if _, err := OpenRecord(key, v); err == nil {
			valid++
		} else {
			refused++
		}
	}
	if valid < 3 || refused < 5 {
		t.Errorf("seed corpus has %d valid and %d refused records; want at least 3 and 5", valid, refused)
	}
}

// readFuzzCorpus reads the []byte values of the "go test fuzz v1" files in
// dir.
func readFuzzCorpus(tb testing.TB, dir string) [][]byte {
	tb.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		tb.Fatal(err)
	}
	var out [][]byte
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			tb.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		if len(lines) != 2 || lines[0] != "go test fuzz v1" ||
			!strings.HasPrefix(lines[1], "[]byte(") || !strings.HasSuffix(lines[1], ")") {
			tb.Fatalf("%s: not a one-value go test fuzz v1 file", e.Name())
		}
		v, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(lines[1], "[]byte("), ")"))
		if err != nil {
			tb.Fatalf("%s: %v", e.Name(), err)
		}
		out = append(out, []byte(v))
	}
	return out
}
