package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/discordopus/discordopus/internal/netlab"
	"github.com/discordopus/discordopus/internal/proctest"
)

// These tests run the real binaries on loopback (and, for mDNS, inside
// network namespaces they create).

var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "discordopus-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	if err := proctest.Build(dir, "./cmd/discordopus", "./cmd/discordopusd", "./internal/barenode"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func bin(name string) string { return filepath.Join(binDir, name) }

// testEnv keeps the binaries away from the user's config and gives them a
// passphrase.
func testEnv(t testing.TB) []string {
	return []string{
		"XDG_CONFIG_HOME=" + t.TempDir(),
		"XDG_DATA_HOME=" + t.TempDir(),
		"DISCORDOPUS_PASSPHRASE=test passphrase for the process tests",
	}
}

var (
	rePeerID    = regexp.MustCompile(`^PeerID: (\S+)`)
	reAddress   = regexp.MustCompile(`^address: (/ip4/127\.0\.0\.1/tcp/\d+/p2p/\S+)`)
	reMetrics   = regexp.MustCompile(`^metrics: (http://\S+)`)
	reDHTReady  = regexp.MustCompile(`^DHT ready`)
	startupWait = 60 * time.Second
	stopWait    = 20 * time.Second
)

func initNode(t testing.TB, env []string, dataDir string) {
	t.Helper()
	out, errOut, err := proctest.Run(t, env, bin("discordopus"), "init", "--data-dir", dataDir)
	if err != nil {
		t.Fatalf("init: %v\n%s%s", err, out, errOut)
	}
}

// stopClean sends SIGTERM and requires a clean exit.
func stopClean(t testing.TB, p *proctest.Proc) {
	t.Helper()
	if err := p.Signal(t, syscall.SIGTERM, stopWait); err != nil {
		t.Errorf("%s exited with %v after SIGTERM\nstderr:\n%s", p.Name, err, p.Stderr())
	}
}

// TestBootstrapAndTwoNodes: one discordopusd bootstrap node and two desktop
// nodes, mDNS off: the desktops find each other through the DHT alone, ping
// each other, and all three exit cleanly on SIGTERM.
func TestBootstrapAndTwoNodes(t *testing.T) {
	env := testEnv(t)
	bootDir := t.TempDir()
	boot := proctest.Start(t, env, bin("discordopusd"), "--data-dir", bootDir,
		"--listen", "/ip4/127.0.0.1/tcp/0", "--private-addrs", "--metrics", "127.0.0.1:0")
	bootAddr := boot.WaitFor(t, reAddress, startupWait)[1]
	bootID := boot.WaitFor(t, rePeerID, startupWait)[1]
	metricsURL := boot.WaitFor(t, reMetrics, startupWait)[1]

	dirs := []string{t.TempDir(), t.TempDir()}
	nodes := make([]*proctest.Proc, 2)
	ids := make([]string, 2)
	for i, dir := range dirs {
		initNode(t, env, dir)
		nodes[i] = proctest.Start(t, env, bin("discordopus"), "run", "--data-dir", dir,
			"--listen", "/ip4/127.0.0.1/tcp/0", "--mdns=false", "--private-addrs", "--bootstrap-peer", bootAddr)
		ids[i] = nodes[i].WaitFor(t, rePeerID, startupWait)[1]
	}
	for _, n := range nodes {
		n.WaitFor(t, reDHTReady, startupWait)
	}

	// Each finds the other by PeerID through the DHT, and pings it.
	for i, dir := range dirs {
		other := ids[1-i]
		out, errOut, err := proctest.Run(t, env, bin("discordopus"), "ping", "--data-dir", dir, other)
		if err != nil {
			t.Fatalf("node %d ping %s: %v\n%s%s", i, other, err, out, errOut)
		}
		if !strings.Contains(out, "peer "+other) || !strings.Contains(out, "seq=3 time=") {
			t.Fatalf("node %d ping output:\n%s", i, out)
		}
		if i == 0 && !strings.Contains(out, "found: dht") {
			t.Fatalf("the first lookup should go through the DHT:\n%s", out)
		}
	}

	out, _, err := proctest.Run(t, env, bin("discordopus"), "peers", "--data-dir", dirs[0])
	if err != nil || !strings.Contains(out, ids[1]) || !strings.Contains(out, bootID) {
		t.Fatalf("peers: %v\n%s", err, out)
	}
	out, _, err = proctest.Run(t, env, bin("discordopusd"), "id", "--data-dir", bootDir)
	if err != nil || !strings.Contains(out, "PeerID: "+bootID) || !strings.Contains(out, bootAddr) {
		t.Fatalf("discordopusd id: %v\n%s", err, out)
	}
	// The two desktops at least; each one's two anonymous mailbox clients
	// (node/anon.go) join the DHT through the bootstrap node too.
	metrics := httpGet(t, metricsURL)
	connected := -1
	if m := regexp.MustCompile(`(?m)^discordopus_connected_peers (\d+)$`).FindStringSubmatch(metrics); m != nil {
		connected, _ = strconv.Atoi(m[1])
	}
	if connected < 2 {
		t.Errorf("bootstrap metrics do not show the 2 desktops connected:\n%s", grepLines(metrics, "discordopus_"))
	}

	// A second instance on a running node's data directory says so.
	_, errOut, err := proctest.Run(t, env, bin("discordopus"), "run", "--data-dir", dirs[0], "--listen", "/ip4/127.0.0.1/tcp/0", "--mdns=false")
	if err == nil || !strings.Contains(errOut, "already running") {
		t.Errorf("second instance: %v, stderr %q; want an 'already running' error", err, errOut)
	}

	// So does a passphrase change: it must not race the running node.
	newPass := append(env, "DISCORDOPUS_NEW_PASSPHRASE=another passphrase")
	_, errOut, err = proctest.Run(t, newPass, bin("discordopus"), "passwd", "--data-dir", dirs[0])
	if err == nil || !strings.Contains(errOut, "already running") {
		t.Errorf("passwd on a running node: %v, stderr %q; want an 'already running' error", err, errOut)
	}

	for _, n := range nodes {
		stopClean(t, n)
		if !strings.Contains(n.Stdout(), "stopped") {
			t.Errorf("%s did not report stopping", n.Name)
		}
	}
	stopClean(t, boot)
}

// TestIDAndPingWithoutRunningNode: id and ping work with no node running,
// and say clearly what is wrong when they can't.
func TestIDAndPingWithoutRunningNode(t *testing.T) {
	env := testEnv(t)
	dir := t.TempDir()
	_, errOut, err := proctest.Run(t, env, bin("discordopus"), "id", "--data-dir", dir)
	if err == nil || !strings.Contains(errOut, "discordopus init") {
		t.Fatalf("id before init: %v %q", err, errOut)
	}
	initNode(t, env, dir)
	out, _, err := proctest.Run(t, env, bin("discordopus"), "id", "--data-dir", dir, "--listen", "/ip4/127.0.0.1/tcp/7405")
	if err != nil || !rePeerID.MatchString(out) || !strings.Contains(out, "invite: DO1") || !strings.Contains(out, "/ip4/127.0.0.1/tcp/7405/p2p/") {
		t.Fatalf("id: %v\n%s", err, out)
	}
	wrong := append(env, "DISCORDOPUS_PASSPHRASE=not it")
	_, errOut, err = proctest.Run(t, wrong, bin("discordopus"), "id", "--data-dir", dir)
	if err == nil || !strings.Contains(errOut, "wrong passphrase") {
		t.Fatalf("id with a wrong passphrase: %v %q", err, errOut)
	}
	// passwd changes the passphrase; the old one stops working.
	newPass := append(env, "DISCORDOPUS_NEW_PASSPHRASE=a brand new passphrase")
	if out, errOut, err := proctest.Run(t, newPass, bin("discordopus"), "passwd", "--data-dir", dir); err != nil || !strings.Contains(out, "passphrase changed") {
		t.Fatalf("passwd: %v\n%s%s", err, out, errOut)
	}
	if _, errOut, err := proctest.Run(t, env, bin("discordopus"), "id", "--data-dir", dir); err == nil || !strings.Contains(errOut, "wrong passphrase") {
		t.Fatalf("id with the old passphrase after passwd: %v %q", err, errOut)
	}
	newEnv := append(env, "DISCORDOPUS_PASSPHRASE=a brand new passphrase")
	if out, errOut, err := proctest.Run(t, newEnv, bin("discordopus"), "id", "--data-dir", dir); err != nil || !rePeerID.MatchString(out) {
		t.Fatalf("id with the new passphrase: %v\n%s%s", err, out, errOut)
	}
	_, errOut, err = proctest.Run(t, env, bin("discordopus"), "passwd", "--data-dir", filepath.Join(dir, "typo"))
	if err == nil || !strings.Contains(errOut, "discordopus init") {
		t.Fatalf("passwd on an empty data dir: %v %q", err, errOut)
	}
	if _, statErr := os.Stat(filepath.Join(dir, "typo")); statErr == nil {
		t.Fatal("passwd created the mistyped data directory")
	}
	_, errOut, err = proctest.Run(t, env, bin("discordopus"), "peers", "--data-dir", dir)
	if err == nil || !strings.Contains(errOut, "discordopus run") {
		t.Fatalf("peers with no node running: %v %q", err, errOut)
	}
	_, errOut, err = proctest.Run(t, env, bin("discordopus"), "run", "--data-dir", dir, "--listen", "/ip4/999.0.0.1/tcp/1")
	if err == nil || !strings.Contains(errOut, `"/ip4/999.0.0.1/tcp/1"`) {
		t.Fatalf("run with a bad --listen: %v %q", err, errOut)
	}
}

// TestLANDiscoveryMDNS: two desktop nodes with mDNS on and no bootstrap at
// all find each other on a LAN. The LAN is a veth pair between two network
// namespaces that the test creates and always removes; nothing leaves them.
func TestLANDiscoveryMDNS(t *testing.T) {
	lab := netlab.New(t)
	ns, addrs := lab.LAN("a", "b")
	env := testEnv(t)
	dirs := []string{t.TempDir(), t.TempDir()}
	nodes := make([]*proctest.Proc, 2)
	ids := make([]string, 2)
	for i, dir := range dirs {
		initNode(t, env, dir)
		nodes[i] = proctest.Start(t, env, netlab.Exec(ns[i], bin("discordopus"), "run",
			"--data-dir", dir, "--listen", "/ip4/0.0.0.0/tcp/0", "--mdns=true")...)
		ids[i] = nodes[i].WaitFor(t, rePeerID, startupWait)[1]
	}
	for i, n := range nodes {
		n.WaitFor(t, regexp.MustCompile(`^peer connected: `+regexp.QuoteMeta(ids[1-i])), startupWait)
	}
	out, _, err := proctest.Run(t, env, bin("discordopus"), "ping", "--data-dir", dirs[0], ids[1])
	if err != nil || !strings.Contains(out, "/ip4/"+addrs[1]+"/") {
		t.Fatalf("ping across the LAN: %v\n%s", err, out)
	}
	for _, n := range nodes {
		stopClean(t, n)
	}
}

func httpGet(t *testing.T, url string) string {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func grepLines(s, substr string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
