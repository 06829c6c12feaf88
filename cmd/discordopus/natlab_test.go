package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/discordopus/discordopus/internal/netlab"
	"github.com/discordopus/discordopus/internal/poll"
	"github.com/discordopus/discordopus/internal/proctest"
)

// TestNATLab is issue 6's lab: a simulated internet (11.0.0.0/24, inside
// network namespaces, no link out) with two discordopusd nodes (DHT
// bootstrap and mailbox; the first is also the relay), and two people
// whose nodes sit either on the internet or in home networks behind cone
// or symmetric NAT routers that drop unsolicited traffic. In every case
// the two find each other through the DHT alone (added by PeerID) and
// exchange messages both ways; cone/cone ends on a hole-punched direct
// connection; the symmetric cases stay relayed and still deliver. Doctor's
// report is checked in each.
func TestNATLab(t *testing.T) {
	for _, c := range natCases {
		t.Run(c.name, func(t *testing.T) {
			w := newWorld(t, 1, nil)
			w.people(c.alice, c.bob)
			r := w.converse(c.want)
			t.Logf("%s: relays reserved after %v; alice → bob %v, bob → alice %v; %s after %v",
				c.name, r.reserved, r.toBob, r.toAlice, c.want, r.settled)
			d := w.doctor(w.alice)
			t.Logf("doctor (alice):\n%s", d)
			wantNAT := map[string]string{"public": "NAT: none", "cone": "NAT: cone", "symmetric": "NAT: symmetric"}[c.alice]
			if !strings.Contains(d, wantNAT) {
				t.Errorf("alice is behind a %s NAT; doctor says:\n%s", c.alice, d)
			}
			if c.want == "relayed" && !strings.Contains(d, "through relay") {
				t.Errorf("doctor does not say the relay carries the connection:\n%s", d)
			}
			w.stop()
		})
	}
}

// TestNATLabRelayLoss: two people behind symmetric NATs talk through a
// relay, which vanishes (killed) mid-conversation. Every message sent
// after that still arrives, through the other relay or the mailbox; and
// when the relay comes back, both reserve at it again.
func TestNATLabRelayLoss(t *testing.T) {
	w := newWorld(t, 2, nil)
	w.people("symmetric", "symmetric")
	w.converse("relayed")
	path := regexp.MustCompile(`contact bob: relayed .*through relay …(\S{8})`).FindStringSubmatch(w.doctor(w.alice))
	if path == nil {
		t.Fatalf("doctor names no relay:\n%s", w.doctor(w.alice))
	}
	var gone *labInfra
	for _, in := range w.infra {
		if strings.HasSuffix(in.id, path[1]) {
			gone = in
		}
	}
	if gone == nil {
		t.Fatalf("the relay …%s is none of the lab's", path[1])
	}
	lost := time.Now()
	gone.proc.Signal(t, syscall.SIGKILL, stopWait)
	for i := range 3 {
		w.deliver(w.alice, w.bob, fmt.Sprintf("after the relay vanished %d", i), 3*time.Minute)
		w.deliver(w.bob, w.alice, fmt.Sprintf("reply after the relay vanished %d", i), 3*time.Minute)
	}
	t.Logf("six messages delivered %v after the relay vanished", time.Since(lost).Round(time.Millisecond))

	back := time.Now()
	w.start(gone) // the same identity, data and address
	for _, p := range []*labPeer{w.alice, w.bob} {
		waitUntil(t, 3*time.Minute, p.name+" reserves at the restarted relay again", func() (bool, string) {
			d := w.doctor(p)
			return strings.Contains(d, "relay reservation: "+gone.id), d
		})
	}
	t.Logf("both reserved at the restarted relay %v after it came back", time.Since(back).Round(time.Second))
	w.stop()
}

// TestNATLabAddressChange: two people behind cone NATs talk over a
// hole-punched connection; then Alice's router gets a new public address
// (as a home connection does when the ISP renumbers it), which breaks
// every connection through it. Messages both ways still arrive, and
// doctor learns the new address.
func TestNATLabAddressChange(t *testing.T) {
	w := newWorld(t, 1, nil)
	w.people("cone", "cone")
	w.converse("hole-punched")
	changed := time.Now()
	newAddr := w.lab.Renumber(w.aliceHome)
	toBob := w.deliver(w.alice, w.bob, "from my new address", 3*time.Minute)
	toAlice := w.deliver(w.bob, w.alice, "got it", 3*time.Minute)
	t.Logf("both messages delivered %v after the address changed (alice → bob %v, then bob → alice %v)",
		time.Since(changed).Round(time.Millisecond), toBob.Round(time.Millisecond), toAlice.Round(time.Millisecond))
	waitUntil(t, 3*time.Minute, "doctor shows alice's new public address", func() (bool, string) {
		d := w.doctor(w.alice)
		return strings.Contains(d, "observed: "+newAddr+":"), d
	})
	w.stop()
}

// TestNATLabRelayRefuses: the only relay takes one reservation. Alice
// (cone) gets it; Bob (symmetric) is refused, and his doctor says so in
// plain words. They still talk both ways: Bob reaches Alice through her
// reservation, and what cannot go that way waits in the mailbox.
func TestNATLabRelayRefuses(t *testing.T) {
	w := newWorld(t, 1, map[string]any{"relay_limits": map[string]any{"reservations": 1}})
	w.people("cone", "")
	w.waitReserved(w.alice)
	w.people("", "symmetric")
	waitUntil(t, 2*time.Minute, "bob's doctor says the relay refused him", func() (bool, string) {
		d := w.doctor(w.bob)
		return strings.Contains(d, "relay problem: ") && strings.Contains(d, "refused"), d
	})
	w.befriend()
	w.deliver(w.alice, w.bob, "hello bob", 3*time.Minute)
	w.deliver(w.bob, w.alice, "hello alice", 3*time.Minute)
	w.stop()
}

var natCases = []struct {
	name       string
	alice, bob string // "public", "cone" or "symmetric"
	want       string // the path doctor must end on
}{
	{"public-NATed", "public", "cone", "direct"},
	{"cone-cone", "cone", "cone", "hole-punched"},
	{"cone-symmetric", "cone", "symmetric", "relayed"},
	{"symmetric-symmetric", "symmetric", "symmetric", "relayed"},
}

var reInfraAddr = regexp.MustCompile(`^address: (/ip4/11\.0\.0\.\d+/tcp/\d+/p2p/(\S+))`)

// world is one lab: the internet's infrastructure nodes and two people.
type world struct {
	t          testing.TB
	lab        *netlab.Lab
	env        []string
	infra      []*labInfra
	boots      []string
	alice, bob *labPeer
	aliceHome  netlab.Home
	conv       conversation // what converse measured, so far
}

// labInfra is one discordopusd on the simulated internet.
type labInfra struct {
	name, id string
	argv     []string
	proc     *proctest.Proc
}

// labPeer is one person's node in the lab.
type labPeer struct {
	name, ns, dir, id string
	proc              *proctest.Proc
}

// newWorld starts the internet's infrastructure: relays nodes that relay,
// and one more that does not, so that everyone hears their public address
// from at least two observers. All are DHT bootstrap and mailbox nodes;
// relayConfig, if any, is the relays' config file.
func newWorld(t testing.TB, relays int, relayConfig map[string]any) *world {
	w := &world{t: t, lab: netlab.New(t), env: testEnv(t)}
	for i := range relays + 1 {
		name := fmt.Sprintf("relay%d", i+1)
		if i == relays {
			name = "boot"
		}
		ns, addr := w.lab.PublicHost(name)
		dir := t.TempDir()
		argv := netlab.Exec(ns, bin("discordopusd"), "--data-dir", dir, "--metrics", "off",
			"--listen", fmt.Sprintf("/ip4/%s/tcp/7406,/ip4/%s/udp/7406/quic-v1", addr, addr))
		if i < relays {
			argv = append(argv, "--relay")
			if relayConfig != nil {
				argv = append(argv, "--config", writeJSON(t, filepath.Join(dir, "config.json"), relayConfig))
			}
		}
		for _, b := range w.boots {
			argv = append(argv, "--bootstrap-peer", b)
		}
		in := &labInfra{name: name, argv: argv}
		w.start(in)
		w.infra = append(w.infra, in)
		w.boots = append(w.boots, in.proc.WaitFor(t, reInfraAddr, startupWait)[1])
	}
	return w
}

// start runs an infrastructure node, or runs a stopped one again.
func (w *world) start(in *labInfra) {
	in.proc = proctest.Start(w.t, w.env, in.argv...)
	in.proc.Name = in.name
	in.id = in.proc.WaitFor(w.t, reInfraAddr, startupWait)[2]
}

// people places Alice and Bob ("public", "cone" or "symmetric"; "" leaves
// one out for now) and waits until their nodes have joined the DHT.
func (w *world) people(aliceAt, bobAt string) {
	if aliceAt != "" {
		w.alice = w.place("alice", aliceAt)
	}
	if bobAt != "" {
		w.bob = w.place("bob", bobAt)
	}
}

func (w *world) place(name, at string) *labPeer {
	lp := &labPeer{name: name, dir: w.t.TempDir()}
	switch at {
	case "public":
		lp.ns, _ = w.lab.PublicHost(name)
	case "cone", "symmetric":
		nat := netlab.Cone
		if at == "symmetric" {
			nat = netlab.Symmetric
		}
		h := w.lab.Home(name, nat)
		lp.ns = h.NS
		if name == "alice" {
			w.aliceHome = h
		}
	default:
		w.t.Fatalf("nowhere called %q", at)
	}
	initNode(w.t, w.env, lp.dir)
	args := []string{bin("discordopus"), "run", "--data-dir", lp.dir, "--mdns=false",
		"--listen", "/ip4/0.0.0.0/tcp/7405,/ip4/0.0.0.0/udp/7405/quic-v1"}
	for _, b := range w.boots {
		args = append(args, "--bootstrap-peer", b)
	}
	lp.proc = proctest.Start(w.t, w.env, netlab.Exec(lp.ns, args...)...)
	lp.proc.Name = name
	lp.id = lp.proc.WaitFor(w.t, rePeerID, startupWait)[1]
	lp.proc.WaitFor(w.t, reDHTReady, startupWait)
	return lp
}

func (w *world) cli(p *labPeer, args ...string) string {
	w.t.Helper()
	out, errOut, err := runCLI(w.t.Context(), w.env, "", cliWait, append(args, "--data-dir", p.dir)...)
	if err != nil {
		w.t.Fatalf("%s: discordopus %s: %v\n%s%s\n%s", p.name, strings.Join(args, " "), err, out, errOut, p.proc.Stderr())
	}
	return out
}

func (w *world) doctor(p *labPeer) string { return w.cli(p, "doctor") }

// waitReserved waits until p holds a relay reservation.
func (w *world) waitReserved(p *labPeer) {
	w.t.Helper()
	waitUntil(w.t, 2*time.Minute, p.name+" holds a relay reservation", func() (bool, string) {
		d := w.doctor(p)
		return strings.Contains(d, "relay reservation: 12D3"), d
	})
}

// befriend has each add the other by PeerID alone: the DHT finds them.
func (w *world) befriend() {
	w.cli(w.alice, "contact", "add", "--name", "bob", w.bob.id)
	w.cli(w.bob, "contact", "add", "--name", "alice", w.alice.id)
}

// deliver sends text from one to the other and waits until it is in the
// receiver's history; it returns how long that took.
func (w *world) deliver(from, to *labPeer, text string, within time.Duration) time.Duration {
	w.t.Helper()
	start := time.Now()
	w.cli(from, "send", to.name, text)
	waitUntil(w.t, within, to.name+" receives "+text, func() (bool, string) {
		h := w.cli(to, "history", from.name)
		return strings.Contains(h, text), h
	})
	return time.Since(start)
}

// conversation is what converse measured.
type conversation struct {
	reserved       time.Duration // from the start until the NATed hold relay reservations
	toBob, toAlice time.Duration // the first message each way, sent to received
	settled        time.Duration // from the first message until the path is the one wanted
}

// converse waits until whoever is behind a NAT holds a relay reservation,
// has them befriend each other and exchange a message each way, and waits
// until alice's doctor shows the path want to bob.
func (w *world) converse(want string) conversation {
	w.t.Helper()
	start := time.Now()
	c := &w.conv
	for _, p := range []*labPeer{w.alice, w.bob} {
		if !strings.Contains(w.doctor(p), "NAT: none") {
			w.waitReserved(p)
		}
	}
	c.reserved = time.Since(start).Round(time.Second)
	w.befriend()
	sent := time.Now()
	c.toBob = w.deliver(w.alice, w.bob, "hello bob from alice", 2*time.Minute).Round(time.Millisecond)
	c.toAlice = w.deliver(w.bob, w.alice, "hello alice from bob", 2*time.Minute).Round(time.Millisecond)
	waitUntil(w.t, 90*time.Second, "alice's path to bob is "+want, func() (bool, string) {
		d := w.doctor(w.alice)
		return strings.Contains(d, "contact bob: "+want+" "), d
	})
	c.settled = time.Since(sent).Round(time.Millisecond)
	return *c
}

// stop ends both people's nodes, cleanly.
func (w *world) stop() {
	for _, p := range []*labPeer{w.alice, w.bob} {
		if p != nil {
			stopClean(w.t, p.proc)
		}
	}
}

func writeJSON(t testing.TB, path string, v map[string]any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// waitUntil polls cond every half second until it holds or d passes.
func waitUntil(t testing.TB, d time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	poll.Until(t, d, 500*time.Millisecond, what, cond)
}
