package store

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	badger "github.com/dgraph-io/badger/v4"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		// Re-executed as a child by a test in this package.
		os.Exit(runHelper())
	}
	goleak.VerifyTestMain(m, badgerFailedOpenLeaks...)
}

// badgerFailedOpenLeaks are the goroutines that badger.Open leaves running
// when it fails after starting them (a wrong encryption key, say): its
// cleanup path neither signals the cache monitor nor releases the allocator
// pool. They belong to Badger, not to this package; the tests that open
// with a wrong key would otherwise fail the leak check.
// TestCloseLeavesNoGoroutines checks a successful Open-Close cycle without
// these exceptions.
var badgerFailedOpenLeaks = []goleak.Option{
	goleak.IgnoreTopFunction("github.com/dgraph-io/badger/v4.(*DB).monitorCache"),
	goleak.IgnoreTopFunction("github.com/dgraph-io/ristretto/v2/z.(*AllocatorPool).freeupAllocators"),
}

// fakeClock is an injectable clock that tests move by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Now()} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// Fixed test keys; never use constant keys outside tests.
var (
	testEncKey  = bytes.Repeat([]byte{0xe1}, 32)
	testSealKey = bytes.Repeat([]byte{0x5e}, 32)
)

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

func testOptions(t testing.TB, dir string) Options {
	return Options{
		Dir:           dir,
		EncryptionKey: testEncKey,
		SealKey:       testSealKey,
		Logger:        testLogger(t),
	}
}

// openTest opens a store in dir (a fresh temporary directory if empty) and
// closes it when the test ends.
func openTest(t testing.TB, o Options) *Store {
	t.Helper()
	if o.Dir == "" {
		d := testOptions(t, t.TempDir())
		d.Now, d.GCInterval, d.tune = o.Now, o.GCInterval, o.tune
		o = d
	}
	s, err := Open(o)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func mustPut(t testing.TB, n *Namespace, k, v string, opts ...PutOption) {
	t.Helper()
	if err := n.Put([]byte(k), []byte(v), opts...); err != nil {
		t.Fatalf("Put(%q): %v", k, err)
	}
}

func mustGet(t testing.TB, n *Namespace, k string) string {
	t.Helper()
	v, err := n.Get([]byte(k))
	if err != nil {
		t.Fatalf("Get(%q): %v", k, err)
	}
	return string(v)
}

type kv struct{ k, v string }

func collect(t testing.TB, n *Namespace, prefix string, reverse bool) []kv {
	t.Helper()
	var got []kv
	err := n.Iterate([]byte(prefix), reverse, func(k, v []byte) error {
		got = append(got, kv{string(k), string(v)})
		return nil
	})
	if err != nil {
		t.Fatalf("Iterate(%q, %v): %v", prefix, reverse, err)
	}
	return got
}

func TestRoundTrip(t *testing.T) {
	s := openTest(t, Options{})
	n := s.Namespace("chat")
	tests := []struct {
		name       string
		key, value []byte
	}{
		{"small", []byte("msg-1"), []byte("hello")},
		{"empty value", []byte("empty"), []byte{}},
		{"binary key", []byte{0, 0xff, '/', 0}, []byte{1, 2, 3}},
		{"value-log sized", []byte("big"), bytes.Repeat([]byte("0123456789abcdef"), 4096)}, // 64 KiB, above ValueThreshold
		{"max key", bytes.Repeat([]byte{'k'}, MaxKeySize), []byte("v")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := n.Put(tc.key, tc.value); err != nil {
				t.Fatalf("Put: %v", err)
			}
			got, err := n.Get(tc.key)
			if err != nil {
				t.Fatalf("Get: %v", err)
			}
			if !bytes.Equal(got, tc.value) {
				t.Fatalf("Get = %d bytes, want %d bytes", len(got), len(tc.value))
			}
		})
	}
	// Overwrite replaces.
	mustPut(t, n, "msg-1", "second")
	if got := mustGet(t, n, "msg-1"); got != "second" {
		t.Fatalf("after overwrite Get = %q, want %q", got, "second")
	}
	// Values survive a reopen.
	dir := s.db.Opts().Dir
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := openTest(t, testOptions(t, dir))
	if got := mustGet(t, s2.Namespace("chat"), "msg-1"); got != "second" {
		t.Fatalf("after reopen Get = %q, want %q", got, "second")
	}
}

func TestPutRejects(t *testing.T) {
	s := openTest(t, Options{})
	n := s.Namespace("chat")
	tests := []struct {
		name       string
		key, value []byte
		opts       []PutOption
	}{
		{"empty key", nil, []byte("v"), nil},
		{"key too long", bytes.Repeat([]byte{'k'}, MaxKeySize+1), []byte("v"), nil},
		{"value too long", []byte("k"), make([]byte, MaxValueSize+1), nil},
		{"zero TTL", []byte("k"), []byte("v"), []PutOption{WithTTL(0)}},
		{"negative TTL", []byte("k"), []byte("v"), []PutOption{WithTTL(-time.Second)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := n.Put(tc.key, tc.value, tc.opts...); err == nil {
				t.Fatal("Put succeeded, want an error")
			}
		})
	}
	if _, err := n.Get(nil); err == nil || errors.Is(err, ErrNotFound) {
		t.Fatalf("Get(empty key) = %v, want an invalid-key error", err)
	}
}

func TestGetMissing(t *testing.T) {
	s := openTest(t, Options{})
	if _, err := s.Namespace("chat").Get([]byte("nope")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get(missing) = %v, want ErrNotFound", err)
	}
}

func TestNamespacesIsolated(t *testing.T) {
	s := openTest(t, Options{})
	chat, mbox, chatx := s.Namespace("chat"), s.Namespace("mailbox"), s.Namespace("chat-x")
	mustPut(t, chat, "k", "chat value")
	mustPut(t, mbox, "k", "mailbox value")
	mustPut(t, chatx, "k", "chat-x value")
	mustPut(t, chat, "only-chat", "1")

	for _, c := range []struct {
		n    *Namespace
		want string
	}{{chat, "chat value"}, {mbox, "mailbox value"}, {chatx, "chat-x value"}} {
		if got := mustGet(t, c.n, "k"); got != c.want {
			t.Errorf("%s: Get(k) = %q, want %q", c.n.Name(), got, c.want)
		}
	}
	if _, err := mbox.Get([]byte("only-chat")); !errors.Is(err, ErrNotFound) {
		t.Errorf("mailbox read chat's key: %v", err)
	}
	// Deleting in one namespace leaves the others alone.
	if err := mbox.Delete([]byte("k")); err != nil {
		t.Fatal(err)
	}
	if got := mustGet(t, chat, "k"); got != "chat value" {
		t.Errorf("chat's k after mailbox delete = %q", got)
	}

	for _, reverse := range []bool{false, true} {
		got := collect(t, chat, "", reverse)
		want := []kv{{"k", "chat value"}, {"only-chat", "1"}}
		if reverse {
			want[0], want[1] = want[1], want[0]
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("chat Iterate(reverse=%v) = %v, want %v", reverse, got, want)
		}
		if got := collect(t, chatx, "", reverse); fmt.Sprint(got) != fmt.Sprint([]kv{{"k", "chat-x value"}}) {
			t.Errorf("chat-x Iterate(reverse=%v) = %v", reverse, got)
		}
		if got := collect(t, mbox, "", reverse); len(got) != 0 {
			t.Errorf("mailbox Iterate(reverse=%v) = %v, want nothing", reverse, got)
		}
		// A fourth namespace sorting right after chat sees nothing of it.
		if got := collect(t, s.Namespace("chat0"), "", reverse); len(got) != 0 {
			t.Errorf("chat0 Iterate(reverse=%v) = %v, want nothing", reverse, got)
		}
	}
}

func TestNamespaceNames(t *testing.T) {
	s := openTest(t, Options{})
	valid := []string{"a", "chat", "dht", "mailbox-v2", "0", strings.Repeat("z", 32)}
	invalid := []string{"", "Chat", "chat/x", "chat x", "chat\x00", "é", strings.Repeat("z", 33), "a.b", "a_b"}
	for _, name := range valid {
		if n := s.Namespace(name); n.Name() != name {
			t.Errorf("Namespace(%q).Name() = %q", name, n.Name())
		}
	}
	for _, name := range invalid {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Namespace(%q) did not panic", name)
				}
			}()
			s.Namespace(name)
		}()
	}
}

func TestIterateOrder(t *testing.T) {
	s := openTest(t, Options{})
	n := s.Namespace("chat")
	// Keys chosen to exercise the reverse seek: "b" is the successor of
	// the prefix "a", and "a\xff\xff" sorts last among "a" keys.
	keys := []string{"a", "a1", "a2", "a\xff", "a\xff\xff", "b", "b1", "c"}
	for _, k := range keys {
		mustPut(t, n, k, "v"+k)
	}
	// Neighbouring namespaces that must not show up.
	mustPut(t, s.Namespace("cha"), "a9", "x")
	mustPut(t, s.Namespace("chat0"), "a", "x")

	tests := []struct {
		prefix string
		want   []string
	}{
		{"", keys},
		{"a", []string{"a", "a1", "a2", "a\xff", "a\xff\xff"}},
		{"a\xff", []string{"a\xff", "a\xff\xff"}},
		{"b", []string{"b", "b1"}},
		{"c", []string{"c"}},
		{"d", nil},
		{"a1", []string{"a1"}},
	}
	for _, tc := range tests {
		for _, reverse := range []bool{false, true} {
			t.Run(fmt.Sprintf("%q/reverse=%v", tc.prefix, reverse), func(t *testing.T) {
				want := append([]string(nil), tc.want...)
				if reverse {
					for i, j := 0, len(want)-1; i < j; i, j = i+1, j-1 {
						want[i], want[j] = want[j], want[i]
					}
				}
				var got []string
				for _, e := range collect(t, n, tc.prefix, reverse) {
					if e.v != "v"+e.k {
						t.Errorf("key %q has value %q", e.k, e.v)
					}
					got = append(got, e.k)
				}
				if fmt.Sprintf("%q", got) != fmt.Sprintf("%q", want) {
					t.Fatalf("got %q, want %q", got, want)
				}
			})
		}
	}
}

func TestIterateStops(t *testing.T) {
	s := openTest(t, Options{})
	n := s.Namespace("chat")
	for i := range 10 {
		mustPut(t, n, fmt.Sprintf("k%02d", i), "v")
	}
	// ErrStop ends the iteration without an error: the first page of 3,
	// newest first.
	var page []string
	err := n.Iterate(nil, true, func(k, _ []byte) error {
		page = append(page, string(k))
		if len(page) == 3 {
			return ErrStop
		}
		return nil
	})
	if err != nil || fmt.Sprint(page) != "[k09 k08 k07]" {
		t.Fatalf("page = %v, err = %v; want [k09 k08 k07], nil", page, err)
	}
	// Any other error is returned unchanged.
	boom := errors.New("boom")
	calls := 0
	err = n.Iterate(nil, false, func(k, _ []byte) error {
		calls++
		return boom
	})
	if err != boom || calls != 1 {
		t.Fatalf("Iterate = %v after %d calls, want boom after 1", err, calls)
	}
	// Keys and values handed to fn may be kept.
	var keys, vals [][]byte
	if err := n.Iterate(nil, false, func(k, v []byte) error {
		keys, vals = append(keys, k), append(vals, v)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for i, k := range keys {
		if want := fmt.Sprintf("k%02d", i); string(k) != want || string(vals[i]) != "v" {
			t.Fatalf("retained key %d = %q/%q, want %q/v", i, k, vals[i], want)
		}
	}
}

func TestDelete(t *testing.T) {
	s := openTest(t, Options{})
	n := s.Namespace("chat")
	mustPut(t, n, "a", "1")
	mustPut(t, n, "b", "2")
	if err := n.Delete([]byte("a")); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Get([]byte("a")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get after Delete = %v, want ErrNotFound", err)
	}
	if got := collect(t, n, "", false); fmt.Sprint(got) != fmt.Sprint([]kv{{"b", "2"}}) {
		t.Fatalf("Iterate after Delete = %v", got)
	}
	if err := n.Delete([]byte("never-written")); err != nil {
		t.Fatalf("Delete(missing) = %v, want nil", err)
	}
}

func TestTTL(t *testing.T) {
	clock := newFakeClock()
	s := openTest(t, Options{Now: clock.Now})
	n := s.Namespace("mailbox")
	mustPut(t, n, "day", "expires in a day", WithTTL(24*time.Hour))
	mustPut(t, n, "fortnight", "expires in 14 days", WithTTL(14*24*time.Hour), Durable())
	mustPut(t, n, "forever", "never expires")

	if got := len(collect(t, n, "", false)); got != 3 {
		t.Fatalf("before: Iterate saw %d records, want 3", got)
	}
	if got := mustGet(t, n, "day"); got != "expires in a day" {
		t.Fatalf("before: Get(day) = %q", got)
	}

	clock.Advance(24*time.Hour - time.Nanosecond)
	mustGet(t, n, "day") // still there, one nanosecond before expiry
	clock.Advance(time.Nanosecond)
	if _, err := n.Get([]byte("day")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("at expiry: Get(day) = %v, want ErrNotFound", err)
	}

	clock.Advance(6 * 24 * time.Hour) // 7 days in
	if _, err := n.Get([]byte("day")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("after 7 days: Get(day) = %v, want ErrNotFound", err)
	}
	want := []kv{{"forever", "never expires"}, {"fortnight", "expires in 14 days"}}
	for _, reverse := range []bool{false, true} {
		got := collect(t, n, "", reverse)
		if reverse {
			got[0], got[1] = got[1], got[0]
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("after 7 days: Iterate(reverse=%v) = %v, want %v", reverse, got, want)
		}
	}

	// Rewriting a record with a new TTL extends it.
	mustPut(t, n, "day", "again", WithTTL(time.Hour))
	if got := mustGet(t, n, "day"); got != "again" {
		t.Fatalf("rewritten Get(day) = %q", got)
	}
	clock.Advance(8 * 24 * time.Hour) // 15 days in
	if got := collect(t, n, "", false); fmt.Sprint(got) != fmt.Sprint([]kv{{"forever", "never expires"}}) {
		t.Fatalf("after 15 days: Iterate = %v", got)
	}

	// Badger's own expiry is set too (rounded up to a second), so
	// compaction drops the record.
	err := s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get([]byte("mailbox/fortnight"))
		if err != nil {
			return err
		}
		if item.ExpiresAt() == 0 {
			return errors.New("Badger ExpiresAt not set")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestTampered(t *testing.T) {
	s := openTest(t, Options{})
	n := s.Namespace("chat")
	mustPut(t, n, "a", "the original value", WithTTL(time.Hour))
	mustPut(t, n, "b", "another value")

	raw := func(k string) []byte {
		t.Helper()
		var v []byte
		err := s.db.View(func(txn *badger.Txn) error {
			item, err := txn.Get([]byte(k))
			if err != nil {
				return err
			}
			v, err = item.ValueCopy(nil)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	setRaw := func(k string, v []byte) {
		t.Helper()
		if err := s.db.Update(func(txn *badger.Txn) error { return txn.Set([]byte(k), v) }); err != nil {
			t.Fatal(err)
		}
	}
	sealedA := raw("chat/a")

	tests := []struct {
		name    string
		key     string // full key to write the forged value under
		forge   func() []byte
		readKey string
		ns      string
	}{
		{"moved to another key", "chat/b", func() []byte { return sealedA }, "b", "chat"},
		{"moved to another namespace", "groups/a", func() []byte { return sealedA }, "a", "groups"},
		{"expiry extended", "chat/a", func() []byte {
			v := bytes.Clone(sealedA)
			v[versionSize+3]++ // a high byte of the expiry
			return v
		}, "a", "chat"},
		{"expiry removed", "chat/a", func() []byte {
			v := bytes.Clone(sealedA)
			clear(v[versionSize:headerSize])
			return v
		}, "a", "chat"},
		{"ciphertext byte flipped", "chat/a", func() []byte {
			v := bytes.Clone(sealedA)
			v[headerSize+nonceSize] ^= 1
			return v
		}, "a", "chat"},
		{"tag byte flipped", "chat/a", func() []byte {
			v := bytes.Clone(sealedA)
			v[len(v)-1] ^= 0x80
			return v
		}, "a", "chat"},
		{"nonce byte flipped", "chat/a", func() []byte {
			v := bytes.Clone(sealedA)
			v[headerSize] ^= 1
			return v
		}, "a", "chat"},
		{"version changed", "chat/a", func() []byte {
			v := bytes.Clone(sealedA)
			v[0] = 2
			return v
		}, "a", "chat"},
		{"truncated", "chat/a", func() []byte { return sealedA[:sealedOverhead-1] }, "a", "chat"},
		{"plaintext", "chat/a", func() []byte { return []byte("the original value") }, "a", "chat"},
		{"empty", "chat/a", func() []byte { return []byte{} }, "a", "chat"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			setRaw(tc.key, tc.forge())
			ns := s.Namespace(tc.ns)
			if v, err := ns.Get([]byte(tc.readKey)); !errors.Is(err, ErrTampered) {
				t.Fatalf("Get = %q, %v; want ErrTampered", v, err)
			}
			err := ns.Iterate(nil, false, func(k, v []byte) error {
				if string(k) == tc.readKey {
					return fmt.Errorf("Iterate yielded forged record %q = %q", k, v)
				}
				return nil
			})
			if !errors.Is(err, ErrTampered) {
				t.Fatalf("Iterate = %v, want ErrTampered", err)
			}
			setRaw("chat/a", sealedA) // restore
			if err := s.db.Update(func(txn *badger.Txn) error { return txn.Delete([]byte("groups/a")) }); err != nil {
				t.Fatal(err)
			}
			mustPut(t, n, "b", "another value")
		})
	}
	if got := mustGet(t, n, "a"); got != "the original value" {
		t.Fatalf("restored Get(a) = %q", got)
	}
}

func TestDurableConcurrent(t *testing.T) {
	s := openTest(t, Options{})
	n := s.Namespace("chat")
	const writers, each = 4, 25
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				var opts []PutOption
				if (w+i)%2 == 0 {
					opts = append(opts, Durable())
				}
				k := fmt.Sprintf("w%d-%03d", w, i)
				if err := n.Put([]byte(k), []byte("v"+k), opts...); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if got := len(collect(t, n, "", false)); got != writers*each {
		t.Fatalf("Iterate saw %d records, want %d", got, writers*each)
	}
}
