package main

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// BenchmarkNATLab runs each NAT case of the lab $DISCORDOPUS_NATLAB_RUNS
// times (default 20), each run in a fresh lab, and reports per case: the
// share of runs where both messages arrived, the share that ended on the
// path the NATs allow (direct where a hole can be punched), the median
// time from sending the first message to its arrival, and the median time
// from the first message until the path settled (for cone/cone, relayed
// to hole-punched). It also reports the median ping round trip alice→bob
// per case, so relayed vs direct is a ratio within one run
// (rtt-µs of symmetric-symmetric over cone-cone). Needs root, as the lab
// does; run with -benchtime 1x (make bench).
func BenchmarkNATLab(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root: the NAT lab builds network namespaces")
	}
	runs := 20
	if s := os.Getenv("DISCORDOPUS_NATLAB_RUNS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			b.Fatalf("DISCORDOPUS_NATLAB_RUNS=%q: want a positive count", s)
		}
		runs = n
	}
	for _, c := range natCases {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				var delivered, settled int
				var first, settle, rtt []time.Duration
				for i := range runs {
					var w *world
					var ping time.Duration
					failed := trial(b, func(t testing.TB) {
						w = newWorld(t, 1, nil)
						w.people(c.alice, c.bob)
						w.converse(c.want)
						ping = w.ping(w.alice, w.bob)
						w.stop()
					})
					var r conversation
					if w != nil {
						r = w.conv
					}
					switch {
					case failed != "" && r.toAlice == 0:
						b.Logf("%s run %d: not delivered: %s", c.name, i, failed)
					case failed != "":
						delivered++
						first = append(first, r.toBob)
						b.Logf("%s run %d: delivered, but the path did not settle on %s: %s", c.name, i, c.want, failed)
					default:
						delivered++
						settled++
						first, settle = append(first, r.toBob), append(settle, r.settled)
						if ping > 0 {
							rtt = append(rtt, ping)
						}
					}
				}
				b.ReportMetric(100*float64(delivered)/float64(runs), "delivered-%")
				b.ReportMetric(100*float64(settled)/float64(runs), c.want+"-%")
				b.ReportMetric(median(first).Seconds(), "first-msg-s")
				b.ReportMetric(median(settle).Seconds(), "settled-s")
				b.ReportMetric(float64(median(rtt).Microseconds()), "rtt-µs")
				if delivered < runs {
					b.Errorf("%s: %d of %d runs delivered both messages", c.name, delivered, runs)
				}
			}
		})
	}
}

var reRTT = regexp.MustCompile(`(?m)^seq=\d+ time=(\S+)$`)

// ping is the median of ten ping round trips from one to the other.
func (w *world) ping(from, to *labPeer) time.Duration {
	out := w.cli(from, "ping", "--count", "10", to.id)
	var rtts []time.Duration
	for _, m := range reRTT.FindAllStringSubmatch(out, -1) {
		if d, err := time.ParseDuration(m[1]); err == nil {
			rtts = append(rtts, d)
		}
	}
	return median(rtts)
}

// trial runs f as a test of its own inside b: a failure ends f, not the
// benchmark, and is returned; f's cleanups (its lab, its processes, its
// directories) run when f ends. One run that goes wrong is a figure, not
// an abort.
func trial(b *testing.B, f func(testing.TB)) (failed string) {
	ctx, cancel := context.WithCancel(b.Context())
	t := &trialTB{TB: b, ctx: ctx}
	t.Cleanup(cancel)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer t.cleanup()
		f(t)
	}()
	<-done
	return strings.Join(t.failures, "; ")
}

// trialTB is b for one trial. Everything that would end or mark b is
// recorded instead and ends only the trial's goroutine; cleanups,
// directories and the context are the trial's own.
type trialTB struct {
	testing.TB
	ctx context.Context

	mu       sync.Mutex
	failures []string
	cleanups []func()
}

func (t *trialTB) Context() context.Context { return t.ctx }

func (t *trialTB) Cleanup(f func()) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.cleanups = append(t.cleanups, f)
}

// cleanup runs the cleanups last first, each to its end even if one fails.
func (t *trialTB) cleanup() {
	t.mu.Lock()
	fs := t.cleanups
	t.mu.Unlock()
	for i := len(fs) - 1; i >= 0; i-- {
		done := make(chan struct{})
		go func() { defer close(done); fs[i]() }() // a Fatal in one ends only its goroutine
		<-done
	}
}

func (t *trialTB) TempDir() string {
	dir, err := os.MkdirTemp("", "natlab-")
	if err != nil {
		t.Fatalf("temp dir: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func (t *trialTB) Errorf(format string, args ...any) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.failures = append(t.failures, firstLine(fmt.Sprintf(format, args...)))
}

func (t *trialTB) Error(args ...any) { t.Errorf("%s", fmt.Sprint(args...)) }
func (t *trialTB) Fail()             { t.Errorf("failed") }

func (t *trialTB) Fatalf(format string, args ...any) {
	t.Errorf(format, args...)
	runtime.Goexit()
}

func (t *trialTB) Fatal(args ...any)                { t.Fatalf("%s", fmt.Sprint(args...)) }
func (t *trialTB) FailNow()                         { t.Fatalf("failed") }
func (t *trialTB) Skip(args ...any)                 { t.Fatalf("skipped: %s", fmt.Sprint(args...)) }
func (t *trialTB) Skipf(format string, args ...any) { t.Fatalf("skipped: "+format, args...) }
func (t *trialTB) SkipNow()                         { t.Fatalf("skipped") }
func (t *trialTB) Skipped() bool                    { return false }

func (t *trialTB) Failed() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.failures) > 0
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
