package mailbox

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/discordopus/discordopus/store"
)

// Holder defaults and bounds; doc.go explains each.
const (
	DefaultTTL                 = 14 * 24 * time.Hour
	MaxTTL                     = 30 * 24 * time.Hour
	MinTTL                     = time.Hour
	DefaultMaxPerAddress       = 1000
	DefaultMaxBytesPerAddress  = 32 << 20
	DefaultMaxTotalBytes       = 1 << 30
	DefaultDepositsPerSecond   = 20
	DefaultBurst               = 200
	DefaultReplicatesPerSecond = 100
	DefaultReplicateBurst      = 1000
	DefaultGCInterval          = time.Minute

	maxStreams    = 128             // streams served at once
	replicateSkew = 5 * time.Minute // clock skew allowed on a REPLICATE's expiry
)

// streamTimeout bounds one stream at the holder, from start to end; a
// variable so that tests can shorten it.
var streamTimeout = 10 * time.Second

// ServerOptions configure a mailbox holder. Zero values mean the defaults.
type ServerOptions struct {
	// Store holds the envelopes, in the namespaces doc.go lists.
	Store *store.Store
	// Now is the clock for expiry and rate limits; it should be the
	// store's (store.Options.Now). Nil means time.Now.
	Now func() time.Time
	// DefaultTTL is kept for a deposit that names none; MaxTTL bounds what
	// a depositor may ask (and a REPLICATE's expiry). At least MinTTL.
	DefaultTTL, MaxTTL time.Duration
	// MaxEnvelope is the largest envelope accepted, at most MaxEnvelope.
	MaxEnvelope int
	// MaxPerAddress and MaxBytesPerAddress are the quota of one address:
	// envelopes and envelope bytes.
	MaxPerAddress      int
	MaxBytesPerAddress int64
	// MaxTotalBytes bounds the envelope bytes held for all addresses.
	MaxTotalBytes int64
	// DepositsPerSecond and Burst are the token bucket of one depositing
	// peer; a negative rate means no limit.
	DepositsPerSecond float64
	Burst             int
	// ReplicatesPerSecond and ReplicateBurst are the same for REPLICATE.
	ReplicatesPerSecond float64
	ReplicateBurst      int
	// GCInterval is how often Serve deletes expired envelopes.
	GCInterval time.Duration
	Logger     *slog.Logger
}

// Stats is what a holder holds.
type Stats struct {
	Addresses int   // addresses with at least one envelope
	Envelopes int   // envelopes
	Bytes     int64 // envelope bytes
}

// Server is a mailbox holder: it serves /discordopus/mailbox/1 on a host.
type Server struct {
	h          host.Host
	o          ServerOptions
	log        *slog.Logger
	deposits   *limiter
	replicates *limiter
	streams    chan struct{} // a token per stream being served

	mu   sync.Mutex // guards hold's accounting and orders its writes
	hold *holdings

	life     sync.Mutex // guards the fields below
	ctx      context.Context
	served   bool
	stopping bool
	wg       sync.WaitGroup // stream handlers
}

// NewServer opens what the store holds and rebuilds its accounting. Serve
// starts serving.
func NewServer(h host.Host, o ServerOptions) (*Server, error) {
	if h == nil || o.Store == nil {
		return nil, errors.New("mailbox: NewServer needs a host and a store")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	o.DefaultTTL = orDefault(o.DefaultTTL, DefaultTTL)
	o.MaxTTL = orDefault(o.MaxTTL, MaxTTL)
	o.MaxEnvelope = orDefault(o.MaxEnvelope, MaxEnvelope)
	o.MaxPerAddress = orDefault(o.MaxPerAddress, DefaultMaxPerAddress)
	o.MaxBytesPerAddress = orDefault(o.MaxBytesPerAddress, DefaultMaxBytesPerAddress)
	o.MaxTotalBytes = orDefault(o.MaxTotalBytes, DefaultMaxTotalBytes)
	o.DepositsPerSecond = orDefault(o.DepositsPerSecond, DefaultDepositsPerSecond)
	o.Burst = orDefault(o.Burst, DefaultBurst)
	o.ReplicatesPerSecond = orDefault(o.ReplicatesPerSecond, DefaultReplicatesPerSecond)
	o.ReplicateBurst = orDefault(o.ReplicateBurst, DefaultReplicateBurst)
	o.GCInterval = orDefault(o.GCInterval, DefaultGCInterval)
	switch {
	case o.MaxTTL < MinTTL || o.DefaultTTL < MinTTL || o.DefaultTTL > o.MaxTTL:
		return nil, fmt.Errorf("mailbox: TTLs must satisfy %v <= DefaultTTL (%v) <= MaxTTL (%v)", MinTTL, o.DefaultTTL, o.MaxTTL)
	case o.MaxEnvelope < 0 || o.MaxEnvelope > MaxEnvelope:
		return nil, fmt.Errorf("mailbox: MaxEnvelope %d is over the protocol's %d", o.MaxEnvelope, MaxEnvelope)
	case o.MaxPerAddress < 0 || o.MaxBytesPerAddress < 0 || o.MaxTotalBytes < 0 || o.Burst < 0 || o.ReplicateBurst < 0:
		return nil, errors.New("mailbox: quotas and bursts must not be negative")
	}
	hold, err := openHoldings(o.Store)
	if err != nil {
		return nil, err
	}
	s := &Server{
		h:          h,
		o:          o,
		log:        o.Logger.With("service", "mailbox"),
		deposits:   newLimiter(o.DepositsPerSecond, o.Burst),
		replicates: newLimiter(o.ReplicatesPerSecond, o.ReplicateBurst),
		streams:    make(chan struct{}, maxStreams),
		hold:       hold,
	}
	st := s.Stats()
	s.log.Info("mailbox holder opened", "addresses", st.Addresses, "envelopes", st.Envelopes, "bytes", st.Bytes)
	return s, nil
}

func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// Serve handles mailbox streams and collects expired envelopes until ctx
// ends; it returns once every stream it was serving has ended. A Server
// serves once.
func (s *Server) Serve(ctx context.Context) error {
	s.life.Lock()
	if s.served {
		s.life.Unlock()
		return errors.New("mailbox: Serve called twice")
	}
	s.served, s.ctx = true, ctx
	s.life.Unlock()

	s.h.SetStreamHandler(ProtocolID, s.handle)
	s.collect()
	t := time.NewTicker(s.o.GCInterval)
	for done := false; !done; {
		select {
		case <-ctx.Done():
			done = true
		case <-t.C:
			s.collect()
		}
	}
	t.Stop()
	s.h.RemoveStreamHandler(ProtocolID)
	s.life.Lock()
	s.stopping = true
	s.life.Unlock()
	s.wg.Wait()
	return nil
}

// collect deletes expired envelopes and forgets idle depositors.
func (s *Server) collect() {
	now := s.o.Now()
	s.mu.Lock()
	n, err := s.hold.collect(now)
	s.mu.Unlock()
	if err != nil {
		s.log.Error("collecting expired envelopes", "err", err)
	} else if n > 0 {
		s.log.Debug("collected expired envelopes", "count", n)
	}
	s.deposits.prune(now)
	s.replicates.prune(now)
}

// Stats reports what the holder holds. Envelopes that expired since the
// last collection still count.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Stats{Addresses: len(s.hold.boxes), Envelopes: s.hold.count, Bytes: s.hold.bytes}
}

// Addresses lists the addresses that have unexpired envelopes, in order.
func (s *Server) Addresses() []Address {
	ms := s.o.Now().UnixMilli()
	s.mu.Lock()
	var out []Address
	for a, b := range s.hold.boxes {
		for _, e := range b.entries {
			if e.expires > ms {
				out = append(out, a)
				break
			}
		}
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(x, y Address) int { return bytes.Compare(x[:], y[:]) })
	return out
}

// Envelopes returns a's unexpired envelopes in id order, with their expiry,
// as REPLICATE hands them on.
func (s *Server) Envelopes(a Address) ([]Held, error) {
	now := s.o.Now()
	s.mu.Lock()
	ids := s.hold.live(a, nil, now)
	s.mu.Unlock()
	out := make([]Held, 0, len(ids))
	for _, id := range ids {
		held, err := s.hold.read(a, id)
		if errors.Is(err, store.ErrNotFound) {
			continue // acknowledged or expired meanwhile
		}
		if err != nil {
			return out, fmt.Errorf("mailbox: reading a held envelope: %w", err)
		}
		out = append(out, held)
	}
	return out, nil
}

// handle serves one stream: one request and its answer.
func (s *Server) handle(st network.Stream) {
	s.life.Lock()
	if s.stopping {
		s.life.Unlock()
		st.Reset()
		return
	}
	s.wg.Add(1)
	ctx := s.ctx
	s.life.Unlock()
	defer s.wg.Done()

	stop := context.AfterFunc(ctx, func() { st.Reset() })
	defer stop()
	_ = st.SetDeadline(time.Now().Add(streamTimeout))
	var answer *frame
	select {
	case s.streams <- struct{}{}:
		answer = s.serve(st)
		<-s.streams
	default:
		answer = s.refusal(st.Conn().RemotePeer(), &Error{Kind: ErrRateLimited, Message: "holder busy", RetryAfter: time.Second})
	}
	if answer == nil || writeFrame(st, answer) != nil {
		st.Reset()
		return
	}
	st.Close()
}

// serve reads a request and works out its answer; nil means the stream
// failed and there is no one to answer.
func (s *Server) serve(st network.Stream) *frame {
	remote := st.Conn().RemotePeer()
	r := bufio.NewReaderSize(st, 4<<10)
	body, err := readFrame(r, maxClientFrame)
	if errors.Is(err, errOversize) {
		return s.refusal(remote, refuse(ErrTooLarge, "request over %d bytes; envelopes are at most %d bytes", maxClientFrame, s.o.MaxEnvelope))
	}
	if err != nil {
		if !errors.Is(err, ErrBadFrame) { // EOF or the stream failed
			return nil
		}
		return s.refusal(remote, err)
	}
	req, err := decodeClientFrame(body)
	if err != nil {
		return s.refusal(remote, err)
	}
	var answer *frame
	switch req.kind {
	case kindDeposit, kindReplicate:
		answer, err = s.deposit(remote, req)
	case kindRelease:
		answer, err = s.releaseReq(remote, req)
	case kindFetch, kindAck:
		var pub []byte
		if pub, err = s.challenge(st, r, req); err == nil {
			if req.kind == kindFetch {
				answer = s.page(req)
			} else {
				answer, err = s.ack(req, pub)
			}
		}
	default:
		err = badFrame("%v before a challenge", req.kind)
	}
	if err != nil {
		return s.refusal(remote, err)
	}
	return answer
}

// refusal turns err into an ERROR frame, or nil if the stream itself
// failed. It logs what is the holder's own failure or a peer's protocol
// violation, without addresses.
func (s *Server) refusal(remote peer.ID, err error) *frame {
	var e *Error
	switch {
	case errors.Is(err, errStream):
		return nil
	case errors.As(err, &e):
	case errors.Is(err, ErrBadFrame):
		s.log.Debug("malformed mailbox request", "peer", remote, "err", err)
	case errors.Is(err, errBadRecord), errors.Is(err, store.ErrTampered), errors.Is(err, store.ErrClosed):
		s.log.Error("mailbox storage", "err", err)
	default:
		s.log.Error("mailbox request failed", "err", err)
	}
	code, msg, retry := errorCode(err)
	msg = strings.TrimPrefix(msg, ErrBadFrame.Error()+": ")
	return &frame{kind: kindError, code: code, message: cleanMessage(msg), retry: uint64(retry.Milliseconds())}
}

// errStream marks an I/O failure of the stream.
var errStream = errors.New("stream failed")

// ttl is the TTL a deposit gets for the ttl (seconds) it asked.
func (s *Server) ttl(sec uint64) time.Duration {
	if sec == 0 {
		return s.o.DefaultTTL
	}
	d := time.Duration(min(sec, uint64(s.o.MaxTTL/time.Second))) * time.Second
	return min(max(d, MinTTL), s.o.MaxTTL)
}

// deposit stores a DEPOSIT's or REPLICATE's envelope, or says why not.
func (s *Server) deposit(remote peer.ID, req *frame) (*frame, error) {
	now := s.o.Now()
	lim, what, rate := s.deposits, "deposits", s.o.DepositsPerSecond
	if req.kind == kindReplicate {
		lim, what, rate = s.replicates, "replications", s.o.ReplicatesPerSecond
	}
	if ok, wait := lim.allow(remote, now); !ok {
		return nil, &Error{Kind: ErrRateLimited, Message: fmt.Sprintf("over %g %s per second from one peer", rate, what), RetryAfter: wait}
	}
	env, size := req.envelope, int64(len(req.envelope))
	if len(env) > s.o.MaxEnvelope {
		return nil, refuse(ErrTooLarge, "envelope of %d bytes; this holder takes at most %d", len(env), s.o.MaxEnvelope)
	}
	var expires int64
	if req.kind == kindReplicate {
		exp := time.UnixMilli(req.expires)
		if !exp.After(now) {
			return nil, refuse(ErrExpired, "it expired at %v (holder time %v)", exp.UTC(), now.UTC())
		}
		if limit := now.Add(s.o.MaxTTL + replicateSkew); exp.After(limit) {
			return nil, badFrame("expiry %v is past this holder's limit of %v", exp.UTC(), limit.UTC())
		}
		expires = req.expires
	} else {
		expires = now.Add(s.ttl(req.ttl)).UnixMilli()
	}
	id := sha256.Sum256(env)
	a := req.address

	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.hold.lookup(a, id); ok && e.expires > now.UnixMilli() {
		return okFrame(id, e.expires), nil // a second deposit of the same envelope
	}
	if until, signed, ok := s.hold.ackedUntil(a, id, now); ok {
		f := okFrame(id, until) // delivered already
		if req.kind == kindReplicate && signed {
			// Tell the other holder, with the recipient's proof, so that
			// it deletes its copy too.
			if pub, rel, err := s.hold.releaseOf(a, id); err == nil {
				f.pub, f.releases = pub, [][]byte{rel}
			}
		}
		return f, nil
	}
	if err := s.hold.collectBox(a, now); err != nil {
		return nil, err
	}
	var count int
	var held int64
	if b := s.hold.boxes[a]; b != nil {
		count, held = len(b.entries), b.bytes
	}
	if count >= s.o.MaxPerAddress {
		return nil, refuse(ErrQuotaExceeded, "it holds %d envelopes, the most this holder keeps for one mailbox until the recipient collects them", count)
	}
	if held+size > s.o.MaxBytesPerAddress {
		return nil, refuse(ErrQuotaExceeded, "%d more bytes would pass this holder's %d-byte limit for one mailbox (%d held)", size, s.o.MaxBytesPerAddress, held)
	}
	if s.hold.bytes+size > s.o.MaxTotalBytes {
		if _, err := s.hold.collect(now); err != nil {
			return nil, err
		}
		if s.hold.bytes+size > s.o.MaxTotalBytes {
			return nil, refuse(ErrMailboxFull, "%d of %d bytes in use; deposit at another holder", s.hold.bytes, s.o.MaxTotalBytes)
		}
	}
	if err := s.hold.store(a, id, env, expires, now); err != nil {
		return nil, err
	}
	s.log.Debug("stored an envelope", "bytes", size, "replica", req.kind == kindReplicate)
	return okFrame(id, expires), nil
}

func okFrame(id [32]byte, expires int64) *frame {
	return &frame{kind: kindOK, ids: [][32]byte{id}, expires: expires}
}

// challenge sends a nonce and checks the proof that comes back: a
// signature by the key whose hash is the request's address. It returns
// that key.
func (s *Server) challenge(st network.Stream, r *bufio.Reader, req *frame) ([]byte, error) {
	var nonce [32]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return nil, err
	}
	if err := writeFrame(st, &frame{kind: kindChallenge, nonce: nonce}); err != nil {
		return nil, fmt.Errorf("%w: %w", errStream, err)
	}
	body, err := readFrame(r, maxSmallFrame)
	if err != nil {
		if errors.Is(err, ErrBadFrame) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %w", errStream, err)
	}
	p, err := decodeClientFrame(body)
	if err != nil {
		return nil, err
	}
	if p.kind != kindProof {
		return nil, badFrame("%v in place of a PROOF", p.kind)
	}
	if addressOf(p.pub) != req.address {
		return nil, refuse(ErrUnauthorized, "this key does not own the mailbox address")
	}
	if !ed25519.Verify(p.pub, proofMessage(req.kind, s.h.ID(), nonce, req.address, req.ids), p.sig) {
		return nil, refuse(ErrUnauthorized, "the proof's signature does not verify")
	}
	return p.pub, nil
}

// page answers a proven FETCH with one page of envelopes.
func (s *Server) page(req *frame) *frame {
	now := s.o.Now()
	limit := int(min(orDefault(req.limit, defaultPageItems), maxPageItems))
	var cursor *[32]byte
	if req.hasCursor {
		cursor = &req.cursor
	}
	s.mu.Lock()
	ids := s.hold.live(req.address, cursor, now)
	s.mu.Unlock()
	out := &frame{kind: kindEnvelopes}
	size := 0
	for _, id := range ids {
		if len(out.items) == limit {
			out.more = true
			break
		}
		held, err := s.hold.read(req.address, id)
		if err != nil {
			if !errors.Is(err, store.ErrNotFound) { // else acknowledged or expired meanwhile
				s.log.Error("reading a held envelope", "err", err)
			}
			continue
		}
		n := itemSize(len(held.Envelope))
		if size+n > maxPageBytes {
			out.more = true
			break
		}
		size += n
		out.items = append(out.items, held)
	}
	return out
}

// ack deletes a proven ACK's envelopes and remembers its ids, with their
// releases if it carries them (checked under pub, the proof's key).
func (s *Server) ack(req *frame, pub []byte) (*frame, error) {
	ts := make([]tombstone, len(req.ids))
	for i, id := range req.ids {
		ts[i].id = id
		if len(req.releases) > 0 {
			if !verifyRelease(pub, req.address, id, req.releases[i]) {
				return nil, refuse(ErrUnauthorized, "release %d of the ACK does not verify", i)
			}
			ts[i].release = req.releases[i]
		}
	}
	n, err := s.applyRelease(req.address, pub, ts)
	if err != nil {
		return nil, err
	}
	s.log.Debug("acknowledged envelopes deleted", "count", n)
	return &frame{kind: kindOK}, nil
}

// releaseReq answers a RELEASE: tombstones another holder hands on, each
// with the recipient's release.
func (s *Server) releaseReq(remote peer.ID, req *frame) (*frame, error) {
	if ok, wait := s.replicates.allow(remote, s.o.Now()); !ok {
		return nil, &Error{Kind: ErrRateLimited, Message: fmt.Sprintf("over %g replications per second from one peer", s.o.ReplicatesPerSecond), RetryAfter: wait}
	}
	for i, t := range req.tombs {
		if !verifyRelease(req.pub, req.address, t.id, t.release) {
			return nil, refuse(ErrUnauthorized, "release %d does not verify under the key given for the address", i)
		}
	}
	n, err := s.applyRelease(req.address, req.pub, req.tombs)
	if err != nil {
		return nil, err
	}
	s.log.Debug("released envelopes deleted", "count", n, "tombstones", len(req.tombs))
	return &frame{kind: kindOK}, nil
}

// applyRelease deletes the envelopes ts name and remembers them, until
// at most MaxTTL (and the clock skew a REPLICATE may have) from now. Their
// releases must have been checked under pub.
func (s *Server) applyRelease(a Address, pub []byte, ts []tombstone) (int, error) {
	now := s.o.Now()
	horizon := now.Add(s.o.MaxTTL + replicateSkew).UnixMilli()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hold.release(a, pub, ts, horizon, now)
}
