package main

import (
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/discordopus/discordopus/internal/proctest"
)

// BenchmarkColdStart measures, over coldStartRuns runs, the time from
// starting `discordopus ping <PeerID>` with no node running to its exit
// after the first successful FindPeer through a bootstrap node (plus one
// ping): unlocking the keystore (Argon2id, 64 MiB), opening the store,
// starting the host, joining the DHT, the lookup. The baseline, measured in
// the same run and interleaved with it, is internal/barenode doing the same
// lookup as a bare go-libp2p host. Goal: <= 1 s.
func BenchmarkColdStart(b *testing.B) {
	const coldStartRuns = 10
	env := []string{
		"XDG_CONFIG_HOME=" + b.TempDir(),
		"DISCORDOPUS_PASSPHRASE=benchmark passphrase",
	}
	boot := proctest.Start(b, env, bin("discordopusd"), "--data-dir", b.TempDir(),
		"--listen", "/ip4/127.0.0.1/tcp/0", "--private-addrs", "--metrics", "off")
	bootAddr := boot.WaitFor(b, reAddress, startupWait)[1]
	target := proctest.Start(b, env, bin("barenode"), "-bootstrap", bootAddr)
	targetID := target.WaitFor(b, rePeerID, startupWait)[1]
	dir := b.TempDir()
	if out, errOut, err := proctest.Run(b, env, bin("discordopus"), "init", "--data-dir", dir); err != nil {
		b.Fatalf("init: %v\n%s%s", err, out, errOut)
	}
	// Wait until the target is connected to the bootstrap node.
	target.WaitFor(b, reAddress, startupWait)
	time.Sleep(500 * time.Millisecond)

	timeRun := func(argv ...string) time.Duration {
		start := time.Now()
		out, errOut, err := proctest.Run(b, env, argv...)
		d := time.Since(start)
		if err != nil {
			b.Fatalf("%v: %v\n%s%s", argv, err, out, errOut)
		}
		return d
	}
	var ours, bare []time.Duration
	for b.Loop() {
		for range coldStartRuns {
			ours = append(ours, timeRun(bin("discordopus"), "ping", "--count", "1", "--data-dir", dir,
				"--listen", "/ip4/127.0.0.1/tcp/0", "--mdns=false", "--private-addrs", "--bootstrap-peer", bootAddr, targetID))
			bare = append(bare, timeRun(bin("barenode"), "-bootstrap", bootAddr, "-find", targetID))
		}
	}
	o, r := median(ours), median(bare)
	b.ReportMetric(ms(o), "cold-start-p50-ms")
	b.ReportMetric(ms(r), "baseline-bare-libp2p-p50-ms")
	b.ReportMetric(float64(o)/float64(r), "ratio")
	fmt.Fprintf(os.Stdout, "\ncold start to first FindPeer (%d runs each, median / max)\n", len(ours))
	fmt.Fprintf(os.Stdout, "  %-32s %8.1f ms  %8.1f ms\n", "discordopus ping (ours)", ms(o), ms(slices.Max(ours)))
	fmt.Fprintf(os.Stdout, "  %-32s %8.1f ms  %8.1f ms\n", "bare go-libp2p host (baseline)", ms(r), ms(slices.Max(bare)))
	fmt.Fprintf(os.Stdout, "  %-32s %8.2f x\n", "ratio", float64(o)/float64(r))
}

// median is the middle of d; zero for none.
func median(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
