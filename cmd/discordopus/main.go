// Command discordopus is the DiscordOpus desktop app: a node of the private
// DiscordOpus network, its window (or browser tab), and a terminal client.
//
//	discordopus           open the app (a window, or the browser with --browser)
//	discordopus init      create an identity (asks for a passphrase)
//	discordopus id        print PeerID, addresses and an invite
//	discordopus run       start the node and show its status
//	discordopus peers     list the running node's connected peers
//	discordopus doctor    how the node reaches and is reached, per contact
//	discordopus ping P    ping a peer (PeerID, /p2p multiaddr or invite)
//	discordopus passwd    change the passphrase
//	discordopus contact   add, list, verify, accept or block contacts
//	discordopus send      send a message
//	discordopus history   show a conversation
//	discordopus chat      an interactive conversation in the terminal
//	discordopus settings  read receipts and typing indicators
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/discordopus/discordopus/keystore"
	"github.com/discordopus/discordopus/node"
)

const usage = `usage: discordopus [--browser] [flags]   open the app
       discordopus <command> [flags]

commands:
  app       open the app (what no command does): --browser, --no-open, --ui-addr
  init      create an identity in the data directory
  id        print your PeerID, addresses and an invite
  run       start the node and show its status
  peers     list the running node's connected peers
  doctor    reachability, NAT type, relays, and how each contact is connected
  ping P    ping a peer: a PeerID, a /p2p multiaddr or an invite
  passwd    change the passphrase

  contact add --name NAME <invite>   add a contact from their invite (or PeerID)
  contact list                       contacts, message requests, unread counts
  contact verify <contact>           compare safety numbers, mark verified (unverify: undo)
  contact accept|block <contact>     answer a message request
  send <contact> <text | ->          send a message (- sends each line of stdin)
  history <contact>                  show a conversation
  chat <contact>                     talk in the terminal
  settings [--read-receipts on|off] [--typing on|off]

Run "discordopus <command> -h" for a command's flags.
`

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "discordopus:", err)
		os.Exit(1)
	}
}

// command is one subcommand: its flags are the shared ones plus the
// passphrase file.
type command struct {
	name    string
	flags   node.Flags
	passOpt keystore.PassphraseOptions
	fs      *flag.FlagSet
	out     io.Writer
	unlock  func() ([]byte, error) // overrides the passphrase sources
	cf      chatFlags
	af      appFlags
}

// argsByCommand says how many positional arguments each command takes.
// Chat commands (-1) check their own.
var argsByCommand = map[string]int{
	"app": 0, "init": 0, "id": 0, "run": 0, "peers": 0, "doctor": 0, "ping": 1, "passwd": 0,
	"contact": -1, "send": -1, "history": -1, "chat": -1, "settings": -1,
}

func run(args []string, out io.Writer) error {
	if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
		fmt.Fprint(out, usage)
		return nil
	}
	if len(args) == 0 || args[0][0] == '-' { // no command: the app
		args = append([]string{"app"}, args...)
	}
	c := &command{name: args[0], out: out}
	nargs, ok := argsByCommand[c.name]
	if !ok {
		return fmt.Errorf("unknown command %q\n\n%s", c.name, usage)
	}
	c.fs = flag.NewFlagSet("discordopus "+c.name, flag.ContinueOnError)
	c.flags.Register(c.fs, node.RoleDesktop)
	c.fs.StringVar(&c.passOpt.File, "passphrase-file", "", "read the passphrase from this file (else $DISCORDOPUS_PASSPHRASE, else a prompt)")
	var count int
	var initFirst bool
	switch c.name {
	case "ping":
		c.fs.IntVar(&count, "count", 3, "round trips to measure")
	case "run":
		c.fs.BoolVar(&initFirst, "init", false, "create an identity first if there is none")
	case "app":
		c.af.register(c.fs)
	}
	c.cf.register(c.fs, c.name)
	pos, err := parseInterleaved(c.fs, args[1:])
	if err != nil {
		return err
	}
	if nargs >= 0 && len(pos) != nargs {
		if c.name == "ping" {
			return errors.New("usage: discordopus ping [flags] <PeerID | /p2p multiaddr | invite>")
		}
		return fmt.Errorf("%s takes no arguments, got %q", c.name, pos)
	}
	cfg, dataDir, err := c.flags.Resolve()
	if err != nil {
		return err
	}
	switch c.name {
	case "app":
		return c.app(cfg, dataDir)
	case "init":
		pass, err := c.init(dataDir)
		clear(pass)
		return err
	case "id":
		return c.id(cfg, dataDir)
	case "run":
		if initFirst && node.RequireIdentity(dataDir) != nil {
			pass, err := c.init(dataDir)
			if err != nil {
				return err
			}
			// Unlock with the passphrase just chosen rather than ask again.
			c.unlock = func() ([]byte, error) { return pass, nil }
		}
		return c.run(cfg, dataDir)
	case "peers":
		return c.peers(dataDir)
	case "doctor":
		return c.doctor(dataDir)
	case "ping":
		return c.ping(cfg, dataDir, pos[0], count)
	case "contact":
		return c.contact(cfg, dataDir, pos)
	case "send":
		return c.send(cfg, dataDir, pos)
	case "history":
		return c.history(cfg, dataDir, pos)
	case "chat":
		return c.chatTerminal(cfg, dataDir, pos)
	case "settings":
		return c.settings(cfg, dataDir, pos)
	default: // "passwd"
		return c.passwd(dataDir)
	}
}

// init creates the identity and returns the passphrase chosen for it; the
// caller clears it.
func (c *command) init(dataDir string) ([]byte, error) {
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data directory %s: %w", dataDir, err)
	}
	if node.RequireIdentity(dataDir) == nil {
		return nil, fmt.Errorf("%s already holds an identity; it is never overwritten", dataDir)
	}
	fmt.Fprintf(c.out, "Creating a new identity in %s.\nChoose a passphrase: it encrypts your keys and messages on this machine.\n", dataDir)
	pass, err := keystore.ReadNewPassphrase(c.passOpt, "New passphrase: ")
	if err != nil {
		return nil, err
	}
	ks, err := keystore.Create(node.KeystorePath(dataDir), pass)
	if err != nil {
		clear(pass)
		return nil, err
	}
	defer ks.Close()
	fmt.Fprintf(c.out, "Created identity %s\n", ks.PeerID())
	return pass, nil
}

// passphrase unlocks the keystore: with c.unlock if set, else from the
// configured sources.
func (c *command) passphrase() func() ([]byte, error) {
	if c.unlock != nil {
		return c.unlock
	}
	return func() ([]byte, error) { return keystore.ReadPassphrase(c.passOpt, "Passphrase: ") }
}

func (c *command) id(cfg node.Config, dataDir string) error {
	if ctl, err := node.DialControl(dataDir); err == nil {
		s, err := ctl.Status()
		if err != nil {
			return err
		}
		c.printID(s.PeerID, s.Addrs, s.Invite)
		return nil
	}
	if err := node.RequireIdentity(dataDir); err != nil {
		return err
	}
	pass, err := c.passphrase()()
	if err != nil {
		return err
	}
	ks, err := keystore.Open(node.KeystorePath(dataDir), pass)
	clear(pass)
	if err != nil {
		return err
	}
	defer ks.Close()
	addrs, err := node.ExpectedAddrs(cfg)
	if err != nil {
		return err
	}
	c.printID(ks.PeerID().String(), node.FullAddrs(ks.PeerID(), addrs), node.NewInvite(cfg, ks.PeerID(), addrs).String())
	return nil
}

func (c *command) printID(id string, addrs []string, invite string) {
	fmt.Fprintf(c.out, "PeerID: %s\n", id)
	for _, a := range addrs {
		fmt.Fprintf(c.out, "address: %s\n", a)
	}
	fmt.Fprintf(c.out, "invite: %s\n", invite)
}

// statusEvery is how often `run` prints a one-line summary.
const statusEvery = 30 * time.Second

func (c *command) run(cfg node.Config, dataDir string) error {
	log := node.NewLogger(cfg, os.Stderr)
	n, err := node.New(node.Options{
		Role: node.RoleDesktop, DataDir: dataDir, Config: cfg, Passphrase: c.passphrase(), Logger: log,
	})
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	s := n.Status()
	c.printID(s.PeerID, s.Addrs, s.Invite)
	switch {
	case s.Bootstrap == 0 && cfg.MDNS:
		fmt.Fprintln(c.out, "no bootstrap peers configured: looking for peers on the local network only")
	case s.Bootstrap == 0:
		fmt.Fprintln(c.out, "no bootstrap peers and mDNS off: waiting for peers to connect to us")
	}
	err = n.WatchPeers(ctx, func(e node.PeerEvent) {
		verb := "connected"
		if !e.Connected {
			verb = "disconnected"
		}
		fmt.Fprintf(c.out, "peer %s: %s (%d connected)\n", verb, e.Peer, e.Total)
	})
	if err != nil {
		n.Close()
		return err
	}
	go func() {
		select {
		case <-n.DHT().Ready():
			fmt.Fprintf(c.out, "DHT ready: %d peers in the routing table\n", n.DHT().RoutingTableSize())
		case <-ctx.Done():
			return
		}
		t := time.NewTicker(statusEvery)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				s := n.Status()
				fmt.Fprintf(c.out, "status: %d peers connected, %d in the routing table\n", s.Peers, s.RoutingTable)
			}
		}
	}()
	err = n.Serve(ctx)
	fmt.Fprintln(c.out, "stopped")
	return err
}

func (c *command) peers(dataDir string) error {
	ctl, err := node.DialControl(dataDir)
	if err != nil {
		return fmt.Errorf("%w: start it with `discordopus run`", err)
	}
	peers, err := ctl.Peers()
	if err != nil {
		return err
	}
	if len(peers) == 0 {
		fmt.Fprintln(c.out, "no peers connected")
		return nil
	}
	tw := tabwriter.NewWriter(c.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PEER\tADDRESS\tDIRECTION\tLATENCY\tAGENT")
	for _, p := range peers {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", p.PeerID, p.Addr, p.Direction, p.Latency.Round(time.Microsecond), p.Agent)
	}
	return tw.Flush()
}

// doctor prints the running node's reachability report. It needs a node
// that has been running a while: a fresh one knows nothing yet.
func (c *command) doctor(dataDir string) error {
	ctl, err := node.DialControl(dataDir)
	if err != nil {
		return fmt.Errorf("%w: start it with `discordopus run` (or the app), give it a minute, and ask again", err)
	}
	d, err := ctl.Doctor()
	if err != nil {
		return err
	}
	fmt.Fprint(c.out, d.String())
	return nil
}

// ping asks the running node, or starts a node for the purpose when none
// runs.
func (c *command) ping(cfg node.Config, dataDir, target string, count int) error {
	var res node.PingResult
	if ctl, err := node.DialControl(dataDir); err == nil {
		if res, err = ctl.Ping(target, count); err != nil {
			return err
		}
	} else {
		n, err := node.New(node.Options{
			Role: node.RoleDesktop, DataDir: dataDir, Config: cfg, Passphrase: c.passphrase(),
			Logger: node.NewLogger(node.Config{LogLevel: "warn"}, os.Stderr),
		})
		if err != nil {
			return err
		}
		ctx, cancel := context.WithCancel(context.Background())
		served := make(chan error, 1)
		go func() { served <- n.Serve(ctx) }()
		res, err = pingWhenJoined(ctx, n, target, count)
		cancel()
		if serr := <-served; err == nil {
			err = serr
		}
		if err != nil {
			return err
		}
	}
	fmt.Fprintf(c.out, "peer %s (found: %s) at %s\n", res.PeerID, res.Found, res.Addr)
	for i, rtt := range res.RTTs {
		fmt.Fprintf(c.out, "seq=%d time=%s\n", i+1, rtt.Round(time.Microsecond))
	}
	return nil
}

// pingWhenJoined waits for the DHT (when there is one to join) before a
// PeerID lookup.
func pingWhenJoined(ctx context.Context, n *node.Node, target string, count int) (node.PingResult, error) {
	if len(n.DHT().Bootstrap()) > 0 {
		select {
		case <-n.DHT().Ready():
		case <-time.After(20 * time.Second):
			return node.PingResult{}, errors.New("could not join the DHT within 20s: no bootstrap peer reachable")
		}
	}
	return n.Ping(ctx, target, count)
}

func (c *command) passwd(dataDir string) error {
	if err := node.RequireIdentity(dataDir); err != nil {
		return err
	}
	// A running node, or a second passwd, must not race this rewrite.
	unlock, err := node.LockDataDir(dataDir)
	if err != nil {
		return err
	}
	defer unlock()
	path := node.KeystorePath(dataDir)
	old, err := keystore.ReadPassphrase(c.passOpt, "Current passphrase: ")
	if err != nil {
		return err
	}
	defer clear(old)
	newOpt := keystore.PassphraseOptions{Env: "DISCORDOPUS_NEW_PASSPHRASE"}
	newPass, err := keystore.ReadNewPassphrase(newOpt, "New passphrase: ")
	if err != nil {
		return err
	}
	defer clear(newPass)
	if err := keystore.ChangePassphrase(path, old, newPass); err != nil {
		return err
	}
	fmt.Fprintln(c.out, "passphrase changed")
	return nil
}
