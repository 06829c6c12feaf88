package chat

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/discordopus/discordopus/e2e"
	"github.com/discordopus/discordopus/store"
)

// ProtocolID is the direct-message stream protocol.
const ProtocolID protocol.ID = "/discordopus/chat/1"

// Prekeys is the local prekey store: what the receiver of an initial
// message looks its keys up in, and where a used one-time prekey goes.
type Prekeys interface {
	e2e.PrekeyLookup
	ConsumeOneTime(id uint32) error
}

// Options are what the chat service needs from the node.
type Options struct {
	Host     host.Host
	Store    *store.Store
	Identity e2e.Identity
	Prekeys  Prekeys
	// Connect makes sure there is a connection to p, trying addrs (from
	// the contact's invite) and then peer routing. It must honour ctx.
	Connect func(ctx context.Context, p peer.ID, addrs []string) error
	// FetchBundle fetches p's published prekey bundle.
	FetchBundle func(ctx context.Context, p peer.ID) (*e2e.Bundle, error)
	// Mailbox, if set, is offline delivery: what cannot go to a contact
	// directly is deposited in their mailbox.
	Mailbox Mailbox
	Now     func() time.Time
	Rand    io.Reader
	Logger  *slog.Logger
}

// Mailbox is offline delivery as the chat service uses it.
type Mailbox interface {
	// Epoch is the mailbox epoch of t.
	Epoch(t time.Time) uint64
	// Keys returns this node's mailbox keys for epochs from to to,
	// inclusive, to announce to contacts.
	Keys(from, to uint64) []MailboxKey
	// Deposit leaves env, for ttl, in the mailbox that key belongs to,
	// replicated; it returns once enough holders stored it.
	Deposit(ctx context.Context, key MailboxKey, env []byte, ttl time.Duration) error
}

// Mailbox timing: contacts learn this node's keys for announceEpochs
// epochs ahead, and again when fewer than reannounceEpochs are left; a
// deposit is kept for mailboxTTL.
const (
	announceEpochs   = 30
	reannounceEpochs = 14
	mailboxTTL       = 14 * 24 * time.Hour
)

// Timing of delivery; variables so that tests can shorten them.
var (
	// connectTimeout bounds reaching a contact: their known addresses,
	// a DHT lookup, and the dial it finds (a relayed one included).
	connectTimeout = 30 * time.Second
	// streamTimeout bounds what follows once connected: opening the
	// stream, setting up the session (which may fetch their prekeys from
	// the DHT), and each write.
	streamTimeout = 15 * time.Second
	// depositTimeout bounds one round of mailbox deposits for a
	// conversation, so a slow DHT cannot stall its delivery for long.
	depositTimeout = 90 * time.Second
	ackTimeout     = 10 * time.Second
	minBackoff     = time.Second
	maxBackoff     = 5 * time.Minute
	typingInterval = 3 * time.Second // at most one typing start per interval
	maxInflight    = 4096            // unacknowledged items per contact
)

// Service is the direct-message service of one node.
type Service struct {
	o        Options
	log      *slog.Logger
	contacts *contactBook
	hist     history
	sessions *store.Namespace
	outbox   *store.Namespace
	replay   *store.Namespace
	settings *store.Namespace
	ids      idGen
	events   eventHub

	mu       sync.Mutex // guards convs and the fields below
	convs    map[ID]*conv
	ctx      context.Context // set by Serve
	stopping bool            // Serve is returning: no new workers
	wg       sync.WaitGroup  // workers
	// contactMu serializes the creation of contacts (AddContact, and
	// message requests from strangers), so that one peer never gets two
	// contacts and the request cap holds.
	contactMu sync.Mutex
	prefs     Settings
}

// Settings are the user's choices that the protocol carries.
type Settings struct {
	// ReadReceipts: send and show read receipts; they flow only when both
	// sides turned them on. Off by default, as in Signal's privacy-first
	// configurations.
	ReadReceipts bool `json:"read_receipts"`
	// TypingIndicators: send and show typing indicators. On by default.
	TypingIndicators bool `json:"typing_indicators"`
	// DisplayName is the name this user goes by. It travels in their
	// invite as a suggestion (never over the chat protocol), so a contact
	// who adds them sees it prefilled. Empty, or a valid contact name.
	DisplayName string `json:"display_name,omitempty"`
}

// New opens the chat state in the store.
func New(o Options) (*Service, error) {
	if o.Host == nil || o.Store == nil || o.Prekeys == nil || o.Connect == nil || o.FetchBundle == nil {
		return nil, errors.New("chat: Host, Store, Prekeys, Connect and FetchBundle are required")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Rand == nil {
		o.Rand = rand.Reader
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	s := &Service{
		o:        o,
		log:      o.Logger.With("service", "chat"),
		contacts: &contactBook{contacts: o.Store.Namespace("contacts"), peers: o.Store.Namespace("peers")},
		hist:     history{messages: o.Store.Namespace("messages"), meta: o.Store.Namespace("conversations")},
		sessions: o.Store.Namespace("sessions"),
		outbox:   o.Store.Namespace("outbox"),
		replay:   o.Store.Namespace("replay"),
		settings: o.Store.Namespace("chat-settings"),
		convs:    map[ID]*conv{},
	}
	var err error
	if s.prefs, err = s.loadSettings(); err != nil {
		return nil, err
	}
	return s, nil
}

// Serve handles chat streams and delivers queued messages until ctx ends.
func (s *Service) Serve(ctx context.Context) error {
	s.mu.Lock()
	s.ctx = ctx
	s.mu.Unlock()
	s.o.Host.SetStreamHandler(ProtocolID, func(st network.Stream) { s.handleStream(ctx, st) })
	notifee := &network.NotifyBundle{ConnectedF: func(_ network.Network, c network.Conn) { s.peerConnected(c) }}
	s.o.Host.Network().Notify(notifee)

	// Resume delivery of whatever was queued before a restart.
	if err := s.resumeOutbox(); err != nil {
		s.log.Error("resuming the outbox", "err", err)
	}
	if s.o.Mailbox != nil {
		s.wg.Go(func() { s.announceMailbox(ctx) })
	}
	<-ctx.Done()
	s.o.Host.RemoveStreamHandler(ProtocolID)
	s.o.Host.Network().StopNotify(notifee)
	s.mu.Lock()
	s.stopping = true
	convs := slices.Collect(maps.Values(s.convs))
	s.mu.Unlock()
	for _, cv := range convs {
		cv.mu.Lock()
		cv.closeStream()
		cv.mu.Unlock()
	}
	s.wg.Wait()
	s.events.close()
	return nil
}

func (s *Service) local() *e2e.Local {
	return &e2e.Local{Identity: s.o.Identity, Prekeys: s.o.Prekeys, Replay: replayCache{s.replay}, Rand: s.o.Rand}
}

// replayCache remembers accepted initial messages in the store.
type replayCache struct{ ns *store.Namespace }

func (r replayCache) Seen(id [32]byte) bool {
	_, err := r.ns.Get(id[:])
	return !errors.Is(err, store.ErrNotFound)
}

func (s *Service) now() time.Time { return s.o.Now() }

// Contacts lists every contact, requests and blocked ones included.
func (s *Service) Contacts() ([]Contact, error) { return s.contacts.all() }

// Contact finds a contact by name, PeerID or contact ID.
func (s *Service) Contact(ref string) (Contact, error) {
	if p, err := peer.Decode(ref); err == nil {
		return s.contacts.byPeer(p)
	}
	if id, err := ParseID(ref); err == nil {
		if c, err := s.contacts.get(id); err == nil {
			return c, nil
		}
	}
	all, err := s.contacts.all()
	if err != nil {
		return Contact{}, err
	}
	for _, c := range all {
		if c.Name == ref {
			return c, nil
		}
	}
	return Contact{}, fmt.Errorf("%w: %q", ErrNoContact, ref)
}

// Subscribe returns a channel of events until cancel is called or the
// service stops. A subscriber that falls behind by more than a few hundred
// events misses some: the history is the record, events are hints.
func (s *Service) Subscribe() (<-chan Event, func()) { return s.events.subscribe() }
