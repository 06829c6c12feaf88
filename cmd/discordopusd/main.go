// Command discordopusd is DiscordOpus's headless infrastructure node: a DHT
// server that communities run as their bootstrap node (and, with later
// roles, mailbox and relay). It holds no user data, links no UI and no cgo.
//
//	discordopusd [flags]       run the node
//	discordopusd id [flags]    print its PeerID and full multiaddrs
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/discordopus/discordopus/keystore"
	"github.com/discordopus/discordopus/node"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "discordopusd:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	cmd := "run"
	if len(args) > 0 && (args[0] == "id" || args[0] == "run") {
		cmd, args = args[0], args[1:]
	}
	fs := flag.NewFlagSet("discordopusd "+cmd, flag.ContinueOnError)
	var flags node.Flags
	flags.Register(fs, node.RoleInfrastructure)
	bootstrap := fs.Bool("bootstrap", true, "serve as a bootstrap node: answer DHT queries (DHT server mode)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	cfg, dataDir, err := flags.Resolve()
	if err != nil {
		return err
	}
	if !*bootstrap && flags.DHTMode == "" {
		cfg.DHTMode = "client"
	}
	if cmd == "id" {
		return printID(cfg, dataDir)
	}
	log := node.NewLogger(cfg, os.Stderr)
	if cfg.Metrics != "" && !node.MetricsHostIsLoopback(cfg.Metrics) {
		log.Warn("metrics endpoint is not on loopback: anyone who can reach it sees this node's peers", "addr", cfg.Metrics)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	n, err := node.New(node.Options{
		Role: node.RoleInfrastructure, DataDir: dataDir, Config: cfg, Logger: log, Metrics: reg,
	})
	if err != nil {
		return err
	}
	fmt.Printf("PeerID: %s\n", n.ID())
	for _, a := range n.Addrs() {
		fmt.Printf("address: %s\n", a)
	}
	if addr := n.MetricsAddr(); addr != "" {
		fmt.Printf("metrics: http://%s/metrics\n", addr)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	return n.Serve(ctx)
}

// printID prints the PeerID and the multiaddrs the node is (or will be)
// reachable at, asking the running node when there is one.
func printID(cfg node.Config, dataDir string) error {
	if c, err := node.DialControl(dataDir); err == nil {
		s, err := c.Status()
		if err != nil {
			return err
		}
		fmt.Printf("PeerID: %s\n", s.PeerID)
		for _, a := range s.Addrs {
			fmt.Printf("address: %s\n", a)
		}
		return nil
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return fmt.Errorf("data directory %s: %w", dataDir, err)
	}
	priv, err := keystore.LoadOrCreateNodeKey(node.NodeKeyPath(dataDir))
	if err != nil {
		return err
	}
	id, err := peer.IDFromPrivateKey(priv)
	if err != nil {
		return err
	}
	addrs, err := node.ExpectedAddrs(cfg)
	if err != nil {
		return err
	}
	fmt.Printf("PeerID: %s\n", id)
	for _, a := range node.FullAddrs(id, addrs) {
		fmt.Printf("address: %s\n", a)
	}
	return nil
}
