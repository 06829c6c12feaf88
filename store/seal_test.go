package store

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// katVector is testdata/sealed_v1.txt, computed independently of this
// package by testdata/sealed_v1_vector.py.
type katVector struct {
	sealKey, nonce, fullKey, value, sealed []byte
	expiry                                 int64
}

func readKAT(t testing.TB) katVector {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "sealed_v1.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var v katVector
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, val, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			t.Fatalf("bad line %q", sc.Text())
		}
		if name == "expiry" {
			if v.expiry, err = strconv.ParseInt(val, 10, 64); err != nil {
				t.Fatal(err)
			}
			continue
		}
		b, err := hex.DecodeString(val)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		switch name {
		case "seal_key":
			v.sealKey = b
		case "nonce":
			v.nonce = b
		case "full_key":
			v.fullKey = b
		case "value":
			v.value = b
		case "sealed":
			v.sealed = b
		default:
			t.Fatalf("unknown field %q", name)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestSealedFormatKnownAnswer(t *testing.T) {
	v := readKAT(t)
	aead, err := newAEAD(v.sealKey)
	if err != nil {
		t.Fatal(err)
	}
	got := sealWithNonce(aead, v.fullKey, v.value, v.expiry, v.nonce)
	if !bytes.Equal(got, v.sealed) {
		t.Fatalf("sealWithNonce =\n%x\nwant\n%x", got, v.sealed)
	}
	value, expiry, err := openSealed(aead, v.fullKey, v.sealed)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(value, v.value) || expiry != v.expiry {
		t.Fatalf("openSealed = %q, %d; want %q, %d", value, expiry, v.value, v.expiry)
	}
}

func TestSealUsesFreshNonces(t *testing.T) {
	aead, err := newAEAD(testSealKey)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for range 100 {
		s, err := seal(aead, []byte("chat/k"), []byte("same value"), 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(s) != sealedOverhead+len("same value") {
			t.Fatalf("sealed length %d, want %d", len(s), sealedOverhead+len("same value"))
		}
		nonce := string(s[headerSize : headerSize+nonceSize])
		if seen[nonce] {
			t.Fatal("nonce repeated")
		}
		seen[nonce] = true
	}
}

// Rejecting a value by its length or version allocates nothing, however
// large the length it claims.
func TestOpenSealedRejectsWithoutAllocating(t *testing.T) {
	aead, err := newAEAD(testSealKey)
	if err != nil {
		t.Fatal(err)
	}
	long := make([]byte, maxSealedSize+1)
	long[0] = formatVersion
	badVersion := make([]byte, sealedOverhead)
	badVersion[0] = formatVersion + 1
	for name, in := range map[string][]byte{
		"empty":       nil,
		"short":       make([]byte, sealedOverhead-1),
		"long":        long,
		"bad version": badVersion,
	} {
		var err error
		allocs := testing.AllocsPerRun(10, func() {
			_, _, err = openSealed(aead, []byte("chat/k"), in)
		})
		if !errors.Is(err, ErrTampered) {
			t.Errorf("%s: err = %v, want ErrTampered", name, err)
		}
		if allocs != 0 {
			t.Errorf("%s: %v allocations, want 0", name, allocs)
		}
	}
}

// FuzzOpenSealed feeds the decoder arbitrary keys and values (seed corpus:
// testdata/fuzz/FuzzOpenSealed). It must never panic; it must reject with
// ErrTampered, or accept only what sealing would have produced.
func FuzzOpenSealed(f *testing.F) {
	aead, err := newAEAD(readKAT(f).sealKey)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, fullKey, sealed []byte) {
		value, expiry, err := openSealed(aead, fullKey, sealed)
		if err != nil {
			if !errors.Is(err, ErrTampered) {
				t.Fatalf("error %v does not wrap ErrTampered", err)
			}
			if value != nil || expiry != 0 {
				t.Fatal("rejected input returned data")
			}
			return
		}
		again := sealWithNonce(aead, fullKey, value, expiry, sealed[headerSize:headerSize+nonceSize])
		if !bytes.Equal(again, sealed) {
			t.Fatalf("accepted %x, which sealing does not produce", sealed)
		}
	})
}

// The seed corpus must keep at least one value that opens, or the fuzzer
// starts from nothing but rejects.
func TestFuzzSeedCorpusHasValidSeeds(t *testing.T) {
	aead, err := newAEAD(readKAT(t).sealKey)
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join("testdata", "fuzz", "FuzzOpenSealed", "*"))
	if err != nil {
		t.Fatal(err)
	}
	valid := 0
	for _, name := range files {
		args := readCorpusFile(t, name)
		if len(args) != 2 {
			t.Fatalf("%s: %d arguments, want 2", name, len(args))
		}
		if _, _, err := openSealed(aead, args[0], args[1]); err == nil {
			valid++
		}
	}
	if len(files) < 5 || valid < 2 {
		t.Fatalf("seed corpus has %d files, %d valid; want at least 5 and 2", len(files), valid)
	}
}

// readCorpusFile parses a "go test fuzz v1" file of []byte arguments.
func readCorpusFile(t *testing.T, name string) [][]byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) == 0 || lines[0] != "go test fuzz v1" {
		t.Fatalf("%s: not a fuzz corpus file", name)
	}
	var args [][]byte
	for _, l := range lines[1:] {
		q, ok := strings.CutPrefix(l, "[]byte(")
		q, ok2 := strings.CutSuffix(q, ")")
		if !ok || !ok2 {
			t.Fatalf("%s: unexpected line %q", name, l)
		}
		s, err := strconv.Unquote(q)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		args = append(args, []byte(s))
	}
	return args
}
