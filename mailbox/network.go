package mailbox

import (
	"bytes"
	"cmp"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
)

// ErrNoQuorum: too few holders stored a deposit. The *QuorumError that
// wraps it also wraps each holder's refusal (ErrMailboxFull, ...).
var ErrNoQuorum = errors.New("too few mailbox holders stored the envelope")

// ErrNoHolders: the DHT knows no server near the address.
var ErrNoHolders = errors.New("no mailbox holders found near the address")

// MaxDrainEpochs bounds the epochs one Drain walks.
const MaxDrainEpochs = 64

// afterQuorum is how long a deposit waits for the holders still
// answering once a quorum has stored it; a variable for tests.
var afterQuorum = 2 * time.Second

// drainAhead is how many epochs Drain fetches ahead of the one it hands on.
const drainAhead = 3

// NetworkOptions configure a Network. Zero values mean the defaults.
type NetworkOptions struct {
	// Host is the identity deposits and fetches are made from: holders
	// see its PeerID (doc.go, "Threat model").
	Host host.Host
	// Closest finds the DHT servers closest to an address.
	Closest Closest
	// Replicas is R, the holders a deposit is placed at; Quorum of them
	// must store it (at most Replicas).
	Replicas, Quorum int
	// FetchFrom is how many of the closest holders Drain fetches each
	// epoch from (default Replicas); AckAt is how many of the closest it
	// acknowledges at, besides every holder that had the envelopes
	// (default 2 * Replicas).
	FetchFrom, AckAt int
	// CallTimeout bounds each call to a holder.
	CallTimeout time.Duration
	Logger      *slog.Logger
}

// Network is the client side of replicated mailboxes: it deposits at the
// R DHT servers closest to an address, and drains a mailbox from several
// of them.
type Network struct {
	h   host.Host
	o   NetworkOptions
	log *slog.Logger
}

// NewNetwork makes a Network.
func NewNetwork(o NetworkOptions) (*Network, error) {
	if o.Host == nil || o.Closest == nil {
		return nil, errors.New("mailbox: NewNetwork needs a host and a way to find the closest peers")
	}
	o.Replicas = orDefault(o.Replicas, DefaultReplicas)
	o.Quorum = orDefault(o.Quorum, min(DefaultQuorum, o.Replicas))
	o.FetchFrom = orDefault(o.FetchFrom, o.Replicas)
	o.AckAt = orDefault(o.AckAt, 2*o.Replicas)
	o.CallTimeout = orDefault(o.CallTimeout, DefaultTimeout)
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Replicas < 1 || o.Quorum < 1 || o.Quorum > o.Replicas || o.FetchFrom < 1 || o.AckAt < 0 || o.CallTimeout < 0 {
		return nil, fmt.Errorf("mailbox: want 1 <= Quorum (%d) <= Replicas (%d), FetchFrom >= 1, AckAt >= 0", o.Quorum, o.Replicas)
	}
	return &Network{h: o.Host, o: o, log: o.Logger.With("component", "mailbox-client")}, nil
}

// QuorumError is a deposit that too few holders stored.
type QuorumError struct {
	Stored, Quorum int     // holders that stored it, holders needed
	Errs           []error // each refusal or failure, by holder
}

func (e *QuorumError) Error() string {
	counts := map[string]int{}
	var kinds []string
	for _, err := range e.Errs {
		k := "unreachable"
		for _, c := range quorumLabels {
			if errors.Is(err, c.err) {
				k = c.label
				break
			}
		}
		if counts[k] == 0 {
			kinds = append(kinds, k)
		}
		counts[k]++
	}
	var why []string
	for _, k := range kinds {
		why = append(why, fmt.Sprintf("%d %s", counts[k], k))
	}
	msg := fmt.Sprintf("mailbox deposit: stored at %d of the %d holders needed", e.Stored, e.Quorum)
	if len(why) > 0 {
		msg += " (" + strings.Join(why, ", ") + ")"
	}
	if len(e.Errs) > 0 {
		msg += "; first refusal: " + e.Errs[0].Error()
	}
	return msg
}

var quorumLabels = []struct {
	err   error
	label string
}{
	{ErrMailboxFull, "out of space"},
	{ErrQuotaExceeded, "over the recipient's quota"},
	{ErrRateLimited, "rate limiting"},
	{ErrTooLarge, "refusing the size"},
	{ErrBadFrame, "broke the protocol"},
	{ErrHolderFailed, "failed"},
	{ErrUnauthorized, "refused"},
	{ErrExpired, "refused"},
	{context.DeadlineExceeded, "timed out"},
}

// Unwrap makes errors.Is see ErrNoQuorum and every holder's error.
func (e *QuorumError) Unwrap() []error { return append([]error{ErrNoQuorum}, e.Errs...) }

// closest lists the holders nearest addr, without this host.
func (n *Network) closest(ctx context.Context, addr Address) ([]peer.ID, error) {
	lctx, cancel := context.WithTimeout(ctx, lookupTimeout)
	defer cancel()
	peers, err := n.o.Closest.ClosestPeers(lctx, addr[:])
	if err != nil {
		return nil, err
	}
	self := n.h.ID()
	peers = slices.DeleteFunc(slices.Clone(peers), func(p peer.ID) bool { return p == self || !mayHold(n.h, p) })
	if len(peers) == 0 {
		return nil, ErrNoHolders
	}
	return peers, nil
}

// Deposit leaves env at addr for ttl (0: the holders' default) at
// Replicas of the DHT servers closest to addr, concurrently, going down
// the list past holders that refuse or cannot be reached. It returns nil
// once Quorum of them stored it (holders still answering then get a
// moment more), else a *QuorumError wrapping ErrNoQuorum and the
// holders' refusals.
func (n *Network) Deposit(ctx context.Context, addr Address, env []byte, ttl time.Duration) error {
	if err := checkOutgoing(env); err != nil {
		return fmt.Errorf("mailbox deposit: %w", err)
	}
	if ttl < 0 {
		return fmt.Errorf("mailbox deposit: negative TTL %v", ttl)
	}
	cands, err := n.closest(ctx, addr)
	if err != nil {
		return fmt.Errorf("mailbox deposit: finding holders: %w", err)
	}
	// A network with fewer servers than the quorum can do no better than
	// all of them.
	quorum := min(n.o.Quorum, len(cands))
	actx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		p   peer.ID
		err error
	}
	results := make(chan result)
	next, inflight, stored := 0, 0, 0
	var errs []error
	launch := func() {
		p := cands[next]
		next++
		inflight++
		go func() {
			cctx, cancel := context.WithTimeout(actx, n.o.CallTimeout)
			defer cancel()
			_, err := Deposit(cctx, n.h, p, addr, env, ttl)
			results <- result{p, err}
		}()
	}
	for inflight < n.o.Replicas && next < len(cands) {
		launch()
	}
	var grace *time.Timer
	for inflight > 0 {
		r := <-results
		inflight--
		if r.err == nil {
			stored++
		} else {
			errs = append(errs, r.err)
		}
		if stored >= quorum && grace == nil {
			grace = time.AfterFunc(afterQuorum, cancel)
		}
		if stored+inflight < n.o.Replicas && next < len(cands) && actx.Err() == nil {
			launch()
		}
	}
	if grace != nil {
		grace.Stop()
	}
	if stored < quorum {
		if err := ctx.Err(); err != nil && len(errs) == 0 {
			return fmt.Errorf("mailbox deposit: %w", err)
		}
		return &QuorumError{Stored: stored, Quorum: quorum, Errs: errs}
	}
	if len(errs) > 0 {
		n.log.Debug("mailbox deposit stored with refusals", "stored", stored, "refused", len(errs))
	}
	return nil
}

// DrainRange is the range of epochs a recipient drains at now: every
// epoch a deposit may still be kept for (MaxTTL back), and the next one
// (clocks drift).
func DrainRange(now time.Time) (from, to uint64) {
	return Epoch(now.Add(-MaxTTL)), Epoch(now) + 1
}

// drained is one envelope found at one or more holders.
type drained struct {
	held    Held
	holders []peer.ID
}

// epochMail is what Drain found for one epoch.
type epochMail struct {
	epoch   uint64
	items   []*drained
	closest []peer.ID
	err     error
}

// Drain collects keys' mailbox for the epochs from to to (inclusive; see
// DrainRange). For each epoch it fetches from FetchFrom of the closest
// holders (going down the list past those that fail), merges what they
// hold by envelope id, and hands each envelope once to handle, in order
// of expiry then id (holders do not know the order of deposits; the chat
// layer orders messages by their own ids). An envelope handle returns nil
// for is acknowledged, with the recipient's release, at every holder that
// had it and at the AckAt closest holders, so that a replica found later
// is refused; one it fails on stays for the next Drain (a caller that can
// never use an envelope, e.g. one no session opens, should return nil).
// Drain returns how many envelopes handle took, and the errors of epochs
// it could not fetch, of handle and of acknowledgements that reached no
// holder, joined.
func (n *Network) Drain(ctx context.Context, keys *Keys, from, to uint64, handle func(env []byte) error) (int, error) {
	if to < from || to-from >= MaxDrainEpochs {
		return 0, fmt.Errorf("mailbox drain: epochs %d to %d: want at most %d, in order", from, to, MaxDrainEpochs)
	}
	count := int(to-from) + 1
	found := make([]chan epochMail, count)
	for i := range found {
		found[i] = make(chan epochMail, 1)
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	start := func(i int) {
		if i < count {
			wg.Go(func() { found[i] <- n.fetchEpoch(ctx, keys, from+uint64(i)) })
		}
	}
	for i := range drainAhead {
		start(i)
	}
	var (
		took        int
		errs        []error
		handleErrs  int
		firstHandle error
	)
	for i := range count {
		m := <-found[i]
		start(i + drainAhead)
		if m.err != nil {
			errs = append(errs, m.err)
		}
		if len(m.items) == 0 {
			continue
		}
		var ok [][32]byte
		for _, d := range m.items {
			if ctx.Err() != nil {
				break
			}
			if err := handle(d.held.Envelope); err != nil {
				handleErrs++
				if firstHandle == nil {
					firstHandle = err
				}
				continue
			}
			ok = append(ok, d.held.ID)
			took++
		}
		if len(ok) > 0 {
			if err := n.ackEpoch(ctx, keys, m, ok); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if handleErrs > 0 {
		errs = append(errs, fmt.Errorf("mailbox drain: %d envelopes not handled, kept for the next drain; first: %w", handleErrs, firstHandle))
	}
	return took, errors.Join(errs...)
}

// fetchEpoch fetches epoch's mailbox from FetchFrom of its closest
// holders and merges what they hold.
func (n *Network) fetchEpoch(ctx context.Context, keys *Keys, epoch uint64) epochMail {
	m := epochMail{epoch: epoch}
	priv := keys.Private(epoch)
	defer clear(priv)
	addr := addressOf(priv.Public().(ed25519.PublicKey))
	cands, err := n.closest(ctx, addr)
	if err != nil {
		if !errors.Is(err, ErrNoHolders) {
			m.err = fmt.Errorf("mailbox drain of epoch %d: finding holders: %w", epoch, err)
		}
		return m
	}
	m.closest = cands

	type result struct {
		p     peer.ID
		items []Held
		err   error
	}
	results := make(chan result)
	next, inflight, answered := 0, 0, 0
	launch := func() {
		p := cands[next]
		next++
		inflight++
		go func() {
			cctx, cancel := context.WithTimeout(ctx, n.o.CallTimeout)
			defer cancel()
			items, err := Fetch(cctx, n.h, p, priv)
			results <- result{p, items, err}
		}()
	}
	for inflight < n.o.FetchFrom && next < len(cands) {
		launch()
	}
	byID := map[[32]byte]*drained{}
	var errs []error
	for inflight > 0 {
		r := <-results
		inflight--
		for _, it := range r.items {
			d := byID[it.ID]
			if d == nil {
				d = &drained{held: it}
				byID[it.ID] = d
			} else if it.Expires.Before(d.held.Expires) {
				d.held.Expires = it.Expires
			}
			d.holders = append(d.holders, r.p)
		}
		if r.err != nil {
			errs = append(errs, r.err)
		} else {
			answered++
		}
		if answered+inflight < n.o.FetchFrom && next < len(cands) && ctx.Err() == nil {
			launch()
		}
	}
	// A deposit is at Quorum of Replicas holders, so up to Replicas-Quorum
	// of the closest may lack any one envelope: the epoch is complete only
	// once enough holders answered that one of them must have it.
	if need := min(n.o.Replicas-n.o.Quorum+1, len(cands)); answered < need {
		m.err = fmt.Errorf("mailbox drain of epoch %d: %d of the %d holders needed answered: %w", epoch, answered, need, errors.Join(errs...))
	} else if len(errs) > 0 {
		n.log.Debug("mailbox drain: some holders failed", "epoch", epoch, "answered", answered, "failed", len(errs))
	}
	for _, d := range byID {
		m.items = append(m.items, d)
	}
	slices.SortFunc(m.items, func(x, y *drained) int {
		return cmp.Or(x.held.Expires.Compare(y.held.Expires), bytes.Compare(x.held.ID[:], y.held.ID[:]))
	})
	return m
}

// ackEpoch acknowledges ids, with their releases, at every holder that
// had one of them and at the AckAt closest holders.
func (n *Network) ackEpoch(ctx context.Context, keys *Keys, m epochMail, ids [][32]byte) error {
	priv := keys.Private(m.epoch)
	defer clear(priv)
	addr := addressOf(priv.Public().(ed25519.PublicKey))
	rels := releases(priv, addr, ids)
	targets := slices.Clone(m.closest[:min(len(m.closest), n.o.AckAt)])
	for _, d := range m.items {
		for _, p := range d.holders {
			if !slices.Contains(targets, p) {
				targets = append(targets, p)
			}
		}
	}
	errs := make([]error, len(targets))
	var wg sync.WaitGroup
	for i, p := range targets {
		wg.Go(func() {
			cctx, cancel := context.WithTimeout(ctx, n.o.CallTimeout)
			defer cancel()
			errs[i] = ack(cctx, n.h, p, priv, ids, rels)
		})
	}
	wg.Wait()
	failed := 0
	for _, err := range errs {
		if err != nil {
			failed++
		}
	}
	if failed == len(targets) {
		return fmt.Errorf("mailbox drain of epoch %d: acknowledging at no holder: %w", m.epoch, errors.Join(errs...))
	}
	if failed > 0 {
		n.log.Debug("mailbox drain: some acknowledgements failed", "epoch", m.epoch, "failed", failed, "of", len(targets))
	}
	return nil
}
