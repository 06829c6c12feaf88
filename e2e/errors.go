package e2e

import "errors"

// Errors returned by this package. Callers compare with errors.Is; the
// returned errors may wrap these with more context.
var (
	// ErrInvalidMessage: the message is malformed, fails authentication,
	// or carries an invalid (e.g. low-order) public key.
	ErrInvalidMessage = errors.New("e2e: invalid or unauthenticated message")
	// ErrReplay: the message (or its message key) was already used.
	ErrReplay = errors.New("e2e: message replayed")
	// ErrTooFarAhead: the message is more than MaxSkip messages ahead of the
	// receiving chain; nothing was derived.
	ErrTooFarAhead = errors.New("e2e: message too far ahead of the receiving chain")
	// ErrBadSignature: a prekey signature in a bundle does not verify.
	ErrBadSignature = errors.New("e2e: bad prekey signature")
	// ErrNoPrekey: an initial message names no signed prekey we still hold,
	// or a one-time prekey we no longer hold.
	ErrNoPrekey = errors.New("e2e: no matching prekey")
	// ErrWrongPeer: the bundle or message belongs to another identity than
	// the one expected.
	ErrWrongPeer = errors.New("e2e: wrong peer identity")
	// ErrTooLarge: a plaintext, encoding or count exceeds its limit.
	ErrTooLarge = errors.New("e2e: input exceeds limit")
	// ErrMalformed: a stored or published encoding (bundle, prekeys,
	// session) is not canonical or not well formed.
	ErrMalformed = errors.New("e2e: malformed encoding")
)
