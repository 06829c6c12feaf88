package store

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	badger "github.com/dgraph-io/badger/v4"
)

// Child processes: the test binary re-executes itself with helperEnv set to
// the helper's name, and TestMain runs the helper instead of the tests.
const (
	helperEnv    = "STORE_TEST_HELPER"
	helperDirEnv = "STORE_TEST_DIR"
)

var helpers = map[string]func(dir string) error{
	"durable-writer": durableWriter,
}

func runHelper() int {
	name := os.Getenv(helperEnv)
	h, ok := helpers[name]
	if !ok {
		fmt.Fprintf(os.Stderr, "unknown helper %q\n", name)
		return 2
	}
	if err := h(os.Getenv(helperDirEnv)); err != nil {
		fmt.Fprintf(os.Stderr, "helper %s: %v\n", name, err)
		return 1
	}
	return 0
}

// helperCmd returns a command that runs helper name in a child process.
func helperCmd(t *testing.T, name, dir string) *exec.Cmd {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), helperEnv+"="+name, helperDirEnv+"="+dir)
	cmd.Stderr = os.Stderr
	return cmd
}

// smallFiles makes Badger rotate its memtable and value-log files often,
// so that crash tests cross rotations.
func smallFiles(o *badger.Options) {
	o.MemTableSize = 1 << 20
	o.ValueLogFileSize = 1 << 20
	o.BaseTableSize = 1 << 20
}

// durableValue is the value the durable writer stores under key i: every
// fifth one (24 KiB) goes to the value log, the others (6 KiB) stay in the
// LSM tree. With smallFiles, a few hundred of them cross at least one
// memtable and one value-log rotation.
func durableValue(i int) []byte {
	size := 6 << 10
	if i%5 == 0 {
		size = 24 << 10
	}
	v := fmt.Appendf(nil, "durable message %d;", i)
	return bytes.Repeat(v, size/len(v)+1)
}

// durableWriter writes records with Durable() forever, printing each key
// only after Put returned, while a second goroutine writes unsynced filler
// that keeps the memtable rotating. The parent kills it with SIGKILL.
func durableWriter(dir string) error {
	s, err := Open(Options{
		Dir:           dir,
		EncryptionKey: testEncKey,
		SealKey:       testSealKey,
		Logger:        slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		tune:          smallFiles,
	})
	if err != nil {
		return err
	}
	n := s.Namespace("chat")
	go func() {
		filler := bytes.Repeat([]byte{'f'}, 2<<10)
		for i := 0; ; i++ {
			if err := n.Put(fmt.Appendf(nil, "filler-%d", i%500), filler); err != nil {
				fmt.Fprintf(os.Stderr, "filler: %v\n", err)
				return
			}
		}
	}()
	out := bufio.NewWriter(os.Stdout)
	for i := 0; ; i++ {
		key := fmt.Sprintf("msg-%06d", i)
		if err := n.Put([]byte(key), durableValue(i), Durable()); err != nil {
			return err
		}
		fmt.Fprintln(out, key)
		if err := out.Flush(); err != nil {
			return err
		}
	}
}

func TestSIGKILLKeepsDurableWrites(t *testing.T) {
	dir := t.TempDir()
	cmd := helperCmd(t, "durable-writer", dir)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	const want = 300
	var acked []string
	sc := bufio.NewScanner(stdout)
	for len(acked) < want && sc.Scan() {
		acked = append(acked, sc.Text())
	}
	// SIGKILL: no deferred code, no Close, no flush.
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, stdout)
	_ = cmd.Wait()
	if len(acked) < want {
		t.Fatalf("child acknowledged only %d writes before exiting (scan error %v)", len(acked), sc.Err())
	}

	// The writes must have crossed a memtable rotation: more than one
	// write-ahead log, or one flushed to a table.
	var mems, tables, vlogs int
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		switch filepath.Ext(e.Name()) {
		case ".mem":
			mems++
		case ".sst":
			tables++
		case ".vlog":
			vlogs++
		}
	}
	t.Logf("after SIGKILL: %d write-ahead logs, %d tables, %d value-log files", mems, tables, vlogs)
	if mems+tables < 2 || vlogs < 2 {
		t.Fatal("the writes crossed no memtable or value-log rotation; the test would prove less than it claims")
	}

	o := testOptions(t, dir)
	o.tune = smallFiles
	s := openTest(t, o)
	n := s.Namespace("chat")
	for _, key := range acked {
		var i int
		if _, err := fmt.Sscanf(key, "msg-%06d", &i); err != nil || !strings.HasPrefix(key, "msg-") {
			t.Fatalf("bad acknowledgement %q", key)
		}
		v, err := n.Get([]byte(key))
		if err != nil {
			t.Fatalf("acknowledged %s lost after SIGKILL: %v", key, err)
		}
		if !bytes.Equal(v, durableValue(i)) {
			t.Fatalf("acknowledged %s has the wrong value after SIGKILL", key)
		}
	}
	t.Logf("%d acknowledged durable writes survived SIGKILL", len(acked))
}

// TestOpenAfterCrashMidRotation: a crash between Badger creating a new
// memtable log and sizing it leaves an empty .mem file, which Badger alone
// refuses to open ("Create a new file"). Open recovers: the file holds
// nothing, and every record written before is still there.
func TestOpenAfterCrashMidRotation(t *testing.T) {
	dir := t.TempDir()
	o := testOptions(t, dir)
	s := openTest(t, o)
	ns := s.Namespace("crash")
	for i := range 20 {
		if err := ns.Put([]byte(fmt.Sprintf("k%02d", i)), []byte("value"), Durable()); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// What the crash leaves: the next memtable's log, created, never sized.
	if err := os.WriteFile(filepath.Join(dir, "00099.mem"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	s = openTest(t, o)
	defer s.Close()
	for i := range 20 {
		if v, err := s.Namespace("crash").Get([]byte(fmt.Sprintf("k%02d", i))); err != nil || string(v) != "value" {
			t.Fatalf("record %d after recovery: %q, %v", i, v, err)
		}
	}
}
