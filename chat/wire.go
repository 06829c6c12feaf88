package chat

import (
	"bytes"
	"errors"
	"fmt"
	"unicode"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"
)

// Limits of the chat protocol; doc.go explains each.
const (
	MaxTextBytes    = 8 << 10  // one message's text, UTF-8 bytes
	MaxEmojiBytes   = 32       // one reaction
	MaxPayloadBytes = 60 << 10 // one payload's plaintext, under e2e.MaxPlaintext
	MaxFrameBytes   = 72 << 10 // one frame on the stream
	maxPayloadItems = 512      // items of all kinds in one payload
	frameVersion    = 1
)

// ErrBadFrame is a frame or payload that breaks the protocol.
var ErrBadFrame = errors.New("malformed chat frame")

// Typing states carried in a payload.
const (
	typingNone    = 0
	typingStarted = 1
	typingStopped = 2
)

// payload is the plaintext of one end-to-end message: any number of items
// of each kind, applied in the order messages, reactions, settings,
// delivered, read, typing.
type payload struct {
	Messages  []wireMessage
	Reactions []wireReaction
	Settings  *wireSettings
	Delivered []ID // items of the peer's that this node stored
	Read      []ID // the peer's messages the user has read
	Typing    int
}

type wireMessage struct {
	ID      ID
	SentAt  int64 // Unix milliseconds, the sender's clock
	Text    string
	ReplyTo ID
}

type wireReaction struct {
	ID     ID // the event, acknowledged like a message
	Target ID
	Emoji  string
	Remove bool
}

// wireSettings tells the peer what this side shares, and where its
// mailbox is.
type wireSettings struct {
	ID           ID
	ReadReceipts bool
	// Mailbox lists this side's mailbox keys for the coming epochs: the
	// peer deposits what it cannot deliver directly at their addresses.
	Mailbox []MailboxKey
}

// MailboxKey is a user's mailbox public key for one epoch (see package
// mailbox); only the user can fetch what is deposited under it.
type MailboxKey struct {
	Epoch uint64 `json:"epoch"`
	Key   []byte `json:"key"`
}

// maxMailboxKeys bounds the keys one Settings item announces.
const maxMailboxKeys = 64

func (p *payload) empty() bool {
	return len(p.Messages) == 0 && len(p.Reactions) == 0 && p.Settings == nil &&
		len(p.Delivered) == 0 && len(p.Read) == 0 && p.Typing == typingNone
}

// needsAck reports whether the payload carries items the peer acknowledges.
func (p *payload) ackIDs() []ID {
	var ids []ID
	for _, m := range p.Messages {
		ids = append(ids, m.ID)
	}
	for _, r := range p.Reactions {
		ids = append(ids, r.ID)
	}
	if p.Settings != nil {
		ids = append(ids, p.Settings.ID)
	}
	return ids
}

// Payload field numbers.
const (
	fMessage   = 1
	fReaction  = 2
	fSettings  = 3
	fDelivered = 4
	fRead      = 5
	fTyping    = 6
)

func (p *payload) marshal() []byte {
	var b []byte
	for _, m := range p.Messages {
		b = protowire.AppendTag(b, fMessage, protowire.BytesType)
		b = protowire.AppendBytes(b, m.marshal())
	}
	for _, r := range p.Reactions {
		b = protowire.AppendTag(b, fReaction, protowire.BytesType)
		b = protowire.AppendBytes(b, r.marshal())
	}
	if s := p.Settings; s != nil {
		var sb []byte
		sb = appendBytesField(sb, 1, s.ID[:])
		sb = appendBool(sb, 2, s.ReadReceipts)
		for _, k := range s.Mailbox {
			var kb []byte
			kb = protowire.AppendTag(kb, 1, protowire.VarintType)
			kb = protowire.AppendVarint(kb, k.Epoch)
			kb = appendBytesField(kb, 2, k.Key)
			sb = appendBytesField(sb, 3, kb)
		}
		b = protowire.AppendTag(b, fSettings, protowire.BytesType)
		b = protowire.AppendBytes(b, sb)
	}
	for _, id := range p.Delivered {
		b = appendBytesField(b, fDelivered, id[:])
	}
	for _, id := range p.Read {
		b = appendBytesField(b, fRead, id[:])
	}
	if p.Typing != typingNone {
		b = protowire.AppendTag(b, fTyping, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(p.Typing))
	}
	return b
}

func (m wireMessage) marshal() []byte {
	var b []byte
	b = appendBytesField(b, 1, m.ID[:])
	b = protowire.AppendTag(b, 2, protowire.VarintType)
	b = protowire.AppendVarint(b, uint64(m.SentAt))
	b = appendBytesField(b, 3, []byte(m.Text))
	if !m.ReplyTo.IsZero() {
		b = appendBytesField(b, 4, m.ReplyTo[:])
	}
	return b
}

func (r wireReaction) marshal() []byte {
	var b []byte
	b = appendBytesField(b, 1, r.ID[:])
	b = appendBytesField(b, 2, r.Target[:])
	b = appendBytesField(b, 3, []byte(r.Emoji))
	return appendBool(b, 4, r.Remove)
}

func appendBytesField(b []byte, num protowire.Number, v []byte) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, v)
}

func appendBool(b []byte, num protowire.Number, v bool) []byte {
	if !v {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, 1)
}

func badFrame(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrBadFrame, fmt.Sprintf(format, args...))
}

// fields walks a protobuf message, calling f for each field with its
// value: the bytes of a length-delimited field, or the number of a varint.
// Other wire types are refused: no field of ours uses them.
func fields(b []byte, f func(num protowire.Number, bytes []byte, varint uint64) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return badFrame("%v", protowire.ParseError(n))
		}
		b = b[n:]
		var (
			v  []byte
			vi uint64
		)
		switch typ {
		case protowire.BytesType:
			v, n = protowire.ConsumeBytes(b)
		case protowire.VarintType:
			vi, n = protowire.ConsumeVarint(b)
		default:
			return badFrame("field %d has wire type %d", num, typ)
		}
		if n < 0 {
			return badFrame("field %d: %v", num, protowire.ParseError(n))
		}
		b = b[n:]
		if err := f(num, v, vi); err != nil {
			return err
		}
	}
	return nil
}

func parseID(field string, b []byte) (ID, error) {
	id, ok := idFromBytes(b)
	if !ok {
		return ID{}, badFrame("%s is %d bytes, want %d", field, len(b), len(id))
	}
	return id, nil
}

func parsePayload(b []byte) (*payload, error) {
	if len(b) > MaxPayloadBytes {
		return nil, badFrame("payload is %d bytes, over %d", len(b), MaxPayloadBytes)
	}
	p := &payload{}
	items := 0
	err := fields(b, func(num protowire.Number, v []byte, vi uint64) error {
		items++
		if items > maxPayloadItems {
			return badFrame("more than %d items", maxPayloadItems)
		}
		switch num {
		case fMessage:
			m, err := parseMessage(v)
			if err != nil {
				return err
			}
			p.Messages = append(p.Messages, m)
		case fReaction:
			r, err := parseReaction(v)
			if err != nil {
				return err
			}
			p.Reactions = append(p.Reactions, r)
		case fSettings:
			s := &wireSettings{}
			err := fields(v, func(num protowire.Number, v []byte, vi uint64) (err error) {
				switch num {
				case 1:
					s.ID, err = parseID("settings ID", v)
				case 2:
					s.ReadReceipts = vi != 0
				case 3:
					if len(s.Mailbox) == maxMailboxKeys {
						return badFrame("more than %d mailbox keys", maxMailboxKeys)
					}
					var k MailboxKey
					err = fields(v, func(num protowire.Number, v []byte, vi uint64) error {
						switch num {
						case 1:
							k.Epoch = vi
						case 2:
							k.Key = bytes.Clone(v)
						}
						return nil
					})
					if err == nil && len(k.Key) != 32 {
						err = badFrame("mailbox key of %d bytes", len(k.Key))
					}
					s.Mailbox = append(s.Mailbox, k)
				}
				return err
			})
			if err != nil {
				return err
			}
			if s.ID.IsZero() {
				return badFrame("settings without an ID")
			}
			p.Settings = s
		case fDelivered, fRead:
			id, err := parseID("receipt", v)
			if err != nil {
				return err
			}
			if num == fDelivered {
				p.Delivered = append(p.Delivered, id)
			} else {
				p.Read = append(p.Read, id)
			}
		case fTyping:
			if vi != typingStarted && vi != typingStopped {
				return badFrame("typing state %d", vi)
			}
			p.Typing = int(vi)
		}
		return nil // unknown fields: a newer peer; skip them
	})
	if err != nil {
		return nil, err
	}
	return p, nil
}

func parseMessage(b []byte) (wireMessage, error) {
	var m wireMessage
	err := fields(b, func(num protowire.Number, v []byte, vi uint64) (err error) {
		switch num {
		case 1:
			m.ID, err = parseID("message ID", v)
		case 2:
			m.SentAt = int64(vi)
		case 3:
			m.Text = string(v)
		case 4:
			m.ReplyTo, err = parseID("reply target", v)
		}
		return err
	})
	if err != nil {
		return m, err
	}
	if m.ID.IsZero() {
		return m, badFrame("message without an ID")
	}
	if err := checkText(m.Text); err != nil {
		return m, fmt.Errorf("%w: %w", ErrBadFrame, err)
	}
	return m, nil
}

func parseReaction(b []byte) (wireReaction, error) {
	var r wireReaction
	err := fields(b, func(num protowire.Number, v []byte, vi uint64) (err error) {
		switch num {
		case 1:
			r.ID, err = parseID("reaction ID", v)
		case 2:
			r.Target, err = parseID("reaction target", v)
		case 3:
			r.Emoji = string(v)
		case 4:
			r.Remove = vi != 0
		}
		return err
	})
	if err != nil {
		return r, err
	}
	if r.ID.IsZero() || r.Target.IsZero() {
		return r, badFrame("reaction without an ID or a target")
	}
	if err := checkEmoji(r.Emoji); err != nil {
		return r, fmt.Errorf("%w: %w", ErrBadFrame, err)
	}
	return r, nil
}

// Errors for text a user typed.
var (
	ErrEmptyMessage = errors.New("message is empty")
	ErrTooLong      = fmt.Errorf("message is longer than %d bytes", MaxTextBytes)
	ErrNotUTF8      = errors.New("message is not valid UTF-8")
	ErrBadEmoji     = errors.New("not a reaction emoji")
)

func checkText(s string) error {
	switch {
	case s == "":
		return ErrEmptyMessage
	case len(s) > MaxTextBytes:
		return fmt.Errorf("%w (it has %d)", ErrTooLong, len(s))
	case !utf8.ValidString(s):
		return ErrNotUTF8
	}
	return nil
}

// checkEmoji accepts a short string with no letters, digits, spaces or
// control characters: emoji, with their joiners and variation selectors.
func checkEmoji(s string) error {
	if s == "" || len(s) > MaxEmojiBytes || !utf8.ValidString(s) {
		return fmt.Errorf("%w: %q", ErrBadEmoji, s)
	}
	for _, r := range s {
		if unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsSpace(r) || unicode.IsControl(r) {
			return fmt.Errorf("%w: %q", ErrBadEmoji, s)
		}
	}
	return nil
}

// A frame on the stream is a uvarint length and then this message:
// field 1 the frame version, field 2 one end-to-end message.
func marshalFrame(envelope []byte) []byte {
	var body []byte
	body = protowire.AppendTag(body, 1, protowire.VarintType)
	body = protowire.AppendVarint(body, frameVersion)
	body = appendBytesField(body, 2, envelope)
	out := protowire.AppendVarint(make([]byte, 0, len(body)+3), uint64(len(body)))
	return append(out, body...)
}

// marshalRestartFrame asks the receiver to start a new session: field 3
// set to 1 in place of an envelope.
func marshalRestartFrame() []byte {
	var body []byte
	body = protowire.AppendTag(body, 1, protowire.VarintType)
	body = protowire.AppendVarint(body, frameVersion)
	body = protowire.AppendTag(body, 3, protowire.VarintType)
	body = protowire.AppendVarint(body, 1)
	return append(protowire.AppendVarint(nil, uint64(len(body))), body...)
}

// parseFrameBody reads a frame's body (without its length prefix): an
// envelope, or a restart request.
func parseFrameBody(b []byte) (envelope []byte, restart bool, err error) {
	var version uint64
	err = fields(b, func(num protowire.Number, v []byte, vi uint64) error {
		switch num {
		case 1:
			version = vi
		case 2:
			envelope = v
		case 3:
			restart = vi == 1
		}
		return nil
	})
	if err != nil {
		return nil, false, err
	}
	if version != frameVersion {
		return nil, false, badFrame("version %d, want %d", version, frameVersion)
	}
	if (len(envelope) == 0) == !restart {
		return nil, false, badFrame("a frame carries an envelope or a restart request")
	}
	return envelope, restart, nil
}
