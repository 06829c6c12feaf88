package node

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/discordopus/discordopus/keystore"
)

var testPassphrase = []byte("correct horse battery staple")

// testConfig listens on loopback only, with no mDNS and no bootstrap, so a
// test node never talks to anything but this machine.
func testConfig() Config {
	c := DefaultConfig(RoleDesktop)
	c.Listen = []string{"/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/udp/0/quic-v1"}
	c.MDNS = false
	c.DefaultBootstrap = false
	c.PrivateAddrs = true
	c.DHTMode = "server"
	return c
}

func passphrase(p []byte) func() ([]byte, error) {
	return func() ([]byte, error) { return bytes.Clone(p), nil }
}

// newDesktopDir makes a data directory with an identity in it.
func newDesktopDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	ks, err := keystore.Create(filepath.Join(dir, keystore.FileName), testPassphrase)
	if err != nil {
		t.Fatal(err)
	}
	ks.Close()
	return dir
}

func infraOptions(t *testing.T, cfg Config) Options {
	return Options{Role: RoleInfrastructure, DataDir: t.TempDir(), Config: cfg, Logger: discardLogger()}
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(ioDiscard{}, nil)) }

type ioDiscard struct{}

func (ioDiscard) Write(p []byte) (int, error) { return len(p), nil }

// serve runs n until the test ends and returns a function that stops it and
// reports Serve's error.
func serve(t *testing.T, n *Node) (stop func() error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Serve(ctx) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-done:
			case <-time.After(30 * time.Second):
				err = errors.New("Serve did not return within 30s of cancel")
			}
		})
		return err
	}
	t.Cleanup(func() { stop() })
	return stop
}

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// glog-style flush daemon started by a libp2p dependency at init.
		goleak.IgnoreTopFunction("github.com/ipfs/go-log/v2/writer.(*MirrorWriter).logRoutine"),
		// go-libp2p's QUIC reuse and opencensus keep process-wide workers.
		goleak.IgnoreTopFunction("go.opencensus.io/stats/view.(*worker).start"),
		goleak.IgnoreAnyFunction("github.com/dgraph-io/ristretto/v2/z.(*AllocatorPool).freeupAllocators"),
	)
}

// TestDesktopLifecycle builds a desktop node from an identity, serves it and
// shuts it down; the data directory is then free for the next run.
func TestDesktopLifecycle(t *testing.T) {
	dir := newDesktopDir(t)
	for run := range 2 {
		n, err := New(Options{Role: RoleDesktop, DataDir: dir, Config: testConfig(), Passphrase: passphrase(testPassphrase), Logger: discardLogger()})
		if err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
		if n.Store() == nil {
			t.Fatal("desktop node has no store")
		}
		stop := serve(t, n)
		s := n.Status()
		if s.PeerID != n.ID().String() || len(s.Addrs) == 0 || s.Role != "desktop" {
			t.Fatalf("status %+v", s)
		}
		if err := stop(); err != nil {
			t.Fatalf("run %d: Serve: %v", run, err)
		}
	}
}

func TestSecondInstanceRefused(t *testing.T) {
	o := infraOptions(t, testConfig())
	first, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	_, err = New(o)
	if !errors.Is(err, ErrAlreadyRunning) {
		t.Fatalf("second New on the same data dir: %v, want ErrAlreadyRunning", err)
	}
	if !strings.Contains(err.Error(), "already running") {
		t.Fatalf("error %q does not say the node is already running", err)
	}
	// The first still works.
	if first.Status().PeerID == "" {
		t.Fatal("first node lost its identity")
	}
}

func TestPortInUse(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	cfg := testConfig()
	cfg.Listen = []string{"/ip4/127.0.0.1/tcp/" + itoa(port)}
	o := Options{Role: RoleDesktop, DataDir: newDesktopDir(t), Config: cfg, Passphrase: passphrase(testPassphrase), Logger: discardLogger()}
	_, err = New(o)
	if !errors.Is(err, ErrPortInUse) || !strings.Contains(err.Error(), "/tcp/"+itoa(port)) {
		t.Fatalf("New on a taken port: %v, want ErrPortInUse naming port %d", err, port)
	}
	// The failed start released the data directory and the store.
	o.Config = testConfig()
	n, err := New(o)
	if err != nil {
		t.Fatalf("New after a failed start: %v", err)
	}
	n.Close()
}

func TestDataDirNotWritable(t *testing.T) {
	// Tests run as root, which ignores permission bits: put the data
	// directory under a regular file, which fails for everyone.
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	o := infraOptions(t, testConfig())
	o.DataDir = filepath.Join(file, "data")
	_, err := New(o)
	if err == nil || !strings.Contains(err.Error(), o.DataDir) {
		t.Fatalf("New with an unusable data dir: %v, want an error naming %s", err, o.DataDir)
	}
}

func TestDesktopErrors(t *testing.T) {
	t.Run("not initialized", func(t *testing.T) {
		_, err := New(Options{Role: RoleDesktop, DataDir: t.TempDir(), Config: testConfig(), Passphrase: passphrase(testPassphrase), Logger: discardLogger()})
		if !errors.Is(err, ErrNotInitialized) || !strings.Contains(err.Error(), "discordopus init") {
			t.Fatalf("got %v, want ErrNotInitialized telling the user to run init", err)
		}
	})
	t.Run("wrong passphrase", func(t *testing.T) {
		dir := newDesktopDir(t)
		o := Options{Role: RoleDesktop, DataDir: dir, Config: testConfig(), Passphrase: passphrase([]byte("wrong")), Logger: discardLogger()}
		if _, err := New(o); !errors.Is(err, keystore.ErrWrongPassphrase) {
			t.Fatalf("got %v, want ErrWrongPassphrase", err)
		}
		// Nothing was lost or left locked: the right passphrase works.
		o.Passphrase = passphrase(testPassphrase)
		n, err := New(o)
		if err != nil {
			t.Fatal(err)
		}
		n.Close()
	})
}

// TestUnreachableBootstrap: the node starts, says the bootstrap peer is
// unreachable, and keeps retrying.
func TestUnreachableBootstrap(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close() // nothing listens here now
	_, pub, _ := crypto.GenerateEd25519Key(nil)
	id, _ := peer.IDFromPublicKey(pub)
	cfg := testConfig()
	cfg.Bootstrap = []string{"/ip4/127.0.0.1/tcp/" + itoa(port) + "/p2p/" + id.String()}
	var logs syncBuffer
	o := infraOptions(t, cfg)
	o.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	n, err := New(o)
	if err != nil {
		t.Fatalf("a node with an unreachable bootstrap peer must start: %v", err)
	}
	stop := serve(t, n)
	deadline := time.Now().Add(30 * time.Second)
	for strings.Count(logs.String(), "no bootstrap peer reachable") < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("fewer than 3 attempts logged within 30s; logs:\n%s", logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	// Each retry waits twice as long as the one before.
	var waits []string
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, "no bootstrap peer reachable") {
			_, in, _ := strings.Cut(line, " in=")
			waits = append(waits, strings.Fields(in)[0])
		}
	}
	if want := []string{"1s", "2s", "4s"}; strings.Join(waits[:3], ",") != strings.Join(want, ",") {
		t.Fatalf("retry waits %v, want them to start %v", waits, want)
	}
}

// TestDataDirHoldsNoKeysInClear runs a desktop node that writes to its store,
// then scans every byte under the data directory for the identity key, the
// derived keys, the passphrase and the plaintext written.
func TestDataDirHoldsNoKeysInClear(t *testing.T) {
	dir := newDesktopDir(t)
	n, err := New(Options{Role: RoleDesktop, DataDir: dir, Config: testConfig(), Passphrase: passphrase(testPassphrase), Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	plaintext := []byte("meet me at the usual place at nine; bring the keys")
	ns := n.Store().Namespace("test")
	for i := range 50 {
		if err := ns.Put([]byte("msg/"+itoa(i)), plaintext); err != nil {
			t.Fatal(err)
		}
	}
	ks, err := keystore.Open(filepath.Join(dir, keystore.FileName), testPassphrase)
	if err != nil {
		t.Fatal(err)
	}
	defer ks.Close()
	raw, err := ks.PrivKey().Raw()
	if err != nil {
		t.Fatal(err)
	}
	secrets := map[string][]byte{
		"ed25519 seed":   raw[:32],
		"ed25519 key":    raw,
		"store key":      ks.Subkey(keystore.LabelStoreEncryption),
		"seal key":       ks.Subkey(keystore.LabelStoreSeal),
		"passphrase":     testPassphrase,
		"plaintext":      plaintext,
		"plaintext head": plaintext[:16],
	}
	if err := serve(t, n)(); err != nil { // serve, then shut down: flushes the store
		t.Fatal(err)
	}
	files := 0
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Type()&fs.ModeSocket != 0 {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		files++
		for name, secret := range secrets {
			if bytes.Contains(b, secret) {
				t.Errorf("%s found in clear in %s", name, path)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 3 {
		t.Fatalf("scanned only %d files: the store wrote nothing?", files)
	}
}

func TestMetricsEndpoint(t *testing.T) {
	cfg := testConfig()
	cfg.Metrics = "127.0.0.1:0"
	o := infraOptions(t, cfg)
	o.Metrics = newRegistry()
	n, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	stop := serve(t, n)
	body := httpGet(t, "http://"+n.MetricsAddr()+"/metrics")
	for _, want := range []string{"discordopus_connected_peers 0", "discordopus_dht_routing_table_peers 0", "libp2p_"} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

func newRegistry() *prometheus.Registry { return prometheus.NewRegistry() }

func httpGet(t *testing.T, url string) string {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v", url, resp.StatusCode, err)
	}
	return string(b)
}

// syncBuffer is a bytes.Buffer safe for a logger and a reader at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestShutdownWithSilentControlClient: a control client that connects and
// says nothing does not hold the node up at shutdown.
func TestShutdownWithSilentControlClient(t *testing.T) {
	o := infraOptions(t, testConfig())
	n, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	stop := serve(t, n)
	c, err := net.Dial("unix", filepath.Join(o.DataDir, controlSocket))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// The node accepts one connection at a time, so once a second client
	// has its answer, the silent one has a handler waiting for a request
	// line that never comes (for up to controlTimeout, 60 s); serve's stop
	// allows 30 s.
	ctl, err := DialControl(o.DataDir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ctl.Status(); err != nil {
		t.Fatal(err)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

func TestConfigTooLarge(t *testing.T) {
	_, err := LoadConfig("/dev/zero", RoleDesktop, true)
	if err == nil || !strings.Contains(err.Error(), "not a config file") {
		t.Fatalf("LoadConfig(/dev/zero) = %v, want a size error", err)
	}
}

func TestDataDirPermissions(t *testing.T) {
	o := infraOptions(t, testConfig())
	o.DataDir = filepath.Join(t.TempDir(), "new")
	n, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	n.Close()
	if fi, err := os.Stat(o.DataDir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("a data directory we create must be 0700: %v %v", fi.Mode(), err)
	}
	if err := os.Chmod(o.DataDir, 0o775); err != nil {
		t.Fatal(err)
	}
	_, err = New(o)
	if err == nil || !strings.Contains(err.Error(), "chmod 700") {
		t.Fatalf("New on a group-writable data directory: %v, want a refusal saying how to fix it", err)
	}
	if fi, _ := os.Stat(o.DataDir); fi.Mode().Perm() != 0o775 {
		t.Fatalf("the user's directory mode was changed to %v", fi.Mode())
	}
}

// TestLANPeerRedialled: a peer first met on the LAN can be dialled again
// after the connection drops, although production hosts advertise no
// private address (so identify leaves none in the peerstore) and there is
// no DHT to ask.
func TestLANPeerRedialled(t *testing.T) {
	cfg := testConfig()
	cfg.PrivateAddrs = false
	newNode := func() *Node {
		n, err := New(Options{Role: RoleDesktop, DataDir: newDesktopDir(t), Config: cfg, Passphrase: passphrase(testPassphrase), Logger: discardLogger()})
		if err != nil {
			t.Fatal(err)
		}
		serve(t, n)
		return n
	}
	a, b := newNode(), newNode()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// What mDNS would hand over: b's interface addresses.
	bAddrs, err := b.Host().Network().InterfaceListenAddresses()
	if err != nil {
		t.Fatal(err)
	}
	a.foundOnLAN(ctx, peer.AddrInfo{ID: b.ID(), Addrs: bAddrs})
	if a.Host().Network().Connectedness(b.ID()) != network.Connected {
		t.Fatal("foundOnLAN did not connect")
	}
	for { // identify done: b's protocols known
		if protos, _ := a.Host().Peerstore().GetProtocols(b.ID()); len(protos) > 0 {
			break
		}
		if ctx.Err() != nil {
			t.Fatal("identify never completed")
		}
		time.Sleep(20 * time.Millisecond)
	}
	a.Host().Network().ClosePeer(b.ID())
	res, err := a.Ping(ctx, b.ID().String(), 1)
	if err != nil {
		t.Fatalf("ping a LAN peer after a disconnect: %v", err)
	}
	if res.Found != "lan" {
		t.Fatalf("found %q, want lan", res.Found)
	}
}

// TestLANBookIgnoresSpoofs: an announcement with someone else's PeerID and
// addresses that do not lead to them changes nothing in the LAN book.
func TestLANBookIgnoresSpoofs(t *testing.T) {
	cfg := testConfig()
	cfg.PrivateAddrs = false
	a, err := New(Options{Role: RoleDesktop, DataDir: newDesktopDir(t), Config: cfg, Passphrase: passphrase(testPassphrase), Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	serve(t, a)
	_, pub, _ := crypto.GenerateEd25519Key(nil)
	victim, _ := peer.IDFromPublicKey(pub)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ma.StringCast("/ip4/127.0.0.1/tcp/" + itoa(l.Addr().(*net.TCPAddr).Port))
	l.Close()
	a.foundOnLAN(t.Context(), peer.AddrInfo{ID: victim, Addrs: []ma.Multiaddr{dead}})
	if ai, ok := a.lan.get(victim); ok {
		t.Fatalf("an unproven announcement entered the LAN book: %v", ai)
	}
	var book lanPeers
	for i := range maxLANPeers + 10 {
		_, pub, _ := crypto.GenerateEd25519Key(nil)
		id, _ := peer.IDFromPublicKey(pub)
		book.put(peer.AddrInfo{ID: id, Addrs: []ma.Multiaddr{dead}}, time.Unix(int64(i), 0))
	}
	if len(book.peers) != maxLANPeers {
		t.Fatalf("LAN book holds %d peers, want at most %d", len(book.peers), maxLANPeers)
	}
}
