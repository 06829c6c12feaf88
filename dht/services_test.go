package dht

import (
	"context"
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	ds "github.com/ipfs/go-datastore"
	"github.com/libp2p/go-libp2p/core/peer"
)

// A node that advertises a service is found by every other node of the
// swarm through the DHT, with its addresses, and one that does not is not.
func TestAdvertiseAndFindService(t *testing.T) {
	const nodes = 8
	tn := startSwarm(t, nodes, 2, testOptions())
	tn.waitReady(time.Minute, 3)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	relay := tn.nodes[3]
	if got := tn.nodes[5].d.FindService(ctx, ServiceRelay, 8); len(got) != 0 {
		t.Fatalf("relays found before any advertised: %v", got)
	}
	if err := relay.d.Advertise(ctx, ServiceRelay); err != nil {
		t.Fatal(err)
	}
	for i, n := range tn.nodes {
		got := n.d.FindService(ctx, ServiceRelay, 8)
		if n == relay {
			if len(got) != 0 {
				t.Errorf("the relay finds itself: %v", got)
			}
			continue
		}
		if len(got) != 1 || got[0].ID != relay.h.ID() || len(got[0].Addrs) == 0 {
			t.Errorf("node %d finds %v, want the relay %s with its addresses", i, got, relay.h.ID())
		}
	}
	cancel()
	if got := tn.nodes[0].d.FindService(ctx, ServiceRelay, 8); len(got) != 0 {
		t.Errorf("a lookup with an ended context answered %v", got)
	}
}

// The provider store keeps records under our services' keys, at most its
// bound, and drops others without failing the batch they came in.
func TestServiceStore(t *testing.T) {
	ctx := context.Background()
	s := newServiceStore(3)
	relayKey := func(i int) ds.Key {
		return ds.NewKey(providerKeyPrefix(ServiceRelay.key().Hash()) + fmt.Sprintf("PEER%d", i))
	}
	other := ds.NewKey(providerKeyPrefix([]byte("some content hash")) + "PEER0")
	b, err := s.Batch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	at := func(i int) []byte { return binary.AppendVarint(nil, int64(1000+i)) } // kad's value: the write time
	for i := range 5 {
		if err := b.Put(ctx, relayKey(i), at(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Put(ctx, other, []byte{1}); err != nil {
		t.Fatalf("a foreign key failed the batch: %v", err)
	}
	if err := b.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	has := func(k ds.Key) bool {
		ok, err := s.Has(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if has(other) {
		t.Error("a provider record for a foreign key was kept")
	}
	// Past the bound, each new record replaced the oldest.
	for i := range 5 {
		if want := i >= 2; has(relayKey(i)) != want {
			t.Errorf("record %d kept = %v, want %v (bound 3, oldest go first)", i, !want, want)
		}
	}
	// Renewing a held record is not a new one; deleting makes room.
	if err := s.Put(ctx, relayKey(2), at(10)); err != nil || s.n != 3 {
		t.Fatalf("renewal: %v, %d held", err, s.n)
	}
	if err := s.Delete(ctx, relayKey(3)); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, relayKey(0), at(11)); err != nil || !has(relayKey(0)) || !has(relayKey(4)) || s.n != 3 {
		t.Errorf("a delete did not make room: %v, %d held", err, s.n)
	}
}

// kad's own cache and write buffer do not get around the store: provider
// records for a key that is none of our services do not pile up.
func TestForeignProvidersNotKept(t *testing.T) {
	tn := newTestNet(t)
	n := tn.addLoopback(testOptions())
	ctx := context.Background()
	key := []byte("some content hash, not a service")
	ps := n.d.Kad().ProviderStore()
	// One provider, read back: kad's cache would keep the key from here.
	if err := ps.AddProvider(ctx, key, peer.AddrInfo{ID: randomPeerID(t)}); err != nil {
		t.Fatal(err)
	}
	if _, err := ps.GetProviders(ctx, key); err != nil {
		t.Fatal(err)
	}
	for range 600 {
		if err := ps.AddProvider(ctx, key, peer.AddrInfo{ID: randomPeerID(t)}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := ps.GetProviders(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) >= 300 {
		t.Errorf("%d providers kept for a foreign key", len(got))
	}
}
