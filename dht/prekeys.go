package dht

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/discordopus/discordopus/e2e"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// PrekeyNamespace is the DHT record namespace of prekey bundles.
const PrekeyNamespace = "prekeys"

// Defaults for BundlePublisher and FetchBundle.
const (
	DefaultRepublishInterval  = time.Hour
	DefaultFetchBundleTimeout = 10 * time.Second
	publishRetryMin           = 5 * time.Second
	publishRetryMax           = 5 * time.Minute
)

// PrekeyValidator validates the prekey namespace; register it in
// Options.Namespaces under PrekeyNamespace.
func PrekeyValidator() SignedNamespace {
	return SignedNamespace{
		MaxPayload: e2e.MaxBundleSize,
		Check: func(owner peer.ID, payload []byte) error {
			_, err := openBundle(owner, payload)
			return err
		},
	}
}

// openBundle parses payload as owner's bundle and verifies it.
func openBundle(owner peer.ID, payload []byte) (*e2e.Bundle, error) {
	b, err := e2e.ParseBundle(payload)
	if err != nil {
		return nil, fmt.Errorf("prekey bundle: %w", err)
	}
	if err := b.Verify(); err != nil {
		return nil, fmt.Errorf("prekey bundle: %w", err)
	}
	pub, err := owner.ExtractPublicKey()
	if err != nil {
		return nil, fmt.Errorf("prekey bundle: owner key: %w", err)
	}
	if pub.Type() != crypto.Ed25519 {
		return nil, fmt.Errorf("prekey bundle: owner key is %s, want Ed25519", pub.Type())
	}
	raw, err := pub.Raw()
	if err != nil {
		return nil, fmt.Errorf("prekey bundle: owner key: %w", err)
	}
	if !bytes.Equal(raw, b.Identity) {
		return nil, fmt.Errorf("prekey bundle: %w: the bundle's identity is not the record owner %s", e2e.ErrWrongPeer, owner)
	}
	return b, nil
}

// FetchBundle fetches owner's prekey bundle and checks it: the record's
// signature, the bundle's signatures, and that it is owner's. Without a
// deadline in ctx it gives up after DefaultFetchBundleTimeout.
func (d *DHT) FetchBundle(ctx context.Context, owner peer.ID) (*e2e.Bundle, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultFetchBundleTimeout)
		defer cancel()
	}
	rec, err := d.GetSigned(ctx, PrekeyNamespace, owner)
	if err != nil {
		return nil, fmt.Errorf("fetch prekey bundle: %w", err)
	}
	b, err := openBundle(owner, rec.Payload)
	if err != nil {
		return nil, fmt.Errorf("fetch prekey bundle of %s: %w: %w", owner, ErrBadRecord, err)
	}
	return b, nil
}

// BundleSource is where a BundlePublisher takes the bundle from, with its
// record sequence number (*keystore.PrekeyStore is one).
type BundleSource interface {
	Bundle() (*e2e.Bundle, uint64, error)
}

// PublisherOptions configure a BundlePublisher.
type PublisherOptions struct {
	// Source gives the bundle and its sequence number; required.
	Source BundleSource
	// Changed, if set, triggers a publish whenever it is signalled (say
	// keystore's PrekeyStore.Changed).
	Changed <-chan struct{}
	// Interval between republishes (default DefaultRepublishInterval).
	Interval time.Duration
	// After is the timer; nil means time.After. Tests inject their own.
	After func(time.Duration) <-chan time.Time
	// Logger; nil means the DHT's.
	Logger *slog.Logger
}

// BundlePublisher keeps this node's prekey bundle published.
type BundlePublisher struct {
	o       PublisherOptions
	put     func(ctx context.Context, namespace string, seq uint64, payload []byte) error
	log     *slog.Logger
	trigger chan struct{}

	mu        sync.Mutex
	published uint64 // seq of the last successful publish
	lastErr   error
}

// NewBundlePublisher returns a publisher of o.Source's bundle through d; run
// its Serve.
func (d *DHT) NewBundlePublisher(o PublisherOptions) (*BundlePublisher, error) {
	if o.Source == nil {
		return nil, errors.New("bundle publisher: no Source")
	}
	if o.Logger == nil {
		o.Logger = d.log
	}
	return newBundlePublisher(o, d.PutSigned), nil
}

func newBundlePublisher(o PublisherOptions, put func(context.Context, string, uint64, []byte) error) *BundlePublisher {
	if o.Interval <= 0 {
		o.Interval = DefaultRepublishInterval
	}
	if o.After == nil {
		o.After = time.After
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return &BundlePublisher{o: o, put: put, log: o.Logger.With("component", "prekey-publisher"), trigger: make(chan struct{}, 1)}
}

// Republish asks for a publish now (coalesced with one already pending).
func (p *BundlePublisher) Republish() {
	select {
	case p.trigger <- struct{}{}:
	default:
	}
}

// Published returns the sequence number of the last successful publish (0
// if none) and the error of the latest attempt, if it failed.
func (p *BundlePublisher) Published() (uint64, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.published, p.lastErr
}

// Serve publishes at once, then every Interval and whenever triggered,
// retrying failures with backoff, until ctx ends.
func (p *BundlePublisher) Serve(ctx context.Context) error {
	backoff := publishRetryMin
	for {
		wait := p.o.Interval
		if err := p.publish(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			p.log.Warn("publishing the prekey bundle failed; retrying", "in", backoff, "err", err)
			wait = backoff
			backoff = min(2*backoff, publishRetryMax)
		} else {
			backoff = publishRetryMin
		}
		select {
		case <-ctx.Done():
			return nil
		case <-p.o.After(wait):
		case <-p.trigger:
		case <-p.o.Changed: // a nil channel never fires
		}
	}
}

func (p *BundlePublisher) publish(ctx context.Context) error {
	b, seq, err := p.o.Source.Bundle()
	if err == nil {
		var payload []byte
		if payload, err = b.MarshalBinary(); err == nil {
			err = p.put(ctx, PrekeyNamespace, seq, payload)
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.lastErr = err
	if err != nil {
		return fmt.Errorf("publish prekey bundle: %w", err)
	}
	p.published = seq
	p.log.Debug("published the prekey bundle", "seq", seq, "prekey", b.PrekeyID)
	return nil
}
