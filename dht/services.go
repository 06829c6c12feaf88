package dht

import (
	"context"
	"crypto/sha256"
	"encoding/base32"
	"encoding/binary"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/ipfs/go-cid"
	ds "github.com/ipfs/go-datastore"
	dsq "github.com/ipfs/go-datastore/query"
	dssync "github.com/ipfs/go-datastore/sync"
	"github.com/libp2p/go-libp2p-kad-dht/records"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-multihash"
)

// Service names a role that nodes advertise in the DHT so that others can
// find nodes that offer it without being told of them: a provider record
// under the service's key says "this peer offers it". Anyone can claim a
// service, so what a lookup returns is a candidate to be checked (a relay
// is asked for a reservation; one that refuses is passed over).
type Service string

// ServiceRelay is offered by nodes that run the relay role.
const ServiceRelay Service = "relay"

// services are the services a DHT server keeps records for; the provider
// records of any other key are dropped (see serviceStore).
var services = []Service{ServiceRelay}

const (
	// AdvertiseTimeout bounds one advertisement: the lookup of the key's
	// closest peers and the puts to them.
	AdvertiseTimeout = time.Minute
	// AdvertiseInterval is how often a node renews its advertisement;
	// records live serviceValidity, so a node that stops is forgotten
	// within hours, not the two days of IPFS's default.
	AdvertiseInterval = time.Hour
	serviceValidity   = 3 * time.Hour
	// findServiceTimeout bounds a lookup of a service's providers.
	findServiceTimeout = 20 * time.Second
	// maxServiceRecords bounds the provider records a DHT server keeps,
	// across all services: one per advertising peer.
	maxServiceRecords = 4096
)

// key is where the service's provider records live in the DHT.
func (s Service) key() cid.Cid {
	h := sha256.Sum256([]byte("discordopus/service/v1/" + string(s)))
	mh, err := multihash.Encode(h[:], multihash.SHA2_256)
	if err != nil {
		panic(err) // a 32-byte SHA-256 digest always encodes
	}
	return cid.NewCidV1(cid.Raw, mh)
}

// Advertise tells the DHT that this node offers s, within AdvertiseTimeout.
// It must be renewed every AdvertiseInterval.
func (d *DHT) Advertise(ctx context.Context, s Service) error {
	ctx, cancel := context.WithTimeout(ctx, AdvertiseTimeout)
	defer cancel()
	if err := d.kad.Provide(ctx, s.key(), true); err != nil {
		return fmt.Errorf("advertise %s: %w", s, err)
	}
	return nil
}

// FindService returns up to limit peers that advertise s, with the
// addresses they advertised, within findServiceTimeout; fewer if the
// lookup ends first. This node is never among them.
func (d *DHT) FindService(ctx context.Context, s Service, limit int) []peer.AddrInfo {
	ctx, cancel := context.WithTimeout(ctx, findServiceTimeout)
	defer cancel()
	var found []peer.AddrInfo
	for ai := range d.kad.FindProvidersAsync(ctx, s.key(), limit+1) {
		if ai.ID != d.host.ID() && len(found) < limit {
			found = append(found, ai)
		}
	}
	return found
}

// providerOptions make kad keep provider records only for our services,
// only serviceValidity long. kad's read cache goes: it keeps what it is
// sent per key whatever the store kept, which would undo the store's
// filter and bound; without it reads go to the store (plus kad's write
// buffer of at most a few hundred records, flushed into the store).
func providerOptions() (ds.Batching, []records.Option) {
	return newServiceStore(maxServiceRecords), []records.Option{records.ProvideValidity(serviceValidity), records.Cache(noCache{})}
}

// noCache is an LRU cache (hashicorp's simplelru interface) that holds
// nothing.
type noCache struct{}

func (noCache) Add(key, value any) bool        { return false }
func (noCache) Get(key any) (any, bool)        { return nil, false }
func (noCache) Contains(key any) bool          { return false }
func (noCache) Peek(key any) (any, bool)       { return nil, false }
func (noCache) Remove(key any) bool            { return false }
func (noCache) RemoveOldest() (any, any, bool) { return nil, nil, false }
func (noCache) GetOldest() (any, any, bool)    { return nil, nil, false }
func (noCache) Keys() []any                    { return nil }
func (noCache) Len() int                       { return 0 }
func (noCache) Purge()                         {}
func (noCache) Resize(int) int                 { return 0 }

// serviceStore is the DHT's provider datastore. kad would store provider
// records for any key anyone sends, without bound, in memory; ours keeps
// only the records under our services' keys, at most max of them, and
// drops the rest. Dropping is silent: kad commits records in batches, and
// one refused record would fail the batch and lose the good ones with it.
// When full, a new record replaces the one renewed longest ago, so that
// throwaway identities cannot keep a real relay out for long: each must
// renew to stay, as the relay does.
type serviceStore struct {
	ds.Batching // in memory
	prefixes    []string

	mu  sync.Mutex
	n   int // records held
	max int
}

func newServiceStore(max int) *serviceStore {
	s := &serviceStore{Batching: dssync.MutexWrap(ds.NewMapDatastore()), max: max}
	for _, svc := range services {
		s.prefixes = append(s.prefixes, providerKeyPrefix(svc.key().Hash()))
	}
	return s
}

// providerKeyPrefix is where kad keeps the provider records of key: the
// namespace, the key in base32, then one entry per provider's PeerID.
func providerKeyPrefix(key []byte) string {
	return records.ProvidersKeyPrefix + base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(key) + "/"
}

func (s *serviceStore) allowed(k ds.Key) bool {
	for _, p := range s.prefixes {
		if strings.HasPrefix(k.String(), p) {
			return true
		}
	}
	return false
}

func (s *serviceStore) Put(ctx context.Context, k ds.Key, v []byte) error {
	if !s.allowed(k) {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	had, err := s.Batching.Has(ctx, k)
	if err != nil {
		return err
	}
	if !had && s.n >= s.max {
		if err := s.evictOldest(ctx); err != nil {
			return err
		}
	}
	if err := s.Batching.Put(ctx, k, v); err != nil {
		return err
	}
	if !had {
		s.n++
	}
	return nil
}

// evictOldest removes the record written longest ago (kad's value is its
// write time as a varint of Unix nanoseconds). Called with s.mu held.
func (s *serviceStore) evictOldest(ctx context.Context) error {
	res, err := s.Batching.Query(ctx, dsq.Query{Prefix: records.ProvidersKeyPrefix})
	if err != nil {
		return err
	}
	defer res.Close()
	var oldest string
	var oldestAt int64
	for r := range res.Next() {
		if r.Error != nil {
			return r.Error
		}
		at, n := binary.Varint(r.Value)
		if n <= 0 {
			at = 0 // unreadable: the first to go
		}
		if oldest == "" || at < oldestAt {
			oldest, oldestAt = r.Key, at
		}
	}
	if oldest == "" {
		return nil
	}
	if err := s.Batching.Delete(ctx, ds.RawKey(oldest)); err != nil {
		return err
	}
	s.n--
	return nil
}

func (s *serviceStore) Delete(ctx context.Context, k ds.Key) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	had, err := s.Batching.Has(ctx, k)
	if err != nil || !had {
		return err
	}
	if err := s.Batching.Delete(ctx, k); err != nil {
		return err
	}
	s.n--
	return nil
}

// Batch applies each write at once; nothing kad does needs more.
func (s *serviceStore) Batch(context.Context) (ds.Batch, error) { return storeBatch{s}, nil }

type storeBatch struct{ s *serviceStore }

func (b storeBatch) Put(ctx context.Context, k ds.Key, v []byte) error { return b.s.Put(ctx, k, v) }
func (b storeBatch) Delete(ctx context.Context, k ds.Key) error        { return b.s.Delete(ctx, k) }
func (b storeBatch) Commit(context.Context) error                      { return nil }
