package chat

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/discordopus/discordopus/store"
)

// DeliveryState is where an outgoing message is.
type DeliveryState string

const (
	Sending   DeliveryState = "sending"   // stored here, not yet handed to the contact's node
	Sent      DeliveryState = "sent"      // written to a stream to the contact's node
	Delivered DeliveryState = "delivered" // the contact's node stored it and said so
	Read      DeliveryState = "read"      // the contact read it (only if both share receipts)
	// Failed: it waited in the contact's mailbox until its TTL passed and
	// was never acknowledged. The user may send it again.
	Failed DeliveryState = "failed"
)

// MessageKind tells text from the notices the app writes itself.
type MessageKind string

const (
	TextMessage MessageKind = "text"
	// Notice is written by this node into the conversation, e.g. when the
	// contact's identity key changed.
	Notice MessageKind = "notice"
)

// NoticeIdentityChanged marks the notice that a contact's identity key,
// and so the safety number, changed.
const NoticeIdentityChanged = "identity_changed"

// Message is one entry of a conversation's history.
type Message struct {
	ID         ID          `json:"id"`
	Contact    ID          `json:"contact"`
	Kind       MessageKind `json:"kind"`
	Outgoing   bool        `json:"outgoing"`
	SentAt     time.Time   `json:"sent_at"`              // the sender's clock
	ReceivedAt time.Time   `json:"received_at,omitzero"` // incoming: this node's clock
	Text       string      `json:"text"`                 //
	// Notice says what a notice is about, for programs: NoticeIdentityChanged.
	Notice    string        `json:"notice,omitempty"`
	ReplyTo   ID            `json:"reply_to,omitzero"`   //
	State     DeliveryState `json:"state,omitempty"`     // outgoing only
	Reactions []Reaction    `json:"reactions,omitempty"` //
	// PeerReactions holds, per emoji, the ID of the contact's newest
	// reaction item applied to this message, so that a retransmitted older
	// one (an add arriving again after its remove) changes nothing.
	PeerReactions map[string]ID `json:"peer_reactions,omitempty"`
}

// Reaction is one emoji on a message, by this user (Mine) or the contact.
type Reaction struct {
	Emoji string `json:"emoji"`
	Mine  bool   `json:"mine"`
}

// Conversation is the summary of one contact's history.
type Conversation struct {
	Contact  Contact  `json:"contact"`
	Unread   int      `json:"unread"`
	LastRead ID       `json:"last_read,omitzero"`
	Last     *Message `json:"last,omitempty"`
	// PeerReadReceipts is what the contact last said about sharing read
	// receipts.
	PeerReadReceipts bool `json:"peer_read_receipts,omitempty"`
}

// convMeta is what is kept per conversation besides the messages.
type convMeta struct {
	Unread   int `json:"unread"`
	LastRead ID  `json:"last_read,omitzero"`
	Requests int `json:"requests,omitempty"` // messages stored while a request
	// PeerReadReceipts is the contact's setting, from its last Settings
	// item. It lives here, not in the contact record, so that receiving
	// never rewrites a contact the user is changing.
	PeerReadReceipts bool `json:"peer_read_receipts,omitempty"`
	// PeerMailbox is the contact's mailbox keys, from its last Settings.
	PeerMailbox []MailboxKey `json:"peer_mailbox,omitempty"`
	// SettingsID is the ID of the last Settings item applied: an older
	// one (drained late from a mailbox) changes nothing.
	SettingsID ID `json:"settings_id,omitzero"`
}

// history keeps messages in "messages"/<contact ID><message ID>, so that
// a conversation is one key range in ID order, and per-conversation
// metadata in "conversations"/<contact ID>.
type history struct {
	messages *store.Namespace
	meta     *store.Namespace
}

func msgKey(contact, id ID) []byte {
	k := make([]byte, 0, 32)
	k = append(k, contact[:]...)
	return append(k, id[:]...)
}

func (h history) get(contact, id ID) (Message, error) {
	v, err := h.messages.Get(msgKey(contact, id))
	if err != nil {
		return Message{}, err
	}
	var m Message
	if err := json.Unmarshal(v, &m); err != nil {
		return Message{}, fmt.Errorf("message %s: %w", id, err)
	}
	return m, nil
}

func (h history) exists(contact, id ID) (bool, error) {
	_, err := h.messages.Get(msgKey(contact, id))
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

func (h history) put(w *store.Batch, m Message) error {
	v, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return w.Put(h.messages, msgKey(m.Contact, m.ID), v)
}

// setState moves message id of a conversation to state to, in w, if
// from says its current state may change; it appends the changed message
// to changed. A message that is not there is no error: it may have been
// a reaction or a settings item.
func (h history) setState(w *store.Batch, contact, id ID, to DeliveryState, from func(Message) bool, changed *[]Message) error {
	m, err := h.get(contact, id)
	if err != nil || !from(m) {
		return nil
	}
	m.State = to
	if err := h.put(w, m); err != nil {
		return err
	}
	*changed = append(*changed, m)
	return nil
}

// page returns up to limit messages older than before (all if zero),
// newest first.
func (h history) page(contact, before ID, limit int) ([]Message, error) {
	var out []Message
	err := h.messages.Iterate(contact[:], true, func(k, v []byte) error {
		if !before.IsZero() && string(k[16:]) >= string(before[:]) {
			return nil
		}
		var m Message
		if err := json.Unmarshal(v, &m); err != nil {
			return err
		}
		out = append(out, m)
		if limit > 0 && len(out) == limit {
			return store.ErrStop
		}
		return nil
	})
	return out, err
}

func (h history) getMeta(contact ID) (convMeta, error) {
	v, err := h.meta.Get(contact[:])
	if errors.Is(err, store.ErrNotFound) {
		return convMeta{}, nil
	}
	if err != nil {
		return convMeta{}, err
	}
	var m convMeta
	err = json.Unmarshal(v, &m)
	return m, err
}

func (h history) putMeta(w *store.Batch, contact ID, m convMeta) error {
	v, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return w.Put(h.meta, contact[:], v)
}

// react applies one reaction to m: add replaces nothing (a user may put
// several emoji on one message), remove takes that user's emoji away.
func react(m *Message, emoji string, mine, remove bool) bool {
	for i, r := range m.Reactions {
		if r.Emoji == emoji && r.Mine == mine {
			if remove {
				m.Reactions = append(m.Reactions[:i], m.Reactions[i+1:]...)
				return true
			}
			return false
		}
	}
	if remove {
		return false
	}
	n := 0
	for _, r := range m.Reactions {
		if r.Mine == mine {
			n++
		}
	}
	if n >= MaxReactions {
		return false
	}
	m.Reactions = append(m.Reactions, Reaction{Emoji: emoji, Mine: mine})
	return true
}

// MaxReactions is how many different emoji each side may put on one
// message; more are ignored.
const MaxReactions = 20
