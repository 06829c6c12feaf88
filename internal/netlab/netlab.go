// Package netlab builds small networks out of Linux network namespaces for
// tests: a LAN, a simulated internet, and home networks behind NAT routers
// that behave like the ones people have. Everything it makes is removed
// when the test ends, failed or not, and nothing it makes has a link to the
// machine's own network. It needs root (CI runs as root); without root a
// test skips with a message that says so, unless $DISCORDOPUS_REQUIRE_NETNS
// is set (CI sets it), and then it fails. Only tests import it.
package netlab

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
)

// RequireEnv makes a missing root a failure rather than a skip.
const RequireEnv = "DISCORDOPUS_REQUIRE_NETNS"

// PublicNet is the simulated internet: go-multiaddr counts it as public
// (so libp2p advertises, observes and hole-punches these addresses) and it
// exists only inside the lab's namespaces.
const PublicNet = "11.0.0"

// Lab is one test's set of namespaces.
type Lab struct {
	t   testing.TB
	tag string // prefix of every namespace, unique per process and lab

	mu         sync.Mutex
	namespaces []string
	hosts      int // public hosts and routers on the internet, for addresses
	homes      int // home networks, for their 10.x ranges
	inet       string
}

var labs struct {
	sync.Mutex
	n int
}

// New makes an empty lab, or skips (or fails, see RequireEnv) without root
// or without the tools.
func New(t testing.TB) *Lab {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv(RequireEnv) != "" {
			t.Fatalf("network-namespace tests need root, and $%s says they must run", RequireEnv)
		}
		t.Skip("needs root to create network namespaces (CI runs as root and does not skip)")
	}
	for _, tool := range []string{"ip", "iptables"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is missing (packages iproute2 and iptables; .ci/run and `make sysdeps` install them)", tool)
		}
	}
	labs.Lock()
	labs.n++
	n := labs.n
	labs.Unlock()
	l := &Lab{t: t, tag: fmt.Sprintf("dl%d-%d", os.Getpid()%100000, n)}
	t.Cleanup(l.remove)
	return l
}

// remove deletes every namespace; their interfaces, routes, NAT rules and
// processes' sockets go with them.
func (l *Lab) remove() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, ns := range l.namespaces {
		exec.Command("ip", "netns", "del", ns).Run()
	}
	l.namespaces = nil
}

// Namespace makes a namespace with its loopback up and returns its name.
func (l *Lab) Namespace(name string) string {
	l.t.Helper()
	ns := l.tag + "-" + name
	l.IP("netns", "add", ns)
	l.mu.Lock()
	l.namespaces = append(l.namespaces, ns)
	l.mu.Unlock()
	l.IP("-n", ns, "link", "set", "lo", "up")
	return ns
}

// IP runs the ip command and fails the test if it fails.
func (l *Lab) IP(args ...string) {
	l.t.Helper()
	l.Run("ip", args...)
}

// In runs a command inside namespace ns and fails the test if it fails.
func (l *Lab) In(ns, cmd string, args ...string) {
	l.t.Helper()
	l.Run("ip", append([]string{"netns", "exec", ns, cmd}, args...)...)
}

// Run runs a command and fails the test if it fails.
func (l *Lab) Run(cmd string, args ...string) {
	l.t.Helper()
	if out, err := exec.Command(cmd, args...).CombinedOutput(); err != nil {
		l.t.Fatalf("%s %s: %v\n%s", cmd, strings.Join(args, " "), err, out)
	}
}

// Exec is argv prefixed to run inside namespace ns.
func Exec(ns string, argv ...string) []string {
	return append([]string{"ip", "netns", "exec", ns}, argv...)
}

// LAN joins two new namespaces with a veth pair on 10.213.7.0/24 and
// returns them with their addresses.
func (l *Lab) LAN(a, b string) (ns, addrs [2]string) {
	l.t.Helper()
	ns = [2]string{l.Namespace(a), l.Namespace(b)}
	addrs = [2]string{"10.213.7.1", "10.213.7.2"}
	l.IP("link", "add", "eth0", "netns", ns[0], "type", "veth", "peer", "name", "eth0", "netns", ns[1])
	for i := range ns {
		l.IP("-n", ns[i], "addr", "add", addrs[i]+"/24", "dev", "eth0")
		l.IP("-n", ns[i], "link", "set", "eth0", "up")
	}
	return ns, addrs
}

// internet makes the simulated internet on first use: a namespace holding
// a bridge that every public host and router plugs into.
func (l *Lab) internet() string {
	l.t.Helper()
	if l.inet == "" {
		l.inet = l.Namespace("inet")
		l.IP("-n", l.inet, "link", "add", "br0", "type", "bridge")
		l.IP("-n", l.inet, "link", "set", "br0", "up")
	}
	return l.inet
}

// plug connects namespace ns to the internet as interface dev with the
// next public address, and returns the address.
func (l *Lab) plug(ns, dev string) string {
	l.t.Helper()
	inet := l.internet()
	addr, n := l.nextPublic()
	port := fmt.Sprintf("p%d", n)
	l.IP("link", "add", dev, "netns", ns, "type", "veth", "peer", "name", port, "netns", inet)
	l.IP("-n", inet, "link", "set", port, "master", "br0")
	l.IP("-n", inet, "link", "set", port, "up")
	l.IP("-n", ns, "addr", "add", addr+"/24", "dev", dev)
	l.IP("-n", ns, "link", "set", dev, "up")
	return addr
}

// nextPublic is the next unused address on the simulated internet.
func (l *Lab) nextPublic() (addr string, n int) {
	l.mu.Lock()
	l.hosts++
	n = l.hosts
	l.mu.Unlock()
	return fmt.Sprintf("%s.%d", PublicNet, 10+n), n
}

// Renumber gives a home router a new public address, as an ISP does to a
// home connection now and then, and returns it. The router forgets its
// translations with the old address (the kernel drops them with it), so
// every connection through it breaks, as it does at home.
func (l *Lab) Renumber(h Home) string {
	l.t.Helper()
	addr, _ := l.nextPublic()
	l.IP("-n", h.Router, "addr", "del", h.Public+"/24", "dev", "wan")
	l.IP("-n", h.Router, "addr", "add", addr+"/24", "dev", "wan")
	return addr
}

// PublicHost is a host with a public address on the simulated internet.
func (l *Lab) PublicHost(name string) (ns, addr string) {
	l.t.Helper()
	ns = l.Namespace(name)
	return ns, l.plug(ns, "eth0")
}

// NAT is how a home router translates.
type NAT int

const (
	// Cone keeps a host's source port where it can (MASQUERADE): the same
	// public address and port for every destination, so a hole punched to
	// one peer is the address every peer saw.
	Cone NAT = iota
	// Symmetric picks a new random port per connection (MASQUERADE
	// --random-fully): what one peer observed is useless to another, and
	// hole punching fails; only a relay connects.
	Symmetric
)

func (n NAT) String() string {
	if n == Symmetric {
		return "symmetric"
	}
	return "cone"
}

// Home is a home network: a host behind its router.
type Home struct {
	NS     string // the host's namespace
	Addr   string // the host's private address
	Router string // the router's namespace
	Public string // the router's public address
}

// Home makes a router on the internet, running nat, and a host behind it.
// The router forwards what its host sends and the answers to it, and drops
// everything else that comes from the internet, to itself or to the host,
// as home routers do.
func (l *Lab) Home(name string, nat NAT) Home {
	l.t.Helper()
	l.mu.Lock()
	l.homes++
	k := l.homes
	l.mu.Unlock()
	h := Home{Router: l.Namespace(name + "-router"), NS: l.Namespace(name)}
	h.Public = l.plug(h.Router, "wan")
	lanNet := fmt.Sprintf("10.%d.0", k)
	h.Addr = lanNet + ".2"
	l.IP("link", "add", "lan", "netns", h.Router, "type", "veth", "peer", "name", "eth0", "netns", h.NS)
	l.IP("-n", h.Router, "addr", "add", lanNet+".1/24", "dev", "lan")
	l.IP("-n", h.Router, "link", "set", "lan", "up")
	l.IP("-n", h.NS, "addr", "add", h.Addr+"/24", "dev", "eth0")
	l.IP("-n", h.NS, "link", "set", "eth0", "up")
	l.IP("-n", h.NS, "route", "add", "default", "via", lanNet+".1")

	l.In(h.Router, "sysctl", "-qw", "net.ipv4.ip_forward=1")
	masq := []string{"-t", "nat", "-A", "POSTROUTING", "-o", "wan", "-j", "MASQUERADE"}
	if nat == Symmetric {
		masq = append(masq, "--random-fully")
	}
	for _, rule := range [][]string{
		masq,
		{"-P", "FORWARD", "DROP"},
		{"-A", "FORWARD", "-i", "lan", "-o", "wan", "-j", "ACCEPT"},
		{"-A", "FORWARD", "-i", "wan", "-o", "lan", "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT"},
		{"-A", "INPUT", "-i", "wan", "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT"},
		{"-A", "INPUT", "-i", "wan", "-j", "DROP"},
	} {
		l.In(h.Router, "iptables", rule...)
	}
	return h
}
