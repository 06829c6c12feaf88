package mailbox

import (
	"bufio"
	"context"
	"crypto/sha256"
	"errors"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
)

// fakeHolder answers every mailbox request with what answer returns,
// after a challenge for FETCH and ACK: a holder that lies or breaks the
// protocol.
func fakeHolder(t *testing.T, answer func(req *frame) []byte) host.Host {
	h := newHost(t)
	h.SetStreamHandler(ProtocolID, func(st network.Stream) {
		defer st.Close()
		st.SetDeadline(time.Now().Add(5 * time.Second))
		r := bufio.NewReader(st)
		body, err := readFrame(r, maxClientFrame)
		if err != nil {
			st.Reset()
			return
		}
		req, err := decodeClientFrame(body)
		if err != nil {
			st.Reset()
			return
		}
		if req.kind == kindFetch || req.kind == kindAck {
			writeFrame(st, &frame{kind: kindChallenge})
			if _, err := readFrame(r, maxSmallFrame); err != nil {
				st.Reset()
				return
			}
		}
		st.Write(answer(req))
	})
	return h
}

func TestClientAgainstBadHolder(t *testing.T) {
	bob := newRecipient(t, "bob", time.Now())
	good := []byte("a good envelope")
	goodItem := Held{ID: sha256.Sum256(good), Envelope: good, Expires: time.Now().Add(time.Hour)}
	tampered := Held{ID: sha256.Sum256([]byte("original")), Envelope: []byte("tampered"), Expires: goodItem.Expires}
	page := func(more bool, items ...Held) []byte {
		return lengthPrefixed((&frame{kind: kindEnvelopes, items: items, more: more}).marshal())
	}
	cases := []struct {
		name    string
		answer  func(req *frame) []byte
		deposit error // from Deposit
		fetch   error // from Fetch
		got     int   // envelopes Fetch returns
	}{
		{"garbage", func(*frame) []byte { return []byte{0x05, 1, 2, 3, 4, 5} }, ErrBadFrame, ErrBadFrame, 0},
		{"oversize frame", func(*frame) []byte { return []byte{0xff, 0xff, 0xff, 0x7f} }, ErrBadFrame, ErrBadFrame, 0},
		{"hangs up", func(*frame) []byte { return nil }, errAny, errAny, 0},
		{"wrong receipt, tampered item", func(req *frame) []byte {
			if req.kind == kindDeposit {
				return lengthPrefixed(okFrame([32]byte{1}, 1).marshal())
			}
			return page(false, tampered, goodItem)
		}, ErrBadFrame, nil, 1},
		{"endless pages", func(req *frame) []byte {
			if !req.hasCursor {
				return page(true, goodItem)
			}
			return page(true, Held{ID: req.cursor, Envelope: good, Expires: goodItem.Expires}) // the same id again
		}, ErrBadFrame, ErrBadFrame, 1},
		{"empty page with more", func(*frame) []byte { return page(true) }, ErrBadFrame, ErrBadFrame, 0},
		{"unknown error code", func(*frame) []byte {
			return lengthPrefixed((&frame{kind: kindError, code: 200, message: "\x1b[2Jgone"}).marshal())
		}, ErrHolderFailed, ErrHolderFailed, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fake := fakeHolder(t, tc.answer)
			c := newHost(t)
			c.Peerstore().AddAddrs(fake.ID(), fake.Addrs(), time.Hour)
			_, err := Deposit(t.Context(), c, fake.ID(), bob.addr, good, 0)
			checkErr(t, "deposit", err, tc.deposit)
			got, err := Fetch(t.Context(), c, fake.ID(), bob.key)
			checkErr(t, "fetch", err, tc.fetch)
			if len(got) != tc.got || (len(got) == 1 && got[0].ID != goodItem.ID) {
				t.Fatalf("fetch returned %d envelopes, want %d", len(got), tc.got)
			}
		})
	}
}

var errAny = errors.New("any error")

func checkErr(t *testing.T, what string, err, want error) {
	t.Helper()
	switch {
	case want == nil && err != nil:
		t.Fatalf("%s: %v", what, err)
	case want == errAny && err == nil, want != nil && want != errAny && !errors.Is(err, want):
		t.Fatalf("%s: %v, want %v", what, err, want)
	}
	if err != nil {
		t.Logf("%s: %v", what, err)
	}
}

func TestClientDeadline(t *testing.T) {
	// A holder that never answers: the call ends at the default deadline
	// (shortened here through ctx).
	h := newHost(t)
	h.SetStreamHandler(ProtocolID, func(st network.Stream) {
		time.Sleep(2 * time.Second)
		st.Reset()
	})
	c := newHost(t)
	c.Peerstore().AddAddrs(h.ID(), h.Addrs(), time.Hour)
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := Deposit(ctx, c, h.ID(), Address{}, []byte("x"), 0)
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > time.Second {
		t.Fatalf("after %v: %v", time.Since(start), err)
	}
}
