package store

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// The on-disk corruption test flips one byte at a time in a copy of a
// data directory and checks that the store then refuses to open, fails the
// read, or returns exactly the original value, never a different one.
//
// Badger panics (in goroutines of its own, which no recover can reach) on
// some corrupted table trailers, so the trials run in child processes: a
// child that dies mid-trial is counted as a refusal to open, and a new child
// goes on from the next trial.

const helperFlipStartEnv = "STORE_TEST_FLIP_START"

func init() {
	helpers["flip-trials"] = flipTrials
}

// Distinctive records: one small (kept in the LSM tree), one large (kept
// in the value log).
var corruptRecords = []struct {
	key   string
	value []byte
}{
	{"small", []byte("DISTINCTIVE small value 0123456789")},
	{"large", bytes.Repeat([]byte("DISTINCTIVE large value!"), 1000)},
}

// flip is one trial: xor one byte of one file.
type flip struct {
	scenario, file string
	off            int
}

// Sampling: for each file, its first and last edge bytes (headers,
// trailers, lengths) and a number of bytes spread evenly over the rest,
// more in the files that hold records (tables, value log, write-ahead log)
// than in the metadata files; every byte of a file smaller than that.
// Log files are preallocated, so the spread covers only the part in use.
// About 300 trials in all.
const (
	edge          = 4
	recordSamples = 40
	metaSamples   = 12
)

// flipPlan lists the trials, deterministically, for the scenarios under
// root (each a directory of pristine files).
func flipPlan(root string) ([]flip, error) {
	var plan []flip
	for _, sc := range []string{"closed", "crashed"} {
		ents, err := os.ReadDir(filepath.Join(root, sc))
		if err != nil {
			return nil, err
		}
		for _, e := range ents { // sorted by name
			fi, err := e.Info()
			if err != nil {
				return nil, err
			}
			size := int(fi.Size())
			b, err := os.ReadFile(filepath.Join(root, sc, e.Name()))
			if err != nil {
				return nil, err
			}
			used := len(bytes.TrimRight(b, "\x00"))
			n := metaSamples
			switch filepath.Ext(e.Name()) {
			case ".sst", ".vlog", ".mem":
				n = recordSamples
			}
			var offs []int
			if size <= n+2*edge {
				for i := range size {
					offs = append(offs, i)
				}
			} else {
				for i := range edge {
					offs = append(offs, i, size-1-i)
				}
				span := used - 2*edge
				if span < n {
					span = size - 2*edge
				}
				for i := range n {
					offs = append(offs, edge+span*i/n)
				}
			}
			slices.Sort(offs)
			for _, off := range slices.Compact(offs) {
				plan = append(plan, flip{sc, e.Name(), off})
			}
		}
	}
	return plan, nil
}

// fastTempDir returns a temporary directory on tmpfs where there is one, so
// that the trials' many fsyncs cost nothing; the files are the same.
func fastTempDir(t *testing.T) string {
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		if d, err := os.MkdirTemp("/dev/shm", "store-test-"); err == nil {
			t.Cleanup(func() { os.RemoveAll(d) })
			return d
		}
	}
	return t.TempDir()
}

// makePristine writes the corruption records and saves the data directory
// twice under root: "closed" after Close (records in a table and the value
// log), and "crashed" copied while the store is open after a Durable put
// (records in the memtable's write-ahead log and the value log), as a crash
// would leave it.
func makePristine(t *testing.T, root string) {
	t.Helper()
	dir := filepath.Join(root, "db")
	o := testOptions(t, dir)
	o.tune = smallFiles
	for _, sc := range []string{"crashed", "closed"} {
		s, err := Open(o)
		if err != nil {
			t.Fatal(err)
		}
		n := s.Namespace("chat")
		for _, r := range corruptRecords {
			if err := n.Put([]byte(r.key), r.value, Durable()); err != nil {
				t.Fatal(err)
			}
		}
		if sc == "closed" {
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
		}
		copyDir(t, dir, filepath.Join(root, sc))
		if sc == "crashed" {
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if err := os.RemoveAll(dir); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func copyDir(t testing.TB, from, to string) {
	t.Helper()
	if err := copyDirErr(from, to); err != nil {
		t.Fatal(err)
	}
}

// copyDirErr copies the regular files of from into a fresh to, leaving out
// Badger's LOCK file.
func copyDirErr(from, to string) error {
	if err := os.RemoveAll(to); err != nil {
		return err
	}
	if err := os.MkdirAll(to, 0o700); err != nil {
		return err
	}
	ents, err := os.ReadDir(from)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if !e.Type().IsRegular() || e.Name() == "LOCK" {
			continue
		}
		b, err := os.ReadFile(filepath.Join(from, e.Name()))
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(to, e.Name()), b, 0o600); err != nil {
			return err
		}
	}
	return nil
}

// flipTrials runs trials from $STORE_TEST_FLIP_START on, printing
// "start N" before and "done N outcome" after each.
func flipTrials(root string) error {
	start, err := strconv.Atoi(os.Getenv(helperFlipStartEnv))
	if err != nil {
		return err
	}
	plan, err := flipPlan(root)
	if err != nil {
		return err
	}
	out := bufio.NewWriter(os.Stdout)
	work := filepath.Join(root, "work")
	for i := start; i < len(plan); i++ {
		fmt.Fprintln(out, "start", i)
		if err := out.Flush(); err != nil {
			return err
		}
		outcome, err := runFlip(root, work, plan[i])
		if err != nil {
			return err
		}
		fmt.Fprintln(out, "done", i, outcome)
	}
	return out.Flush()
}

// runFlip runs one trial and names its outcome: "refused" (Open failed),
// "errors" (every read failed or found nothing), "intact" (every read
// returned the original), "mixed" (some of each), or "DIFFERENT ..." if a
// read returned something other than the original.
func runFlip(root, work string, f flip) (string, error) {
	if err := copyDirErr(filepath.Join(root, f.scenario), work); err != nil {
		return "", err
	}
	path := filepath.Join(work, f.file)
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	b[f.off] ^= 0x55
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return "", err
	}
	s, err := Open(Options{
		Dir:           work,
		EncryptionKey: testEncKey,
		SealKey:       testSealKey,
		Logger:        slog.New(slog.NewTextHandler(io.Discard, nil)),
		tune:          smallFiles,
	})
	if err != nil {
		return "refused", nil
	}
	defer s.Close()
	n := s.Namespace("chat")
	var intact, failed int
	for _, r := range corruptRecords {
		v, err := n.Get([]byte(r.key))
		switch {
		case err != nil:
			failed++
		case bytes.Equal(v, r.value):
			intact++
		default:
			return fmt.Sprintf("DIFFERENT Get(%s) returned %d other bytes", r.key, len(v)), nil
		}
	}
	err = n.Iterate(nil, false, func(k, v []byte) error {
		for _, r := range corruptRecords {
			if string(k) == r.key {
				if !bytes.Equal(v, r.value) {
					return fmt.Errorf("DIFFERENT Iterate returned %d other bytes for %s", len(v), k)
				}
				return nil
			}
		}
		return fmt.Errorf("DIFFERENT Iterate returned unknown key %q", k)
	})
	if err != nil && strings.HasPrefix(err.Error(), "DIFFERENT") {
		return err.Error(), nil
	}
	switch {
	case failed == 0:
		return "intact", nil
	case intact == 0:
		return "errors", nil
	default:
		return "mixed", nil
	}
}

func TestOnDiskCorruptionDetected(t *testing.T) {
	root := fastTempDir(t)
	makePristine(t, root)
	plan, err := flipPlan(root)
	if err != nil {
		t.Fatal(err)
	}
	outcomes := make([]string, len(plan))
	for start, children := 0, 0; start < len(plan); children++ {
		if children > len(plan) {
			t.Fatal("too many child restarts")
		}
		cmd := helperCmd(t, "flip-trials", root)
		cmd.Stderr = nil // a crashing child's panic is expected noise
		cmd.Env = append(cmd.Env, helperFlipStartEnv+"="+strconv.Itoa(start))
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		running := -1
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) < 2 {
				continue
			}
			i, err := strconv.Atoi(f[1])
			if err != nil || i < start || i >= len(plan) {
				t.Fatalf("bad child line %q", sc.Text())
			}
			switch f[0] {
			case "start":
				running = i
			case "done":
				outcomes[i] = strings.Join(f[2:], " ")
				running = -1
				start = i + 1
			}
		}
		werr := cmd.Wait()
		if running < 0 {
			if werr != nil {
				t.Fatalf("flip child failed between trials: %v\n%s", werr, stderr.Bytes())
			}
			continue
		}
		// The child died during trial `running`.
		if !strings.Contains(stderr.String(), "panic") {
			t.Fatalf("flip child died in trial %d (%+v) without a panic: %v\n%s", running, plan[running], werr, stderr.Bytes())
		}
		outcomes[running] = "crashed"
		start = running + 1
	}

	counts := map[string]map[string]int{} // file kind -> outcome -> count
	for i, f := range plan {
		o := outcomes[i]
		if strings.HasPrefix(o, "DIFFERENT") {
			t.Errorf("%s/%s byte %d flipped: %s", f.scenario, f.file, f.off, o)
		}
		kind := f.scenario + "/" + strings.TrimLeft(filepath.Ext(f.file), ".")
		if filepath.Ext(f.file) == "" {
			kind = f.scenario + "/" + f.file
		}
		if counts[kind] == nil {
			counts[kind] = map[string]int{}
		}
		counts[kind][o]++
	}
	kinds := make([]string, 0, len(counts))
	for k := range counts {
		kinds = append(kinds, k)
	}
	slices.Sort(kinds)
	for _, k := range kinds {
		t.Logf("%-22s %v", k, counts[k])
	}
	// The files holding the records must have been hit: a flip there has
	// to show up as an error in some trials, or the test proves nothing.
	for _, k := range []string{"closed/sst", "closed/vlog", "crashed/mem", "crashed/vlog"} {
		c := counts[k]
		if c == nil || c["refused"]+c["errors"]+c["mixed"]+c["crashed"] == 0 {
			t.Errorf("%s: no flip was detected (%v); is the plan hitting the records?", k, c)
		}
	}
}
