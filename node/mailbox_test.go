package node

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"testing"
	"time"

	"github.com/discordopus/discordopus/mailbox"
)

// An infrastructure node holds sealed envelopes (the mailbox role is on by
// default there), keeps them across a restart in its own encrypted store,
// and hands them only to the recipient's key.
func TestInfraMailboxRole(t *testing.T) {
	cfg := testConfig()
	cfg.DHTMode = "server"
	o := infraOptions(t, cfg)
	o.Config.Mailbox = DefaultConfig(RoleInfrastructure).Mailbox
	if !o.Config.Mailbox {
		t.Fatal("the mailbox role is off by default on infrastructure nodes")
	}
	holder, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	stop := serve(t, holder)

	client, err := New(Options{Role: RoleDesktop, DataDir: newDesktopDir(t), Config: testConfig(), Passphrase: passphrase(testPassphrase), Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	serve(t, client)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := client.Host().Connect(ctx, holder.Host().Peerstore().PeerInfo(holder.ID())); err != nil {
		t.Fatal(err)
	}
	secret := make([]byte, mailbox.SecretSize)
	rand.Read(secret)
	keys, err := mailbox.NewKeys(secret)
	if err != nil {
		t.Fatal(err)
	}
	epoch := mailbox.Epoch(time.Now())
	addr := keys.Public(epoch).Address()
	waitMailboxServing(ctx, client, holder, keys.Private(epoch))
	if _, err := mailbox.Deposit(ctx, client.Host(), holder.ID(), addr, []byte("sealed envelope"), time.Hour); err != nil {
		t.Fatalf("Deposit: %v", err)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}

	o.Config.Listen = cfg.Listen
	again, err := New(o) // same data directory and key
	if err != nil {
		t.Fatal(err)
	}
	serve(t, again)
	// The client may not have noticed the old instance go: forget its
	// connection and addresses, or Connect would trust the dead one.
	client.Host().Network().ClosePeer(holder.ID())
	client.Host().Peerstore().ClearAddrs(holder.ID())
	ctx, cancel = context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := client.Host().Connect(ctx, again.Host().Peerstore().PeerInfo(again.ID())); err != nil {
		t.Fatal(err)
	}
	other, _ := mailbox.NewKeys(append([]byte{1}, secret[1:]...))
	waitMailboxServing(ctx, client, again, other.Private(epoch))
	// Another key proves another address: it sees nothing of this one.
	if held, err := mailbox.Fetch(ctx, client.Host(), again.ID(), other.Private(epoch)); err != nil || len(held) != 0 {
		t.Errorf("a fetch with another key = %d envelopes, %v; want none", len(held), err)
	}
	held, err := mailbox.Fetch(ctx, client.Host(), again.ID(), keys.Private(epoch))
	if err != nil {
		t.Fatal(err)
	}
	if len(held) != 1 || string(held[0].Envelope) != "sealed envelope" {
		t.Fatalf("after a restart the holder has %v", held)
	}
}

// waitMailboxServing waits (up to 10 s) until holder answers mailbox
// requests: its services start as Serve runs, not in New.
func waitMailboxServing(ctx context.Context, client, holder *Node, key ed25519.PrivateKey) {
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		if _, err := mailbox.Fetch(ctx, client.Host(), holder.ID(), key); err == nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}
