package mailbox

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	"go.uber.org/goleak"

	"github.com/discordopus/discordopus/store"
)

// The tests run real libp2p hosts on 127.0.0.1 (TCP only); each holder
// has its own store in a temporary directory and a clock the test moves.

// TestMain fails the package if a goroutine is left running once every
// test is done (not when fuzzing, where the engine's workers run).
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 && !fuzzing() {
		if err := findLeaks(30 * time.Second); err != nil {
			fmt.Fprintf(os.Stderr, "goroutines left running after the tests: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

func fuzzing() bool {
	for _, name := range []string{"test.fuzz", "test.fuzzworker"} {
		if f := flag.Lookup(name); f != nil && f.Value.String() != "" && f.Value.String() != "false" {
			return true
		}
	}
	return false
}

// findLeaks waits for goroutines of closed hosts to wind down.
func findLeaks(patience time.Duration) error {
	end := time.Now().Add(patience)
	for {
		err := goleak.Find()
		if err == nil || time.Now().After(end) {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// clock is an injectable clock the test moves by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func quietLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// newHost starts a host on loopback, closed when the test ends.
func newHost(t testing.TB) host.Host {
	t.Helper()
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"),
		libp2p.Transport(tcp.NewTCPTransport), libp2p.DisableRelay(), libp2p.DisableMetrics())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

var (
	testEncKey  = make([]byte, 32)
	testSealKey = make([]byte, 32)
)

func init() {
	rand.Read(testEncKey)
	rand.Read(testSealKey)
}

// holder is a mailbox node under test: a host, a store and a server.
type holder struct {
	t     testing.TB
	dir   string
	clock *clock
	opts  ServerOptions
	h     host.Host
	st    *store.Store
	srv   *Server
	stop  func()
}

// newHolder starts a holder with tweak applied to its options; unlimited
// rates unless the test sets them.
func newHolder(t testing.TB, tweak func(*ServerOptions)) *holder {
	t.Helper()
	hd := &holder{t: t, dir: t.TempDir(), clock: newClock(), h: newHost(t)}
	hd.opts = ServerOptions{DepositsPerSecond: -1, ReplicatesPerSecond: -1, Now: hd.clock.Now, Logger: quietLogger(t)}
	if tweak != nil {
		tweak(&hd.opts)
	}
	hd.start()
	t.Cleanup(hd.close)
	return hd
}

func (hd *holder) start() {
	t := hd.t
	t.Helper()
	var err error
	hd.st, err = store.Open(store.Options{Dir: filepath.Join(hd.dir, "db"), EncryptionKey: testEncKey, SealKey: testSealKey,
		Logger: quietLogger(t), Now: hd.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	o := hd.opts
	o.Store = hd.st
	hd.srv, err = NewServer(hd.h, o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	srv := hd.srv
	go func() { done <- srv.Serve(ctx) }()
	hd.stop = func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}
	// Serve registers its handler asynchronously: wait for it.
	for deadline := time.Now().Add(5 * time.Second); ; {
		if hasProtocol(hd.h) || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Millisecond)
	}
}

func hasProtocol(h host.Host) bool {
	for _, p := range h.Mux().Protocols() {
		if p == ProtocolID {
			return true
		}
	}
	return false
}

// close stops the server and closes the store; the host stays.
func (hd *holder) close() {
	if hd.stop == nil {
		return
	}
	hd.stop()
	hd.stop = nil
	if err := hd.st.Close(); err != nil {
		hd.t.Errorf("closing the store: %v", err)
	}
}

func (hd *holder) restart() {
	hd.close()
	hd.start()
}

// client is a host connected to the holders given.
func newClient(t testing.TB, holders ...*holder) host.Host {
	t.Helper()
	h := newHost(t)
	for _, hd := range holders {
		if err := h.Connect(t.Context(), peer.AddrInfo{ID: hd.h.ID(), Addrs: hd.h.Addrs()}); err != nil {
			t.Fatal(err)
		}
	}
	return h
}

// recipient is a mailbox owner at one epoch.
type recipient struct {
	keys *Keys
	key  ed25519.PrivateKey
	addr Address
}

func newRecipient(t testing.TB, name string, now time.Time) recipient {
	t.Helper()
	secret := sha256.Sum256([]byte("mailbox test recipient " + name))
	k, err := NewKeys(secret[:])
	if err != nil {
		t.Fatal(err)
	}
	e := Epoch(now)
	return recipient{keys: k, key: k.Private(e), addr: k.Public(e).Address()}
}

func envelope(n int, tag string) []byte {
	b := make([]byte, n)
	copy(b, tag)
	for i := len(tag); i < n; i++ {
		b[i] = byte(i)
	}
	return b
}

func wantKind(t testing.TB, err, kind error) {
	t.Helper()
	if !errors.Is(err, kind) {
		t.Fatalf("error %v, want %v", err, kind)
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v is not an *Error", err)
	}
}
