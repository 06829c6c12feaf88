package mailbox

import (
	"bufio"
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	badger "github.com/dgraph-io/badger/v4"
	"github.com/libp2p/go-libp2p/core/host"
	"google.golang.org/protobuf/encoding/protowire"
)

func lengthPrefixed(body []byte) []byte {
	return append(protowire.AppendVarint(nil, uint64(len(body))), body...)
}

// rawExchange writes raw bytes on a new mailbox stream and reads the
// holder's answer: a frame, an *Error, or the stream's failure.
func rawExchange(t testing.TB, c host.Host, hd *holder, raw []byte) (*frame, error) {
	t.Helper()
	st, err := c.NewStream(t.Context(), hd.h.ID(), ProtocolID)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	st.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := st.Write(raw); err != nil {
		return nil, err
	}
	st.CloseWrite()
	return readAnswer(bufio.NewReader(st), maxServerFrame)
}

func TestGarbageGetsBadFrame(t *testing.T) {
	hd := newHolder(t, nil)
	mallory := newClient(t, hd)
	bob := newRecipient(t, "bob", hd.clock.Now())
	deposit := &frame{kind: kindDeposit, address: bob.addr, envelope: []byte("x")}
	valid := deposit.marshal()
	cases := map[string][]byte{
		"random":          []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
		"overlong length": {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01},
		"zero length":     {0x00},
		"truncated":       lengthPrefixed(valid)[:len(valid)/2],
		"bad version":     lengthPrefixed(append(appendVarintField(nil, fVersion, 2), valid[2:]...)),
		"unknown kind":    lengthPrefixed(append(appendVarintField(appendVarintField(nil, fVersion, 1), fKind, 77), valid[4:]...)),
		"proof first":     lengthPrefixed((&frame{kind: kindProof, pub: make([]byte, 32), sig: make([]byte, 64)}).marshal()),
		"answer kind":     lengthPrefixed((&frame{kind: kindOK}).marshal()),
		"short address":   lengthPrefixed(appendBytesField(appendVarintField(appendVarintField(nil, fVersion, 1), fKind, 1), fAddress, []byte{1, 2})),
	}
	for name, raw := range cases {
		t.Run(name, func(t *testing.T) {
			f, err := rawExchange(t, mallory, hd, raw)
			if f != nil {
				t.Fatalf("answered %v", f.kind)
			}
			if name == "truncated" && err != nil && !errors.Is(err, ErrBadFrame) {
				return // a reset is an answer too
			}
			wantKind(t, err, ErrBadFrame)
			t.Logf("%v", err)
		})
	}
	// A FETCH whose proof is garbage.
	t.Run("garbage proof", func(t *testing.T) {
		st, err := mallory.NewStream(t.Context(), hd.h.ID(), ProtocolID)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		st.SetDeadline(time.Now().Add(10 * time.Second))
		writeFrame(st, &frame{kind: kindFetch, address: bob.addr})
		r := bufio.NewReader(st)
		if f, err := readAnswer(r, maxSmallFrame); err != nil || f.kind != kindChallenge {
			t.Fatalf("%v, %v", f, err)
		}
		st.Write([]byte{0x03, 0xff, 0xff, 0xff})
		st.CloseWrite()
		_, err = readAnswer(r, maxServerFrame)
		wantKind(t, err, ErrBadFrame)
	})
	// The holder still serves everyone, the same peer included.
	for _, c := range []host.Host{mallory, newClient(t, hd)} {
		if _, err := Deposit(t.Context(), c, hd.h.ID(), bob.addr, envelope(100, "after garbage "+c.ID().String()), 0); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := Fetch(t.Context(), mallory, hd.h.ID(), bob.key); err != nil || len(got) != 2 {
		t.Fatalf("%d, %v", len(got), err)
	}
}

func TestPaging(t *testing.T) {
	hd := newHolder(t, nil)
	c := newClient(t, hd)
	bob := newRecipient(t, "bob", hd.clock.Now())
	want := map[[32]byte]bool{}
	// 600 small ones: more than two pages by count; 20 of 72 KiB: more
	// than one page by bytes.
	for i := range 620 {
		n := 40
		if i >= 600 {
			n = MaxEnvelope
		}
		e := envelope(n, "env "+string(rune('A'+i%26))+string(rune('a'+i/26)))
		r, err := Deposit(t.Context(), c, hd.h.ID(), bob.addr, e, 0)
		if err != nil {
			t.Fatal(err)
		}
		want[r.ID] = true
	}
	var pages int
	got, err := Fetch(t.Context(), c, hd.h.ID(), bob.key)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("fetched %d, want %d", len(got), len(want))
	}
	for i, g := range got {
		if !want[g.ID] || (i > 0 && bytes.Compare(got[i-1].ID[:], g.ID[:]) >= 0) {
			t.Fatal("wrong or out-of-order envelope")
		}
	}
	// Every page fits its limit.
	var cursor *[32]byte
	for {
		req := &frame{kind: kindFetch, address: bob.addr}
		if cursor != nil {
			req.cursor, req.hasCursor = *cursor, true
		}
		f, err := call(t.Context(), c, hd.h.ID(), req, signer(bob.key))
		if err != nil {
			t.Fatal(err)
		}
		pages++
		if len(f.marshal()) > maxServerFrame || len(f.items) > defaultPageItems {
			t.Fatalf("page of %d bytes, %d items", len(f.marshal()), len(f.items))
		}
		if !f.more {
			break
		}
		id := f.items[len(f.items)-1].ID
		cursor = &id
	}
	if pages < 3 {
		t.Fatalf("%d pages", pages)
	}
	t.Logf("%d pages", pages)
}

// TestHolderKeepsNothingElse deposits, fetches and acks, then looks at
// everything the holder's store holds: only the mailbox namespaces, keyed
// by address and id, holding envelope or size and expiry; no PeerID of
// the depositor or the recipient anywhere, in the files or the records.
func TestHolderKeepsNothingElse(t *testing.T) {
	hd := newHolder(t, nil)
	alice := newClient(t, hd)
	bobHost := newClient(t, hd)
	bob := newRecipient(t, "bob", hd.clock.Now())
	marker := "PLAINTEXT-MARKER-7f3a"
	envs := map[[32]byte][]byte{}
	for i := range 5 {
		e := envelope(500+i, marker+string(rune('a'+i)))
		r, err := Deposit(t.Context(), alice, hd.h.ID(), bob.addr, e, 0)
		if err != nil {
			t.Fatal(err)
		}
		envs[r.ID] = e
	}
	got, err := Fetch(t.Context(), bobHost, hd.h.ID(), bob.key)
	if err != nil || len(got) != 5 {
		t.Fatal(err)
	}
	if err := Ack(t.Context(), bobHost, hd.h.ID(), bob.key, [][32]byte{got[0].ID}); err != nil {
		t.Fatal(err)
	}
	secrets := [][]byte{[]byte(alice.ID()), []byte(bobHost.ID()), []byte(alice.ID().String()), []byte(bobHost.ID().String()), []byte(marker)}

	// The records, through the store.
	counts := map[string]int{}
	for _, ns := range []string{nsEnvelopes, nsIndex, nsAcked} {
		err := hd.st.Namespace(ns).Iterate(nil, false, func(k, v []byte) error {
			counts[ns]++
			if len(k) != 64 || Address(k[:32]) != bob.addr {
				t.Errorf("%s: key %x is not address || id", ns, k)
			}
			id := [32]byte(k[32:])
			exp, payload, err := decodeStored(v)
			if err != nil || !time.UnixMilli(exp).Equal(got[0].Expires) {
				t.Errorf("%s: record %x: %v", ns, v, err)
			}
			switch ns {
			case nsEnvelopes:
				if !bytes.Equal(payload, envs[id]) {
					t.Errorf("envelope record holds something else")
				}
				return nil // it holds the marker: that is the opaque envelope
			case nsIndex:
				if len(payload) != 4 {
					t.Errorf("index payload %x", payload)
				}
			case nsAcked:
				// The epoch's public key and the recipient's release.
				if len(payload) != releasePayload || id != got[0].ID ||
					!verifyRelease(payload[:32], bob.addr, id, payload[32:]) {
					t.Errorf("acked record %x", payload)
				}
			}
			for _, s := range secrets {
				if bytes.Contains(k, s) || bytes.Contains(v, s) {
					t.Errorf("%s holds %q", ns, s)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if counts[nsEnvelopes] != 4 || counts[nsIndex] != 4 || counts[nsAcked] != 1 {
		t.Fatalf("records %v", counts)
	}

	// Every key in the database, read with Badger directly.
	hd.close()
	db, err := badger.Open(badger.DefaultOptions(filepath.Join(hd.dir, "db")).WithEncryptionKey(testEncKey).
		WithIndexCacheSize(1 << 20).WithLogger(nil))
	if err != nil {
		t.Fatal(err)
	}
	err = db.View(func(txn *badger.Txn) error {
		o := badger.DefaultIteratorOptions
		o.AllVersions = true
		it := txn.NewIterator(o)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			k := it.Item().Key()
			switch {
			case string(k) == "\x00store/check", bytes.HasPrefix(k, []byte("!badger!")):
			case bytes.HasPrefix(k, []byte(nsEnvelopes+"/")) && len(k) == len(nsEnvelopes)+65,
				bytes.HasPrefix(k, []byte(nsIndex+"/")) && len(k) == len(nsIndex)+65,
				bytes.HasPrefix(k, []byte(nsAcked+"/")) && len(k) == len(nsAcked)+65:
			default:
				t.Errorf("unexpected key %q", k)
			}
		}
		return nil
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}

	// The files (Badger encrypts them, so this is a backstop).
	filepath.Walk(hd.dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, s := range secrets {
			if bytes.Contains(b, s) {
				t.Errorf("%s holds %q", p, s)
			}
		}
		return nil
	})
	hd.start()
}

// TestStalledStreamEnds: a peer that opens a stream and stalls is cut
// off at the holder's stream deadline.
func TestStalledStreamEnds(t *testing.T) {
	defer func(d time.Duration) { streamTimeout = d }(streamTimeout)
	streamTimeout = 300 * time.Millisecond
	hd := newHolder(t, nil)
	c := newClient(t, hd)
	st, err := c.NewStream(t.Context(), hd.h.ID(), ProtocolID)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	st.Write([]byte{0x05}) // a length, then nothing
	start := time.Now()
	st.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err = st.Read(make([]byte, 1))
	if err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read gave %v after %v; want the holder to end the stream", err, time.Since(start))
	}
	t.Logf("stream ended after %v: %v", time.Since(start), err)
}
