package node

import (
	"context"
	"crypto/ed25519"
	"fmt"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/discordopus/discordopus/chat"
	"github.com/discordopus/discordopus/dht"
	"github.com/discordopus/discordopus/e2e"
	"github.com/discordopus/discordopus/keystore"
)

// openChat builds a desktop node's messaging: its prekeys, the publisher
// that keeps their bundle in the DHT, and the chat service.
func (n *Node) openChat() error {
	raw, err := n.keys.PrivKey().Raw()
	if err != nil {
		return err
	}
	n.identity = ed25519.PrivateKey(raw)
	n.prekeys, err = keystore.OpenPrekeys(n.store.Namespace("prekeys"), keystore.PrekeyOptions{
		Identity: n.identity,
		Logger:   n.log,
	})
	if err != nil {
		return fmt.Errorf("opening prekeys: %w", err)
	}
	n.publisher, err = n.dht.NewBundlePublisher(dht.PublisherOptions{
		Source:  n.prekeys,
		Changed: n.prekeys.Changed(),
		Logger:  n.log,
	})
	if err != nil {
		return err
	}
	if err := n.openMailboxClient(); err != nil {
		return err
	}
	n.chat, err = chat.New(chat.Options{
		Host:        n.host,
		Store:       n.store,
		Identity:    e2e.Identity{Key: n.identity, PeerID: []byte(n.host.ID())},
		Prekeys:     n.prekeys,
		Connect:     n.connectContact,
		FetchBundle: n.dht.FetchBundle,
		Mailbox:     ChatMailbox{Net: n.depositNet, Own: n.mailboxKeys},
		Logger:      n.log,
	})
	return err
}

// publishPrekeys keeps the prekey bundle in the DHT, starting once the
// node has joined it (a publish before that can only fail).
func (n *Node) publishPrekeys(ctx context.Context) error {
	select {
	case <-n.dht.Ready():
	case <-ctx.Done():
		return nil
	}
	return n.publisher.Serve(ctx)
}

// Chat is the direct-message service; nil on infrastructure nodes.
func (n *Node) Chat() *chat.Service { return n.chat }

// connectContact makes sure there is a connection to a contact: already
// connected, else the addresses from their invite, else the LAN and the
// DHT, each within its deadline.
func (n *Node) connectContact(ctx context.Context, p peer.ID, addrs []string) error {
	if c := n.host.Network().Connectedness(p); c == network.Connected || c == network.Limited { // Limited: relayed
		return nil
	}
	var known []ma.Multiaddr
	for _, s := range addrs {
		if a, err := ma.NewMultiaddr(s); err == nil {
			known = append(known, a)
		}
	}
	if len(known) > 0 && n.connect(ctx, peer.AddrInfo{ID: p, Addrs: known}, lanDialTimeout) == nil {
		return nil
	}
	ai, found, err := n.Resolve(ctx, p.String())
	if err != nil {
		return err
	}
	_, err = n.dial(ctx, ai, found)
	return err
}
