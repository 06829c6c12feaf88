// Package poll waits in tests for a condition that other goroutines or
// processes bring about. Only tests import it.
package poll

import (
	"testing"
	"time"
)

// Until calls cond every interval until it holds, and fails the test if it
// still does not after d. cond also says what it saw, for the failure.
func Until(t testing.TB, d, every time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(d)
	var last string
	for time.Now().Before(deadline) {
		ok, s := cond()
		if ok {
			return
		}
		last = s
		time.Sleep(every)
	}
	t.Fatalf("%s: not within %v; last seen:\n%s", what, d, last)
}
