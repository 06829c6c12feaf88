package node

import (
	"crypto/hkdf"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"path/filepath"

	"github.com/libp2p/go-libp2p/core/crypto"

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
