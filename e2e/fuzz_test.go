package e2e

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var updateCorpus = flag.Bool("e2e.update-corpus", false, "rewrite the seed corpora in testdata/fuzz")

// fuzzWorld is a reproducible conversation (seeded keys, derandomized
// ML-KEM): Bob's session after receiving, plus messages to him of every
// kind, so the seed corpora stay valid across runs.
type fuzzWorld struct {
	a, b       *party
	sbRaw      []byte // Bob's session, marshaled
	msgs       map[string][]byte
	bundle     []byte
	prekeys    []byte
	oneTimeRaw []byte
}

func newFuzzWorld(tb testing.TB) *fuzzWorld {
	a, b := newParty(tb, "fuzz alice", 1), newParty(tb, "fuzz bob", 1)
	w := &fuzzWorld{a: a, b: b, msgs: map[string][]byte{}}
	bundle := b.bundle(tb)
	w.bundle, _ = bundle.MarshalBinary()
	w.prekeys, _ = b.pre.signed[0].MarshalBinary()
	for _, k := range b.pre.oneTime {
		w.oneTimeRaw, _ = k.MarshalBinary()
	}
	sa, err := NewSession(a.local, b.peer(), bundle, t0)
	if err != nil {
		tb.Fatal(err)
	}
	i0, i1 := mustEncrypt(tb, sa, a, "initial 0"), mustEncrypt(tb, sa, a, "initial 1")
	// Bob accepts i0 but keeps the one-time prekey, so Accept(i1) works too.
	sb, _, _, err := Accept(b.local, i0, t0)
	if err != nil {
		tb.Fatal(err)
	}
	r0 := mustEncrypt(tb, sb, b, "reply 0")
	mustDecrypt(tb, sa, a, r0)
	var c [4][]byte
	for i := range c {
		c[i] = mustEncrypt(tb, sa, a, fmt.Sprint("chain 2, ", i))
	}
	mustDecrypt(tb, sb, b, c[1]) // Bob: receiving chain 2, message 0 skipped
	mustDecrypt(tb, sa, a, mustEncrypt(tb, sb, b, "bob's new chain"))
	d0 := mustEncrypt(tb, sa, a, "chain 3")
	d1 := mustEncrypt(tb, sa, a, "")
	// Every message below is valid, once, against Bob's session as saved.
	w.msgs["initial"] = i1      // a repeated initial message
	w.msgs["skipped"] = c[0]    // a stored skipped key
	w.msgs["same-chain"] = c[3] // the current receiving chain, skipping one
	w.msgs["ratchet"] = d0      // a DH ratchet step
	w.msgs["empty"] = d1        // DH ratchet step and a skip, empty text
	w.sbRaw = mustMarshal(tb, sb)
	return w
}

// writeCorpus writes seeds in the `go test fuzz v1` format.
func writeCorpus(tb testing.TB, target string, seeds map[string][]byte) {
	if !*updateCorpus {
		return
	}
	dir := filepath.Join("testdata", "fuzz", target)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		tb.Fatal(err)
	}
	for name, b := range seeds {
		data := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
}

func FuzzParseBundle(f *testing.F) {
	w := newFuzzWorld(f)
	empty := bytes.Clone(w.bundle)
	empty = empty[:bundleFixedSize]
	empty[bundleFixedSize-1] = 0
	writeCorpus(f, "FuzzParseBundle", map[string][]byte{"valid": w.bundle, "no-one-time": empty, "short": w.bundle[:100]})
	f.Add(w.bundle)
	f.Fuzz(func(t *testing.T, in []byte) {
		b, err := ParseBundle(in)
		if err != nil {
			return
		}
		out, err := b.MarshalBinary()
		if err != nil || !bytes.Equal(in, out) {
			t.Fatalf("parsed bundle does not re-encode to its input: %v", err)
		}
		_ = b.Verify()
	})
}

func FuzzParsePrekeys(f *testing.F) {
	w := newFuzzWorld(f)
	writeCorpus(f, "FuzzParsePrekeys", map[string][]byte{"valid": w.prekeys, "one-time": w.oneTimeRaw})
	f.Add(w.prekeys)
	f.Add(w.oneTimeRaw)
	f.Fuzz(func(t *testing.T, in []byte) {
		if p, err := ParsePrekeys(in); err == nil {
			if out, _ := p.MarshalBinary(); !bytes.Equal(in, out) {
				t.Fatal("prekeys do not re-encode to their input")
			}
		}
		if k, err := ParseOneTimePrekey(in); err == nil {
			if out, _ := k.MarshalBinary(); !bytes.Equal(in, out) {
				t.Fatal("one-time prekey does not re-encode to its input")
			}
		}
	})
}

func FuzzParseSession(f *testing.F) {
	w := newFuzzWorld(f)
	a, b := newParty(f, "fuzz carol", 0), newParty(f, "fuzz dave", 0)
	sa, err := NewSession(a.local, b.peer(), b.bundle(f), t0)
	if err != nil {
		f.Fatal(err)
	}
	pending := mustMarshal(f, sa)
	writeCorpus(f, "FuzzParseSession", map[string][]byte{"responder": w.sbRaw, "pending-initiator": pending})
	f.Add(w.sbRaw)
	f.Add(pending)
	f.Fuzz(func(t *testing.T, in []byte) {
		s, err := ParseSession(in)
		if err != nil {
			return
		}
		if out, _ := s.MarshalBinary(); !bytes.Equal(in, out) {
			t.Fatal("session does not re-encode to its input")
		}
	})
}

// FuzzDecrypt feeds messages to Bob's session: no panic, and a refused
// message leaves the session exactly as it was.
func FuzzDecrypt(f *testing.F) {
	w := newFuzzWorld(f)
	writeCorpus(f, "FuzzDecrypt", w.msgs)
	for _, m := range w.msgs {
		f.Add(m)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		s, err := ParseSession(w.sbRaw)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Decrypt(w.b.local, in, t0); err != nil {
			if out := mustMarshal(t, s); !bytes.Equal(out, w.sbRaw) {
				t.Fatalf("refused message changed the session: %v", err)
			}
		}
	})
}

// FuzzAccept feeds initial messages to Bob without a session.
func FuzzAccept(f *testing.F) {
	w := newFuzzWorld(f)
	writeCorpus(f, "FuzzAccept", map[string][]byte{"initial": w.msgs["initial"], "normal": w.msgs["same-chain"]})
	f.Add(w.msgs["initial"])
	f.Fuzz(func(t *testing.T, in []byte) {
		s, p, rec, err := Accept(w.b.local, in, t0)
		if err != nil {
			return
		}
		if !samePeer(p, w.a.peer()) || !rec.Initial || s == nil {
			t.Fatalf("accepted from %x", p.Key)
		}
	})
}

// TestFuzzSeedsValid: the stored seeds of FuzzDecrypt decrypt against the
// reproducible session (so the fuzzer starts from deep paths), and the
// initial one is accepted by FuzzAccept's receiver.
func TestFuzzSeedsValid(t *testing.T) {
	w := newFuzzWorld(t)
	files, err := filepath.Glob(filepath.Join("testdata", "fuzz", "FuzzDecrypt", "*"))
	if err != nil || len(files) != len(w.msgs) {
		t.Fatalf("%d seed files for %d messages: %v", len(files), len(w.msgs), err)
	}
	for _, name := range files {
		raw, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		var q string
		if _, err := fmt.Sscanf(strings.TrimPrefix(string(raw), "go test fuzz v1\n"), "[]byte(%q)", &q); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		s, err := ParseSession(w.sbRaw)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Decrypt(w.b.local, []byte(q), t0); err != nil {
			t.Errorf("%s: %v (regenerate with -e2e.update-corpus after a wire change)", filepath.Base(name), err)
		}
	}
	if _, _, _, err := Accept(w.b.local, w.msgs["initial"], t0); err != nil {
		t.Error(err)
	}
}
