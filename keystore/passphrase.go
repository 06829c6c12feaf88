package keystore

import (
	"bytes"
	"crypto/subtle"
	"fmt"
	"io"
	"os"

	"golang.org/x/term"
)

// DefaultPassphraseEnv is the environment variable ReadPassphrase consults
// when PassphraseOptions.Env is empty.
const DefaultPassphraseEnv = "DISCORDOPUS_PASSPHRASE"

// maxPassphraseFileLen bounds how much of a passphrase file is read.
const maxPassphraseFileLen = 64 << 10

// PassphraseOptions say where a passphrase may come from. Precedence: File,
// then the environment variable Env, then a prompt on Stdin if it is a
// terminal.
type PassphraseOptions struct {
	File   string    // --passphrase-file; one trailing newline is removed
	Env    string    // environment variable; DefaultPassphraseEnv when empty
	Stdin  *os.File  // terminal to prompt on; os.Stdin when nil
	Stderr io.Writer // where prompts go; os.Stderr when nil
}

func (o PassphraseOptions) withDefaults() PassphraseOptions {
	if o.Env == "" {
		o.Env = DefaultPassphraseEnv
	}
	if o.Stdin == nil {
		o.Stdin = os.Stdin
	}
	if o.Stderr == nil {
		o.Stderr = os.Stderr
	}
	return o
}

// ReadPassphrase returns the passphrase from the first source in o that is
// set, prompting with prompt if it comes to the terminal. It refuses an empty
// passphrase. The caller should clear the result when done.
func ReadPassphrase(o PassphraseOptions, prompt string) ([]byte, error) {
	o = o.withDefaults()
	if p, ok, err := fromFileOrEnv(o); ok || err != nil {
		return p, err
	}
	fd, err := terminalFD(o)
	if err != nil {
		return nil, err
	}
	return promptOnce(fd, o.Stderr, prompt)
}

// ReadNewPassphrase is ReadPassphrase for choosing a passphrase: at the
// terminal it asks twice and fails with ErrPassphraseMismatch if the two
// differ.
func ReadNewPassphrase(o PassphraseOptions, prompt string) ([]byte, error) {
	o = o.withDefaults()
	if p, ok, err := fromFileOrEnv(o); ok || err != nil {
		return p, err
	}
	fd, err := terminalFD(o)
	if err != nil {
		return nil, err
	}
	p1, err := promptOnce(fd, o.Stderr, prompt)
	if err != nil {
		return nil, err
	}
	p2, err := promptOnce(fd, o.Stderr, "Repeat passphrase: ")
	if err != nil {
		clear(p1)
		return nil, err
	}
	defer clear(p2)
	if subtle.ConstantTimeCompare(p1, p2) != 1 {
		clear(p1)
		return nil, ErrPassphraseMismatch
	}
	return p1, nil
}

// fromFileOrEnv returns the passphrase from the file or the environment, and
// whether one of them was set.
func fromFileOrEnv(o PassphraseOptions) ([]byte, bool, error) {
	if o.File != "" {
		b, err := readSecretFile(o.File, maxPassphraseFileLen)
		if err != nil {
			return nil, true, fmt.Errorf("passphrase file: %w", err)
		}
		if bytes.HasSuffix(b, []byte("\r\n")) {
			clear(b[len(b)-2:])
			b = b[:len(b)-2]
		} else if bytes.HasSuffix(b, []byte("\n")) {
			clear(b[len(b)-1:])
			b = b[:len(b)-1]
		}
		if len(b) == 0 {
			return nil, true, fmt.Errorf("passphrase file %s: %w", o.File, ErrEmptyPassphrase)
		}
		return b, true, nil
	}
	if v, ok := os.LookupEnv(o.Env); ok {
		if v == "" {
			return nil, true, fmt.Errorf("environment variable %s: %w", o.Env, ErrEmptyPassphrase)
		}
		return []byte(v), true, nil
	}
	return nil, false, nil
}

func terminalFD(o PassphraseOptions) (int, error) {
	fd := int(o.Stdin.Fd())
	if !term.IsTerminal(fd) {
		return 0, fmt.Errorf("%w: use --passphrase-file FILE, set the environment variable %s, or run in a terminal to be prompted", ErrNoPassphrase, o.Env)
	}
	return fd, nil
}

func promptOnce(fd int, w io.Writer, prompt string) ([]byte, error) {
	fmt.Fprint(w, prompt)
	p, err := term.ReadPassword(fd)
	fmt.Fprintln(w)
	if err != nil {
		clear(p)
		return nil, fmt.Errorf("read passphrase: %w", err)
	}
	if len(p) == 0 {
		return nil, ErrEmptyPassphrase
	}
	return p, nil
}

// readSecretFile reads at most limit bytes from path into one buffer, so no
// partial copies are left behind for the garbage collector. Pipes and other
// non-regular files (e.g. /dev/fd/N from a shell's <(...)) are fine.
func readSecretFile(path string, limit int) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	buf := make([]byte, limit+1)
	n, err := io.ReadFull(f, buf)
	switch {
	case err == nil:
		clear(buf)
		return nil, fmt.Errorf("%s: larger than %d bytes", path, limit)
	case err != io.EOF && err != io.ErrUnexpectedEOF:
		clear(buf)
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return buf[:n], nil
}
