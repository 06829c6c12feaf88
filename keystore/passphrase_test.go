package keystore

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// nonTerminal is a regular file standing in for a stdin that is not a
// terminal (CI, a pipe, a service).
func nonTerminal(t *testing.T) *os.File {
	t.Helper()
	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func TestReadPassphraseFromFile(t *testing.T) {
	dir := t.TempDir()
	const unsetEnv = "DISCORDOPUS_TEST_PASSPHRASE_NEVER_SET"
	for _, tc := range []struct {
		name    string
		content string
		want    string
		wantErr error
	}{
		{"no newline", "hunter2", "hunter2", nil},
		{"one newline", "hunter2\n", "hunter2", nil},
		{"crlf", "hunter2\r\n", "hunter2", nil},
		{"two newlines keep one", "hunter2\n\n", "hunter2\n", nil},
		{"inner newline kept", "two\nlines\n", "two\nlines", nil},
		{"spaces kept", " pass word \n", " pass word ", nil},
		{"empty", "", "", ErrEmptyPassphrase},
		{"only newline", "\n", "", ErrEmptyPassphrase},
		{"too large", strings.Repeat("x", maxPassphraseFileLen+1), "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_"))
			if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			o := PassphraseOptions{File: path, Env: unsetEnv, Stdin: nonTerminal(t)}
			for _, read := range []func(PassphraseOptions, string) ([]byte, error){ReadPassphrase, ReadNewPassphrase} {
				got, err := read(o, "Passphrase: ")
				switch {
				case tc.wantErr != nil && !errors.Is(err, tc.wantErr):
					t.Errorf("err %v, want %v", err, tc.wantErr)
				case tc.want == "" && err == nil:
					t.Errorf("got %q, want an error", got)
				case tc.want != "" && (err != nil || string(got) != tc.want):
					t.Errorf("got %q, %v; want %q", got, err, tc.want)
				}
			}
		})
	}
	_, err := ReadPassphrase(PassphraseOptions{File: filepath.Join(dir, "missing"), Stdin: nonTerminal(t)}, "")
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v, want fs.ErrNotExist", err)
	}
}

func TestReadPassphrasePrecedence(t *testing.T) {
	file := filepath.Join(t.TempDir(), "pass")
	os.WriteFile(file, []byte("from-file\n"), 0o600)
	t.Setenv(DefaultPassphraseEnv, "from-default-env")
	t.Setenv("MY_PASS", "from-my-env")
	stdin := nonTerminal(t)
	for _, tc := range []struct {
		name string
		o    PassphraseOptions
		want string
	}{
		{"file beats env", PassphraseOptions{File: file, Stdin: stdin}, "from-file"},
		{"default env", PassphraseOptions{Stdin: stdin}, "from-default-env"},
		{"named env", PassphraseOptions{Env: "MY_PASS", Stdin: stdin}, "from-my-env"},
	} {
		for _, read := range []func(PassphraseOptions, string) ([]byte, error){ReadPassphrase, ReadNewPassphrase} {
			got, err := read(tc.o, "Passphrase: ")
			if err != nil || string(got) != tc.want {
				t.Errorf("%s: got %q, %v; want %q", tc.name, got, err, tc.want)
			}
		}
	}
	t.Setenv("EMPTY_PASS", "")
	if _, err := ReadPassphrase(PassphraseOptions{Env: "EMPTY_PASS", Stdin: stdin}, ""); !errors.Is(err, ErrEmptyPassphrase) || !strings.Contains(err.Error(), "EMPTY_PASS") {
		t.Errorf("empty env: %v, want ErrEmptyPassphrase naming the variable", err)
	}
}

func TestReadPassphraseNoSource(t *testing.T) {
	const env = "DISCORDOPUS_TEST_PASSPHRASE_NEVER_SET"
	var stderr bytes.Buffer
	for _, read := range []func(PassphraseOptions, string) ([]byte, error){ReadPassphrase, ReadNewPassphrase} {
		_, err := read(PassphraseOptions{Env: env, Stdin: nonTerminal(t), Stderr: &stderr}, "Passphrase: ")
		if !errors.Is(err, ErrNoPassphrase) {
			t.Fatalf("err %v, want ErrNoPassphrase", err)
		}
		for _, want := range []string{"--passphrase-file", env, "terminal"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not mention %q", err, want)
			}
		}
	}
	if stderr.Len() != 0 {
		t.Errorf("prompted on a non-terminal: %q", stderr.String())
	}
}

func TestReadPassphraseNoSourceDefaultEnv(t *testing.T) {
	t.Setenv(DefaultPassphraseEnv, "") // restored after the test
	os.Unsetenv(DefaultPassphraseEnv)
	_, err := ReadPassphrase(PassphraseOptions{Stdin: nonTerminal(t)}, "Passphrase: ")
	if !errors.Is(err, ErrNoPassphrase) || !strings.Contains(err.Error(), "DISCORDOPUS_PASSPHRASE") {
		t.Errorf("err %v, want ErrNoPassphrase naming DISCORDOPUS_PASSPHRASE", err)
	}
}
