package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/chacha20poly1305"

	"github.com/discordopus/discordopus/internal/proctest"
	"github.com/discordopus/discordopus/keystore"
	"github.com/discordopus/discordopus/node"
	"github.com/discordopus/discordopus/store"
)

// These tests run end-to-end encrypted conversations between real
// `discordopus run` processes that find each other through a discordopusd
// bootstrap node (mDNS off), and drive them with the CLI over their control
// sockets.

var (
	reInvite = regexp.MustCompile(`^invite: (DO1\S+)`)
	reSafety = regexp.MustCompile(`Safety number with (\S+):\s+((?:\d{5}\s+){11}\d{5})`)
	// One line of `history`: time, 12 hex digits of the ID, who, text and,
	// for outgoing messages, the delivery state.
	reHistLine = regexp.MustCompile(`^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)  ([0-9a-f]{12})  ([^:]+): (.*?)(?:  \[(sending|sent|delivered|read)\])?$`)
)

// The time budget of the waits below.
const (
	cliWait  = 30 * time.Second // an ordinary CLI command
	bulkWait = 3 * time.Minute  // --wait of a bulk send
)

// chatPeer is one desktop node of a conversation.
type chatPeer struct {
	name   string // what the other side calls it
	other  string // what it calls the other side
	dir    string
	proc   *proctest.Proc
	invite string
}

// chatNet is a bootstrap node and the desktop nodes using it.
type chatNet struct {
	t        *testing.T
	env      []string
	boot     *proctest.Proc
	bootAddr string
	infra    []*proctest.Proc // more discordopusd nodes: DHT servers and mailbox holders
	peers    []*chatPeer
}

// newChatNet starts a bootstrap node and two initialised desktop nodes,
// alice and bob, and makes them contacts of each other by invite.
func newChatNet(t *testing.T) *chatNet { return newChatNetWith(t, 1) }

// newChatNetWith is newChatNet with infra discordopusd nodes (at least
// one, the bootstrap node): as many mailbox holders.
func newChatNetWith(t *testing.T, infra int) *chatNet {
	t.Helper()
	n := &chatNet{t: t, env: testEnv(t)}
	n.boot = proctest.Start(t, n.env, bin("discordopusd"), "--data-dir", t.TempDir(),
		"--listen", "/ip4/127.0.0.1/tcp/0", "--private-addrs", "--metrics", "off")
	n.bootAddr = n.boot.WaitFor(t, reAddress, startupWait)[1]
	for i := 1; i < infra; i++ {
		p := proctest.Start(t, n.env, bin("discordopusd"), "--data-dir", t.TempDir(),
			"--listen", "/ip4/127.0.0.1/tcp/0", "--private-addrs", "--metrics", "off", "--bootstrap-peer", n.bootAddr)
		p.Name = fmt.Sprintf("discordopusd %d", i+1)
		p.WaitFor(t, reAddress, startupWait)
		n.infra = append(n.infra, p)
	}
	a := &chatPeer{name: "alice", other: "bob", dir: t.TempDir()}
	b := &chatPeer{name: "bob", other: "alice", dir: t.TempDir()}
	n.peers = []*chatPeer{a, b}
	for _, p := range n.peers {
		initNode(t, n.env, p.dir)
		n.start(p)
	}
	for _, p := range n.peers {
		p.proc.WaitFor(t, reDHTReady, startupWait)
	}
	for _, p := range n.peers {
		other := n.peer(p.other)
		out := n.cli(p, "", cliWait, "contact", "add", "--name", other.name, other.invite)
		if !strings.Contains(out, "added "+other.name) {
			t.Fatalf("%s: contact add: %q\n%s", p.name, out, n.tails())
		}
	}
	return n
}

func (n *chatNet) peer(name string) *chatPeer {
	for _, p := range n.peers {
		if p.name == name {
			return p
		}
	}
	panic("no peer " + name)
}

// start runs p's node and waits until it prints its invite. A restarted
// node listens on a new port, so its contacts must find it through the DHT.
func (n *chatNet) start(p *chatPeer) {
	n.t.Helper()
	p.proc = proctest.Start(n.t, n.env, bin("discordopus"), "run", "--data-dir", p.dir,
		"--listen", "/ip4/127.0.0.1/tcp/0", "--mdns=false", "--private-addrs", "--bootstrap-peer", n.bootAddr, "--log-level", chatLogLevel())
	p.proc.Name = "discordopus run (" + p.name + ")"
	p.invite = p.proc.WaitFor(n.t, reInvite, startupWait)[1]
}

// chatLogLevel is the nodes' log level: info, or
// $DISCORDOPUS_TEST_LOG_LEVEL (debug shows the frames a node drops).
func chatLogLevel() string {
	if l := os.Getenv("DISCORDOPUS_TEST_LOG_LEVEL"); l != "" {
		return l
	}
	return "info"
}

// stop stops every node with SIGTERM and requires clean exits.
func (n *chatNet) stop() {
	n.t.Helper()
	for _, p := range n.peers {
		stopClean(n.t, p.proc)
		if !strings.Contains(p.proc.Stdout(), "stopped") {
			n.t.Errorf("%s did not report stopping", p.proc.Name)
		}
	}
	for _, p := range n.infra {
		stopClean(n.t, p)
	}
	stopClean(n.t, n.boot)
}

// tails is the end of every node's stderr, for failure messages.
func (n *chatNet) tails() string {
	var b strings.Builder
	procs := append([]*proctest.Proc{n.boot}, n.infra...)
	for _, p := range n.peers {
		procs = append(procs, p.proc)
	}
	for _, p := range procs {
		fmt.Fprintf(&b, "--- %s stderr (tail):\n%s\n", p.Name, tail(p.Stderr(), 30))
	}
	return b.String()
}

func tail(s string, lines int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(l) > lines {
		l = append([]string{fmt.Sprintf("[... %d lines]", len(l)-lines)}, l[len(l)-lines:]...)
	}
	return strings.Join(l, "\n")
}

// cli runs `discordopus ARGS --data-dir p.dir` against p's running node and
// fails the test if it fails.
func (n *chatNet) cli(p *chatPeer, stdin string, timeout time.Duration, args ...string) string {
	n.t.Helper()
	out, errOut, err := runCLI(n.t.Context(), n.env, stdin, timeout, append(args, "--data-dir", p.dir)...)
	if err != nil {
		n.t.Fatalf("%s: discordopus %s: %v\nstdout:\n%s\nstderr:\n%s\n%s", p.name, strings.Join(args, " "), err, tail(out, 20), errOut, n.tails())
	}
	return out
}

// runCLI runs the CLI with stdin, killing it after timeout or when ctx
// ends (the test's context ends when the test does, so no CLI outlives a
// failed test). It does not touch testing.T and may run in a goroutine.
func runCLI(ctx context.Context, env []string, stdin string, timeout time.Duration, args ...string) (stdout, stderr string, err error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin("discordopus"), args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = strings.NewReader(stdin)
	cmd.WaitDelay = 5 * time.Second
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		err = fmt.Errorf("killed after %s (%v)", timeout, err)
	case ctx.Err() != nil:
		err = fmt.Errorf("killed: %w (%v)", ctx.Err(), err)
	}
	return o.String(), e.String(), err
}

// histLine is one parsed line of `history`.
type histLine struct {
	raw, id, who, text, state string
}

// history returns p's conversation with its contact, all of it.
func (n *chatNet) history(p *chatPeer) (raw string, lines []histLine) {
	n.t.Helper()
	return n.historyN(p, 0)
}

// historyN returns the newest limit messages (0: all).
func (n *chatNet) historyN(p *chatPeer, limit int) (raw string, lines []histLine) {
	n.t.Helper()
	raw = n.cli(p, "", cliWait, "history", "--limit", strconv.Itoa(limit), p.other)
	lines, err := parseHistory(raw)
	if err != nil {
		n.t.Fatalf("%s: history: %v", p.name, err)
	}
	return raw, lines
}

func parseHistory(raw string) ([]histLine, error) {
	var out []histLine
	for l := range strings.Lines(raw) {
		l = strings.TrimSuffix(l, "\n")
		m := reHistLine.FindStringSubmatch(l)
		if m == nil {
			return nil, fmt.Errorf("unexpected history line %q", l)
		}
		out = append(out, histLine{raw: l, id: m[2], who: m[3], text: m[4], state: m[5]})
	}
	return out, nil
}

// summary counts a history's lines by sender and state.
func summary(lines []histLine) string {
	count := map[string]int{}
	for _, l := range lines {
		count[l.who+" "+l.state]++
	}
	var parts []string
	for k, v := range count {
		parts = append(parts, fmt.Sprintf("%d from %s", v, strings.TrimSpace(k)))
	}
	slices.Sort(parts)
	return fmt.Sprintf("%d lines (%s), last %q", len(lines), strings.Join(parts, ", "), lastRaw(lines))
}

func lastRaw(lines []histLine) string {
	if len(lines) == 0 {
		return ""
	}
	return lines[len(lines)-1].raw
}

// texts makes count unique, numbered message texts, each with its own
// random marker.
func texts(prefix string, count int) (out, markers []string) {
	for i := range count {
		m := randomHex(8)
		out = append(out, fmt.Sprintf("%s %04d %s", prefix, i, m))
		markers = append(markers, m)
	}
	return out, markers
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// sendAll sends texts from p with `send <contact> -` and returns the CLI's
// output; run it in a goroutine. Cancelling ctx kills the CLI.
func (n *chatNet) sendAll(ctx context.Context, p *chatPeer, texts []string, wait time.Duration) (string, error) {
	out, errOut, err := runCLI(ctx, n.env, strings.Join(texts, "\n")+"\n", wait+time.Minute,
		"send", "--data-dir", p.dir, "--wait", wait.String(), p.other, "-")
	if err != nil {
		return out, fmt.Errorf("%v\nstderr:\n%s", err, errOut)
	}
	return out, nil
}

type sendResult struct {
	out string
	err error
}

// sendAsync starts sendAll; the result arrives on the channel.
func (n *chatNet) sendAsync(ctx context.Context, p *chatPeer, texts []string, wait time.Duration) <-chan sendResult {
	c := make(chan sendResult, 1)
	go func() {
		out, err := n.sendAll(ctx, p, texts, wait)
		c <- sendResult{out, err}
	}()
	return c
}

// requireDelivered checks the output of sendAll.
func (n *chatNet) requireDelivered(p *chatPeer, out string, err error, count int) {
	n.t.Helper()
	if err != nil || strings.TrimSpace(out) != deliveredAll(count) {
		_, lines := n.history(p)
		n.t.Fatalf("%s: send: %v; output %q, want %q; history: %s\n%s", p.name, err, out, deliveredAll(count), summary(lines), n.tails())
	}
}

func deliveredAll(count int) string { return fmt.Sprintf("delivered %d of %d", count, count) }

// allDelivered reports whether lines hold count outgoing messages, all
// delivered.
func allDelivered(lines []histLine, count int) bool {
	n := 0
	for _, l := range lines {
		if l.who == "you" && l.state == "delivered" {
			n++
		}
	}
	return n == count
}

// CLI and history waits of awaitSends.
const (
	cliGrace    = 15 * time.Second // after the history shows all delivered
	noProgress  = 40 * time.Second // the history unchanged: delivery stalled
	sendPolling = 2 * time.Second
)

// bulkSend is a `send <contact> -` under way.
type bulkSend struct {
	p      *chatPeer
	count  int
	res    <-chan sendResult
	cancel context.CancelFunc

	r           sendResult
	cliDone     bool
	deliveredAt time.Time // first seen all delivered in the history
	last        string    // the history's summary
	lastChange  time.Time
	done        bool
}

// startSend starts sending texts from p; awaitSends waits for it.
func (n *chatNet) startSend(p *chatPeer, texts []string) *bulkSend {
	ctx, cancel := context.WithCancel(n.t.Context())
	n.t.Cleanup(cancel)
	return &bulkSend{p: p, count: len(texts), res: n.sendAsync(ctx, p, texts, bulkWait), cancel: cancel, lastChange: time.Now()}
}

func (b *bulkSend) finishCLI() {
	if !b.cliDone {
		b.cancel()
		b.r, b.cliDone = <-b.res, true
	}
}

// awaitSends waits for bulk sends and requires that all their messages
// are delivered and that `send` says so. It watches the senders'
// histories meanwhile, which are the record: delivery that stalls fails
// the test early, and a CLI that fails or keeps waiting although the
// history shows every message delivered is an error of the CLI alone, so
// it is reported and the test goes on to check the conversation. It
// returns when the last message was seen delivered.
func (n *chatNet) awaitSends(timeout time.Duration, sends ...*bulkSend) time.Time {
	n.t.Helper()
	deadline := time.Now().Add(timeout)
	var lastDelivery time.Time
	tick := time.NewTicker(100 * time.Millisecond) // the CLI's result
	defer tick.Stop()
	delivered := func(b *bulkSend, at time.Time) {
		b.done = true
		if at.After(lastDelivery) {
			lastDelivery = at
		}
	}
	var polled time.Time
	for {
		<-tick.C
		poll := time.Since(polled) >= sendPolling
		if poll {
			polled = time.Now()
		}
		pending := 0
		for _, b := range sends {
			if b.done {
				continue
			}
			if !b.cliDone {
				select {
				case b.r = <-b.res:
					b.cliDone = true
				default:
				}
			}
			want := deliveredAll(b.count)
			if b.cliDone && b.r.err == nil && strings.TrimSpace(b.r.out) == want {
				at := time.Now()
				if !b.deliveredAt.IsZero() {
					at = b.deliveredAt
				}
				delivered(b, at)
				continue
			}
			if pending++; !poll {
				continue
			}
			_, lines := n.history(b.p)
			if sum := summary(lines); sum != b.last {
				b.last, b.lastChange = sum, time.Now()
			}
			if allDelivered(lines, b.count) {
				if b.deliveredAt.IsZero() {
					b.deliveredAt = time.Now()
				}
				if b.cliDone || time.Since(b.deliveredAt) > cliGrace {
					b.finishCLI()
					n.t.Errorf("%s: the history shows all %d messages delivered, but `send` (%s later) printed %q, err %v; want %q. "+
						"BUG in the CLI: it counts delivery events, which the node drops for a subscriber that falls behind",
						b.p.name, b.count, time.Since(b.deliveredAt).Round(time.Second), b.r.out, b.r.err, want)
					delivered(b, b.deliveredAt)
				}
				continue
			}
			stalled := time.Since(b.lastChange) > noProgress
			if stalled || time.Now().After(deadline) {
				b.finishCLI()
				why := fmt.Sprintf("not all delivered within %s", timeout)
				if stalled {
					why = fmt.Sprintf("delivery stalled: the history did not change for %s", noProgress)
				}
				n.t.Fatalf("%s: %s; `send` printed %q, err %v; history: %s\n%s", b.p.name, why, b.r.out, b.r.err, b.last, n.tails())
			}
		}
		if pending == 0 {
			return lastDelivery
		}
	}
}

// checkConversation checks p's view of a conversation: every message of
// sent (by sender name) exactly once, each sender's in the order sent,
// nothing else (reported as errors; it returns whether all that holds),
// and every outgoing message delivered.
func checkConversation(t *testing.T, p *chatPeer, lines []histLine, sent map[string][]string) bool {
	t.Helper()
	from := map[string]string{} // text -> sender
	total := 0
	for sender, ts := range sent {
		total += len(ts)
		for _, x := range ts {
			from[x] = sender
		}
	}
	ok, failures := true, 0
	fail := func(format string, args ...any) { // the first few of each kind
		t.Helper()
		if ok = false; failures < 5 {
			t.Errorf("%s: history: "+format, append([]any{p.name}, args...)...)
		}
		failures++
	}
	if len(lines) != total {
		fail("%d messages, want %d", len(lines), total)
	}
	seen := map[string]int{}
	order := map[string][]string{}
	var undelivered []string
	for _, l := range lines {
		seen[l.text]++
		sender, known := from[l.text]
		if !known {
			fail("unexpected message %q", l.raw)
			continue
		}
		order[sender] = append(order[sender], l.text)
		wantWho, wantState := p.other, ""
		if sender == p.name {
			wantWho, wantState = "you", "delivered"
		}
		switch {
		case l.who != wantWho:
			fail("%q: want it from %q", l.raw, wantWho)
		case l.state != wantState:
			undelivered = append(undelivered, l.raw)
		}
	}
	for x, c := range seen {
		if c > 1 {
			fail("%q is shown %d times", x, c)
		}
	}
	for sender, ts := range sent {
		if got := order[sender]; !slices.Equal(got, ts) {
			missing := 0
			for _, x := range ts {
				if seen[x] == 0 {
					missing++
				}
			}
			fail("%s's messages are not all there in the order sent: %d of %d shown, %d missing, first difference at #%d",
				sender, len(got), len(ts), missing, firstDiff(got, ts))
		}
	}
	if len(undelivered) > 0 {
		t.Errorf("%s: %d outgoing messages are not shown [delivered] after the send finished, e.g.\n%s",
			p.name, len(undelivered), strings.Join(undelivered[:min(5, len(undelivered))], "\n"))
	}
	return ok
}

func firstDiff(a, b []string) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// verifyBoth runs `contact verify --yes` on both sides and requires the
// same 60-digit safety number.
func (n *chatNet) verifyBoth() {
	n.t.Helper()
	var nums []string
	for _, p := range n.peers {
		out := n.cli(p, "", cliWait, "contact", "verify", "--yes", p.other)
		m := reSafety.FindStringSubmatch(out)
		if m == nil || m[1] != p.other || !strings.Contains(out, p.other+" is verified") {
			n.t.Fatalf("%s: contact verify output:\n%s", p.name, out)
		}
		num := strings.Join(strings.Fields(m[2]), "")
		if len(num) != 60 {
			n.t.Fatalf("%s: safety number %q has %d digits", p.name, m[2], len(num))
		}
		nums = append(nums, num)
		list := n.cli(p, "", cliWait, "contact", "list")
		if !regexp.MustCompile(`(?m)^` + p.other + `\s+accepted\s+true\s`).MatchString(list) {
			n.t.Errorf("%s: contact list does not show %s accepted and verified:\n%s", p.name, p.other, list)
		}
	}
	if nums[0] != nums[1] {
		n.t.Fatalf("the safety numbers differ:\n%s: %s\n%s: %s", n.peers[0].name, nums[0], n.peers[1].name, nums[1])
	}
}

// TestChatBetweenProcesses: two desktop nodes add each other by invite,
// agree on the safety number, exchange 1,000 messages each way at once,
// and both show the same 2,000 messages in the same order, before and
// after a restart. Their data directories leak nothing (see checkAtRest).
func TestChatBetweenProcesses(t *testing.T) {
	n := newChatNet(t)
	a, b := n.peers[0], n.peers[1]
	n.verifyBoth()

	const count = 1000
	sent := map[string][]string{}
	var markers []string
	for _, p := range n.peers {
		ts, ms := texts(p.name[:1]+"->"+p.other[:1], count)
		sent[p.name] = ts
		markers = append(markers, ms...)
	}
	start := time.Now()
	var sends []*bulkSend
	for _, p := range n.peers {
		sends = append(sends, n.startSend(p, sent[p.name]))
	}
	end := n.awaitSends(bulkWait+10*time.Second, sends...)
	t.Logf("%d messages each way delivered in %s", count, end.Sub(start).Round(time.Millisecond))

	rawA, linesA := n.history(a)
	rawB, linesB := n.history(b)
	if okA, okB := checkConversation(t, a, linesA, sent), checkConversation(t, b, linesB, sent); !okA || !okB {
		t.FailNow()
	}
	for i := range linesA {
		if linesA[i].id != linesB[i].id || linesA[i].text != linesB[i].text {
			t.Fatalf("the histories differ at message %d:\n%s: %s\n%s: %s", i, a.name, linesA[i].raw, b.name, linesB[i].raw)
		}
	}

	// A restart shows exactly the same.
	for _, p := range n.peers {
		stopClean(t, p.proc)
	}
	for _, p := range n.peers {
		n.start(p)
	}
	if again, _ := n.history(a); again != rawA {
		t.Errorf("%s: history changed across a restart:\n%s", a.name, lineDiff(rawA, again))
	}
	if again, _ := n.history(b); again != rawB {
		t.Errorf("%s: history changed across a restart:\n%s", b.name, lineDiff(rawB, again))
	}
	n.stop()
	checkAtRest(t, n.env, []string{a.dir, b.dir}, markers, nil)
}

func lineDiff(a, b string) string {
	la, lb := strings.Split(a, "\n"), strings.Split(b, "\n")
	i := firstDiff(la, lb)
	get := func(l []string) string {
		if i < len(l) {
			return l[i]
		}
		return "(end)"
	}
	return fmt.Sprintf("%d lines before, %d after; first difference at line %d:\nbefore: %s\nafter:  %s", len(la), len(lb), i+1, get(la), get(lb))
}

// TestChatReceiverKilled: the receiver is killed (SIGKILL) while 3,000
// messages flow to it and started again; every message arrives exactly
// once and in order, and the sender sees them all delivered.
func TestChatReceiverKilled(t *testing.T) {
	n := newChatNet(t)
	a, b := n.peers[0], n.peers[1]
	// Enough that they are still flowing when the kill lands: the flow is
	// fast (thousands a second) and a history poll is a process start.
	const count = 3000
	ts, markers := texts("a->b", count)
	sent := map[string][]string{a.name: ts}

	send := n.startSend(a, ts)
	// Kill the receiver as soon as messages arrive, while the rest flow.
	deadline := time.Now().Add(time.Minute)
	for {
		if _, l := n.historyN(b, 1); len(l) == 1 {
			break
		}
		if time.Now().After(deadline) {
			_, l := n.history(b)
			t.Fatalf("%s: no message arrived within a minute: %s\n%s", b.name, summary(l), n.tails())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := b.proc.Signal(t, syscall.SIGKILL, stopWait); err == nil {
		t.Fatalf("%s exited cleanly on SIGKILL", b.proc.Name)
	}
	n.start(b)
	_, lines := n.history(b)
	t.Logf("%s killed and restarted with %d of %d messages stored", b.name, len(lines), count)
	if len(lines) == count {
		t.Fatalf("all %d messages arrived before the receiver was killed: the kill did not interrupt anything; send more", count)
	}
	restarted := time.Now()
	end := n.awaitSends(2*time.Minute, send)
	t.Logf("all delivered %s after the restart", end.Sub(restarted).Round(time.Millisecond))

	_, linesB := n.history(b)
	checkConversation(t, b, linesB, sent)
	_, linesA := n.history(a)
	checkConversation(t, a, linesA, sent)
	n.stop()
	// The data directories, one of them through a crash, leak nothing.
	checkAtRest(t, n.env, []string{a.dir, b.dir}, markers, nil)
}

// atRestSentence is a message whose text must never reach the disk in
// the clear.
const atRestSentence = "Meet me by the old lighthouse at 23:40; bring the blue notebook and tell nobody about the keys."

// TestChatAtRest: after a conversation, no file in either data directory
// holds a message's text or any private key in the clear.
func TestChatAtRest(t *testing.T) {
	n := newChatNet(t)
	a, b := n.peers[0], n.peers[1]
	const count = 20
	var markers []string
	sent := map[string][]string{}
	for _, p := range n.peers {
		ts, ms := texts(p.name[:1]+"->"+p.other[:1], count)
		sent[p.name], markers = ts, append(markers, ms...)
	}
	m := randomHex(8)
	sent[a.name] = append(sent[a.name], atRestSentence+" "+m)
	markers = append(markers, m)
	for _, p := range n.peers {
		out, err := n.sendAll(t.Context(), p, sent[p.name], time.Minute)
		n.requireDelivered(p, out, err, len(sent[p.name]))
	}
	for _, p := range n.peers {
		_, lines := n.history(p)
		checkConversation(t, p, lines, sent)
	}
	n.stop()
	checkAtRest(t, n.env, []string{a.dir, b.dir}, markers, []string{atRestSentence})
}

// checkAtRest scans every regular file under the data directories of
// stopped nodes for message markers, fixed sentences and secrets: each
// node's data key and identity seed (decoded independently from the
// keystore file), the store keys derived from the data key, the private
// parts of its prekeys and every 32-byte window of its e2e sessions, and
// the passphrase. It first proves that the scanner finds each of them.
func checkAtRest(t *testing.T, env []string, dirs []string, markers, sentences []string) {
	t.Helper()
	var ns []needle
	for i, m := range markers {
		ns = append(ns, needle{fmt.Sprintf("message marker %d (%s)", i, m), []byte(m)})
	}
	for i, s := range sentences {
		ns = append(ns, needle{fmt.Sprintf("message sentence %d", i), []byte(s)})
	}
	pass := passphraseOf(env)
	ns = append(ns, needle{"the passphrase", pass})
	for _, dir := range dirs {
		ns = append(ns, nodeSecrets(t, dir, pass)...)
	}
	sc := newScanner(ns)

	// The control: a file holding every needle, at odd offsets between
	// random bytes, must show every one.
	ctlFile := filepath.Join(t.TempDir(), "control")
	var ctl bytes.Buffer
	for _, nd := range ns {
		junk := make([]byte, 1+len(ctl.Bytes())%13)
		rand.Read(junk)
		ctl.Write(junk)
		ctl.Write(nd.b)
	}
	if err := os.WriteFile(ctlFile, ctl.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	found := map[string]bool{}
	for _, h := range sc.scanFile(t, ctlFile) {
		found[h.needle] = true
	}
	for _, nd := range ns {
		if !found[nd.name] {
			t.Fatalf("scanner control: %s planted in %s not found", nd.name, ctlFile)
		}
	}

	files, size := 0, int64(0)
	for _, dir := range dirs {
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil || !d.Type().IsRegular() {
				return err
			}
			fi, err := d.Info()
			if err != nil {
				return err
			}
			files++
			size += fi.Size()
			for _, h := range sc.scanFile(t, path) {
				t.Errorf("%s holds %s in the clear at offset %d", path, h.needle, h.off)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("at rest: scanned %d files (%d bytes) for %d needles", files, size, len(ns))
	if files < 3 {
		t.Fatalf("only %d files under %v: the scan looked at the wrong place", files, dirs)
	}
}

func passphraseOf(env []string) []byte {
	for _, e := range env {
		if v, ok := strings.CutPrefix(e, "DISCORDOPUS_PASSPHRASE="); ok {
			return []byte(v)
		}
	}
	panic("no DISCORDOPUS_PASSPHRASE in the test environment")
}

// nodeSecrets gathers the private bytes of a stopped node's data
// directory. It opens the keystore and the store on a copy, so that the
// directory scanned is what the node left.
func nodeSecrets(t *testing.T, dir string, pass []byte) []needle {
	t.Helper()
	who := filepath.Base(dir)
	dataKey, seed := decodeKeystore(t, node.KeystorePath(dir), pass)
	ks, err := keystore.Open(node.KeystorePath(dir), pass)
	if err != nil {
		t.Fatalf("opening the keystore of %s: %v", dir, err)
	}
	defer ks.Close()
	raw, err := ks.PrivKey().Raw()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(raw[:32], seed) {
		t.Fatal("the seed decoded from the keystore file is not the identity's: the file format changed; update decodeKeystore")
	}
	encKey, sealKey := ks.Subkey(keystore.LabelStoreEncryption), ks.Subkey(keystore.LabelStoreSeal)
	if want, _ := hkdf.Key(sha256.New, dataKey, nil, "discordopus/v1/"+keystore.LabelStoreEncryption, 32); !bytes.Equal(want, encKey) {
		t.Fatal("the data key decoded from the keystore file does not derive the store key: the format changed; update decodeKeystore")
	}
	out := []needle{
		{who + " identity seed", seed},
		{who + " identity seed (hex)", []byte(hex.EncodeToString(seed))},
		{who + " identity seed (base64)", []byte(base64.StdEncoding.EncodeToString(seed)[:40])},
		{who + " data key", dataKey},
		{who + " data key (hex)", []byte(hex.EncodeToString(dataKey))},
		{who + " data key (base64)", []byte(base64.StdEncoding.EncodeToString(dataKey)[:40])},
		{who + " store encryption key", encKey},
		{who + " store seal key", sealKey},
	}

	// The store, opened as the node opens it, on a copy.
	cp := filepath.Join(t.TempDir(), "db")
	if err := os.CopyFS(cp, os.DirFS(filepath.Join(dir, "db"))); err != nil {
		t.Fatalf("copying the store of %s: %v", dir, err)
	}
	st, err := store.Open(store.Options{Dir: cp, EncryptionKey: encKey, SealKey: sealKey, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("opening the store of %s: %v", dir, err)
	}
	defer st.Close()
	pk, err := keystore.OpenPrekeys(st.Namespace("prekeys"), keystore.PrekeyOptions{
		Identity: ed25519.PrivateKey(raw), Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatalf("opening the prekeys of %s: %v", dir, err)
	}
	defer pk.Close()
	gens := pk.SignedPrekeys()
	if len(gens) == 0 {
		t.Fatalf("%s holds no signed prekeys", dir)
	}
	for _, g := range gens {
		b, err := g.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		// version, ID, created (17 bytes), then the X25519 private key and
		// the ML-KEM seed: every 32-byte window of those.
		out = append(out, windows(fmt.Sprintf("%s signed prekey %d", who, g.ID), b[17:], 32)...)
		g.Wipe()
	}
	err = st.Namespace("prekeys").Iterate([]byte("otk/"), false, func(k, v []byte) error {
		out = append(out, windows(fmt.Sprintf("%s one-time prekey %x", who, k), v[5:], 32)...)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sessions := 0
	err = st.Namespace("sessions").Iterate(nil, false, func(k, v []byte) error {
		sessions++
		out = append(out, windows(fmt.Sprintf("%s e2e session %x", who, k), v, 32)...)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if sessions == 0 {
		t.Errorf("%s holds no e2e session after a conversation", dir)
	}
	return out
}

// windows are the n-byte windows of b, each starting at an offset whose
// first 8 bytes are not all zero (counters, which say nothing).
func windows(name string, b []byte, n int) []needle {
	var out []needle
	for i := 0; i+n <= len(b); i++ {
		if binary.LittleEndian.Uint64(b[i:]) == 0 {
			continue
		}
		out = append(out, needle{fmt.Sprintf("%s (bytes %d..%d)", name, i, i+n), bytes.Clone(b[i : i+n])})
	}
	return out
}

// decodeKeystore reads the version 1 keystore file (keystore/doc.go) on
// its own: magic "DOKS", version, KDF, Argon2id t, m, p, salt length,
// salt, nonce, then XChaCha20-Poly1305 over data key || seed with the
// header as associated data.
func decodeKeystore(t *testing.T, path string, pass []byte) (dataKey, seed []byte) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	const header = 16 + 16 + 24
	if len(b) != header+64+16 || string(b[:4]) != "DOKS" || b[4] != 1 || b[5] != 1 || b[15] != 16 {
		t.Fatalf("%s is not a version 1 keystore file as this test knows it", path)
	}
	kek := argon2.IDKey(pass, b[16:32], binary.BigEndian.Uint32(b[6:10]), binary.BigEndian.Uint32(b[10:14]), b[14], 32)
	aead, err := chacha20poly1305.NewX(kek)
	if err != nil {
		t.Fatal(err)
	}
	pt, err := aead.Open(nil, b[32:header], b[header:], b[:header])
	if err != nil {
		t.Fatalf("decrypting %s: %v", path, err)
	}
	return pt[:32], pt[32:]
}

// needle is something that must not be found.
type needle struct {
	name string
	b    []byte // at least 8 bytes
}

type hit struct {
	needle string
	off    int
}

// scanner finds many needles in one pass, by their first 8 bytes.
type scanner struct {
	byPrefix map[uint64][]needle
}

func newScanner(ns []needle) *scanner {
	s := &scanner{byPrefix: map[uint64][]needle{}}
	for _, n := range ns {
		if len(n.b) < 8 {
			panic("needle " + n.name + " is shorter than 8 bytes")
		}
		k := binary.LittleEndian.Uint64(n.b)
		s.byPrefix[k] = append(s.byPrefix[k], n)
	}
	return s
}

func (s *scanner) scanFile(t *testing.T, path string) []hit {
	t.Helper()
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var out []hit
	_, zero := s.byPrefix[0]
	for i := 0; i+8 <= len(b); i++ {
		k := binary.LittleEndian.Uint64(b[i:])
		if k == 0 && !zero {
			continue
		}
		for _, n := range s.byPrefix[k] {
			if bytes.HasPrefix(b[i:], n.b) {
				out = append(out, hit{n.name, i})
			}
		}
	}
	return out
}

// TestChatTerminal: the interactive `chat` command shows the conversation
// and sends what is typed.
func TestChatTerminal(t *testing.T) {
	n := newChatNet(t)
	a, b := n.peers[0], n.peers[1]
	out, err := n.sendAll(t.Context(), b, []string{"ping from bob"}, time.Minute)
	n.requireDelivered(b, out, err, 1)
	screen := n.cli(a, "pong from the terminal\n/react nothing 👍\n/quit\n", cliWait, "chat", a.other)
	for _, want := range []string{"bob: ping from bob", "sending", "no recent message with ID nothing"} {
		if !strings.Contains(screen, want) {
			t.Errorf("chat screen lacks %q:\n%s", want, screen)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		raw, _ := n.history(b)
		if strings.Contains(raw, "alice: pong from the terminal") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("bob never got the message typed in alice's terminal:\n%s\n%s", raw, n.tails())
		}
		time.Sleep(200 * time.Millisecond)
	}
}
