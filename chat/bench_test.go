package chat

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
)

const echoProtocol = "/discordopus/bench-echo/1"

// BenchmarkSendToDelivered measures how long a 100-byte message takes from
// Send to its Delivered state at the sender, over a direct loopback
// connection, against a raw libp2p stream echo of 100 bytes on the same
// connection measured in the same run. It reports p50 and p99 of both and
// the ratio of the p50s.
func BenchmarkSendToDelivered(b *testing.B) {
	const rounds = 500
	d := newDirectory()
	alice, bob := newUser(b, d), newUser(b, d)
	befriend(b, alice, bob, "alice", "bob")
	bob.h.SetStreamHandler(echoProtocol, func(s network.Stream) {
		defer s.Close()
		io.Copy(s, s)
	})
	events, cancel := alice.svc.Subscribe()
	defer cancel()
	warm, _ := alice.svc.Send("bob", "warm up", ID{})
	waitState(b, alice, "bob", warm.ID, Delivered)
	text := strings.Repeat("m", 100)

	for b.Loop() {
		st, err := alice.h.NewStream(b.Context(), bob.id(), echoProtocol)
		if err != nil {
			b.Fatal(err)
		}
		buf := make([]byte, 100)
		raw := make([]time.Duration, 0, rounds)
		for range rounds {
			start := time.Now()
			st.Write(buf)
			if _, err := io.ReadFull(st, buf); err != nil {
				b.Fatal(err)
			}
			raw = append(raw, time.Since(start))
		}
		st.Close()

		lat := make([]time.Duration, 0, rounds)
		for range rounds {
			start := time.Now()
			m, err := alice.svc.Send("bob", text, ID{})
			if err != nil {
				b.Fatal(err)
			}
			for e := range events {
				if e.Kind == EventState && e.Message.ID == m.ID && e.Message.State == Delivered {
					break
				}
			}
			lat = append(lat, time.Since(start))
		}
		rp50, rp99 := percentiles(raw)
		p50, p99 := percentiles(lat)
		b.ReportMetric(float64(p50.Microseconds()), "p50-µs")
		b.ReportMetric(float64(p99.Microseconds()), "p99-µs")
		b.ReportMetric(float64(rp50.Microseconds()), "echo-p50-µs")
		b.ReportMetric(float64(rp99.Microseconds()), "echo-p99-µs")
		b.ReportMetric(float64(p50)/float64(rp50), "p50-ratio")
	}
}

func percentiles(d []time.Duration) (p50, p99 time.Duration) {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2], s[len(s)*99/100]
}

// BenchmarkThroughput sends 20,000 messages of 100 bytes as fast as Send
// takes them and reports messages per second until the last is delivered.
func BenchmarkThroughput(b *testing.B) {
	const count = 20000
	d := newDirectory()
	alice, bob := newUser(b, d), newUser(b, d)
	befriend(b, alice, bob, "alice", "bob")
	warm, _ := alice.svc.Send("bob", "warm up", ID{})
	waitState(b, alice, "bob", warm.ID, Delivered)
	text := strings.Repeat("t", 100)
	for b.Loop() {
		start := time.Now()
		var last Message
		for i := range count {
			var err error
			if last, err = alice.svc.Send("bob", fmt.Sprintf("%05d%s", i, text[5:]), ID{}); err != nil {
				b.Fatal(err)
			}
		}
		waitFor(b, 5*time.Minute, "all delivered", func() (bool, string) {
			c, _ := alice.svc.Contact("bob")
			m, _ := alice.svc.hist.get(c.ID, last.ID)
			return m.State == Delivered, string(m.State)
		})
		b.ReportMetric(count/time.Since(start).Seconds(), "msgs/s")
	}
}
