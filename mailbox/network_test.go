package mailbox

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/discordopus/discordopus/dht"
)

// Replicated mailboxes over a real DHT: every node is a libp2p host on
// 127.0.0.1 running our DHT in server mode, a mailbox holder with its own
// store and a repairer; all share one clock the test moves. Senders and
// recipients are client-mode DHT nodes on hosts of their own.

// The node hands the DHT itself to Network and Repairer.
var _ Closest = (*dht.DHT)(nil)

// swarmNode is one infrastructure node.
type swarmNode struct {
	*holder
	d      *dht.DHT
	rep    *Repairer
	cancel context.CancelFunc
	done   chan error
	down   bool
}

type swarm struct {
	t     testing.TB
	clock *clock
	nodes []*swarmNode
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// startDHT runs a DHT on h in mode, joining through boot.
func startDHT(t testing.TB, h host.Host, mode dht.Mode, boot []peer.AddrInfo) (*dht.DHT, context.CancelFunc, chan error) {
	t.Helper()
	d, err := dht.New(h, dht.Options{Mode: mode, AllowPrivateAddrs: true, Bootstrap: boot,
		FindPeerTimeout: 30 * time.Second, Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Serve(ctx) }()
	return d, cancel, done
}

func stopDHT(t testing.TB, cancel context.CancelFunc, done chan error) {
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("DHT Serve: %v", err)
		}
	case <-time.After(time.Minute):
		t.Error("DHT Serve did not return")
	}
}

func newSwarm(t testing.TB, clk *clock, n int, tweak func(i int, o *ServerOptions)) *swarm {
	t.Helper()
	sw := &swarm{t: t, clock: clk}
	for i := range n {
		var tw func(*ServerOptions)
		if tweak != nil {
			tw = func(o *ServerOptions) { tweak(i, o) }
		}
		sw.add(tw)
	}
	sw.waitReady(sw.nodes)
	return sw
}

// boot is a few live nodes to join through.
func (sw *swarm) boot() []peer.AddrInfo {
	var out []peer.AddrInfo
	for _, n := range sw.live() {
		out = append(out, peer.AddrInfo{ID: n.h.ID(), Addrs: n.h.Addrs()})
		if len(out) == 3 {
			break
		}
	}
	return out
}

func (sw *swarm) add(tweak func(*ServerOptions)) *swarmNode {
	return sw.addIn(sw.t.TempDir(), tweak)
}

// revive brings a stopped node's holder back, with what its store holds,
// on a new host.
func (sw *swarm) revive(old *swarmNode) *swarmNode {
	n := sw.addIn(old.dir, nil)
	sw.waitReady([]*swarmNode{n})
	return n
}

func (sw *swarm) addIn(dir string, tweak func(*ServerOptions)) *swarmNode {
	t := sw.t
	t.Helper()
	h := newHost(t) // closed last, by its own cleanup
	d, cancel, done := startDHT(t, h, dht.ModeServer, sw.boot())
	hd := &holder{t: t, dir: dir, clock: sw.clock, h: h}
	hd.opts = ServerOptions{DepositsPerSecond: -1, ReplicatesPerSecond: -1, Now: sw.clock.Now, Logger: discardLogger()}
	if tweak != nil {
		tweak(&hd.opts)
	}
	hd.start()
	n := &swarmNode{holder: hd, d: d, cancel: cancel, done: done}
	var err error
	if n.rep, err = NewRepairer(hd.srv, RepairOptions{Closest: d, Logger: discardLogger()}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.stop)
	sw.nodes = append(sw.nodes, n)
	return n
}

// stop takes the node off the network: holder, DHT, host.
func (n *swarmNode) stop() {
	if n.down {
		return
	}
	n.down = true
	n.holder.close()
	stopDHT(n.t, n.cancel, n.done)
	n.h.Close()
}

func (sw *swarm) live() []*swarmNode {
	return slices.DeleteFunc(slices.Clone(sw.nodes), func(n *swarmNode) bool { return n.down })
}

// waitReady waits until nodes have joined and know a fair part of the
// swarm, then has every node refresh its routing table once.
func (sw *swarm) waitReady(nodes []*swarmNode) {
	t := sw.t
	t.Helper()
	want := min(len(sw.live())-1, 10)
	deadline := time.Now().Add(time.Minute)
	for _, n := range nodes {
		for n.d.RoutingTableSize() < want {
			if time.Now().After(deadline) {
				t.Fatalf("node's routing table has %d peers after a minute, want %d", n.d.RoutingTableSize(), want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	for _, n := range sw.live() {
		wg.Go(func() {
			select {
			case <-n.d.Kad().RefreshRoutingTable():
			case <-ctx.Done():
			}
		})
	}
	wg.Wait()
}

// rounds runs k repair rounds on every live node, all nodes at once.
func (sw *swarm) rounds(k int) RepairStats {
	sw.t.Helper()
	var total RepairStats
	for range k {
		var mu sync.Mutex
		var wg sync.WaitGroup
		for _, n := range sw.live() {
			wg.Go(func() {
				st, err := n.rep.Round(sw.t.Context())
				if err != nil {
					sw.t.Errorf("repair round: %v", err)
				}
				mu.Lock()
				total.add(st)
				mu.Unlock()
			})
		}
		wg.Wait()
	}
	return total
}

// holding counts, per live node, the envelopes it holds for a.
func (sw *swarm) holding(a Address) map[*swarmNode]int {
	out := map[*swarmNode]int{}
	for _, n := range sw.live() {
		envs, err := n.srv.Envelopes(a)
		if err != nil {
			sw.t.Fatal(err)
		}
		if len(envs) > 0 {
			out[n] = len(envs)
		}
	}
	return out
}

// trueClosest are the k live servers nearest a, by kad distance.
func (sw *swarm) trueClosest(a Address, k int) []*swarmNode {
	var ids []peer.ID
	byID := map[peer.ID]*swarmNode{}
	for _, n := range sw.live() {
		ids = append(ids, n.h.ID())
		byID[n.h.ID()] = n
	}
	var out []*swarmNode
	for _, p := range dht.SortByDistance(a[:], ids)[:k] {
		out = append(out, byID[p])
	}
	return out
}

// user is a sender or recipient: a host with a client-mode DHT and a
// Network on it.
type user struct {
	h      host.Host
	d      *dht.DHT
	net    *Network
	cancel context.CancelFunc
	done   chan error
	down   bool
}

func (sw *swarm) newUser(tweak func(*NetworkOptions)) *user {
	t := sw.t
	t.Helper()
	h := newHost(t)
	d, cancel, done := startDHT(t, h, dht.ModeClient, sw.boot())
	u := &user{h: h, d: d, cancel: cancel, done: done}
	t.Cleanup(u.stop)
	select {
	case <-d.Ready():
	case <-time.After(time.Minute):
		t.Fatal("client did not join the DHT")
	}
	for d.RoutingTableSize() < min(len(sw.live()), 10) {
		time.Sleep(20 * time.Millisecond)
	}
	o := NetworkOptions{Host: h, Closest: d, Logger: discardLogger()}
	if tweak != nil {
		tweak(&o)
	}
	var err error
	if u.net, err = NewNetwork(o); err != nil {
		t.Fatal(err)
	}
	return u
}

func (u *user) stop() {
	if u.down {
		return
	}
	u.down = true
	// The DHT first: a host closed under a running DHT keeps dialling.
	u.cancel()
	<-u.done
	u.h.Close()
}

// depositAll deposits envs at a through u, eight at a time.
func depositAll(t testing.TB, u *user, a Address, envs [][]byte) {
	t.Helper()
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	errs := make([]error, len(envs))
	for i, e := range envs {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			errs[i] = u.net.Deposit(t.Context(), a, e, 0)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("deposits: %v", err)
	}
}

func sealedLike(i int, tag string) []byte {
	// Stands in for a padded e2e envelope: a marker, an index, noise.
	b := make([]byte, 512)
	copy(b, fmt.Sprintf("%s-%04d|", tag, i))
	r := rand.New(rand.NewPCG(uint64(i), 7))
	for j := 16; j < len(b); j++ {
		b[j] = byte(r.Uint32())
	}
	return b
}

// The scenario: Bob offline, Alice deposits 200 envelopes and
// leaves; 40% of the holders and some other nodes stop, 10 nodes join;
// repair; a week later Bob drains 200 of 200, each once; his acks clear
// every holder and repair does not bring anything back. Then the clock
// passes the TTL of Carol's undrained mail, which goes from every holder.
func TestReplicatedMailboxScenario(t *testing.T) {
	if testing.Short() {
		t.Skip("a 40-node network: not in -short")
	}
	start := time.Now()
	clk := newClock()
	sw := newSwarm(t, clk, 30, nil)
	t.Logf("30 nodes up in %v", time.Since(start).Round(time.Millisecond))

	bob := newRecipient(t, "bob", clk.Now())
	carol := newRecipient(t, "carol", clk.Now())
	alice := sw.newUser(nil)
	aliceID := alice.h.ID()

	// The DHT's view from Alice matches the truth.
	got, err := alice.d.ClosestPeers(t.Context(), bob.addr[:])
	if err != nil {
		t.Fatal(err)
	}
	var want []peer.ID
	for _, n := range sw.trueClosest(bob.addr, DefaultReplicas) {
		want = append(want, n.h.ID())
	}
	if !slices.Equal(got[:DefaultReplicas], want) {
		t.Logf("Alice's closest %v, true %v", got[:DefaultReplicas], want)
	}

	var envs, carolEnvs [][]byte
	for i := range 200 {
		envs = append(envs, sealedLike(i, "FOR-BOB"))
	}
	for i := range 20 {
		carolEnvs = append(carolEnvs, sealedLike(1000+i, "FOR-CAROL"))
	}
	t0 := time.Now()
	depositAll(t, alice, bob.addr, envs)
	depositAll(t, alice, carol.addr, carolEnvs)
	t.Logf("220 deposits in %v", time.Since(t0).Round(time.Millisecond))
	alice.stop() // Alice goes offline

	holders := sw.holding(bob.addr)
	full := 0
	for _, c := range holders {
		if c == 200 {
			full++
		}
	}
	if full < DefaultQuorum {
		t.Fatalf("%d nodes hold all 200, want at least a quorum of %d (holders: %v)", full, DefaultQuorum, counts(holders))
	}
	t.Logf("after the deposits: %d holders, %d with all 200", len(holders), full)

	// 40% of the holders stop, and 4 other nodes; 10 new nodes join.
	r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	var hs, others []*swarmNode
	for _, n := range sw.live() {
		if holders[n] > 0 {
			hs = append(hs, n)
		} else {
			others = append(others, n)
		}
	}
	r.Shuffle(len(hs), func(i, j int) { hs[i], hs[j] = hs[j], hs[i] })
	r.Shuffle(len(others), func(i, j int) { others[i], others[j] = others[j], others[i] })
	stopped := (len(hs)*4 + 9) / 10
	var stopping []*swarmNode
	stopping = append(stopping, hs[:stopped]...)
	stopping = append(stopping, others[:4]...)
	var wg sync.WaitGroup
	for _, n := range stopping {
		wg.Go(n.stop)
	}
	wg.Wait()
	var joined []*swarmNode
	for range 10 {
		joined = append(joined, sw.add(nil))
	}
	sw.waitReady(joined)
	t.Logf("stopped %d of %d holders and %d other nodes; 10 joined; %d live", stopped, len(hs), 4, len(sw.live()))

	t0 = time.Now()
	st := sw.rounds(2)
	t.Logf("2 repair rounds in %v: %+v", time.Since(t0).Round(time.Millisecond), st)
	holders = sw.holding(bob.addr)
	t.Logf("after repair: %d live holders: %v", len(holders), counts(holders))
	for i, n := range sw.trueClosest(bob.addr, DefaultReplicas) {
		if holders[n] != 200 {
			t.Errorf("the %d-th closest live node holds %d of 200", i+1, holders[n])
		}
	}

	// Mallory, who knows Bob's address but not his key, can neither fetch
	// nor delete at any of its holders.
	mallory := newRecipient(t, "mallory", clk.Now())
	mal := sw.newUser(nil)
	near, err := mal.net.closest(t.Context(), bob.addr)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range near[:DefaultReplicas] {
		_, err := fetch(t.Context(), mal.h, p, bob.addr, signer(mallory.key))
		wantKind(t, err, ErrUnauthorized)
		_, err = call(t.Context(), mal.h, p, &frame{kind: kindAck, address: bob.addr, ids: [][32]byte{sha256.Sum256(envs[0])}}, signer(mallory.key))
		wantKind(t, err, ErrUnauthorized)
		forged := tombstone{id: sha256.Sum256(envs[0]), expires: clk.Now().Add(time.Hour).UnixMilli(), release: releases(mallory.key, bob.addr, [][32]byte{sha256.Sum256(envs[0])})[0]}
		wantKind(t, sendReleases(t.Context(), mal.h, p, bob.addr, bob.keys.Public(Epoch(clk.Now())).Key, []tombstone{forged}), ErrUnauthorized)
	}
	if n, err := mal.net.Drain(t.Context(), mallory.keys, Epoch(clk.Now()), Epoch(clk.Now()), func([]byte) error { return nil }); n != 0 || err != nil {
		t.Fatalf("Mallory drained %d from her own mailbox: %v", n, err)
	}
	mal.stop()
	if after := sw.holding(bob.addr); !equalCounts(after, holders) {
		t.Fatalf("Mallory's attempts changed the holdings: %v", counts(after))
	}

	// A week passes; repair goes on.
	clk.Add(7 * 24 * time.Hour)
	st = sw.rounds(1)
	t.Logf("a week later, a repair round: %+v", st)

	// Every envelope is still at R live nodes or more.
	replicas := map[[32]byte]int{}
	for _, n := range sw.live() {
		for id := range held(t, n.holder, bob.addr) {
			replicas[id]++
		}
	}
	fewest, most := 1<<30, 0
	for _, e := range envs {
		c := replicas[sha256.Sum256(e)]
		fewest, most = min(fewest, c), max(most, c)
	}
	t.Logf("replicas per envelope on live nodes: %d to %d", fewest, most)
	if fewest < DefaultReplicas {
		t.Errorf("an envelope is at %d live nodes, want %d", fewest, DefaultReplicas)
	}

	// Bob comes online and drains.
	bobNode := sw.newUser(nil)
	bobID := bobNode.h.ID()
	from, to := DrainRange(clk.Now())
	seen := map[[32]byte]int{}
	t0 = time.Now()
	n, err := bobNode.net.Drain(t.Context(), bob.keys, from, to, func(env []byte) error {
		seen[sha256.Sum256(env)]++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Bob drained %d envelopes over %d epochs in %v", n, to-from+1, time.Since(t0).Round(time.Millisecond))
	if n != 200 || len(seen) != 200 {
		t.Fatalf("Bob got %d (%d distinct), want 200", n, len(seen))
	}
	for _, e := range envs {
		if seen[sha256.Sum256(e)] != 1 {
			t.Fatalf("envelope handed %d times", seen[sha256.Sum256(e)])
		}
	}
	left := sw.holding(bob.addr)
	t.Logf("right after Bob's acks, %d live nodes still hold some: %v", len(left), counts(left))
	// A holder that was down all along comes back with its copies.
	back := sw.revive(hs[0])
	if c := len(held(t, back.holder, bob.addr)); c != 200 {
		t.Fatalf("the returning holder has %d envelopes, want 200", c)
	}
	// Repair clears the returning holder's copies: its own round learns
	// the releases from the holders it hands them to, or theirs send it
	// the tombstones first, whichever runs first. A loaded machine may
	// need a round or two for it to rejoin the DHT.
	for round := 0; round < 5 && len(held(t, back.holder, bob.addr)) > 0; round++ {
		st = sw.rounds(1)
		t.Logf("repair round %d after the acks and a holder's return: %+v", round+1, st)
	}
	if c := len(held(t, back.holder, bob.addr)); c != 0 {
		t.Errorf("after repair the returning holder still has %d of Bob's acknowledged envelopes", c)
	}
	if left := sw.holding(bob.addr); len(left) != 0 {
		t.Fatalf("after a repair round, live nodes still hold Bob's delivered mail: %v", counts(left))
	}
	sw.rounds(1)
	if left := sw.holding(bob.addr); len(left) != 0 {
		t.Fatalf("repair brought Bob's delivered mail back: %v", counts(left))
	}
	if n, err := bobNode.net.Drain(t.Context(), bob.keys, from, to, func([]byte) error { return nil }); n != 0 || err != nil {
		t.Fatalf("a second drain got %d: %v", n, err)
	}

	// Carol never came online. Past the 14-day TTL her mail is gone.
	if c := sw.holding(carol.addr); len(c) < DefaultQuorum {
		t.Fatalf("Carol's mail at %d holders before it expires", len(c))
	}
	clk.Add(8 * 24 * time.Hour) // day 15
	for _, n := range sw.live() {
		n.srv.collect()
	}
	sw.rounds(1)
	for _, n := range sw.live() {
		if st := n.srv.Stats(); st.Envelopes != 0 {
			t.Fatalf("a holder still holds %+v after the TTL", st)
		}
		if c := countRecords(t, n.holder, nsEnvelopes) + countRecords(t, n.holder, nsIndex); c != 0 {
			t.Fatalf("a holder's store still has %d envelope records after the TTL", c)
		}
	}
	carolNode := sw.newUser(nil)
	from, to = DrainRange(clk.Now())
	if n, err := carolNode.net.Drain(t.Context(), carol.keys, from, to, func([]byte) error { return nil }); n != 0 || err != nil {
		t.Fatalf("Carol drained %d after the TTL: %v", n, err)
	}

	// Nothing a holder stored names Alice or Bob: not through the store,
	// not in the files (stopped holders' included).
	secrets := [][]byte{[]byte(aliceID), []byte(bobID), []byte(aliceID.String()), []byte(bobID.String())}
	for _, n := range sw.live() {
		for _, ns := range []string{nsEnvelopes, nsIndex, nsAcked} {
			err := n.st.Namespace(ns).Iterate(nil, false, func(k, v []byte) error {
				for _, s := range secrets {
					if bytes.Contains(k, s) || bytes.Contains(v, s) {
						t.Errorf("a %s record holds a user's PeerID", ns)
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	scanned := 0
	for _, n := range sw.nodes {
		scanned += scanDir(t, n.dir, append(secrets, []byte("FOR-BOB"), []byte("FOR-CAROL")))
	}
	t.Logf("scanned %d bytes of holder data; whole scenario %v", scanned, time.Since(start).Round(time.Millisecond))
}

func countRecords(t testing.TB, hd *holder, ns string) int {
	t.Helper()
	c := 0
	if err := hd.st.Namespace(ns).Iterate(nil, false, func(k, v []byte) error { c++; return nil }); err != nil {
		t.Fatal(err)
	}
	return c
}

// scanDir fails if any file under dir contains one of secrets; it returns
// how many bytes it read.
func scanDir(t testing.TB, dir string, secrets [][]byte) int {
	t.Helper()
	total := 0
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		return readData(path, func(b []byte) {
			total += len(b)
			for _, s := range secrets {
				if bytes.Contains(b, s) {
					t.Errorf("%s contains %q", path, s)
				}
			}
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return total
}

// readData hands f each stretch of path's data. Badger's files are large
// and sparse: where the system can say where the holes are (Linux's
// SEEK_DATA and SEEK_HOLE), they are skipped, which reads nothing that
// could hold a byte other than zero.
func readData(path string, f func([]byte)) error {
	const seekData, seekHole = 3, 4
	file, err := os.Open(path)
	if err != nil {
		return err
	}
	defer file.Close()
	if _, err := file.Seek(0, seekData); err != nil {
		b, err := io.ReadAll(io.NewSectionReader(file, 0, 1<<62)) // no hole support, or no data at all
		if err == nil {
			f(b)
		}
		return err
	}
	for off := int64(0); ; {
		start, err := file.Seek(off, seekData)
		if err != nil {
			return nil // ENXIO: no data past off
		}
		end, err := file.Seek(start, seekHole)
		if err != nil {
			return err
		}
		b := make([]byte, end-start)
		if _, err := file.ReadAt(b, start); err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		f(b)
		off = end
	}
}

func counts(m map[*swarmNode]int) []int {
	var out []int
	for _, c := range m {
		out = append(out, c)
	}
	slices.Sort(out)
	return out
}

func equalCounts(a, b map[*swarmNode]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// A deposit that too few holders take fails with an error that says so
// and wraps their refusals; with enough, it succeeds.
func TestDepositQuorum(t *testing.T) {
	clk := newClock()
	// Every holder but two is full.
	sw := newSwarm(t, clk, 8, func(i int, o *ServerOptions) {
		if i >= 2 {
			o.MaxTotalBytes = 100
		}
	})
	alice := sw.newUser(nil)
	bob := newRecipient(t, "bob", clk.Now())
	err := alice.net.Deposit(t.Context(), bob.addr, sealedLike(1, "x"), 0)
	var qe *QuorumError
	if !errors.Is(err, ErrNoQuorum) || !errors.Is(err, ErrMailboxFull) || !errors.As(err, &qe) || qe.Stored != 2 || qe.Quorum != 3 {
		t.Fatalf("deposit: %v", err)
	}
	t.Logf("deposit: %v", err)
	// Two holders are enough when the quorum is two.
	two := sw.newUser(func(o *NetworkOptions) { o.Quorum = 2 })
	if err := two.net.Deposit(t.Context(), bob.addr, sealedLike(2, "x"), 0); err != nil {
		t.Fatal(err)
	}
	// One of the two stops: unreachable, full, and a quorum missed.
	sw.nodes[0].stop()
	err = two.net.Deposit(t.Context(), bob.addr, sealedLike(3, "x"), 0)
	if !errors.Is(err, ErrNoQuorum) || !errors.As(err, &qe) || qe.Stored != 1 {
		t.Fatalf("deposit with a holder stopped: %v", err)
	}
	t.Logf("deposit with a holder stopped: %v", err)
	// Over quota is reported as such.
	q := newSwarm(t, clk, 4, func(_ int, o *ServerOptions) { o.MaxPerAddress = 1 })
	carol := q.newUser(nil)
	if err := carol.net.Deposit(t.Context(), bob.addr, sealedLike(4, "x"), 0); err != nil {
		t.Fatal(err)
	}
	err = carol.net.Deposit(t.Context(), bob.addr, sealedLike(5, "x"), 0)
	if !errors.Is(err, ErrNoQuorum) || !errors.Is(err, ErrQuotaExceeded) {
		t.Fatalf("deposit over quota: %v", err)
	}
}
