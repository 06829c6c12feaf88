// Package proctest runs the real binaries in tests: it builds them, starts
// them with their output captured line by line, waits for what they print,
// and stops them with a signal. Only tests import it.
package proctest

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Build compiles the module's commands (import paths relative to the module
// root, e.g. "./cmd/discordopus") into dir. CGO is off for discordopusd, as
// `make build` does.
func Build(dir string, pkgs ...string) error {
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	for _, pkg := range pkgs {
		cmd := exec.Command("go", "build", "-o", filepath.Join(dir, filepath.Base(pkg)), pkg)
		cmd.Dir = root
		cmd.Env = os.Environ()
		if filepath.Base(pkg) == "discordopusd" {
			cmd.Env = append(cmd.Env, "CGO_ENABLED=0")
		}
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go build %s: %v\n%s", pkg, err, out)
		}
	}
	return nil
}

func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", fmt.Errorf("not inside the module")
	}
	return filepath.Dir(mod), nil
}

// Proc is a running binary.
type Proc struct {
	Name string
	cmd  *exec.Cmd
	mu   sync.Mutex
	cond *sync.Cond
	out  []string // stdout lines so far
	err  bytes.Buffer
	done chan struct{}
	exit error
}

// Start runs argv (argv[0] is a path) with env added to the environment.
// The process is killed when the test ends if it is still running.
func Start(t testing.TB, env []string, argv ...string) *Proc {
	t.Helper()
	p := &Proc{Name: filepath.Base(argv[0]), done: make(chan struct{})}
	p.cond = sync.NewCond(&p.mu)
	p.cmd = exec.Command(argv[0], argv[1:]...)
	p.cmd.Env = append(os.Environ(), env...)
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p.cmd.Stderr = lockedWriter{p}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", p.Name, err)
	}
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			p.mu.Lock()
			p.out = append(p.out, sc.Text())
			p.cond.Broadcast()
			p.mu.Unlock()
		}
	}()
	go func() {
		<-copied
		err := p.cmd.Wait()
		p.mu.Lock()
		p.exit = err
		p.mu.Unlock()
		close(p.done)
		p.mu.Lock()
		p.cond.Broadcast()
		p.mu.Unlock()
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("%s stdout:\n%s\n%s stderr:\n%s", p.Name, p.Stdout(), p.Name, p.Stderr())
		}
	})
	return p
}

type lockedWriter struct{ p *Proc }

func (w lockedWriter) Write(b []byte) (int, error) {
	w.p.mu.Lock()
	defer w.p.mu.Unlock()
	return w.p.err.Write(b)
}

// Stdout is everything printed to stdout so far.
func (p *Proc) Stdout() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.out, "\n")
}

// Stderr is everything printed to stderr so far.
func (p *Proc) Stderr() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err.String()
}

// Pid is the process ID.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// WaitFor waits until a stdout line matches re and returns its submatches.
// It fails the test if the process exits or timeout passes first.
func (p *Proc) WaitFor(t testing.TB, re *regexp.Regexp, timeout time.Duration) []string {
	t.Helper()
	m, err := p.waitFor(re, timeout)
	if err != nil {
		t.Fatalf("%s: %v\nstdout:\n%s\nstderr:\n%s", p.Name, err, p.Stdout(), p.Stderr())
	}
	return m
}

func (p *Proc) waitFor(re *regexp.Regexp, timeout time.Duration) ([]string, error) {
	timer := time.AfterFunc(timeout, func() {
		p.mu.Lock()
		p.cond.Broadcast()
		p.mu.Unlock()
	})
	defer timer.Stop()
	deadline := time.Now().Add(timeout)
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := 0; ; {
		for ; i < len(p.out); i++ {
			if m := re.FindStringSubmatch(p.out[i]); m != nil {
				return m, nil
			}
		}
		select {
		case <-p.done:
			return nil, fmt.Errorf("exited (%v) before printing a line matching %q", p.exit, re)
		default:
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("no line matching %q within %s", re, timeout)
		}
		p.cond.Wait()
	}
}

// Signal sends sig and waits up to timeout for the process to exit; it
// returns the exit error (nil for status 0).
func (p *Proc) Signal(t testing.TB, sig syscall.Signal, timeout time.Duration) error {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal %s: %v", p.Name, err)
	}
	select {
	case <-p.done:
	case <-time.After(timeout):
		t.Fatalf("%s did not exit within %s of %s\nstderr:\n%s", p.Name, timeout, sig, p.Stderr())
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.exit
}

// Run runs argv to completion and returns its stdout, stderr and exit error.
func Run(t testing.TB, env []string, argv ...string) (stdout, stderr string, err error) {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	cmd.Stdin = nil
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", argv[0], err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-time.After(2 * time.Minute):
		cmd.Process.Kill()
		<-done
		t.Fatalf("%s %v did not finish within 2 minutes", argv[0], argv[1:])
	}
	return o.String(), e.String(), err
}

var _ io.Writer = lockedWriter{}
