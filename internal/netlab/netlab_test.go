package netlab

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// The test binary doubles as the lab's probe: run inside a namespace with
// NETLAB_PROBE set, it listens or dials and prints what it saw.
func TestMain(m *testing.M) {
	switch os.Getenv("NETLAB_PROBE") {
	case "listen": // accept one connection, print its remote address
		ln, err := net.Listen("tcp4", os.Getenv("NETLAB_ADDR"))
		if err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		fmt.Println("listening")
		c, err := ln.Accept()
		if err != nil {
			os.Exit(1)
		}
		fmt.Println("from", c.RemoteAddr())
		c.Close()
		os.Exit(0)
	case "dial":
		c, err := net.DialTimeout("tcp4", os.Getenv("NETLAB_ADDR"), 2*time.Second)
		if err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		c.Close()
		fmt.Println("connected")
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// probe runs this binary in ns as a probe.
func probe(ns, mode, addr string) *exec.Cmd {
	cmd := exec.Command("ip", "netns", "exec", ns, os.Args[0])
	cmd.Env = append(os.Environ(), "NETLAB_PROBE="+mode, "NETLAB_ADDR="+addr)
	return cmd
}

// A home host reaches the internet from its router's public address; the
// internet cannot reach into the home, nor the router itself.
func TestHomeBehindNAT(t *testing.T) {
	l := New(t)
	pub, pubAddr := l.PublicHost("pub")
	home := l.Home("home", Cone)

	ln := probe(pub, "listen", pubAddr+":7000")
	out, err := ln.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := ln.Start(); err != nil {
		t.Fatal(err)
	}
	defer ln.Process.Kill()
	lines := bufio.NewScanner(out)
	lines.Scan() // listening
	if b, err := probe(home.NS, "dial", pubAddr+":7000").CombinedOutput(); err != nil {
		t.Fatalf("the home host cannot reach the internet: %v %s", err, b)
	}
	lines.Scan()
	if from := lines.Text(); !strings.HasPrefix(from, "from "+home.Public+":") {
		t.Errorf("the public host saw %q, want the router's address %s", from, home.Public)
	}
	ln.Wait()

	// Inbound: nothing listens on the router, and a listener in the home is
	// out of reach; both dials time out rather than being refused.
	in := probe(home.NS, "listen", "0.0.0.0:7001")
	if err := in.Start(); err != nil {
		t.Fatal(err)
	}
	defer in.Process.Kill()
	for _, target := range []string{home.Public + ":7001", home.Addr + ":7001"} {
		if b, err := probe(pub, "dial", target).CombinedOutput(); err == nil {
			t.Errorf("the internet reached %s: %s", target, b)
		} else if !strings.Contains(string(b), "timeout") && !strings.Contains(string(b), "unreachable") {
			t.Errorf("dialling %s: %s, want a timeout (dropped) or unreachable", target, b)
		}
	}
}
