package keystore

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
)

// afterStep, when set, is called after each step of an atomic write:
// "temp-written", "temp-synced", then "renamed" (ChangePassphrase) or
// "linked" (Create, LoadOrCreateNodeKey), then "dir-synced". Tests use it to
// crash the process at each step.
var afterStep func(step string)

func step(name string) {
	if afterStep != nil {
		afterStep(name)
	}
}

// tempPath is the one temporary file name used next to path. A fixed name
// means a crash leaves at most one stale temp file, which the next write
// removes.
func tempPath(path string) string { return path + ".tmp" }

// writeTemp writes data to a fresh <path>.tmp with mode 0600 and fsyncs it.
// check, if not nil, is called with the file's contents as read back.
func writeTemp(path string, data []byte, check func([]byte) error) (tmp string, err error) {
	tmp = tempPath(path)
	if err := os.Remove(tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("remove stale %s: %w", tmp, err)
	}
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if _, err := f.Write(data); err != nil {
		return "", fmt.Errorf("write %s: %w", tmp, err)
	}
	step("temp-written")
	if err := f.Sync(); err != nil {
		return "", fmt.Errorf("sync %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("close %s: %w", tmp, err)
	}
	step("temp-synced")
	if check != nil {
		back, err := readLimited(tmp, maxReadLen)
		if err != nil {
			return "", err
		}
		err = check(back)
		clear(back)
		if err != nil {
			return "", fmt.Errorf("verify %s: %w", tmp, err)
		}
	}
	return tmp, nil
}

// replaceFile atomically replaces path with data: temp file, fsync, rename,
// fsync of the directory.
func replaceFile(path string, data []byte, check func([]byte) error) error {
	tmp, err := writeTemp(path, data, check)
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	step("renamed")
	if err := syncDir(filepath.Dir(path)); err != nil {
		return err
	}
	step("dir-synced")
	return nil
}

// createFile atomically creates path with data, failing with fs.ErrExist if
// path already exists: temp file, fsync, link(2) (which never replaces),
// fsync of the directory.
func createFile(path string, data []byte) error {
	tmp, err := writeTemp(path, data, nil)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	if err := os.Link(tmp, path); err != nil {
		return err
	}
	step("linked")
	if err := os.Remove(tmp); err != nil {
		return err
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		return err
	}
	step("dir-synced")
	return nil
}

// syncDir makes a rename or link in dir durable.
func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil // directories cannot be opened for sync; NTFS journals renames.
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}

// readLimited reads at most limit bytes of the file at path; a larger file
// yields limit+1 bytes, which every decoder here refuses.
func readLimited(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return b, nil
}
