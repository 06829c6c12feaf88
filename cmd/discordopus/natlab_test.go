package main

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/discordopus/discordopus/internal/netlab"
	"github.com/discordopus/discordopus/internal/poll"
	"github.com/discordopus/discordopus/internal/proctest"
)

// TestNATLab is issue 6's lab: a simulated internet (11.0.0.0/24, inside
// network namespaces, no link out) with two discordopusd nodes (DHT
// bootstrap; the first is also the relay), and two people whose nodes sit
// either on the internet or in home networks behind cone or symmetric NAT
// routers that drop unsolicited traffic. In every case the two find each
// other through the DHT alone (added by PeerID) and exchange messages both
// ways; cone/cone ends on a hole-punched direct connection; the symmetric
// cases stay relayed and still deliver. Doctor's report is checked in each.
func TestNATLab(t *testing.T) {
	cases := []struct {
		name       string
		alice, bob string // "public", "cone" or "symmetric"
		want       string // the path doctor must end on
	}{
		{"public-NATed", "public", "cone", "direct"},
		{"cone-cone", "cone", "cone", "hole-punched"},
		{"cone-symmetric", "cone", "symmetric", "relayed"},
		{"symmetric-symmetric", "symmetric", "symmetric", "relayed"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { natCase(t, c.alice, c.bob, c.want) })
	}
}

var reInfraAddr = regexp.MustCompile(`^address: (/ip4/11\.0\.0\.\d+/tcp/\d+/p2p/\S+)`)

// labPeer is one person's node in the lab.
type labPeer struct {
	name, ns, dir, id string
	proc              *proctest.Proc
}

func natCase(t *testing.T, aliceAt, bobAt, want string) {
	start := time.Now()
	lab := netlab.New(t)
	env := testEnv(t)

	// The internet's infrastructure: two public nodes, so that each person
	// hears their public address from two observers.
	var boots []string
	for i, name := range []string{"relay", "boot"} {
		ns, addr := lab.PublicHost(name)
		args := []string{bin("discordopusd"), "--data-dir", t.TempDir(), "--metrics", "off",
			"--listen", fmt.Sprintf("/ip4/%s/tcp/7406,/ip4/%s/udp/7406/quic-v1", addr, addr)}
		if i == 0 {
			args = append(args, "--relay")
		}
		for _, b := range boots {
			args = append(args, "--bootstrap-peer", b)
		}
		p := proctest.Start(t, env, netlab.Exec(ns, args...)...)
		p.Name = name
		boots = append(boots, p.WaitFor(t, reInfraAddr, startupWait)[1])
	}

	place := func(name, at string) *labPeer {
		lp := &labPeer{name: name, dir: t.TempDir()}
		switch at {
		case "public":
			lp.ns, _ = lab.PublicHost(name)
		case "cone":
			lp.ns = lab.Home(name, netlab.Cone).NS
		case "symmetric":
			lp.ns = lab.Home(name, netlab.Symmetric).NS
		}
		initNode(t, env, lp.dir)
		args := []string{bin("discordopus"), "run", "--data-dir", lp.dir, "--mdns=false",
			"--listen", "/ip4/0.0.0.0/tcp/7405,/ip4/0.0.0.0/udp/7405/quic-v1"}
		for _, b := range boots {
			args = append(args, "--bootstrap-peer", b)
		}
		lp.proc = proctest.Start(t, env, netlab.Exec(lp.ns, args...)...)
		lp.proc.Name = name
		lp.id = lp.proc.WaitFor(t, rePeerID, startupWait)[1]
		lp.proc.WaitFor(t, reDHTReady, startupWait)
		return lp
	}
	alice, bob := place("alice", aliceAt), place("bob", bobAt)
	cli := func(p *labPeer, args ...string) string {
		t.Helper()
		out, errOut, err := runCLI(t.Context(), env, "", cliWait, append(args, "--data-dir", p.dir)...)
		if err != nil {
			t.Fatalf("%s: discordopus %s: %v\n%s%s\n%s", p.name, strings.Join(args, " "), err, out, errOut, p.proc.Stderr())
		}
		return out
	}
	doctor := func(p *labPeer) string { return cli(p, "doctor") }

	// Whoever is behind a NAT learns it and reserves a slot at the relay.
	for _, p := range []*labPeer{alice, bob} {
		if p == alice && aliceAt == "public" {
			continue
		}
		waitUntil(t, 2*time.Minute, p.name+" holds a relay reservation", func() (bool, string) {
			d := doctor(p)
			return strings.Contains(d, "relay reservation: 12D3"), d
		})
	}
	t.Logf("%s: relays reserved after %v", t.Name(), time.Since(start).Round(time.Second))

	// They find each other through the DHT (added by PeerID, no
	// addresses) and talk both ways.
	cli(alice, "contact", "add", "--name", "bob", bob.id)
	cli(bob, "contact", "add", "--name", "alice", alice.id)
	sent := time.Now()
	for _, pair := range [][2]*labPeer{{alice, bob}, {bob, alice}} {
		from, to := pair[0], pair[1]
		text := fmt.Sprintf("hello %s from %s", to.name, from.name)
		one := time.Now()
		cli(from, "send", to.name, text)
		waitUntil(t, 2*time.Minute, to.name+" receives "+text, func() (bool, string) {
			h := cli(to, "history", from.name)
			return strings.Contains(h, text), h
		})
		t.Logf("%s: %s → %s in %v", t.Name(), from.name, to.name, time.Since(one).Round(time.Millisecond))
	}
	t.Logf("%s: both messages delivered %v after sending", t.Name(), time.Since(sent).Round(time.Millisecond))

	// The connection ends where the NATs allow, and doctor says so.
	waitUntil(t, 90*time.Second, "alice's path to bob is "+want, func() (bool, string) {
		d := doctor(alice)
		return strings.Contains(d, "contact bob: "+want+" "), d
	})
	d := doctor(alice)
	t.Logf("%s doctor (alice):\n%s", t.Name(), d)
	wantNAT := map[string]string{"public": "NAT: none", "cone": "NAT: cone", "symmetric": "NAT: symmetric"}[aliceAt]
	if !strings.Contains(d, wantNAT) {
		t.Errorf("alice is behind a %s NAT; doctor says:\n%s", aliceAt, d)
	}
	if want == "relayed" && !strings.Contains(d, "through relay") {
		t.Errorf("doctor does not say the relay carries the connection:\n%s", d)
	}
	for _, p := range []*labPeer{alice, bob} {
		stopClean(t, p.proc)
	}
}

// waitUntil polls cond every half second until it holds or d passes.
func waitUntil(t *testing.T, d time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	poll.Until(t, d, 500*time.Millisecond, what, cond)
}
