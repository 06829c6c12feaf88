package dht

import (
	"flag"
	"fmt"
	"os"
	"testing"
	"time"
)

// TestMain fails the package if any goroutine is left running once every
// test (or benchmark) is done: each one must have shut down all it started.
// Not when fuzzing, where the fuzzing engine's own workers are running.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 && !fuzzing() {
		if err := findLeaks(time.Minute); err != nil {
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
