package mailbox

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
)

// Errors callers can test for with errors.Is. A holder's refusal arrives
// as an *Error that wraps one of them.
var (
	// ErrBadFrame: a frame broke the protocol (either side's).
	ErrBadFrame = errors.New("malformed mailbox frame")
	// ErrTooLarge: the envelope is over the holder's size limit.
	ErrTooLarge = errors.New("envelope is too large for the mailbox")
	// ErrQuotaExceeded: this address holds as many envelopes or bytes as
	// the holder allows one mailbox; deposits succeed again once the
	// recipient fetches and acknowledges, or mail expires.
	ErrQuotaExceeded = errors.New("the recipient's mailbox is full at this holder")
	// ErrMailboxFull: the holder has no space left for anyone; try
	// another holder.
	ErrMailboxFull = errors.New("mailbox holder is out of space")
	// ErrRateLimited: too many requests from this peer, or the holder is
	// busy; retry after Error.RetryAfter.
	ErrRateLimited = errors.New("mailbox holder is rate limiting, slow down")
	// ErrUnauthorized: the key does not own the address, or its
	// signature does not verify. Only the recipient fetches and deletes.
	ErrUnauthorized = errors.New("not authorized for this mailbox: only the recipient's key can fetch or delete")
	// ErrExpired: a replicated envelope's expiry has passed.
	ErrExpired = errors.New("envelope has already expired")
	// ErrHolderFailed: the holder failed to do what it was asked (its
	// storage, or an error this version does not know).
	ErrHolderFailed = errors.New("mailbox holder failed")
)

// Error codes on the wire; doc.go lists them.
const (
	codeBadFrame     = 1
	codeTooLarge     = 2
	codeQuota        = 3
	codeFull         = 4
	codeRateLimited  = 5
	codeUnauthorized = 6
	codeExpired      = 7
	codeHolderFailed = 8
)

var codes = []struct {
	code uint64
	err  error
}{
	{codeBadFrame, ErrBadFrame},
	{codeTooLarge, ErrTooLarge},
	{codeQuota, ErrQuotaExceeded},
	{codeFull, ErrMailboxFull},
	{codeRateLimited, ErrRateLimited},
	{codeUnauthorized, ErrUnauthorized},
	{codeExpired, ErrExpired},
	{codeHolderFailed, ErrHolderFailed},
}

// maxMessage bounds an ERROR frame's message.
const maxMessage = 512

// Error is a refusal: made by the holder, or read from its ERROR frame by
// the client. It wraps one of the Err* values above.
type Error struct {
	Kind       error         // one of the Err* values
	Message    string        // what exactly, for a person; may be empty
	RetryAfter time.Duration // for ErrRateLimited: when to try again
}

func (e *Error) Error() string {
	if e.Message == "" {
		return e.Kind.Error()
	}
	return e.Kind.Error() + ": " + e.Message
}

func (e *Error) Unwrap() error { return e.Kind }

// refuse makes an *Error of kind with a formatted message.
func refuse(kind error, format string, args ...any) *Error {
	return &Error{Kind: kind, Message: fmt.Sprintf(format, args...)}
}

// errorCode maps an error to its wire code and message. Anything not an
// *Error is the holder's own failure; its text stays in the holder's log.
func errorCode(err error) (code uint64, message string, retry time.Duration) {
	var e *Error
	if errors.As(err, &e) {
		for _, c := range codes {
			if c.err == e.Kind {
				return c.code, e.Message, e.RetryAfter
			}
		}
	}
	if errors.Is(err, ErrBadFrame) {
		return codeBadFrame, err.Error(), 0
	}
	return codeHolderFailed, "", 0
}

// errorFromCode maps a wire code back to an *Error. The message comes
// from another machine: it is stripped of control characters and cut to
// maxMessage bytes.
func errorFromCode(code uint64, message string, retry time.Duration) *Error {
	kind := ErrHolderFailed
	for _, c := range codes {
		if c.code == code {
			kind = c.err
		}
	}
	if kind == ErrHolderFailed && code != codeHolderFailed {
		message = strings.TrimSuffix(fmt.Sprintf("unknown error code %d: %s", code, message), ": ")
	}
	return &Error{Kind: kind, Message: cleanMessage(message), RetryAfter: retry}
}

func cleanMessage(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == unicode.ReplacementChar {
			return -1
		}
		return r
	}, s)
	if len(s) > maxMessage {
		s = strings.ToValidUTF8(s[:maxMessage], "") // drops a cut rune
	}
	return s
}
