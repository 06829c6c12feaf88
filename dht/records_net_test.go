package dht

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"strconv"
	"testing"
	"time"

	kadpb "github.com/libp2p/go-libp2p-kad-dht/pb"
	record "github.com/libp2p/go-libp2p-record"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"google.golang.org/protobuf/proto"
)

// storedValue asks p, over one raw request of our DHT protocol, for the
// value it holds under key itself (GET_VALUE answers with the local record,
// if any, and closer peers). It returns nil if p holds none.
func storedValue(ctx context.Context, from host.Host, p peer.ID, key string) ([]byte, error) {
	s, err := from.NewStream(ctx, p, ProtocolID)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	if dl, ok := ctx.Deadline(); ok {
		s.SetDeadline(dl)
	}
	req, err := proto.Marshal(&kadpb.Message{Type: kadpb.Message_GET_VALUE, Key: []byte(key)})
	if err != nil {
		return nil, err
	}
	if _, err := s.Write(append(binary.AppendUvarint(nil, uint64(len(req))), req...)); err != nil {
		return nil, err
	}
	r := bufio.NewReader(s)
	n, err := binary.ReadUvarint(r)
	if err != nil {
		return nil, err
	}
	if n > 1<<20 {
		return nil, fmt.Errorf("response of %d bytes", n)
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, err
	}
	var resp kadpb.Message
	if err := proto.Unmarshal(buf, &resp); err != nil {
		return nil, err
	}
	return resp.GetRecord().GetValue(), nil
}

// acceptAll is the validator of a rogue node that stores and sends anything.
type acceptAll struct{}

func (acceptAll) Validate(string, []byte) error        { return nil }
func (acceptAll) Select(string, [][]byte) (int, error) { return 0, nil }

var _ record.Validator = acceptAll{}

// TestSignedRecordsNetwork publishes through PutSigned on a 6-node network
// with a SignedNamespace registered and reads through GetSigned elsewhere:
// the newer sequence number wins, the owner cannot roll it back, and values
// that a rogue member of our DHT (one that validates nothing) pushes under
// the owner's key are refused by every node's validator. A value the rogue
// may legitimately publish, under its own key, does get stored: the path the
// forgeries took works.
func TestSignedRecordsNetwork(t *testing.T) {
	const nodes = 6
	o := testOptions()
	o.Namespaces = map[string]record.Validator{testNS: SignedNamespace{MaxPayload: 1024}}
	tn := startSwarm(t, nodes, 2, o)
	tn.waitReady(time.Minute, nodes-1)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	owner := tn.nodes[0]
	key := RecordKey(testNS, owner.h.ID())
	publish := func(seq uint64, payload string) {
		t.Helper()
		if err := owner.d.PutSigned(ctx, testNS, seq, []byte(payload)); err != nil {
			t.Fatalf("PutSigned seq %d: %v", seq, err)
		}
	}
	expect := func(n *testNode, seq uint64, payload string) {
		t.Helper()
		rec, err := n.d.GetSigned(ctx, testNS, owner.h.ID())
		if err != nil {
			t.Fatalf("GetSigned from %s: %v", n.h.ID(), err)
		}
		if rec.Seq != seq || string(rec.Payload) != payload {
			t.Errorf("GetSigned from %s = seq %d %s, want seq %d %q", n.h.ID(), rec.Seq, short(rec.Payload), seq, payload)
		}
	}

	publish(1, "bundle one")
	expect(tn.nodes[nodes-1], 1, "bundle one")
	publish(2, "bundle two")
	for _, n := range tn.nodes[1:] {
		expect(n, 2, "bundle two")
	}
	if err := owner.d.PutSigned(ctx, testNS, 1, []byte("bundle one")); err == nil {
		t.Error("PutSigned rolled seq 2 back to seq 1")
	}
	// Other payload checks apply on the way out too.
	if err := owner.d.PutSigned(ctx, testNS, 3, make([]byte, 1025)); err == nil {
		t.Error("PutSigned published a payload over the namespace's MaxPayload")
	}
	legit := mustSignWithHost(t, owner.h, 2, "bundle two")

	// The rogue: our protocol, a validator that accepts anything.
	rogue := startRogue(t, ctx, tn)
	rh := rogue.Host()
	roguePriv := rh.Peerstore().PrivKey(rh.ID())
	forgeries := map[string][]byte{
		"signed by the rogue, seq 99": signRaw(t, roguePriv, key, 99, []byte("evil")).marshal(),
		"owner's signature, seq 99":   (SignedRecord{Seq: 99, Payload: []byte("bundle two"), Signature: signRaw(t, ownerKey(t, owner.h), key, 2, []byte("bundle two")).Signature}).marshal(),
		"not a record":                []byte("evil"),
		"oversized payload":           signRaw(t, ownerKey(t, owner.h), key, 99, make([]byte, 1025)).marshal(),
		// Validly signed by the owner, but older: a replayed rollback.
		"owner's old seq 1": mustSignWithHost(t, owner.h, 1, "bundle one"),
	}
	for name, v := range forgeries {
		if err := rogue.PutValue(ctx, key, v); err != nil {
			t.Fatalf("rogue PutValue (%s): %v", name, err)
		}
	}
	// Control: the rogue publishing under its own key, properly signed.
	rogueKey := RecordKey(testNS, rh.ID())
	rogueOwn := mustSign(t, roguePriv, testNS, 1, []byte("mine"))
	if err := rogue.PutValue(ctx, rogueKey, rogueOwn); err != nil {
		t.Fatalf("rogue PutValue of its own record: %v", err)
	}

	for _, n := range tn.nodes {
		got, err := storedValue(ctx, rh, n.h.ID(), key)
		if err != nil {
			t.Fatalf("ask %s for its stored value: %v", n.h.ID(), err)
		}
		if !bytes.Equal(got, legit) {
			what := short(got)
			for name, v := range forgeries {
				if bytes.Equal(got, v) {
					what = "the forgery " + strconv.Quote(name)
				}
			}
			t.Errorf("node %s stores %s, not the owner's seq 2 record", n.h.ID(), what)
		}
		got, err = storedValue(ctx, rh, n.h.ID(), rogueKey)
		if err != nil {
			t.Fatalf("ask %s for the rogue's own value: %v", n.h.ID(), err)
		}
		if !bytes.Equal(got, rogueOwn) {
			t.Errorf("node %s did not store the rogue's own valid record (got %s): the forgeries may never have arrived", n.h.ID(), short(got))
		}
		expect(n, 2, "bundle two")
	}
}

func ownerKey(tb testing.TB, h host.Host) crypto.PrivKey {
	tb.Helper()
	k := h.Peerstore().PrivKey(h.ID())
	if k == nil {
		tb.Fatal("host has no private key")
	}
	return k
}

func mustSignWithHost(tb testing.TB, h host.Host, seq uint64, payload string) []byte {
	tb.Helper()
	return mustSign(tb, ownerKey(tb, h), testNS, seq, []byte(payload))
}

// short quotes at most the first 32 bytes of b.
func short(b []byte) string {
	if len(b) <= 32 {
		return fmt.Sprintf("%q", b)
	}
	return fmt.Sprintf("%q... (%d bytes)", b[:32], len(b))
}
