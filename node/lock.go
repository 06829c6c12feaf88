package node

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// ErrAlreadyRunning means another process holds the data directory.
var ErrAlreadyRunning = errors.New("another DiscordOpus node is already running with this data directory")

// dirLock is an exclusive flock on <data-dir>/LOCK. The kernel drops it when
// the process dies, so a crash never leaves a stale lock behind.
type dirLock struct{ f *os.File }

// LockDataDir takes the data directory's lock for a command that must not
// run beside a node (a passphrase change); call unlock when done.
func LockDataDir(dir string) (unlock func(), err error) {
	l, err := lockDataDir(dir)
	if err != nil {
		return nil, err
	}
	return l.release, nil
}

// lockDataDir creates dir private to its owner (0700) if it does not exist,
// refuses one that other users can write to (they could replace the
// keystore or the control socket), and locks it. A directory others can
// only list is accepted: the keystore, node key, lock and control socket
// are 0600 and the database sits in its own 0700 directory.
func lockDataDir(dir string) (*dirLock, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("data directory %s: %w", dir, err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("data directory %s: %w", dir, err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("data directory %s is not a directory", dir)
	}
	if perm := fi.Mode().Perm(); perm&0o022 != 0 {
		return nil, fmt.Errorf("data directory %s is writable by other users (mode %04o); run: chmod 700 %s", dir, perm, dir)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Getuid() {
		return nil, fmt.Errorf("data directory %s belongs to another user (uid %d)", dir, st.Uid)
	}
	f, err := os.OpenFile(filepath.Join(dir, "LOCK"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("data directory %s is not writable: %w", dir, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w (%s)", ErrAlreadyRunning, dir)
		}
		return nil, fmt.Errorf("lock data directory %s: %w", dir, err)
	}
	return &dirLock{f: f}, nil
}

func (l *dirLock) release() {
	if l == nil || l.f == nil {
		return
	}
	syscall.Flock(int(l.f.Fd()), syscall.LOCK_UN)
	l.f.Close()
	l.f = nil
}
