package mailbox

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// Fuzz targets for every decoder of bytes from the network or the disk.
// Seed corpora are in testdata/fuzz/<target> (see testdata/README.md).

// FuzzReadFrame: bytes from a stream give frame bodies within the limit,
// io.EOF, or ErrBadFrame; never a panic or an allocation over the limit.
func FuzzReadFrame(f *testing.F) {
	f.Add(lengthPrefixed(sampleFrames()[0].marshal()))
	f.Fuzz(func(t *testing.T, b []byte) {
		r := bufio.NewReader(bytes.NewReader(b))
		for {
			body, err := readFrame(r, maxClientFrame)
			if err != nil {
				if err != io.EOF && !errors.Is(err, ErrBadFrame) {
					t.Fatalf("error %v is neither EOF nor ErrBadFrame", err)
				}
				return
			}
			if len(body) == 0 || len(body) > maxClientFrame {
				t.Fatalf("frame of %d bytes", len(body))
			}
		}
	})
}

// checkDecoded checks what a decoder accepted: within the limits, and
// stable under re-encoding, which never grows it.
func checkDecoded(t *testing.T, b []byte, fr *frame, decode func([]byte) (*frame, error)) {
	if len(fr.envelope) > MaxEnvelope || len(fr.ids) > maxAckIDs || len(fr.items) > maxPageItems || len(fr.message) > maxMessage ||
		len(fr.releases) > maxAckIDs || len(fr.tombs) > maxReleaseItems {
		t.Fatalf("accepted a frame over the limits: %d-byte envelope, %d ids, %d items, %d releases, %d tombstones",
			len(fr.envelope), len(fr.ids), len(fr.items), len(fr.releases), len(fr.tombs))
	}
	if fr.kind == kindAck && len(fr.releases) != 0 && len(fr.releases) != len(fr.ids) {
		t.Fatalf("ACK with %d releases for %d ids", len(fr.releases), len(fr.ids))
	}
	if fr.kind == kindAck && len(fr.ids) == 0 {
		t.Fatal("ACK without ids")
	}
	m := fr.marshal()
	if len(m) > len(b) {
		t.Fatalf("re-encoded to %d bytes from %d", len(m), len(b))
	}
	g, err := decode(m)
	if err != nil {
		t.Fatalf("re-encoded frame does not decode: %v", err)
	}
	if !bytes.Equal(g.marshal(), m) {
		t.Fatal("round trip changed the frame")
	}
}

// FuzzDecodeClientFrame: what a holder reads from a client.
func FuzzDecodeClientFrame(f *testing.F) {
	for _, fr := range sampleFrames()[:8] {
		f.Add(fr.marshal())
	}
	for _, fr := range releaseSamples()[:2] {
		f.Add(fr.marshal())
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := decodeClientFrame(b)
		if err != nil {
			if !errors.Is(err, ErrBadFrame) {
				t.Fatalf("error %v is not ErrBadFrame", err)
			}
			return
		}
		switch fr.kind {
		case kindDeposit, kindFetch, kindAck, kindReplicate, kindProof, kindRelease:
		default:
			t.Fatalf("accepted %v from a client", fr.kind)
		}
		if (fr.kind == kindDeposit || fr.kind == kindReplicate) && len(fr.envelope) == 0 {
			t.Fatal("deposit without an envelope")
		}
		checkDecoded(t, b, fr, decodeClientFrame)
	})
}

// FuzzDecodeServerFrame: what a client reads from a holder.
func FuzzDecodeServerFrame(f *testing.F) {
	for _, fr := range sampleFrames()[6:] {
		f.Add(fr.marshal())
	}
	f.Add(releaseSamples()[2].marshal())
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := decodeServerFrame(b)
		if err != nil {
			if !errors.Is(err, ErrBadFrame) {
				t.Fatalf("error %v is not ErrBadFrame", err)
			}
			return
		}
		switch fr.kind {
		case kindChallenge, kindOK, kindEnvelopes, kindError:
		default:
			t.Fatalf("accepted %v from a holder", fr.kind)
		}
		for _, it := range fr.items {
			if len(it.Envelope) == 0 || len(it.Envelope) > MaxEnvelope || it.Expires.UnixMilli() <= 0 {
				t.Fatalf("item out of bounds: %d bytes, expires %v", len(it.Envelope), it.Expires)
			}
		}
		if fr.kind == kindError {
			e := errorFromCode(fr.code, fr.message, 0)
			if e.Kind == nil || len(e.Message) > maxMessage || strings.ContainsAny(e.Message, "\x00\n\r\x1b") {
				t.Fatalf("error %+v", e)
			}
		}
		checkDecoded(t, b, fr, decodeServerFrame)
	})
}

// FuzzDecodeStored: records read back from the store (authenticated by
// it, but maybe of another version) decode or fail with errBadRecord.
func FuzzDecodeStored(f *testing.F) {
	f.Add(encodeStored(1900000000000, []byte("envelope")))
	f.Add(encodeIndex(1900000000000, 1234))
	f.Fuzz(func(t *testing.T, b []byte) {
		exp, payload, err := decodeStored(b)
		if err != nil {
			if !errors.Is(err, errBadRecord) {
				t.Fatalf("error %v is not errBadRecord", err)
			}
		} else {
			if exp <= 0 || len(payload) > MaxEnvelope {
				t.Fatalf("expiry %d, %d-byte payload", exp, len(payload))
			}
			if !bytes.Equal(encodeStored(exp, payload), b) {
				t.Fatal("round trip changed the record")
			}
		}
		exp, size, err := decodeIndex(b)
		if err != nil {
			if !errors.Is(err, errBadRecord) {
				t.Fatalf("index error %v is not errBadRecord", err)
			}
			return
		}
		if size <= 0 || size > MaxEnvelope || !bytes.Equal(encodeIndex(exp, size), b) {
			t.Fatalf("index: expiry %d, size %d", exp, size)
		}
	})
}

// TestFuzzCorpusSeeds checks that each seed corpus still holds inputs its
// decoder accepts (so the round-trip checks run) and inputs it refuses.
func TestFuzzCorpusSeeds(t *testing.T) {
	targets := map[string]func([]byte) bool{
		"FuzzReadFrame": func(b []byte) bool {
			_, err := readFrame(bufio.NewReader(bytes.NewReader(b)), maxClientFrame)
			return err == nil
		},
		"FuzzDecodeClientFrame": func(b []byte) bool { _, err := decodeClientFrame(b); return err == nil },
		"FuzzDecodeServerFrame": func(b []byte) bool { _, err := decodeServerFrame(b); return err == nil },
		"FuzzDecodeStored":      func(b []byte) bool { _, _, err := decodeStored(b); return err == nil },
	}
	for name, accepts := range targets {
		valid, refused := 0, 0
		for file, v := range readFuzzCorpus(t, filepath.Join("testdata/fuzz", name)) {
			if accepts(v) != strings.HasPrefix(file, "valid") {
				t.Errorf("%s/%s: accepted is %v", name, file, accepts(v))
			}
			if accepts(v) {
				valid++
			} else {
				refused++
			}
		}
		if valid < 2 || refused < 3 {
			t.Errorf("%s: seed corpus has %d accepted and %d refused inputs; want at least 2 and 3", name, valid, refused)
		}
	}
}

// readFuzzCorpus reads the []byte values of the "go test fuzz v1" files
// in dir, by file name.
func readFuzzCorpus(tb testing.TB, dir string) map[string][]byte {
	tb.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		tb.Fatal(err)
	}
	out := map[string][]byte{}
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
		out[e.Name()] = []byte(v)
	}
	return out
}
