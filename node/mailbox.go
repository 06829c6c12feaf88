package node

import (
	"context"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/network"

	"github.com/discordopus/discordopus/chat"
	"github.com/discordopus/discordopus/keystore"
	"github.com/discordopus/discordopus/mailbox"
	"github.com/discordopus/discordopus/store"
)

// defaultMailboxBytes is the mailbox role's disk quota unless configured.
const defaultMailboxBytes = 1 << 30

// openMailboxRole builds the holder of other people's sealed envelopes.
func (n *Node) openMailboxRole() error {
	if n.store == nil {
		return fmt.Errorf("mailbox role: no store")
	}
	max := n.cfg.MailboxMaxBytes
	if max == 0 {
		max = defaultMailboxBytes
	}
	var err error
	n.mailbox, err = mailbox.NewServer(n.host, mailbox.ServerOptions{
		Store:         n.store,
		MaxTotalBytes: max,
		Logger:        n.log,
	})
	if err != nil {
		return err
	}
	n.repairer, err = mailbox.NewRepairer(n.mailbox, mailbox.RepairOptions{Closest: n.dht, Logger: n.log})
	return err
}

// openInfraStore opens an infrastructure node's store, with keys derived
// from its node key. What it protects (sealed envelopes, which nobody but
// their recipients can read anyway) needs no passphrase, and a service must
// start unattended; the derivation keeps the database unreadable to anyone
// who copies it without the key file.
func openInfraStore(dataDir string, priv crypto.PrivKey, log *slog.Logger) (*store.Store, error) {
	raw, err := priv.Raw()
	if err != nil {
		return nil, err
	}
	defer clear(raw)
	derive := func(label string) ([]byte, error) {
		return hkdf.Key(sha256.New, raw[:32], nil, "discordopus/v1/infra/"+label, 32)
	}
	enc, err := derive("store/encryption")
	if err != nil {
		return nil, err
	}
	defer clear(enc)
	seal, err := derive("store/seal")
	if err != nil {
		return nil, err
	}
	defer clear(seal)
	return store.Open(store.Options{Dir: filepath.Join(dataDir, storeDir), EncryptionKey: enc, SealKey: seal, Logger: log})
}

// drainEvery is how often a desktop node collects its mailbox, besides at
// start and whenever it comes back online.
const drainEvery = 5 * time.Minute

var drainedKey = []byte("mailbox-drained")

// openMailboxClient builds a desktop node's side of offline delivery: its
// mailbox keys and the replicated deposits and drains the chat service
// uses.
func (n *Node) openMailboxClient() error {
	secret := n.keys.Subkey(keystore.LabelMailbox)
	defer clear(secret)
	var err error
	if n.mailboxKeys, err = mailbox.NewKeys(secret); err != nil {
		return err
	}
	for _, net := range []**mailbox.Network{&n.depositNet, &n.drainNet} {
		a, err := newAnonymous(n.cfg, n.log)
		if err != nil {
			return err
		}
		n.anon = append(n.anon, a)
		if *net, err = mailbox.NewNetwork(mailbox.NetworkOptions{Host: a.h, Closest: a.d, Logger: n.log}); err != nil {
			return err
		}
	}
	return nil
}

// chatMailbox is the mailbox as package chat sees it.
type chatMailbox struct {
	net  *mailbox.Network
	keys *mailbox.Keys
}

func (m chatMailbox) Epoch(t time.Time) uint64 { return mailbox.Epoch(t) }

func (m chatMailbox) Keys(from, to uint64) []chat.MailboxKey {
	out := make([]chat.MailboxKey, 0, to-from+1)
	for e := from; e <= to; e++ {
		out = append(out, chat.MailboxKey{Epoch: e, Key: m.keys.Public(e).Key})
	}
	return out
}

func (m chatMailbox) Deposit(ctx context.Context, k chat.MailboxKey, env []byte, ttl time.Duration) error {
	if len(k.Key) != ed25519.PublicKeySize {
		return fmt.Errorf("mailbox key of %d bytes", len(k.Key))
	}
	addr := mailbox.EpochKey{Epoch: k.Epoch, Key: ed25519.PublicKey(k.Key)}.Address()
	return m.net.Deposit(ctx, addr, env, ttl)
}

// drainMailbox collects what waits in this node's mailbox: once the node
// has joined the DHT, every drainEvery, and whenever it reconnects after
// having had no peers. It drains every epoch a deposit may still live in,
// but no further back than the epoch before the last complete drain.
func (n *Node) drainMailbox(ctx context.Context) error {
	select {
	case <-n.dht.Ready():
	case <-ctx.Done():
		return nil
	}
	back := make(chan struct{}, 1)
	sub, err := n.host.EventBus().Subscribe(new(event.EvtPeerConnectednessChanged))
	if err != nil {
		return err
	}
	defer sub.Close()
	t := time.NewTicker(drainEvery)
	defer t.Stop()
	for {
		n.drainOnce(ctx)
		for again := false; !again; {
			select {
			case <-ctx.Done():
				return nil
			case <-t.C:
				again = true
			case <-back:
				again = true
			case e := <-sub.Out():
				ev := e.(event.EvtPeerConnectednessChanged)
				if ev.Connectedness == network.Connected && len(n.host.Network().Peers()) == 1 {
					select { // the first peer after none: back online
					case back <- struct{}{}:
					default:
					}
				}
			}
		}
	}
}

// drainOnce runs one drain and remembers when one completed.
func (n *Node) drainOnce(ctx context.Context) {
	state := n.store.Namespace("node-state")
	now := time.Now()
	from, to := mailbox.DrainRange(now)
	if v, err := state.Get(drainedKey); err == nil && len(v) == 8 {
		if last := binary.BigEndian.Uint64(v); last > from {
			from = last
		}
	}
	taken, err := n.drainNet.Drain(ctx, n.mailboxKeys, from, to, func(env []byte) error {
		err := n.chat.ReceiveMailbox(env)
		if errors.Is(err, chat.ErrUndecryptable) {
			n.log.Debug("dropping a mailbox envelope no session opens", "err", err)
			return nil
		}
		return err
	})
	if taken > 0 {
		n.log.Info("collected messages from the mailbox", "envelopes", taken)
	}
	if err != nil {
		n.log.Info("mailbox drain incomplete; will retry", "err", err)
		return
	}
	// Next time start one epoch before this one: a deposit made just
	// before midnight may reach its holders after the drain.
	if err := state.Put(drainedKey, binary.BigEndian.AppendUint64(nil, mailbox.Epoch(now)-1)); err != nil {
		n.log.Warn("remembering the mailbox drain", "err", err)
	}
}
