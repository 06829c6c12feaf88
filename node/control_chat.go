package node

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/discordopus/discordopus/chat"
)

// ChatRequest is a chat operation asked over the control socket; which
// fields count depends on the op.
type ChatRequest struct {
	Contact  string            `json:"contact,omitempty"` // name, PeerID or contact ID
	Invite   string            `json:"invite,omitempty"`
	Name     string            `json:"name,omitempty"`
	Replace  bool              `json:"replace,omitempty"`
	State    chat.ContactState `json:"state,omitempty"`
	Text     string            `json:"text,omitempty"`
	ReplyTo  chat.ID           `json:"reply_to,omitzero"`
	Target   chat.ID           `json:"target,omitzero"` // react: the message
	Emoji    string            `json:"emoji,omitempty"`
	Remove   bool              `json:"remove,omitempty"`
	Before   chat.ID           `json:"before,omitzero"` // history: page older than this
	Limit    int               `json:"limit,omitempty"`
	Verified bool              `json:"verified,omitempty"`
	Scanned  []byte            `json:"scanned,omitempty"` // verify: a scanned QR payload
	Typing   bool              `json:"typing,omitempty"`
	Settings *chat.Settings    `json:"settings,omitempty"`
}

// ChatResponse carries what a chat operation returns.
type ChatResponse struct {
	Contact       *chat.Contact       `json:"contact,omitempty"`
	Contacts      []chat.Contact      `json:"contacts,omitempty"`
	Message       *chat.Message       `json:"message,omitempty"`
	Messages      []chat.Message      `json:"messages,omitempty"`
	Conversations []chat.Conversation `json:"conversations,omitempty"`
	SafetyNumber  string              `json:"safety_number,omitempty"`
	QR            []byte              `json:"qr,omitempty"`
	Settings      *chat.Settings      `json:"settings,omitempty"`
}

// ErrNoChat is a chat request to a node without the chat service
// (infrastructure nodes have no identity to chat with).
var ErrNoChat = errors.New("this node has no chat service")

// chatOp runs one chat operation.
func (n *Node) chatOp(op string, r *ChatRequest) (*ChatResponse, error) {
	if n.chat == nil {
		return nil, ErrNoChat
	}
	if r == nil {
		r = &ChatRequest{}
	}
	s := n.chat
	var out ChatResponse
	var err error
	one := func(c chat.Contact, e error) {
		out.Contact, err = &c, e
	}
	msg := func(m chat.Message, e error) {
		out.Message, err = &m, e
	}
	switch op {
	case "contact-add":
		var inv chat.Invite
		if inv, err = chat.ParseContactRef(r.Invite); err == nil {
			one(s.AddContact(inv, r.Name, r.Replace))
		}
	case "contacts":
		out.Contacts, err = s.Contacts()
	case "contact-state":
		one(s.SetContactState(r.Contact, r.State))
	case "safety-number":
		var c chat.Contact
		c, out.SafetyNumber, out.QR, err = s.SafetyNumber(r.Contact)
		out.Contact = &c
	case "verify":
		one(s.Verify(r.Contact, r.Verified, r.Scanned))
	case "send":
		msg(s.Send(r.Contact, r.Text, r.ReplyTo))
	case "react":
		msg(s.React(r.Contact, r.Target, r.Emoji, r.Remove))
	case "history":
		out.Messages, err = s.History(r.Contact, r.Before, r.Limit)
	case "conversations":
		out.Conversations, err = s.Conversations()
	case "mark-read":
		err = s.MarkRead(r.Contact)
	case "typing":
		err = s.SetTyping(r.Contact, r.Typing)
	case "settings":
		if r.Settings != nil {
			err = s.SetSettings(*r.Settings)
		}
		st := s.Settings()
		out.Settings = &st
	default:
		return nil, fmt.Errorf("unknown control op %q", op)
	}
	return &out, err
}

// streamEvents writes chat events to c, one JSON line each, until the
// client goes away or ctx ends.
func (n *Node) streamEvents(ctx context.Context, c net.Conn) {
	if n.chat == nil {
		json.NewEncoder(c).Encode(controlResponse{Error: ErrNoChat.Error()})
		return
	}
	c.SetDeadline(time.Time{})
	events, cancel := n.chat.Subscribe()
	defer cancel()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	go func() { // the client closing its end ends the stream
		io.Copy(io.Discard, c)
		cancel()
	}()
	enc := json.NewEncoder(c)
	if err := enc.Encode(controlResponse{}); err != nil { // ready
		return
	}
	for e := range events {
		c.SetWriteDeadline(time.Now().Add(10 * time.Second))
		if err := enc.Encode(e); err != nil {
			return
		}
	}
}

// Chat runs a chat operation on the running node.
func (c *Control) Chat(op string, r ChatRequest) (*ChatResponse, error) {
	resp, err := c.call(controlRequest{Op: op, Chat: &r})
	if err != nil {
		return nil, err
	}
	if resp.Chat == nil {
		return &ChatResponse{}, nil
	}
	return resp.Chat, nil
}

// Subscribe streams the running node's chat events until ctx ends.
func (c *Control) Subscribe(ctx context.Context) (<-chan chat.Event, error) {
	conn, err := net.DialTimeout("unix", c.path, time.Second)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotRunning, err)
	}
	if err := json.NewEncoder(conn).Encode(controlRequest{Op: "subscribe"}); err != nil {
		conn.Close()
		return nil, err
	}
	r := bufio.NewReader(conn)
	var ready controlResponse
	line, err := r.ReadSlice('\n') // one decoder must not read ahead into the events
	if err == nil {
		err = json.Unmarshal(line, &ready)
	}
	if err != nil || ready.Error != "" {
		conn.Close()
		if err == nil {
			err = errors.New(ready.Error)
		}
		return nil, fmt.Errorf("subscribing to events: %w", err)
	}
	out := make(chan chat.Event, 64)
	go func() {
		defer close(out)
		defer conn.Close()
		stop := context.AfterFunc(ctx, func() { conn.Close() })
		defer stop()
		dec := json.NewDecoder(r)
		for {
			var e chat.Event
			if err := dec.Decode(&e); err != nil {
				return
			}
			select {
			case out <- e:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, nil
}
