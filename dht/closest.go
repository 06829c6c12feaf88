package dht

import (
	"context"
	"fmt"
	"slices"

	kb "github.com/libp2p/go-libp2p-kbucket"
	"github.com/libp2p/go-libp2p/core/peer"
)

// ClosestPeers returns the DHT servers closest to key, nearest first (at
// most kad's bucket size, 20), within Options.FindPeerTimeout. Mailboxes
// keep their envelopes at the servers closest to the mailbox address.
func (d *DHT) ClosestPeers(ctx context.Context, key []byte) ([]peer.ID, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("closest peers: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, d.opts.FindPeerTimeout)
	defer cancel()
	peers, err := d.kad.GetClosestPeers(ctx, string(key))
	if err != nil {
		return nil, fmt.Errorf("closest peers: %w", err)
	}
	return SortByDistance(key, peers), nil
}

// SortByDistance orders peers by their XOR distance to key in kad's
// keyspace (the SHA-256 of key and of each PeerID), nearest first.
func SortByDistance(key []byte, peers []peer.ID) []peer.ID {
	return kb.SortClosestPeers(slices.Clone(peers), kb.ConvertKey(string(key)))
}
