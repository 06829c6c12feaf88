package e2e

import (
	"sync"
	"time"
)

// MemoryReplayCache is an in-memory ReplayCache with expiry, for tests and
// simple callers. Its zero value is ready to use and it is safe for
// concurrent use. It forgets everything on restart: callers that persist
// sessions should persist the replay cache too.
type MemoryReplayCache struct {
	mu sync.Mutex
	m  map[[32]byte]time.Time
}

// Seen reports whether id was added and not yet pruned.
func (c *MemoryReplayCache) Seen(id [32]byte) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.m[id]
	return ok
}

// Add records id until the given time (Received.ReplayUntil).
func (c *MemoryReplayCache) Add(id [32]byte, until time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[[32]byte]time.Time)
	}
	if old, ok := c.m[id]; !ok || until.After(old) {
		c.m[id] = until
	}
}

// Prune forgets the entries whose time has passed at now.
func (c *MemoryReplayCache) Prune(now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for id, until := range c.m {
		if now.After(until) {
			delete(c.m, id)
		}
	}
}

// Len returns the number of entries.
func (c *MemoryReplayCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}
