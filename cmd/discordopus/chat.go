package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/discordopus/discordopus/chat"
	"github.com/discordopus/discordopus/e2e"
	"github.com/discordopus/discordopus/node"
)

// withNode runs fn against the running node's control socket, or, when no
// node runs with this data directory, against a node started here for the
// purpose and stopped afterwards.
func (c *command) withNode(cfg node.Config, dataDir string, fn func(ctx context.Context, ctl *node.Control, local bool) error) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if ctl, err := node.DialControl(dataDir); err == nil {
		return fn(ctx, ctl, false)
	}
	n, err := node.New(node.Options{
		Role: node.RoleDesktop, DataDir: dataDir, Config: cfg, Passphrase: c.passphrase(),
		Logger: node.NewLogger(node.Config{LogLevel: "warn"}, os.Stderr),
	})
	if err != nil {
		return err
	}
	sctx, cancel := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- n.Serve(sctx) }()
	ctl, err := node.DialControl(dataDir)
	if err == nil {
		err = fn(ctx, ctl, true)
	}
	cancel()
	if serr := <-served; err == nil {
		err = serr
	}
	return err
}

// chatFlags are the flags of the chat commands.
type chatFlags struct {
	name, qr, replyTo, receipts, typing string
	replace, yes                        bool
	wait                                time.Duration
	limit                               int
}

func (f *chatFlags) register(fs *flag.FlagSet, cmd string) {
	switch cmd {
	case "contact":
		fs.StringVar(&f.name, "name", "", "add: the contact's name")
		fs.BoolVar(&f.replace, "replace", false, "add: give an existing contact of this name a new identity")
		fs.BoolVar(&f.yes, "yes", false, "verify: mark verified without asking (you compared the numbers)")
		fs.StringVar(&f.qr, "qr", "", "verify: the contact's scanned safety-number code, base64")
	case "send":
		fs.DurationVar(&f.wait, "wait", 10*time.Second, "how long to wait for delivery")
		fs.StringVar(&f.replyTo, "reply-to", "", "ID of the message this one answers")
	case "history":
		fs.IntVar(&f.limit, "limit", 50, "messages to show (0: all)")
	case "settings":
		fs.StringVar(&f.receipts, "read-receipts", "", "on or off")
		fs.StringVar(&f.typing, "typing", "", "typing indicators: on or off")
	}
}

// parseInterleaved parses flags that may come before, between or after the
// positional arguments, and returns the positional ones.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos, args = append(pos, args[0]), args[1:]
	}
}

// contact: add, list, verify, accept, block.
func (c *command) contact(cfg node.Config, dataDir string, args []string) error {
	const use = "usage: discordopus contact add --name NAME [--replace] <invite | PeerID> | list | verify [--yes] [--qr BASE64] <contact> | unverify <contact> | accept <contact> | block <contact>"
	want := map[string]int{"add": 2, "list": 1, "verify": 2, "unverify": 2, "accept": 2, "block": 2}
	if len(args) == 0 || want[args[0]] != len(args) {
		return errors.New(use)
	}
	rest := args[1:]
	name, replace, yes, qr := &c.cf.name, &c.cf.replace, &c.cf.yes, &c.cf.qr
	return c.withNode(cfg, dataDir, func(ctx context.Context, ctl *node.Control, _ bool) error {
		switch args[0] {
		case "add":
			if *name == "" {
				return errors.New("contact add: --name is required")
			}
			if _, err := chat.ParseContactRef(rest[0]); err != nil {
				return err
			}
			r, err := ctl.Chat("contact-add", node.ChatRequest{Invite: rest[0], Name: *name, Replace: *replace})
			if err != nil {
				return err
			}
			fmt.Fprintf(c.out, "added %s (%s)\n", r.Contact.Name, r.Contact.Peer)
			return nil
		case "list":
			r, err := ctl.Chat("conversations", node.ChatRequest{})
			if err != nil {
				return err
			}
			if len(r.Conversations) == 0 {
				fmt.Fprintln(c.out, "no contacts yet: add one with `discordopus contact add --name NAME <invite>`")
				return nil
			}
			tw := tabwriter.NewWriter(c.out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tSTATE\tVERIFIED\tUNREAD\tPEER")
			for _, cv := range r.Conversations {
				k := cv.Contact
				fmt.Fprintf(tw, "%s\t%s\t%v\t%d\t%s\n", k.DisplayName(), k.State, k.Verified, cv.Unread, k.Peer)
			}
			return tw.Flush()
		case "verify":
			return c.verify(ctl, rest[0], *yes, *qr)
		case "unverify":
			r, err := ctl.Chat("verify", node.ChatRequest{Contact: rest[0], Verified: false})
			if err != nil {
				return err
			}
			fmt.Fprintf(c.out, "%s is no longer verified\n", r.Contact.DisplayName())
			return nil
		default:
			state := chat.Accepted
			if args[0] == "block" {
				state = chat.Blocked
			}
			r, err := ctl.Chat("contact-state", node.ChatRequest{Contact: rest[0], State: state})
			if err != nil {
				return err
			}
			fmt.Fprintf(c.out, "%s is now %s\n", r.Contact.DisplayName(), r.Contact.State)
			return nil
		}
	})
}

func (c *command) verify(ctl *node.Control, ref string, yes bool, qr string) error {
	r, err := ctl.Chat("safety-number", node.ChatRequest{Contact: ref})
	if err != nil {
		return err
	}
	fmt.Fprintf(c.out, "Safety number with %s:\n\n    %s\n\n", r.Contact.DisplayName(), e2e.FormatSafetyNumber(r.SafetyNumber))
	fmt.Fprintf(c.out, "Your code for %s to scan: %s\n", r.Contact.DisplayName(), base64.StdEncoding.EncodeToString(r.QR))
	req := node.ChatRequest{Contact: ref, Verified: true}
	switch {
	case qr != "":
		if req.Scanned, err = base64.StdEncoding.DecodeString(strings.TrimSpace(qr)); err != nil {
			return fmt.Errorf("--qr: not base64: %w", err)
		}
	case !yes:
		fmt.Fprintf(c.out, "Compare it with the number %s sees. Do they match? [y/N] ", r.Contact.DisplayName())
		line, _ := bufio.NewReader(os.Stdin).ReadString('\n')
		if a := strings.ToLower(strings.TrimSpace(line)); a != "y" && a != "yes" {
			fmt.Fprintln(c.out, "not marked verified")
			return nil
		}
	}
	v, err := ctl.Chat("verify", req)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.out, "%s is verified\n", v.Contact.DisplayName())
	return nil
}

// send sends one message, or one per line of stdin when text is "-", and
// waits up to wait for the contact's node to acknowledge them.
func (c *command) send(cfg node.Config, dataDir string, args []string) error {
	if len(args) != 2 {
		return errors.New("usage: discordopus send [--wait D] [--reply-to ID] <contact> <text | ->")
	}
	ref, text := args[0], args[1]
	wait := &c.cf.wait
	var replyTo chat.ID
	if err := replyTo.UnmarshalText([]byte(c.cf.replyTo)); err != nil {
		return fmt.Errorf("--reply-to: %w", err)
	}
	texts := []string{text}
	if text == "-" {
		texts = nil
		sc := bufio.NewScanner(os.Stdin)
		sc.Buffer(make([]byte, chat.MaxTextBytes+1), chat.MaxTextBytes+1)
		for sc.Scan() {
			if sc.Text() != "" {
				texts = append(texts, sc.Text())
			}
		}
		if err := sc.Err(); err != nil {
			return fmt.Errorf("reading messages from stdin: %w", err)
		}
	}
	return c.withNode(cfg, dataDir, func(ctx context.Context, ctl *node.Control, local bool) error {
		// Events are hints that may be missed when many arrive at once;
		// the history is the record, so it is checked too.
		events, err := ctl.Subscribe(ctx)
		if err != nil {
			return err
		}
		pending := map[chat.ID]bool{}
		for _, t := range texts {
			r, err := ctl.Chat("send", node.ChatRequest{Contact: ref, Text: t, ReplyTo: replyTo})
			if err != nil {
				return err
			}
			pending[r.Message.ID] = true
		}
		total := len(pending)
		deadline := time.After(*wait)
		check := time.NewTicker(time.Second)
		defer check.Stop()
	wait:
		for len(pending) > 0 {
			select {
			case e, ok := <-events:
				if !ok {
					return errors.New("the node stopped")
				}
				if e.Kind == chat.EventState && e.Message != nil && delivered(e.Message.State) {
					delete(pending, e.Message.ID)
				}
			case <-check.C:
				if err := dropDelivered(ctl, ref, pending); err != nil {
					return err
				}
			case <-deadline:
				if err := dropDelivered(ctl, ref, pending); err != nil {
					return err
				}
				break wait
			case <-ctx.Done():
				break wait
			}
		}
		switch {
		case len(pending) == 0:
			fmt.Fprintf(c.out, "delivered %d of %d\n", total, total)
		case local:
			fmt.Fprintf(c.out, "delivered %d of %d; the rest are queued and go out the next time discordopus runs\n", total-len(pending), total)
		default:
			fmt.Fprintf(c.out, "delivered %d of %d so far; the running node keeps trying\n", total-len(pending), total)
		}
		return nil
	})
}

func delivered(s chat.DeliveryState) bool { return s == chat.Delivered || s == chat.Read }

// dropDelivered removes from pending the messages the history shows as
// delivered.
func dropDelivered(ctl *node.Control, ref string, pending map[chat.ID]bool) error {
	h, err := ctl.Chat("history", node.ChatRequest{Contact: ref})
	if err != nil {
		return err
	}
	for _, m := range h.Messages {
		if pending[m.ID] && delivered(m.State) {
			delete(pending, m.ID)
		}
	}
	return nil
}

// history prints a conversation, oldest first.
func (c *command) history(cfg node.Config, dataDir string, args []string) error {
	if len(args) != 1 {
		return errors.New("usage: discordopus history [--limit N] <contact>")
	}
	limit := &c.cf.limit
	return c.withNode(cfg, dataDir, func(ctx context.Context, ctl *node.Control, _ bool) error {
		r, err := ctl.Chat("history", node.ChatRequest{Contact: args[0], Limit: *limit})
		if err != nil {
			return err
		}
		k, err := ctl.Chat("safety-number", node.ChatRequest{Contact: args[0]})
		if err != nil {
			return err
		}
		slices.Reverse(r.Messages)
		for _, m := range r.Messages {
			printMessage(c.out, k.Contact.DisplayName(), m)
		}
		return nil
	})
}

func printMessage(w io.Writer, name string, m chat.Message) {
	who := name
	if m.Outgoing {
		who = "you"
	}
	line := fmt.Sprintf("%s  %s  %s: %s", m.SentAt.Local().Format("2006-01-02 15:04:05"), m.ID.String()[:12], who, m.Text)
	if m.Kind == chat.Notice {
		line = fmt.Sprintf("%s  -- %s --", m.SentAt.Local().Format("2006-01-02 15:04:05"), m.Text)
	}
	if !m.ReplyTo.IsZero() {
		line += fmt.Sprintf("  (reply to %s)", m.ReplyTo.String()[:12])
	}
	for _, r := range m.Reactions {
		by := name
		if r.Mine {
			by = "you"
		}
		line += fmt.Sprintf("  %s by %s", r.Emoji, by)
	}
	if m.Outgoing {
		line += "  [" + string(m.State) + "]"
	}
	fmt.Fprintln(w, line)
}

// chatTerminal is an interactive conversation: lines typed are sent,
// arriving messages are shown and marked read.
func (c *command) chatTerminal(cfg node.Config, dataDir string, args []string) error {
	if len(args) != 1 {
		return errors.New("usage: discordopus chat <contact>")
	}
	ref := args[0]
	return c.withNode(cfg, dataDir, func(ctx context.Context, ctl *node.Control, _ bool) error {
		k, err := ctl.Chat("safety-number", node.ChatRequest{Contact: ref})
		if err != nil {
			return err
		}
		contact := *k.Contact
		name := contact.DisplayName()
		events, err := ctl.Subscribe(ctx)
		if err != nil {
			return err
		}
		h, err := ctl.Chat("history", node.ChatRequest{Contact: ref, Limit: 20})
		if err != nil {
			return err
		}
		slices.Reverse(h.Messages)
		for _, m := range h.Messages {
			printMessage(c.out, name, m)
		}
		if !contact.Verified {
			fmt.Fprintf(c.out, "(%s is not verified: compare safety numbers with `discordopus contact verify %s`)\n", name, ref)
		}
		fmt.Fprintln(c.out, "Type a message and press Enter. /react ID EMOJI, /reply ID TEXT, /quit.")
		ctl.Chat("mark-read", node.ChatRequest{Contact: ref})

		lines := make(chan string)
		go func() {
			defer close(lines)
			sc := bufio.NewScanner(os.Stdin)
			for sc.Scan() {
				lines <- sc.Text()
			}
		}()
		for {
			select {
			case <-ctx.Done():
				return nil
			case e, ok := <-events:
				if !ok {
					return errors.New("the node stopped")
				}
				if e.Contact != contact.ID {
					continue
				}
				switch e.Kind {
				case chat.EventMessage:
					if !e.Message.Outgoing {
						printMessage(c.out, name, *e.Message)
						ctl.Chat("mark-read", node.ChatRequest{Contact: ref})
					}
				case chat.EventState:
					fmt.Fprintf(c.out, "  %s %s\n", e.Message.ID.String()[:12], e.Message.State)
				case chat.EventReaction:
					printMessage(c.out, name, *e.Message)
				case chat.EventTyping:
					if e.Typing {
						fmt.Fprintf(c.out, "  %s is typing…\n", name)
					}
				}
			case line, ok := <-lines:
				if !ok || line == "/quit" {
					return nil
				}
				if err := c.chatLine(ctl, ref, line); err != nil {
					fmt.Fprintln(c.out, "error:", err)
				}
			}
		}
	})
}

// chatLine sends what was typed: a message or a /command.
func (c *command) chatLine(ctl *node.Control, ref, line string) error {
	if strings.TrimSpace(line) == "" {
		return nil
	}
	req := node.ChatRequest{Contact: ref, Text: line}
	op := "send"
	if strings.HasPrefix(line, "/") {
		f := strings.SplitN(line, " ", 3)
		if len(f) < 3 || (f[0] != "/react" && f[0] != "/reply") {
			return errors.New("commands: /react ID EMOJI, /reply ID TEXT, /quit")
		}
		target, err := findID(ctl, ref, f[1])
		if err != nil {
			return err
		}
		if f[0] == "/react" {
			op, req = "react", node.ChatRequest{Contact: ref, Target: target, Emoji: f[2]}
		} else {
			req.Text, req.ReplyTo = f[2], target
		}
	}
	r, err := ctl.Chat(op, req)
	if err != nil {
		return err
	}
	if op == "send" {
		fmt.Fprintf(c.out, "  %s sending\n", r.Message.ID.String()[:12])
	}
	return nil
}

// findID resolves a message ID or the prefix of one shown in the
// conversation.
func findID(ctl *node.Control, ref, prefix string) (chat.ID, error) {
	h, err := ctl.Chat("history", node.ChatRequest{Contact: ref, Limit: 500})
	if err != nil {
		return chat.ID{}, err
	}
	for _, m := range h.Messages {
		if strings.HasPrefix(m.ID.String(), prefix) {
			return m.ID, nil
		}
	}
	return chat.ID{}, fmt.Errorf("no recent message with ID %s", prefix)
}

// settings shows or changes chat settings.
func (c *command) settings(cfg node.Config, dataDir string, args []string) error {
	if len(args) != 0 {
		return errors.New("usage: discordopus settings [--read-receipts on|off] [--typing on|off]")
	}
	receipts, typing := &c.cf.receipts, &c.cf.typing
	return c.withNode(cfg, dataDir, func(ctx context.Context, ctl *node.Control, _ bool) error {
		r, err := ctl.Chat("settings", node.ChatRequest{})
		if err != nil {
			return err
		}
		st := *r.Settings
		for _, f := range []struct {
			v   string
			dst *bool
		}{{*receipts, &st.ReadReceipts}, {*typing, &st.TypingIndicators}} {
			switch f.v {
			case "":
			case "on":
				*f.dst = true
			case "off":
				*f.dst = false
			default:
				return fmt.Errorf("settings: %q: want on or off", f.v)
			}
		}
		if r, err = ctl.Chat("settings", node.ChatRequest{Settings: &st}); err != nil {
			return err
		}
		fmt.Fprintf(c.out, "read receipts: %s\ntyping indicators: %s\n", onOff(r.Settings.ReadReceipts), onOff(r.Settings.TypingIndicators))
		return nil
	})
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}
