//go:build unix

package keystore

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
)

// The crash helper: when the test binary is started with crashEnvStep set,
// it runs ChangePassphrase on crashEnvPath and SIGKILLs itself right after
// the named step, instead of running the tests.
const (
	crashEnvStep = "KEYSTORE_TEST_CRASH_AFTER_STEP"
	crashEnvPath = "KEYSTORE_TEST_CRASH_PATH"
	crashNewPass = "the new passphrase"
	crashExit    = 3 // ChangePassphrase returned instead of being killed
)

func TestMain(m *testing.M) {
	if s := os.Getenv(crashEnvStep); s != "" {
		crashHelper(s, os.Getenv(crashEnvPath))
	}
	os.Exit(m.Run())
}

func crashHelper(at, path string) {
	afterStep = func(s string) {
		if s == at {
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {} // SIGKILL is not instantaneous
		}
	}
	v, err := readKAT()
	if err == nil {
		err = ChangePassphrase(path, []byte(v.Passphrase), []byte(crashNewPass))
	}
	fmt.Fprintf(os.Stderr, "ChangePassphrase returned without reaching step %q: %v\n", at, err)
	os.Exit(crashExit)
}

// TestChangePassphraseCrash kills a ChangePassphrase after each step of the
// atomic rewrite and checks that exactly one of the two passphrases opens the
// keystore afterwards, with the same identity, and that a later change works.
func TestChangePassphraseCrash(t *testing.T) {
	v := loadKAT(t)
	oldPass, newPass := []byte(v.Passphrase), []byte(crashNewPass)
	for _, tc := range []struct {
		step     string
		newWorks bool // after a crash here, the new passphrase is the one that works
		tempLeft bool
	}{
		{"temp-written", false, true},
		{"temp-synced", false, true},
		{"renamed", true, false},
		{"dir-synced", true, false},
	} {
		t.Run(tc.step, func(t *testing.T) {
			path, _ := katKeystore(t)
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), crashEnvStep+"="+tc.step, crashEnvPath+"="+path)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			err := cmd.Run()
			var ee *exec.ExitError
			if !errors.As(err, &ee) {
				t.Fatalf("helper: %v, want killed by SIGKILL; stderr:\n%s", err, stderr.Bytes())
			}
			if ws, ok := ee.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
				t.Fatalf("helper: %v, want killed by SIGKILL; stderr:\n%s", err, stderr.Bytes())
			}

			_, err = os.Lstat(tempPath(path))
			if tempLeft := err == nil; tempLeft != tc.tempLeft {
				t.Errorf("temp file left: %v, want %v", tempLeft, tc.tempLeft)
			}

			kOld, errOld := Open(path, oldPass)
			kNew, errNew := Open(path, newPass)
			works, fails, failErr, working := kOld, kNew, errNew, oldPass
			if tc.newWorks {
				works, fails, failErr, working = kNew, kOld, errOld, newPass
			}
			if fails != nil || !errors.Is(failErr, ErrWrongPassphrase) {
				t.Errorf("old passphrase: %v, new passphrase: %v; want exactly one to work (new: %v)", errOld, errNew, tc.newWorks)
			}
			if works == nil {
				t.Fatalf("old passphrase: %v, new passphrase: %v; want the %s one to work", errOld, errNew, map[bool]string{false: "old", true: "new"}[tc.newWorks])
			}
			if works.PeerID().String() != v.PeerID {
				t.Errorf("PeerID %s after crash, want %s", works.PeerID(), v.PeerID)
			}
			works.Close()

			// The next change must work whatever was left behind.
			third := []byte("third passphrase")
			if err := ChangePassphrase(path, working, third); err != nil {
				t.Fatalf("change after crash: %v", err)
			}
			k, err := Open(path, third)
			if err != nil {
				t.Fatalf("open after the next change: %v", err)
			}
			if k.PeerID().String() != v.PeerID {
				t.Errorf("PeerID %s after the next change, want %s", k.PeerID(), v.PeerID)
			}
			k.Close()
			entries, _ := os.ReadDir(filepath.Dir(path))
			if len(entries) != 1 || entries[0].Name() != FileName {
				t.Errorf("directory after the next change holds %v, want only %s", entries, FileName)
			}
			if _, err := os.Lstat(tempPath(path)); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("temp file after the next change: %v", err)
			}
		})
	}
}
