// Command barenode is the baseline our benchmarks measure against: a bare
// go-libp2p host with libp2p's defaults and a kad-dht under our protocol
// prefix, and nothing of ours (no keystore, store, limits or services).
//
//	barenode -listen A [-bootstrap B] [-find PEER] [-server]
//
// It prints "PeerID:" and "address:" lines; with -find it joins through
// -bootstrap, looks PEER up, prints "found" and exits; otherwise it runs
// until SIGTERM.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/libp2p/go-libp2p"
	kad "github.com/libp2p/go-libp2p-kad-dht"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "barenode:", err)
		os.Exit(1)
	}
}

func run() error {
	listen := flag.String("listen", "/ip4/127.0.0.1/tcp/0", "listen multiaddr")
	bootstrap := flag.String("bootstrap", "", "bootstrap peer multiaddr")
	find := flag.String("find", "", "PeerID to look up, then exit")
	server := flag.Bool("server", false, "DHT server mode")
	flag.Parse()

	h, err := libp2p.New(libp2p.ListenAddrStrings(*listen))
	if err != nil {
		return err
	}
	defer h.Close()
	mode := kad.ModeClient
	if *server {
		mode = kad.ModeServer
	}
	d, err := kad.New(h, kad.ProtocolPrefix("/discordopus"), kad.Mode(mode), kad.DisableProviders(), kad.DisableValues())
	if err != nil {
		return err
	}
	defer d.Close()
	fmt.Printf("PeerID: %s\n", h.ID())
	for _, a := range h.Addrs() {
		fmt.Printf("address: %s/p2p/%s\n", a, h.ID())
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if *bootstrap != "" {
		ai, err := peer.AddrInfoFromP2pAddr(ma.StringCast(*bootstrap))
		if err != nil {
			return err
		}
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err = h.Connect(cctx, *ai)
		cancel()
		if err != nil {
			return err
		}
		deadline := time.Now().Add(30 * time.Second)
		for d.RoutingTable().Size() == 0 {
			if time.Now().After(deadline) {
				return fmt.Errorf("bootstrap peer %s never entered the routing table", ai.ID)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	if *find == "" {
		<-ctx.Done()
		return nil
	}
	id, err := peer.Decode(*find)
	if err != nil {
		return err
	}
	fctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, err := d.FindPeer(fctx, id); err != nil {
		return err
	}
	fmt.Println("found")
	return nil
}
