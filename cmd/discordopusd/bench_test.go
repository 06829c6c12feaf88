package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/discordopus/discordopus/internal/proctest"
)

var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "discordopusd-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := 1
	if err := proctest.Build(dir, "./cmd/discordopusd", "./internal/barenode"); err != nil {
		fmt.Fprintln(os.Stderr, err)
	} else {
		code = m.Run()
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

var reAddress = regexp.MustCompile(`^address: (/ip4/127\.0\.0\.1/tcp/\d+/p2p/\S+)`)

// settle is how long a process idles before its RSS is read.
const settle = 3 * time.Second

// BenchmarkIdleRSS reads the resident memory of an idle discordopusd with 0
// and with 50 connected peers, against the same figures for
// internal/barenode (a bare go-libp2p host with a DHT server) measured in the
// same run. Goal: <= 60 MB in both cases.
func BenchmarkIdleRSS(b *testing.B) {
	type row struct {
		name        string
		rss0, rss50 float64
		argv        []string
	}
	env := []string{"XDG_CONFIG_HOME=" + b.TempDir()}
	rows := []*row{
		{name: "discordopusd", argv: []string{filepath.Join(binDir, "discordopusd"), "--data-dir", b.TempDir(),
			"--listen", "/ip4/127.0.0.1/tcp/0", "--private-addrs", "--metrics", "off"}},
		{name: "bare go-libp2p (baseline)", argv: []string{filepath.Join(binDir, "barenode"), "-server"}},
	}
	for b.Loop() {
		for _, r := range rows {
			p := proctest.Start(b, env, r.argv...)
			addr := p.WaitFor(b, reAddress, 30*time.Second)[1]
			time.Sleep(settle)
			r.rss0 = rssMB(b, p.Pid())
			peers := connectPeers(b, addr, 50)
			time.Sleep(settle)
			r.rss50 = rssMB(b, p.Pid())
			for _, h := range peers {
				h.Close()
			}
			p.Signal(b, syscall.SIGTERM, 20*time.Second)
		}
	}
	ours, bare := rows[0], rows[1]
	b.ReportMetric(ours.rss0, "rss-0-peers-MB")
	b.ReportMetric(ours.rss50, "rss-50-peers-MB")
	b.ReportMetric(bare.rss0, "baseline-rss-0-peers-MB")
	b.ReportMetric(bare.rss50, "baseline-rss-50-peers-MB")
	b.ReportMetric(ours.rss50/bare.rss50, "ratio-50")
	fmt.Printf("\nidle RSS (MB)                    0 peers   50 peers\n")
	for _, r := range rows {
		fmt.Printf("  %-28s %8.1f   %8.1f\n", r.name, r.rss0, r.rss50)
	}
	fmt.Printf("  %-28s %8.2f   %8.2f\n", "ratio", ours.rss0/bare.rss0, ours.rss50/bare.rss50)
}

// connectPeers starts n in-process hosts on loopback and connects each to
// addr; it fails unless all n connect.
func connectPeers(b *testing.B, addr string, n int) []host.Host {
	ai, err := peer.AddrInfoFromP2pAddr(ma.StringCast(addr))
	if err != nil {
		b.Fatal(err)
	}
	hosts := make([]host.Host, 0, n)
	for range n {
		h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.DisableMetrics())
		if err != nil {
			b.Fatal(err)
		}
		hosts = append(hosts, h)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err = h.Connect(ctx, *ai)
		cancel()
		if err != nil {
			b.Fatalf("peer %d: %v", len(hosts), err)
		}
	}
	return hosts
}

// rssMB reads VmRSS from /proc.
func rssMB(b *testing.B, pid int) float64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.Atoi(strings.Fields(rest)[0])
			if err != nil {
				b.Fatal(err)
			}
			return float64(kb) / 1024
		}
	}
	b.Fatal("no VmRSS")
	return 0
}
