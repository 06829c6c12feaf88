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

// ChatMailbox is a user's replicated mailbox as package chat uses it:
// their keys to announce, deposits into contacts' mailboxes.
type ChatMailbox struct {
	Net *mailbox.Network
	Own *mailbox.Keys // the user's own mailbox keys
}

func (m ChatMailbox) Epoch(t time.Time) uint64 { return mailbox.Epoch(t) }

func (m ChatMailbox) Keys(from, to uint64) []chat.MailboxKey {
	out := make([]chat.MailboxKey, 0, to-from+1)
	for e := from; e <= to; e++ {
		out = append(out, chat.MailboxKey{Epoch: e, Key: m.Own.Public(e).Key})
	}
	return out
}

func (m ChatMailbox) Deposit(ctx context.Context, k chat.MailboxKey, env []byte, ttl time.Duration) error {
	if len(k.Key) != ed25519.PublicKeySize {
		return fmt.Errorf("mailbox key of %d bytes", len(k.Key))
	}
	addr := mailbox.EpochKey{Epoch: k.Epoch, Key: ed25519.PublicKey(k.Key)}.Address()
	return m.Net.Deposit(ctx, addr, env, ttl)
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
	err := n.WatchPeers(ctx, func(e PeerEvent) {
		if e.Connected && e.Total == 1 {
			select { // the first peer after none: back online
			case back <- struct{}{}:
			default:
			}
		}
	})
	if err != nil {
		return err
	}
	t := time.NewTicker(drainEvery)
	defer t.Stop()
	for {
		n.seedAnonymous(ctx)
		n.drainOnce(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-back:
		}
	}
}

// drainOnce runs one drain, within drainEvery: one that a slow DHT holds
// up ends with what it collected, and the next picks up the rest.
func (n *Node) drainOnce(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, drainEvery)
	defer cancel()
	taken, undecryptable, err := DrainInto(ctx, n.drainNet, n.mailboxKeys, n.chat, n.store.Namespace("node-state"), time.Now())
	if taken > 0 {
		n.log.Info("collected messages from the mailbox", "envelopes", taken, "undecryptable", undecryptable)
	}
	n.drained.Lock()
	if err != nil {
		n.log.Info("mailbox drain incomplete; will retry", "err", err)
		n.drained.err = err.Error()
	} else {
		n.drained.at, n.drained.err = time.Now(), ""
	}
	n.drained.Unlock()
}

// mailboxStatus reports the mailbox role and the last drain; nil when the
// node has neither.
func (n *Node) mailboxStatus() *MailboxStatus {
	if n.mailbox == nil && n.drainNet == nil {
		return nil
	}
	st := &MailboxStatus{Holding: n.mailbox != nil}
	if n.mailbox != nil {
		st.Envelopes = n.mailbox.Stats().Envelopes
	}
	n.drained.Lock()
	st.LastDrain, st.DrainErr = n.drained.at, n.drained.err
	n.drained.Unlock()
	return st
}

// DrainInto collects a user's mailbox into their chat service: every epoch
// a deposit may still live in at now, but no further back than the epoch
// before the last complete drain, which it remembers in state. Envelopes
// no session opens are deleted too; it counts them apart.
func DrainInto(ctx context.Context, net *mailbox.Network, keys *mailbox.Keys, svc *chat.Service, state *store.Namespace, now time.Time) (taken, undecryptable int, err error) {
	from, to := mailbox.DrainRange(now)
	if v, err := state.Get(drainedKey); err == nil && len(v) == 8 {
		if last := binary.BigEndian.Uint64(v); last > from {
			from = last
		}
	}
	taken, err = net.Drain(ctx, keys, from, to, func(env []byte) error {
		err := svc.ReceiveMailbox(env)
		if errors.Is(err, chat.ErrUndecryptable) {
			undecryptable++
			return nil
		}
		return err
	})
	if err != nil {
		return taken, undecryptable, err
	}
	// Next time start one epoch before this one: a deposit made just
	// before midnight may reach its holders after the drain.
	return taken, undecryptable, state.Put(drainedKey, binary.BigEndian.AppendUint64(nil, mailbox.Epoch(now)-1))
}
