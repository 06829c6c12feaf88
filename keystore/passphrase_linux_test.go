package keystore

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

// openPTY opens a pseudo-terminal pair with the syscall package only.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal on this machine, cannot test the prompt: %v", err)
	}
	var unlock int32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, m.Fd(), syscall.TIOCSPTLCK, uintptr(unsafe.Pointer(&unlock))); e != 0 {
		m.Close()
		t.Fatalf("unlockpt: %v", e)
	}
	var n uint32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, m.Fd(), syscall.TIOCGPTN, uintptr(unsafe.Pointer(&n))); e != 0 {
		m.Close()
		t.Fatalf("ptsname: %v", e)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		m.Close()
		t.Fatalf("open pty slave: %v", err)
	}
	t.Cleanup(func() { s.Close(); m.Close() })
	return m, s
}

// echoOff reports whether the terminal has echo turned off.
func echoOff(f *os.File) bool {
	var tio syscall.Termios
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, f.Fd(), syscall.TCGETS, uintptr(unsafe.Pointer(&tio))); e != 0 {
		return false
	}
	return tio.Lflag&syscall.ECHO == 0
}

// lockedBuffer is a bytes.Buffer safe for the prompt writer and the test.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestPromptOnTerminal types at a real pseudo-terminal: each line only once
// the prompt is shown with echo off, and checks afterwards that nothing typed
// was echoed.
func TestPromptOnTerminal(t *testing.T) {
	const env = "DISCORDOPUS_TEST_PASSPHRASE_NEVER_SET"
	for _, tc := range []struct {
		name    string
		new     bool
		typed   []string
		want    string
		wantErr error
		prompts []string
	}{
		{"once", false, []string{"hunter2"}, "hunter2", nil, []string{"Passphrase: "}},
		{"empty", false, []string{""}, "", ErrEmptyPassphrase, []string{"Passphrase: "}},
		{"new, twice", true, []string{"s3cret pass", "s3cret pass"}, "s3cret pass", nil, []string{"New passphrase: ", "Repeat passphrase: "}},
		{"new, mismatch", true, []string{"s3cret pass", "s3cret pasS"}, "", ErrPassphraseMismatch, []string{"New passphrase: ", "Repeat passphrase: "}},
		{"new, empty", true, []string{""}, "", ErrEmptyPassphrase, []string{"New passphrase: "}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			master, slave := openPTY(t)
			var stderr lockedBuffer
			typist := make(chan error, 1)
			go func() {
				for i, line := range tc.typed {
					deadline := time.Now().Add(30 * time.Second) // a hang guard, not a timing assertion
					for strings.Count(stderr.String(), ": ") < i+1 || !echoOff(slave) {
						if time.Now().After(deadline) {
							typist <- fmt.Errorf("prompt %d with echo off never came; stderr %q", i+1, stderr.String())
							return
						}
						time.Sleep(time.Millisecond)
					}
					if _, err := master.Write([]byte(line + "\n")); err != nil {
						typist <- err
						return
					}
				}
				typist <- nil
			}()

			o := PassphraseOptions{Env: env, Stdin: slave, Stderr: &stderr}
			read, prompt := ReadPassphrase, "Passphrase: "
			if tc.new {
				read, prompt = ReadNewPassphrase, "New passphrase: "
			}
			got, err := read(o, prompt)
			if terr := <-typist; terr != nil {
				t.Fatal(terr)
			}
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Errorf("got %q, %v; want %v", got, err, tc.wantErr)
				}
			} else if err != nil || string(got) != tc.want {
				t.Errorf("got %q, %v; want %q", got, err, tc.want)
			}
			var want string
			for _, p := range tc.prompts {
				want += p + "\n"
			}
			if stderr.String() != want {
				t.Errorf("prompts %q, want %q", stderr.String(), want)
			}

			// Echo is back on now: type a marker and read what the
			// terminal showed up to it.
			if _, err := master.Write([]byte("END-OF-TEST\n")); err != nil {
				t.Fatal(err)
			}
			var shown []byte
			buf := make([]byte, 256)
			for !bytes.Contains(shown, []byte("END-OF-TEST")) {
				n, err := master.Read(buf)
				if err != nil {
					t.Fatalf("reading the terminal: %v (so far %q)", err, shown)
				}
				shown = append(shown, buf[:n]...)
			}
			for _, line := range tc.typed {
				if line != "" && bytes.Contains(shown, []byte(line)) {
					t.Errorf("the terminal echoed the passphrase: %q", shown)
				}
			}
		})
	}
}
