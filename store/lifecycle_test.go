package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	badger "github.com/dgraph-io/badger/v4"
	"go.uber.org/goleak"
)

func TestCloseLeavesNoGoroutines(t *testing.T) {
	before := goleak.IgnoreCurrent()
	o := testOptions(t, t.TempDir())
	o.GCInterval = time.Millisecond
	s, err := Open(o)
	if err != nil {
		t.Fatal(err)
	}
	n := s.Namespace("chat")
	mustPut(t, n, "a", "1", Durable())
	mustPut(t, n, "b", strings.Repeat("2", 64<<10), WithTTL(time.Hour))
	mustGet(t, n, "a")
	collect(t, n, "", true)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	waitFor(t, "a GC run", func() bool { return s.gcRuns.Load() >= 2 })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	goleak.VerifyNone(t, before)
}

func TestClose(t *testing.T) {
	s := openTest(t, Options{})
	n := s.Namespace("chat")
	mustPut(t, n, "k", "v")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close = %v, want nil", err)
	}
	checks := map[string]error{
		"Put":     n.Put([]byte("k"), []byte("v")),
		"Durable": n.Put([]byte("k"), []byte("v"), Durable()),
		"Delete":  n.Delete([]byte("k")),
		"Iterate": n.Iterate(nil, false, func(k, v []byte) error { return nil }),
	}
	_, checks["Get"] = n.Get([]byte("k"))
	for op, err := range checks {
		if !errors.Is(err, ErrClosed) {
			t.Errorf("%s after Close = %v, want ErrClosed", op, err)
		}
	}
}

func TestBadgerLogger(t *testing.T) {
	var buf bytes.Buffer
	l := badgerLogger{slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	l.Debugf("debug %d\n", 1)
	l.Infof("info %d\n", 2)
	l.Warningf("warning %d\n", 3)
	l.Errorf("error %d\n", 4)
	out := buf.String()
	for _, want := range []string{`level=WARN msg="warning 3"`, `level=ERROR msg="error 4"`} {
		if !strings.Contains(out, want) {
			t.Errorf("log output lacks %s:\n%s", want, out)
		}
	}
	for _, unwanted := range []string{"debug 1", "info 2"} {
		if strings.Contains(out, unwanted) {
			t.Errorf("log output has %q:\n%s", unwanted, out)
		}
	}
}

func TestOpenErrors(t *testing.T) {
	t.Run("locked", func(t *testing.T) {
		dir := t.TempDir()
		openTest(t, testOptions(t, dir))
		s, err := Open(testOptions(t, dir))
		if err == nil {
			s.Close()
			t.Fatal("second Open succeeded")
		}
		if !errors.Is(err, ErrLocked) {
			t.Fatalf("second Open = %v, want ErrLocked", err)
		}
	})
	t.Run("wrong encryption key", func(t *testing.T) {
		dir := t.TempDir()
		s := openTest(t, testOptions(t, dir))
		mustPut(t, s.Namespace("chat"), "k", "v")
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		o := testOptions(t, dir)
		o.EncryptionKey = bytes.Repeat([]byte{0xe2}, 32)
		s2, err := Open(o)
		if err == nil {
			s2.Close()
			t.Fatal("Open with the wrong encryption key succeeded")
		}
		if !errors.Is(err, ErrWrongKey) {
			t.Fatalf("Open = %v, want ErrWrongKey", err)
		}
		// The right key still opens it afterwards.
		s3 := openTest(t, testOptions(t, dir))
		if got := mustGet(t, s3.Namespace("chat"), "k"); got != "v" {
			t.Fatalf("Get = %q", got)
		}
	})
	t.Run("wrong seal key", func(t *testing.T) {
		dir := t.TempDir()
		s := openTest(t, testOptions(t, dir))
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		o := testOptions(t, dir)
		o.SealKey = bytes.Repeat([]byte{0x5f}, 32)
		s2, err := Open(o)
		if err == nil {
			s2.Close()
			t.Fatal("Open with the wrong seal key succeeded")
		}
		if !errors.Is(err, ErrWrongKey) {
			t.Fatalf("Open = %v, want ErrWrongKey", err)
		}
	})

	file := filepath.Join(t.TempDir(), "regular-file")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	bad := []struct {
		name string
		o    func(o *Options)
		want string // in the error text
	}{
		{"dir under a regular file", func(o *Options) { o.Dir = filepath.Join(file, "data") }, filepath.Join(file, "data")},
		{"dir is a regular file", func(o *Options) { o.Dir = file }, file},
		{"no dir", func(o *Options) { o.Dir = "" }, "Dir"},
		{"short encryption key", func(o *Options) { o.EncryptionKey = make([]byte, 16) }, "encryption key"},
		{"short seal key", func(o *Options) { o.SealKey = make([]byte, 31) }, "seal key"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			o := testOptions(t, t.TempDir())
			tc.o(&o)
			s, err := Open(o)
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Open = %v; want an error mentioning %q", err, tc.want)
			}
		})
	}
}

func TestServe(t *testing.T) {
	t.Run("returns nil when ctx ends", func(t *testing.T) {
		s := openTest(t, Options{GCInterval: time.Millisecond})
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- s.Serve(ctx) }()
		waitFor(t, "a GC run", func() bool { return s.gcRuns.Load() >= 3 })
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("Serve = %v, want nil", err)
		}
		// Serve did not close the store.
		mustPut(t, s.Namespace("chat"), "k", "v")
	})
	t.Run("returns ErrClosed when closed under it", func(t *testing.T) {
		s := openTest(t, Options{GCInterval: time.Millisecond})
		done := make(chan error, 1)
		go func() { done <- s.Serve(t.Context()) }()
		waitFor(t, "a GC run", func() bool { return s.gcRuns.Load() >= 1 })
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if err := <-done; !errors.Is(err, ErrClosed) {
			t.Fatalf("Serve = %v, want ErrClosed", err)
		}
	})
	t.Run("rewrites value-log files", func(t *testing.T) {
		o := testOptions(t, t.TempDir())
		o.GCInterval = time.Millisecond
		o.tune = func(o *badger.Options) {
			smallFiles(o)
			o.ValueThreshold = 1 << 10
			o.NumLevelZeroTables = 1 // compact (and so count garbage) early
		}
		value := func(round, i int) []byte {
			return bytes.Repeat(fmt.Appendf(nil, "round %d chunk %03d;", round, i), 1000) // ~19 KiB, in the value log
		}
		// Round 0 writes 200 chunks; round 1 rewrites three in four, so
		// round 0's value-log files are 75% garbage and GC must move the
		// rest. Each round ends with a reopen, which flushes the memtable
		// to a level-0 table; two of them trigger the compaction that
		// gives Badger its discard statistics.
		var s *Store
		for round := range 2 {
			s = openTest(t, o)
			n := s.Namespace("files")
			for i := range 200 {
				if round == 1 && i%4 == 0 {
					continue
				}
				if err := n.Put(fmt.Appendf(nil, "chunk-%03d", i), value(round, i)); err != nil {
					t.Fatalf("round %d: %v", round, err)
				}
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
		}
		s = openTest(t, o)
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- s.Serve(ctx) }()
		waitFor(t, "value-log rewrites", func() bool { return s.gcRewrites.Load() >= 2 })
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("Serve = %v", err)
		}
		n := s.Namespace("files")
		for i := range 200 {
			want := value(1, i)
			if i%4 == 0 {
				want = value(0, i)
			}
			v, err := n.Get(fmt.Appendf(nil, "chunk-%03d", i))
			if err != nil || !bytes.Equal(v, want) {
				t.Fatalf("chunk %d after GC: %.20q, %v", i, v, err)
			}
		}
	})
}

// waitFor polls cond until it holds; the deadline only guards against a
// hung test, it is not a timing assertion.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
