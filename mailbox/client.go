package mailbox

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
)

// DefaultTimeout bounds each client call whose ctx has no deadline.
const DefaultTimeout = 10 * time.Second

// maxFetchBytes bounds what one Fetch collects; the rest waits for the
// next Fetch, after an Ack.
const maxFetchBytes = 64 << 20

// DepositReceipt is a holder's confirmation of a deposit.
type DepositReceipt struct {
	ID      [32]byte  // SHA-256 of the envelope: what the recipient acks
	Expires time.Time // when the holder will delete it unless acked first
}

// Deposit leaves envelope at holder under addr for ttl (0: the holder's
// default; it clamps to its bounds and the receipt says what it set). A
// refusal is an *Error wrapping ErrTooLarge, ErrQuotaExceeded,
// ErrMailboxFull, ErrRateLimited or ErrBadFrame.
func Deposit(ctx context.Context, h host.Host, holder peer.ID, addr Address, envelope []byte, ttl time.Duration) (DepositReceipt, error) {
	if err := checkOutgoing(envelope); err != nil {
		return DepositReceipt{}, fmt.Errorf("mailbox deposit at %s: %w", holder, err)
	}
	if ttl < 0 {
		return DepositReceipt{}, fmt.Errorf("mailbox deposit at %s: negative TTL %v", holder, ttl)
	}
	ttl = min(ttl, 100*MaxTTL) // holders clamp it anyway; this keeps the sum below from overflowing
	req := &frame{kind: kindDeposit, address: addr, envelope: envelope, ttl: uint64((ttl + time.Second - 1) / time.Second)}
	resp, err := call(ctx, h, holder, req, nil)
	if err == nil {
		var r DepositReceipt
		if r, err = receipt(resp, envelope); err == nil {
			return r, nil
		}
	}
	return DepositReceipt{}, fmt.Errorf("mailbox deposit at %s: %w", holder, err)
}

// Replicate hands held, with its expiry, to another holder under addr.
// An envelope the holder has, or had and saw acknowledged, is not an error.
func Replicate(ctx context.Context, h host.Host, holder peer.ID, addr Address, held Held) error {
	_, err := replicate(ctx, h, holder, addr, held)
	return err
}

// replicate is Replicate that also returns the recipient's release of the
// envelope if the holder answered with one (it had it acknowledged); the
// release is checked.
func replicate(ctx context.Context, h host.Host, holder peer.ID, addr Address, held Held) (*released, error) {
	err := checkOutgoing(held.Envelope)
	if err == nil && sha256.Sum256(held.Envelope) != held.ID {
		err = errors.New("the envelope does not match its id")
	}
	if err == nil && held.Expires.UnixMilli() <= 0 {
		err = errors.New("no expiry")
	}
	var rel *released
	if err == nil {
		req := &frame{kind: kindReplicate, address: addr, envelope: held.Envelope, expires: held.Expires.UnixMilli()}
		var resp *frame
		if resp, err = call(ctx, h, holder, req, nil); err == nil {
			var r DepositReceipt
			if r, err = receipt(resp, held.Envelope); err == nil && len(resp.releases) == 1 {
				if !verifyRelease(resp.pub, addr, held.ID, resp.releases[0]) {
					err = badFrame("holder sent a release that does not verify")
				} else {
					rel = &released{pub: resp.pub, t: tombstone{id: held.ID, expires: r.Expires.UnixMilli(), release: resp.releases[0]}}
				}
			}
		}
	}
	if err != nil {
		return nil, fmt.Errorf("mailbox replicate to %s: %w", holder, err)
	}
	return rel, nil
}

// released is a tombstone with the key its release verifies under.
type released struct {
	pub []byte
	t   tombstone
}

// sendReleases hands tombstones, each with the recipient's release, which
// verifies under pub, to holder.
func sendReleases(ctx context.Context, h host.Host, holder peer.ID, addr Address, pub []byte, ts []tombstone) error {
	ctx, cancel := withDeadline(ctx)
	defer cancel()
	for len(ts) > 0 {
		n := min(len(ts), maxReleaseItems)
		resp, err := call(ctx, h, holder, &frame{kind: kindRelease, address: addr, pub: pub, tombs: ts[:n]}, nil)
		if err == nil && resp.kind != kindOK {
			err = badFrame("holder answered RELEASE with %v", resp.kind)
		}
		if err != nil {
			return fmt.Errorf("mailbox release at %s: %w", holder, err)
		}
		ts = ts[n:]
	}
	return nil
}

func checkOutgoing(env []byte) error {
	switch {
	case len(env) == 0:
		return errors.New("empty envelope")
	case len(env) > MaxEnvelope:
		return refuse(ErrTooLarge, "envelope of %d bytes; the protocol carries at most %d", len(env), MaxEnvelope)
	}
	return nil
}

func receipt(resp *frame, env []byte) (DepositReceipt, error) {
	if resp.kind != kindOK || len(resp.ids) != 1 {
		return DepositReceipt{}, badFrame("holder answered %v without an id", resp.kind)
	}
	if resp.ids[0] != sha256.Sum256(env) {
		return DepositReceipt{}, badFrame("holder confirmed another envelope")
	}
	return DepositReceipt{ID: resp.ids[0], Expires: time.UnixMilli(resp.expires)}, nil
}

// Fetch collects the envelopes that holder keeps under key's address, in
// id order, page by page, up to 64 MiB. It drops an envelope that does
// not match its id. If a page fails, Fetch returns the envelopes of the
// pages before it with the error: they are valid. Only key's owner can
// fetch: any other gets an *Error wrapping ErrUnauthorized.
func Fetch(ctx context.Context, h host.Host, holder peer.ID, key ed25519.PrivateKey) ([]Held, error) {
	if len(key) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("mailbox fetch from %s: key of %d bytes", holder, len(key))
	}
	ctx, cancel := withDeadline(ctx)
	defer cancel()
	addr := addressOf(key.Public().(ed25519.PublicKey))
	out, err := fetch(ctx, h, holder, addr, signer(key))
	if err != nil {
		return out, fmt.Errorf("mailbox fetch from %s: %w", holder, err)
	}
	return out, nil
}

func fetch(ctx context.Context, h host.Host, holder peer.ID, addr Address, prove prover) ([]Held, error) {
	var (
		out    []Held
		cursor *[32]byte
		total  int
	)
	for {
		req := &frame{kind: kindFetch, address: addr, limit: defaultPageItems}
		if cursor != nil {
			req.cursor, req.hasCursor = *cursor, true
		}
		resp, err := call(ctx, h, holder, req, prove)
		if err != nil {
			return out, err
		}
		if resp.kind != kindEnvelopes {
			return out, badFrame("holder answered FETCH with %v", resp.kind)
		}
		if resp.more && len(resp.items) == 0 {
			return out, badFrame("holder sent an empty page with more to come")
		}
		for _, it := range resp.items {
			if cursor != nil && bytes.Compare(it.ID[:], cursor[:]) <= 0 {
				return out, badFrame("holder sent ids out of order")
			}
			id := it.ID
			cursor = &id
			if sha256.Sum256(it.Envelope) != it.ID {
				continue // tampered with or garbled: useless
			}
			out = append(out, it)
			total += len(it.Envelope)
		}
		if !resp.more || total >= maxFetchBytes {
			return out, nil
		}
	}
}

// Ack deletes the envelopes ids from holder's copy of key's mailbox. The
// holder remembers each id, with the recipient's release (a signature
// over the address and the id), whether it held it or not: so that a
// replica arriving later is not stored again, and other holders that
// still have one learn, with proof, that it may go. Only key's owner can.
func Ack(ctx context.Context, h host.Host, holder peer.ID, key ed25519.PrivateKey, ids [][32]byte) error {
	if len(key) != ed25519.PrivateKeySize {
		return fmt.Errorf("mailbox ack at %s: key of %d bytes", holder, len(key))
	}
	addr := addressOf(key.Public().(ed25519.PublicKey))
	return ack(ctx, h, holder, key, ids, releases(key, addr, ids))
}

// releases signs a release of each of ids.
func releases(key ed25519.PrivateKey, addr Address, ids [][32]byte) [][]byte {
	out := make([][]byte, len(ids))
	for i, id := range ids {
		out[i] = ed25519.Sign(key, releaseMessage(addr, id))
	}
	return out
}

// ack sends ACKs for ids with their releases (one per id, or none).
func ack(ctx context.Context, h host.Host, holder peer.ID, key ed25519.PrivateKey, ids [][32]byte, rels [][]byte) error {
	ctx, cancel := withDeadline(ctx)
	defer cancel()
	addr := addressOf(key.Public().(ed25519.PublicKey))
	for len(ids) > 0 {
		n := min(len(ids), maxAckIDs)
		var rs [][]byte
		if len(rels) > 0 {
			n = min(n, maxSignedAckIDs)
			rs, rels = rels[:n], rels[n:]
		}
		resp, err := call(ctx, h, holder, &frame{kind: kindAck, address: addr, ids: ids[:n], releases: rs}, signer(key))
		if err == nil && resp.kind != kindOK {
			err = badFrame("holder answered ACK with %v", resp.kind)
		}
		if err != nil {
			return fmt.Errorf("mailbox ack at %s: %w", holder, err)
		}
		ids = ids[n:]
	}
	return nil
}

// prover answers a challenge for req.
type prover func(holder peer.ID, nonce [32]byte, req *frame) *frame

func signer(key ed25519.PrivateKey) prover {
	return func(holder peer.ID, nonce [32]byte, req *frame) *frame {
		msg := proofMessage(req.kind, holder, nonce, req.address, req.ids)
		return &frame{kind: kindProof, pub: key.Public().(ed25519.PublicKey), sig: ed25519.Sign(key, msg)}
	}
}

func withDeadline(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, DefaultTimeout)
}

// call runs one request on a new stream: sends req, answers the challenge
// with prove if it is given, and returns the holder's answer. An ERROR
// answer is returned as an *Error.
func call(ctx context.Context, h host.Host, holder peer.ID, req *frame, prove prover) (_ *frame, err error) {
	ctx, cancel := withDeadline(ctx)
	defer cancel()
	st, err := h.NewStream(network.WithAllowLimitedConn(ctx, "mailbox"), holder, ProtocolID)
	if err != nil {
		return nil, err
	}
	stop := context.AfterFunc(ctx, func() { st.Reset() })
	defer stop()
	defer func() {
		if err != nil {
			st.Reset()
			var timeout interface{ Timeout() bool }
			switch {
			case errors.Is(err, ErrBadFrame):
			case ctx.Err() != nil:
				err = fmt.Errorf("%w (%v)", ctx.Err(), err)
			case errors.As(err, &timeout) && timeout.Timeout(): // the stream's deadline, which is ctx's
				err = fmt.Errorf("%w (%v)", context.DeadlineExceeded, err)
			}
		} else {
			st.Close()
		}
	}()
	if dl, ok := ctx.Deadline(); ok {
		_ = st.SetDeadline(dl)
	}
	if err := writeFrame(st, req); err != nil {
		return nil, err
	}
	r := bufio.NewReaderSize(st, 16<<10)
	if prove != nil {
		f, err := readAnswer(r, maxSmallFrame)
		if err != nil {
			return nil, err
		}
		if f.kind != kindChallenge {
			return nil, badFrame("holder sent %v in place of a challenge", f.kind)
		}
		if err := writeFrame(st, prove(holder, f.nonce, req)); err != nil {
			return nil, err
		}
	}
	// The half-close only tells the holder nothing more is coming; it has
	// read what it needs already and may have answered and closed its read
	// side first (over QUIC the close then fails with the stream's write
	// side cancelled). The answer, or its absence, is what counts.
	_ = st.CloseWrite()
	limit := maxSmallFrame
	if req.kind == kindFetch {
		limit = maxServerFrame
	}
	f, err := readAnswer(r, limit)
	if err != nil {
		return nil, err
	}
	if f.kind == kindChallenge {
		return nil, badFrame("holder sent an unexpected challenge")
	}
	return f, nil
}

// readAnswer reads one holder frame; an ERROR becomes an *Error.
func readAnswer(r *bufio.Reader, limit int) (*frame, error) {
	body, err := readFrame(r, limit)
	if errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("holder closed the stream without answering: %w", io.ErrUnexpectedEOF)
	}
	if err != nil {
		return nil, err
	}
	f, err := decodeServerFrame(body)
	if err != nil {
		return nil, err
	}
	if f.kind == kindError {
		return nil, errorFromCode(f.code, f.message, time.Duration(min(f.retry, uint64(time.Hour/time.Millisecond)))*time.Millisecond)
	}
	return f, nil
}
