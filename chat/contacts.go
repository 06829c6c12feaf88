package chat

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/discordopus/discordopus/store"
)

// ContactState says what a contact may do.
type ContactState string

const (
	// Accepted contacts chat freely.
	Accepted ContactState = "accepted"
	// Request is someone who wrote first and is not a contact yet: their
	// messages are kept (up to a cap) but nothing is sent to them, not even
	// read receipts, until the user accepts.
	Request ContactState = "request"
	// Blocked contacts' frames are dropped unread.
	Blocked ContactState = "blocked"
)

// Bounds on contacts.
const (
	MaxNameLen = 64
	// MaxPendingRequests caps message requests, so strangers cannot fill
	// the disk by writing from many identities; a request past it is dropped.
	MaxPendingRequests = 50
	// MaxRequestMessages caps what one message request may store.
	MaxRequestMessages = 100
)

// Errors about contacts.
var (
	ErrNoContact      = errors.New("no such contact")
	ErrNameTaken      = errors.New("a contact with that name already exists")
	ErrIdentityChange = errors.New("this contact has a different identity key")
	ErrBadName        = errors.New("contact names are 1 to 64 characters with no control characters")
	ErrNotAccepted    = errors.New("accept the message request first")
	ErrBlocked        = errors.New("contact is blocked")
	ErrSelf           = errors.New("that is your own identity")
	ErrNoIdentityKey  = errors.New("PeerID does not embed an Ed25519 identity key")
)

// Contact is a person this node talks to. Its ID is local and stable: the
// conversation keeps it when the contact's identity (their PeerID) changes.
type Contact struct {
	ID    ID           `json:"id"`
	Peer  peer.ID      `json:"peer"`
	Name  string       `json:"name"`
	State ContactState `json:"state"`
	// Verified is set by comparing safety numbers and cleared when the
	// identity changes.
	Verified bool      `json:"verified"`
	Addrs    []string  `json:"addrs,omitempty"` // from the invite, tried before the DHT
	AddedAt  time.Time `json:"added_at"`
}

// DisplayName is the name, or a short PeerID for unnamed requests.
func (c Contact) DisplayName() string {
	if c.Name != "" {
		return c.Name
	}
	s := c.Peer.String()
	if len(s) > 12 {
		s = s[len(s)-12:]
	}
	return "…" + s
}

// identityKey extracts the Ed25519 key that a PeerID embeds: the identity
// is pinned by the PeerID itself.
func identityKey(id peer.ID) (ed25519.PublicKey, error) {
	pub, err := id.ExtractPublicKey()
	if err != nil || pub.Type() != crypto.Ed25519 {
		return nil, fmt.Errorf("%w: %s", ErrNoIdentityKey, id)
	}
	raw, err := pub.Raw()
	if err != nil {
		return nil, err
	}
	return ed25519.PublicKey(raw), nil
}

// CheckName says whether name can name a contact (or a user): 1 to 64
// characters, none of them control characters.
func CheckName(name string) error {
	if name == "" || utf8.RuneCountInString(name) > MaxNameLen || !utf8.ValidString(name) || strings.TrimSpace(name) != name {
		return ErrBadName
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f {
			return ErrBadName
		}
	}
	return nil
}

// contactBook keeps contacts in the store: "contacts"/<id> holds the
// contact, "peers"/<peer> the ID of the contact it belongs to. It caches
// them all in memory (a person has hundreds of contacts, not millions):
// every frame received and every payload sent looks one up. Whoever writes
// a contact calls invalidate once the write is done.
type contactBook struct {
	contacts *store.Namespace
	peers    *store.Namespace

	mu     sync.Mutex
	cached []Contact // nil: not loaded
}

func (b *contactBook) invalidate() {
	b.mu.Lock()
	b.cached = nil
	b.mu.Unlock()
}

// all returns every contact, from the cache or the store.
func (b *contactBook) all() ([]Contact, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cached != nil {
		return slices.Clone(b.cached), nil
	}
	out := []Contact{}
	err := b.contacts.Iterate(nil, false, func(_, v []byte) error {
		var c Contact
		if err := json.Unmarshal(v, &c); err != nil {
			return err
		}
		out = append(out, c)
		return nil
	})
	if err != nil {
		return nil, err
	}
	b.cached = out
	return slices.Clone(out), nil
}

func (b *contactBook) find(match func(Contact) bool) (Contact, error) {
	all, err := b.all()
	if err != nil {
		return Contact{}, err
	}
	for _, c := range all {
		if match(c) {
			return c, nil
		}
	}
	return Contact{}, ErrNoContact
}

func (b *contactBook) get(id ID) (Contact, error) {
	return b.find(func(c Contact) bool { return c.ID == id })
}

func (b *contactBook) byPeer(p peer.ID) (Contact, error) {
	return b.find(func(c Contact) bool { return c.Peer == p })
}

// put writes c and its peer index into w; old is the PeerID c had before,
// whose index entry goes.
func (b *contactBook) put(w *store.Batch, c Contact, old peer.ID) error {
	v, err := json.Marshal(c)
	if err != nil {
		return err
	}
	if old != "" && old != c.Peer {
		if err := w.Delete(b.peers, []byte(old)); err != nil {
			return err
		}
	}
	if err := w.Put(b.contacts, c.ID[:], v); err != nil {
		return err
	}
	return w.Put(b.peers, []byte(c.Peer), c.ID[:])
}
