package mailbox

import (
	"math"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// maxBuckets bounds the peers a limiter tracks. Past it, full (idle)
// buckets are dropped, then arbitrary ones: a peer dropped that way
// starts again with a full burst, which only helps peers that could have
// used fresh PeerIDs anyway.
const maxBuckets = 1 << 16

// limiter is a token bucket per peer on an injectable clock.
type limiter struct {
	rate, burst float64 // tokens per second, bucket size; rate <= 0: no limit

	mu      sync.Mutex
	buckets map[peer.ID]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newLimiter(rate float64, burst int) *limiter {
	return &limiter{rate: rate, burst: float64(max(burst, 1)), buckets: map[peer.ID]*bucket{}}
}

// allow takes a token from p's bucket, or says how long until there is one.
func (l *limiter) allow(p peer.ID, now time.Time) (bool, time.Duration) {
	if l.rate <= 0 {
		return true, 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[p]
	if b == nil {
		if len(l.buckets) >= maxBuckets {
			l.pruneLocked(now)
		}
		b = &bucket{tokens: l.burst, last: now}
		l.buckets[p] = b
	}
	if d := now.Sub(b.last); d > 0 {
		b.tokens = math.Min(l.burst, b.tokens+d.Seconds()*l.rate)
		b.last = now
	}
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	wait := time.Duration((1 - b.tokens) / l.rate * float64(time.Second))
	return false, max(wait, time.Millisecond)
}

// prune drops the buckets that have refilled: their peers are idle.
func (l *limiter) prune(now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.pruneLocked(now)
}

func (l *limiter) pruneLocked(now time.Time) {
	for p, b := range l.buckets {
		if b.tokens+now.Sub(b.last).Seconds()*l.rate >= l.burst {
			delete(l.buckets, p)
		}
	}
	for p := range l.buckets { // still full: drop arbitrary ones
		if len(l.buckets) < maxBuckets {
			break
		}
		delete(l.buckets, p)
	}
}
