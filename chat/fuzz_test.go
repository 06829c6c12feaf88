package chat

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"testing"
)

// FuzzParsePayload: any plaintext a contact can send decodes to a payload
// within the limits, or to ErrBadFrame; a decoded payload survives a
// round trip.
func FuzzParsePayload(f *testing.F) {
	p := payload{
		Messages:  []wireMessage{{ID: ID{1}, SentAt: 1700000000000, Text: "hi", ReplyTo: ID{2}}},
		Reactions: []wireReaction{{ID: ID{3}, Target: ID{1}, Emoji: "👍", Remove: true}},
		Settings:  &wireSettings{ID: ID{4}, ReadReceipts: true},
		Delivered: []ID{{5}},
		Read:      []ID{{6}},
		Typing:    typingStarted,
	}
	f.Add(p.marshal())
	f.Add([]byte{})
	f.Add([]byte{0x0a, 0x02, 0x0a, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := parsePayload(b)
		if err != nil {
			if !errors.Is(err, ErrBadFrame) {
				t.Fatalf("error %v does not wrap ErrBadFrame", err)
			}
			return
		}
		n := len(p.Messages) + len(p.Reactions) + len(p.Delivered) + len(p.Read)
		if n > maxPayloadItems {
			t.Fatalf("%d items, over the limit", n)
		}
		for _, m := range p.Messages {
			if checkText(m.Text) != nil || m.ID.IsZero() {
				t.Fatalf("invalid message accepted: %+v", m)
			}
		}
		q, err := parsePayload(p.marshal())
		if err != nil {
			t.Fatalf("re-encoded payload does not parse: %v", err)
		}
		if !bytes.Equal(q.marshal(), p.marshal()) {
			t.Fatal("round trip changed the payload")
		}
	})
}

// FuzzReadFrame: bytes from the stream give a frame body within the limit
// or an error; never a panic or an allocation over the limit.
func FuzzReadFrame(f *testing.F) {
	f.Add(marshalFrame([]byte("envelope")))
	f.Add([]byte{0x00})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Add([]byte{0x05, 0x08, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		r := bufio.NewReader(bytes.NewReader(b))
		for {
			body, err := readFrame(r)
			if err != nil {
				if !errors.Is(err, ErrBadFrame) && err != io.EOF {
					t.Fatalf("unexpected error kind: %v", err)
				}
				return
			}
			if len(body) > MaxFrameBytes {
				t.Fatalf("frame of %d bytes", len(body))
			}
			if env, restart, err := parseFrameBody(body); err == nil && len(env) == 0 && !restart {
				t.Fatal("empty envelope accepted")
			}
		}
	})
}

// FuzzStoredRecords: records read back from the store (authenticated by
// it, but possibly from an older or newer version) decode or fail cleanly.
func FuzzStoredRecords(f *testing.F) {
	m, _ := json.Marshal(Message{ID: ID{1}, Text: "x", Reactions: []Reaction{{Emoji: "👍"}}})
	c, _ := json.Marshal(Contact{ID: ID{1}, Name: "bob", State: Accepted})
	o, _ := json.Marshal(outItem{ID: ID{1}, Message: &wireMessage{ID: ID{1}, Text: "x"}})
	for _, s := range [][]byte{m, c, o, []byte(`{"id":"zz"}`), []byte(`{"unread":-1}`)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var (
			msg  Message
			con  Contact
			item outItem
			meta convMeta
			set  Settings
		)
		for _, v := range []any{&msg, &con, &item, &meta, &set} {
			_ = json.Unmarshal(b, v)
		}
	})
}
