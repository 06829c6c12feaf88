package offlinetest

import (
	"fmt"
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// TestMain fails the package if a goroutine is left running once every
// test is done. Closed hosts, DHTs and stores wind down asynchronously, so
// it waits a while for them before it complains.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if err := findLeaks(30 * time.Second); err != nil {
			fmt.Fprintf(os.Stderr, "goroutines left running after the tests: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

func findLeaks(patience time.Duration) error {
	end := time.Now().Add(patience)
	for {
		err := goleak.Find()
		if err == nil || time.Now().After(end) {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}
