// Package frame reads the length-prefixed frames of our stream protocols:
// a uvarint length, then that many bytes, the length checked against a
// limit before anything is allocated.
package frame

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
)

var (
	// ErrMalformed is a frame that breaks the framing: a bad or zero
	// length, or a stream that ends inside a frame. Protocols wrap it in
	// their own error.
	ErrMalformed = errors.New("malformed frame")
	// ErrOversize is a length over the reader's limit (it also wraps
	// ErrMalformed).
	ErrOversize = fmt.Errorf("%w: over the limit", ErrMalformed)
)

// Read reads one frame body of 1 to max bytes. A stream that ends cleanly
// before a frame gives io.EOF; a stream that fails gives its own error
// (not the peer's protocol error); anything else wraps ErrMalformed.
func Read(r *bufio.Reader, max int) ([]byte, error) {
	n, err := binary.ReadUvarint(r)
	switch {
	case err == nil:
	case errors.Is(err, io.EOF):
		return nil, io.EOF
	case errors.Is(err, io.ErrUnexpectedEOF):
		return nil, fmt.Errorf("%w: truncated length", ErrMalformed)
	case strings.Contains(err.Error(), "overflow"): // binary's unexported overflow error
		return nil, fmt.Errorf("%w: length: %v", ErrMalformed, err)
	default:
		return nil, err
	}
	if n == 0 {
		return nil, fmt.Errorf("%w: empty frame", ErrMalformed)
	}
	if n > uint64(max) {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrOversize, n, max)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("%w: truncated: %d-byte frame", ErrMalformed, n)
		}
		return nil, err
	}
	return b, nil
}
