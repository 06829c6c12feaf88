package frame

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"testing"
)

func TestRead(t *testing.T) {
	r := func(b ...byte) *bufio.Reader { return bufio.NewReader(bytes.NewReader(b)) }
	if b, err := Read(r(3, 'a', 'b', 'c'), 3); err != nil || string(b) != "abc" {
		t.Fatalf("Read = %q, %v", b, err)
	}
	if _, err := Read(r(), 3); err != io.EOF {
		t.Errorf("empty stream: %v, want io.EOF", err)
	}
	for name, c := range map[string]struct {
		in   []byte
		want error
	}{
		"zero length":      {[]byte{0}, ErrMalformed},
		"over the limit":   {[]byte{4, 1, 2, 3, 4}, ErrOversize},
		"truncated body":   {[]byte{3, 'a'}, ErrMalformed},
		"truncated length": {[]byte{0x80}, ErrMalformed},
		"varint overflow":  {bytes.Repeat([]byte{0xff}, 11), ErrMalformed},
	} {
		if _, err := Read(r(c.in...), 3); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", name, err, c.want)
		}
	}
}
