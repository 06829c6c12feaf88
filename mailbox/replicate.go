package mailbox

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	kb "github.com/libp2p/go-libp2p-kbucket"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Closest finds the DHT servers closest to a key, nearest first, without
// the node itself. *dht.DHT satisfies it.
type Closest interface {
	ClosestPeers(ctx context.Context, key []byte) ([]peer.ID, error)
}

// Replication defaults; doc.go, "Replication and repair".
const (
	DefaultReplicas       = 5
	DefaultQuorum         = 3
	DefaultRepairInterval = 10 * time.Minute
	DefaultResyncAfter    = 6 * time.Hour
	DefaultRepairBytes    = 256 << 20
	DefaultRepairAddrs    = 4096
	repairConcurrency     = 4 // addresses repaired at once
	lookupTimeout         = 30 * time.Second
)

// RepairOptions configure a Repairer. Zero values mean the defaults.
type RepairOptions struct {
	// Closest finds the current closest holders of an address.
	Closest Closest
	// Replicas is R: how many of the closest DHT servers (this node
	// included, if it is among them) should hold each envelope.
	Replicas int
	// Interval is the time between rounds; Tick, if set, replaces the
	// ticker: a round runs whenever it delivers (tests).
	Interval time.Duration
	Tick     <-chan time.Time
	// MaxAddresses and MaxBytes bound one round: addresses looked at and
	// envelope bytes sent. The rest waits for the next round, which
	// starts where this one stopped.
	MaxAddresses int
	MaxBytes     int64
	// ResyncAfter is how long an address whose holders and contents have
	// not changed since it was last handed on in full is left alone.
	ResyncAfter time.Duration
	// CallTimeout bounds each call to another holder.
	CallTimeout time.Duration
	Logger      *slog.Logger
}

// RepairStats say what a round did.
type RepairStats struct {
	Addresses  int   // addresses looked at
	Unchanged  int   // of which left alone: handed on in full recently
	Sent       int   // envelopes handed to another holder (REPLICATE answered OK)
	Bytes      int64 // envelope bytes sent
	Tombstones int   // tombstones handed on (with the recipient's release)
	Released   int   // envelopes deleted here: another holder showed they were acknowledged
	Failures   int   // lookups and holder calls that failed
	Truncated  bool  // the round stopped at a bound; the next one goes on
}

// Repairer keeps a holder's envelopes at the R DHT servers currently
// closest to their address: it hands them on as membership changes, with
// their acknowledgements (tombstones), and never deletes unexpired mail
// just because this holder is no longer among the closest.
type Repairer struct {
	s   *Server
	o   RepairOptions
	log *slog.Logger

	round  sync.Mutex // one round at a time; guards cursor
	cursor *Address   // the last address of a round cut short

	mu     sync.Mutex // guards pushed, which a round's workers share
	pushed map[Address]pushState
}

// pushState says which of an address's holders were last handed
// everything it held and released, and when.
type pushState struct {
	content [32]byte // contentPrint of what they were handed
	at      map[peer.ID]time.Time
}

// NewRepairer makes a Repairer for s's holdings; Serve runs it.
func NewRepairer(s *Server, o RepairOptions) (*Repairer, error) {
	if s == nil || o.Closest == nil {
		return nil, errors.New("mailbox: NewRepairer needs a server and a way to find the closest peers")
	}
	o.Replicas = orDefault(o.Replicas, DefaultReplicas)
	o.Interval = orDefault(o.Interval, DefaultRepairInterval)
	o.MaxAddresses = orDefault(o.MaxAddresses, DefaultRepairAddrs)
	o.MaxBytes = orDefault(o.MaxBytes, DefaultRepairBytes)
	o.ResyncAfter = orDefault(o.ResyncAfter, DefaultResyncAfter)
	o.CallTimeout = orDefault(o.CallTimeout, DefaultTimeout)
	if o.Logger == nil {
		o.Logger = s.o.Logger
	}
	if o.Replicas < 1 || o.Interval < 0 || o.MaxAddresses < 1 || o.MaxBytes < 1 || o.CallTimeout < 0 {
		return nil, errors.New("mailbox: repair options must be positive")
	}
	return &Repairer{s: s, o: o, log: o.Logger.With("service", "mailbox-repair"), pushed: map[Address]pushState{}}, nil
}

// Serve runs a round every Interval (or at every Tick) until ctx ends.
// Each round has Interval to finish.
func (r *Repairer) Serve(ctx context.Context) error {
	tick := r.o.Tick
	if tick == nil {
		t := time.NewTicker(r.o.Interval)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick:
		}
		rctx, cancel := context.WithTimeout(ctx, r.o.Interval)
		st, err := r.Round(rctx)
		cancel()
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil && !errors.Is(err, context.DeadlineExceeded):
			r.log.Warn("mailbox repair round failed", "err", err)
		case st.Sent > 0 || st.Released > 0 || st.Failures > 0 || st.Truncated:
			r.log.Info("mailbox repair round", "addresses", st.Addresses, "sent", st.Sent, "bytes", st.Bytes,
				"tombstones", st.Tombstones, "released", st.Released, "failures", st.Failures, "truncated", st.Truncated)
		}
	}
}

// Round looks at every address held (up to the round's bounds) once: it
// finds the address's R closest holders and hands each of them, but this
// node, the address's tombstones and envelopes. A holder that answers with
// the recipient's release of an envelope makes this node delete its copy
// and tell the others. Rounds do not overlap.
func (r *Repairer) Round(ctx context.Context) (RepairStats, error) {
	r.round.Lock()
	defer r.round.Unlock()
	now := r.s.o.Now()
	addrs := r.s.repairAddresses(now)
	r.mu.Lock()
	for a := range r.pushed {
		if _, found := slices.BinarySearchFunc(addrs, a, compareAddr); !found {
			delete(r.pushed, a)
		}
	}
	r.mu.Unlock()
	// Start after where the last round stopped, and wrap around.
	if r.cursor != nil {
		i, found := slices.BinarySearchFunc(addrs, *r.cursor, compareAddr)
		if found {
			i++
		}
		addrs = slices.Concat(addrs[i:], addrs[:i])
	}
	var st RepairStats
	if len(addrs) > r.o.MaxAddresses {
		addrs, st.Truncated = addrs[:r.o.MaxAddresses], true
	}

	var (
		mu     sync.Mutex // guards st and done while workers run
		budget = &byteBudget{left: r.o.MaxBytes}
		next   atomic.Int64 // index of the next address to take
		done   = make([]bool, len(addrs))
		wg     sync.WaitGroup
	)
	for range min(repairConcurrency, len(addrs)) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(addrs) || ctx.Err() != nil || budget.exhausted() {
					return
				}
				ast, complete := r.repair(ctx, addrs[i], now, budget)
				mu.Lock()
				st.add(ast)
				done[i] = complete
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	// The cursor is the last address of the run of completed ones: the
	// next round starts after it.
	r.cursor = nil
	for i, ok := range done {
		if !ok {
			st.Truncated = true
			break
		}
		a := addrs[i]
		r.cursor = &a
	}
	if !st.Truncated {
		r.cursor = nil
	}
	return st, ctx.Err()
}

func (st *RepairStats) add(o RepairStats) {
	st.Addresses += o.Addresses
	st.Unchanged += o.Unchanged
	st.Sent += o.Sent
	st.Bytes += o.Bytes
	st.Tombstones += o.Tombstones
	st.Released += o.Released
	st.Failures += o.Failures
	st.Truncated = st.Truncated || o.Truncated
}

func compareAddr(x, y Address) int { return bytes.Compare(x[:], y[:]) }

// byteBudget is what a round may still send. The first address of a
// round always gets what it needs (or a round could make no progress);
// the others only if it fits.
type byteBudget struct {
	mu    sync.Mutex
	left  int64
	taken bool
}

func (b *byteBudget) take(n int64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.taken && (n > b.left || b.left <= 0) {
		b.left = 0 // the rest waits for the next round
		return false
	}
	b.left -= n
	b.taken = true
	return true
}

func (b *byteBudget) exhausted() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.taken && b.left <= 0
}

// repair hands a's tombstones and envelopes to those of its closest
// holders that have not had them, as they are now, within ResyncAfter.
// It reports whether the round may go on past a (it did not stop at the
// byte budget or the round's end).
func (r *Repairer) repair(ctx context.Context, a Address, now time.Time, budget *byteBudget) (RepairStats, bool) {
	st := RepairStats{Addresses: 1}
	targets, err := r.targets(ctx, a)
	if err != nil {
		st.Failures++
		r.log.Debug("mailbox repair: finding holders", "err", err)
		return st, ctx.Err() == nil
	}
	ids, tombIDs := r.s.snapshot(a, now)
	content := contentPrint(ids, tombIDs)
	prev := r.pushedState(a)
	state := pushState{content: content, at: map[peer.ID]time.Time{}}
	var due []peer.ID
	for _, p := range targets {
		if t, ok := prev.at[p]; ok && prev.content == content && now.Sub(t) < r.o.ResyncAfter {
			state.at[p] = t
		} else {
			due = append(due, p)
		}
	}
	if len(due) == 0 {
		st.Unchanged++
		r.setPushed(a, state)
		return st, true
	}
	envs, err := r.s.Envelopes(a)
	if err != nil {
		st.Failures++
		r.log.Error("mailbox repair: reading envelopes", "err", err)
		return st, true
	}
	pub, tombs, err := r.s.releasedTombs(a, now)
	if err != nil {
		st.Failures++
		r.log.Error("mailbox repair: reading tombstones", "err", err)
		return st, true
	}
	var need int64
	for _, e := range envs {
		need += int64(len(e.Envelope))
	}
	if !budget.take(need * int64(len(due))) {
		return st, false
	}

	var (
		mu      sync.Mutex
		wg      sync.WaitGroup
		learned []released
	)
	for _, p := range due {
		wg.Go(func() {
			ts, learnedHere, delivered := r.handOn(ctx, p, a, pub, tombs, envs)
			mu.Lock()
			defer mu.Unlock()
			st.add(ts)
			learned = append(learned, learnedHere...)
			if delivered {
				state.at[p] = now
			}
		})
	}
	wg.Wait()

	if len(learned) > 0 {
		// A holder had these acknowledged: delete them here and tell every
		// holder, including any that just stored them.
		pub := learned[0].pub // verified releases for one address: one key
		ts := make([]tombstone, 0, len(learned))
		for _, l := range learned {
			ts = append(ts, l.t)
		}
		n, err := r.s.applyRelease(a, pub, ts)
		if err != nil {
			st.Failures++
			r.log.Error("mailbox repair: deleting released envelopes", "err", err)
			return st, true
		}
		st.Released += n
		for _, p := range targets {
			wg.Go(func() {
				cctx, cancel := context.WithTimeout(ctx, r.o.CallTimeout)
				defer cancel()
				err := sendReleases(cctx, r.s.h, p, a, pub, ts)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					st.Failures++
					delete(state.at, p)
				} else {
					st.Tombstones += len(ts)
				}
			})
		}
		wg.Wait()
		// What the holders now have: the same, less the released
		// envelopes, plus their tombstones.
		gone := map[[32]byte]bool{}
		for _, t := range ts {
			gone[t.id] = true
		}
		ids = slices.DeleteFunc(ids, func(id [32]byte) bool { return gone[id] })
		for id := range gone {
			if _, found := slices.BinarySearchFunc(tombIDs, id, compareID); !found {
				tombIDs = append(tombIDs, id)
			}
		}
		slices.SortFunc(tombIDs, compareID)
		state.content = contentPrint(ids, tombIDs)
	}
	r.setPushed(a, state)
	return st, ctx.Err() == nil
}

func compareID(x, y [32]byte) int { return bytes.Compare(x[:], y[:]) }

func (r *Repairer) pushedState(a Address) pushState {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.pushed[a]
}

func (r *Repairer) setPushed(a Address, p pushState) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pushed[a] = p
}

// targets are the R closest DHT servers to a, this node counted among
// them, without this node.
func (r *Repairer) targets(ctx context.Context, a Address) ([]peer.ID, error) {
	lctx, cancel := context.WithTimeout(ctx, lookupTimeout)
	defer cancel()
	peers, err := r.o.Closest.ClosestPeers(lctx, a[:])
	if err != nil {
		return nil, err
	}
	self := r.s.h.ID()
	peers = slices.DeleteFunc(slices.Clone(peers), func(p peer.ID) bool { return p == self || !mayHold(r.s.h, p) })
	all := kb.SortClosestPeers(append(peers, self), kb.ConvertKey(string(a[:])))
	all = all[:min(len(all), r.o.Replicas)]
	return slices.DeleteFunc(all, func(p peer.ID) bool { return p == self }), nil
}

// mayHold is false for a peer known not to serve the mailbox protocol (a
// DHT server without the mailbox role), true if it does or is unknown.
func mayHold(h host.Host, p peer.ID) bool {
	protos, err := h.Peerstore().GetProtocols(p)
	if err != nil || len(protos) == 0 {
		return true
	}
	return slices.Contains(protos, ProtocolID)
}

// handOn gives holder p a's tombstones, then its envelopes, stopping at
// the round's end or at a refusal that more would not change. It returns
// the releases p answered with and whether p took everything.
func (r *Repairer) handOn(ctx context.Context, p peer.ID, a Address, pub []byte, tombs []tombstone, envs []Held) (RepairStats, []released, bool) {
	var st RepairStats
	var learned []released
	if len(tombs) > 0 {
		cctx, cancel := context.WithTimeout(ctx, r.o.CallTimeout)
		err := sendReleases(cctx, r.s.h, p, a, pub, tombs)
		cancel()
		if err != nil {
			st.Failures++
			r.log.Debug("mailbox repair: handing on tombstones", "err", err)
			return st, nil, false
		}
		st.Tombstones += len(tombs)
	}
	for _, e := range envs {
		if ctx.Err() != nil {
			return st, learned, false
		}
		cctx, cancel := context.WithTimeout(ctx, r.o.CallTimeout)
		rel, err := replicate(cctx, r.s.h, p, a, e)
		cancel()
		switch {
		case err == nil:
			st.Sent++
			st.Bytes += int64(len(e.Envelope))
			if rel != nil {
				learned = append(learned, *rel)
			}
		case errors.Is(err, ErrExpired):
			// Its clock is ahead of ours; it goes at its expiry here too.
		default:
			// Unreachable, rate limiting, full, over quota or broken:
			// more of the same would fail too. The next round tries again.
			st.Failures++
			r.log.Debug("mailbox repair: handing on envelopes", "err", err)
			return st, learned, false
		}
	}
	return st, learned, true
}

// repairAddresses lists, in order, the addresses that have unexpired
// envelopes or signed tombstones.
func (s *Server) repairAddresses(now time.Time) []Address {
	out := s.Addresses()
	ms := now.UnixMilli()
	s.mu.Lock()
	for a, m := range s.hold.tombs {
		if _, held := slices.BinarySearchFunc(out, a, compareAddr); held {
			continue
		}
		for _, t := range m {
			if t.signed && t.expires > ms {
				out = append(out, a)
				break
			}
		}
	}
	s.mu.Unlock()
	slices.SortFunc(out, compareAddr)
	return out
}

// snapshot lists, in order, the ids of a's unexpired envelopes and of
// its unexpired signed tombstones.
func (s *Server) snapshot(a Address, now time.Time) (ids, tombs [][32]byte) {
	ms := now.UnixMilli()
	s.mu.Lock()
	ids = s.hold.live(a, nil, now)
	for id, t := range s.hold.tombs[a] {
		if t.signed && t.expires > ms {
			tombs = append(tombs, id)
		}
	}
	s.mu.Unlock()
	slices.SortFunc(tombs, compareID)
	return ids, tombs
}

// contentPrint sums up what is held and released for an address.
func contentPrint(ids, tombs [][32]byte) [32]byte {
	h := sha256.New()
	for _, id := range ids {
		h.Write(id[:])
	}
	h.Write([]byte("tombstones"))
	for _, id := range tombs {
		h.Write(id[:])
	}
	return [32]byte(h.Sum(nil))
}

// releasedTombs lists a's signed tombstones with the key they verify
// under.
func (s *Server) releasedTombs(a Address, now time.Time) ([]byte, []tombstone, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hold.released(a, now)
}
