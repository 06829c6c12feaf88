package mailbox

import (
	"bufio"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"google.golang.org/protobuf/encoding/protowire"

	framing "github.com/discordopus/discordopus/internal/frame"
)

// ProtocolID is the mailbox stream protocol.
const ProtocolID protocol.ID = "/discordopus/mailbox/1"

// Limits of the protocol; doc.go explains each.
const (
	// MaxEnvelope is the largest envelope the protocol carries: an e2e
	// message of MaxPlaintext padded, with its headers.
	MaxEnvelope = 72 << 10

	frameVersion     = 1
	maxClientFrame   = MaxEnvelope + 1<<10
	maxPageBytes     = 1 << 20 // items of one ENVELOPES page
	maxServerFrame   = maxPageBytes + 1<<10
	maxSmallFrame    = 1 << 10 // CHALLENGE, PROOF, OK, ERROR
	maxAckIDs        = 1024
	maxSignedAckIDs  = 512 // ids of an ACK that carries releases, to fit maxClientFrame
	maxReleaseItems  = 512 // tombstones of a RELEASE
	releaseSize      = 64  // an Ed25519 signature
	maxPageItems     = 1024
	defaultPageItems = 256
	idSize           = 32
	nonceSize        = 32
)

type kind uint64

// Frame kinds.
const (
	kindDeposit   kind = 1
	kindFetch     kind = 2
	kindAck       kind = 3
	kindReplicate kind = 4
	kindChallenge kind = 5
	kindProof     kind = 6
	kindOK        kind = 7
	kindEnvelopes kind = 8
	kindError     kind = 9
	kindRelease   kind = 10
)

func (k kind) String() string {
	names := [...]string{"", "DEPOSIT", "FETCH", "ACK", "REPLICATE", "CHALLENGE", "PROOF", "OK", "ENVELOPES", "ERROR", "RELEASE"}
	if k < kind(len(names)) && k > 0 {
		return names[k]
	}
	return fmt.Sprintf("kind %d", uint64(k))
}

// Field numbers.
const (
	fVersion  = 1
	fKind     = 2
	fAddress  = 3
	fEnvelope = 4
	fTTL      = 5
	fExpires  = 6
	fID       = 7
	fLimit    = 8
	fCursor   = 9
	fNonce    = 10
	fPub      = 11
	fSig      = 12
	fItem     = 13
	fMore     = 14
	fCode     = 15
	fMessage  = 16
	fRetry    = 17
	fRelease  = 18
	fTomb     = 19
	lastField = fTomb
)

func bit(num protowire.Number) uint32 { return 1 << num }

// kindFields are the fields each kind requires and those it may carry.
var kindFields = map[kind]struct{ required, optional uint32 }{
	kindDeposit:   {bit(fAddress) | bit(fEnvelope), bit(fTTL)},
	kindFetch:     {bit(fAddress), bit(fLimit) | bit(fCursor)},
	kindAck:       {bit(fAddress) | bit(fID), bit(fRelease)},
	kindReplicate: {bit(fAddress) | bit(fEnvelope) | bit(fExpires), 0},
	kindProof:     {bit(fPub) | bit(fSig), 0},
	kindChallenge: {bit(fNonce), 0},
	kindOK:        {0, bit(fID) | bit(fExpires) | bit(fPub) | bit(fRelease)},
	kindRelease:   {bit(fAddress) | bit(fPub) | bit(fTomb), 0},
	kindEnvelopes: {0, bit(fItem) | bit(fMore)},
	kindError:     {bit(fCode), bit(fMessage) | bit(fRetry)},
}

// Held is one envelope at a holder.
type Held struct {
	ID       [32]byte // SHA-256 of Envelope
	Envelope []byte
	Expires  time.Time
}

// tombstone says that the recipient acknowledged (released) envelope id of
// an address: release is the recipient's signature over it (see
// releaseMessage), or nil for a tombstone of an ACK that carried none.
type tombstone struct {
	id      [32]byte
	expires int64 // Unix ms: how long holders remember it
	release []byte
}

// frame is any frame of the protocol, decoded; kind says which fields
// mean something.
type frame struct {
	kind      kind
	address   Address
	envelope  []byte
	ttl       uint64 // seconds
	expires   int64  // Unix milliseconds
	ids       [][32]byte
	limit     uint64
	cursor    [32]byte
	hasCursor bool
	nonce     [32]byte
	pub       []byte
	sig       []byte
	items     []Held
	more      bool
	code      uint64
	message   string
	retry     uint64      // milliseconds
	releases  [][]byte    // ACK: one per id, or none; OK: at most one
	tombs     []tombstone // RELEASE
}

func appendVarintField(b []byte, num protowire.Number, v uint64) []byte {
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, v)
}

func appendBytesField(b []byte, num protowire.Number, v []byte) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, v)
}

// marshal encodes the frame's body, the fields of its kind only.
func (f *frame) marshal() []byte {
	b := make([]byte, 0, 64+len(f.envelope)+len(f.ids)*34)
	b = appendVarintField(b, fVersion, frameVersion)
	b = appendVarintField(b, fKind, uint64(f.kind))
	switch f.kind {
	case kindDeposit, kindReplicate:
		b = appendBytesField(b, fAddress, f.address[:])
		b = appendBytesField(b, fEnvelope, f.envelope)
		if f.kind == kindReplicate {
			b = appendVarintField(b, fExpires, uint64(f.expires))
		} else if f.ttl != 0 {
			b = appendVarintField(b, fTTL, f.ttl)
		}
	case kindFetch:
		b = appendBytesField(b, fAddress, f.address[:])
		if f.limit != 0 {
			b = appendVarintField(b, fLimit, f.limit)
		}
		if f.hasCursor {
			b = appendBytesField(b, fCursor, f.cursor[:])
		}
	case kindAck:
		b = appendBytesField(b, fAddress, f.address[:])
		for _, id := range f.ids {
			b = appendBytesField(b, fID, id[:])
		}
		for _, r := range f.releases {
			b = appendBytesField(b, fRelease, r)
		}
	case kindRelease:
		b = appendBytesField(b, fAddress, f.address[:])
		b = appendBytesField(b, fPub, f.pub)
		for _, t := range f.tombs {
			b = appendBytesField(b, fTomb, marshalTombstone(t))
		}
	case kindProof:
		b = appendBytesField(b, fPub, f.pub)
		b = appendBytesField(b, fSig, f.sig)
	case kindChallenge:
		b = appendBytesField(b, fNonce, f.nonce[:])
	case kindOK:
		if len(f.ids) == 1 {
			b = appendBytesField(b, fID, f.ids[0][:])
			b = appendVarintField(b, fExpires, uint64(f.expires))
			if len(f.releases) == 1 {
				b = appendBytesField(b, fPub, f.pub)
				b = appendBytesField(b, fRelease, f.releases[0])
			}
		}
	case kindEnvelopes:
		for _, it := range f.items {
			b = appendBytesField(b, fItem, marshalItem(it))
		}
		if f.more {
			b = appendVarintField(b, fMore, 1)
		}
	case kindError:
		b = appendVarintField(b, fCode, f.code)
		if f.message != "" {
			b = appendBytesField(b, fMessage, []byte(f.message))
		}
		if f.retry != 0 {
			b = appendVarintField(b, fRetry, f.retry)
		}
	}
	return b
}

func marshalItem(it Held) []byte {
	b := make([]byte, 0, itemSize(len(it.Envelope)))
	b = appendBytesField(b, 1, it.ID[:])
	b = appendBytesField(b, 2, it.Envelope)
	return appendVarintField(b, 3, uint64(it.Expires.UnixMilli()))
}

func marshalTombstone(t tombstone) []byte {
	b := make([]byte, 0, 2+idSize+1+10+2+releaseSize)
	b = appendBytesField(b, 1, t.id[:])
	b = appendVarintField(b, 2, uint64(t.expires))
	return appendBytesField(b, 3, t.release)
}

// itemSize bounds the encoded size of an item field with an n-byte
// envelope: its tag, length and the item itself.
func itemSize(n int) int { return 2 + 3 + (2 + idSize) + (1 + 3 + n) + (1 + 10) }

func badFrame(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrBadFrame, fmt.Sprintf(format, args...))
}

// wireTypes are the wire types of the known fields.
var wireTypes = [lastField + 1]protowire.Type{
	fVersion: protowire.VarintType, fKind: protowire.VarintType, fTTL: protowire.VarintType,
	fExpires: protowire.VarintType, fLimit: protowire.VarintType, fMore: protowire.VarintType,
	fCode: protowire.VarintType, fRetry: protowire.VarintType,
	fAddress: protowire.BytesType, fEnvelope: protowire.BytesType, fID: protowire.BytesType,
	fCursor: protowire.BytesType, fNonce: protowire.BytesType, fPub: protowire.BytesType,
	fSig: protowire.BytesType, fItem: protowire.BytesType, fMessage: protowire.BytesType,
	fRelease: protowire.BytesType, fTomb: protowire.BytesType,
}

// walk calls f for each field of a protobuf message with its varint or
// bytes value. Unknown field numbers (above last) are skipped, whatever
// their type; a known one must have the wire type want gives it.
func walk(b []byte, last protowire.Number, want func(protowire.Number) protowire.Type,
	f func(num protowire.Number, v []byte, vi uint64) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return badFrame("tag: %v", protowire.ParseError(n))
		}
		b = b[n:]
		if num > last {
			if n = protowire.ConsumeFieldValue(num, typ, b); n < 0 {
				return badFrame("unknown field %d: %v", num, protowire.ParseError(n))
			}
			b = b[n:]
			continue
		}
		if typ != want(num) {
			return badFrame("field %d has wire type %d", num, typ)
		}
		var (
			v  []byte
			vi uint64
		)
		if typ == protowire.VarintType {
			vi, n = protowire.ConsumeVarint(b)
		} else {
			v, n = protowire.ConsumeBytes(b)
		}
		if n < 0 {
			return badFrame("field %d: %v", num, protowire.ParseError(n))
		}
		b = b[n:]
		if err := f(num, v, vi); err != nil {
			return err
		}
	}
	return nil
}

func fixed32(dst *[32]byte, name string, v []byte) error {
	if len(v) != len(dst) {
		return badFrame("%s is %d bytes, want %d", name, len(v), len(dst))
	}
	copy(dst[:], v)
	return nil
}

func checkEnvelope(n int) error {
	if n == 0 || n > MaxEnvelope {
		return badFrame("envelope of %d bytes (1 to %d)", n, MaxEnvelope)
	}
	return nil
}

func checkExpires(v uint64) (int64, error) {
	if v == 0 || v > math.MaxInt64 {
		return 0, badFrame("expiry %d out of range", v)
	}
	return int64(v), nil
}

// parseFrame decodes any frame body and checks it against its kind.
func parseFrame(b []byte) (*frame, error) {
	f := &frame{}
	var version uint64
	var seen uint32
	err := walk(b, lastField, func(num protowire.Number) protowire.Type { return wireTypes[num] },
		func(num protowire.Number, v []byte, vi uint64) (err error) {
			if seen&bit(num) != 0 && num != fID && num != fItem && num != fRelease && num != fTomb {
				return badFrame("field %d repeated", num)
			}
			seen |= bit(num)
			switch num {
			case fVersion:
				version = vi
			case fKind:
				f.kind = kind(vi)
			case fAddress:
				err = fixed32((*[32]byte)(&f.address), "address", v)
			case fEnvelope:
				f.envelope, err = v, checkEnvelope(len(v))
			case fTTL:
				f.ttl = vi
			case fExpires:
				f.expires, err = checkExpires(vi)
			case fID:
				if len(f.ids) == maxAckIDs {
					return badFrame("more than %d ids", maxAckIDs)
				}
				var id [32]byte
				err = fixed32(&id, "id", v)
				f.ids = append(f.ids, id)
			case fLimit:
				f.limit = vi
			case fCursor:
				f.hasCursor, err = true, fixed32(&f.cursor, "cursor", v)
			case fNonce:
				err = fixed32(&f.nonce, "nonce", v)
			case fPub:
				if len(v) != ed25519.PublicKeySize {
					return badFrame("public key is %d bytes, want %d", len(v), ed25519.PublicKeySize)
				}
				f.pub = v
			case fSig:
				if len(v) != ed25519.SignatureSize {
					return badFrame("signature is %d bytes, want %d", len(v), ed25519.SignatureSize)
				}
				f.sig = v
			case fItem:
				if len(f.items) == maxPageItems {
					return badFrame("more than %d items", maxPageItems)
				}
				var it Held
				it, err = parseItem(v)
				f.items = append(f.items, it)
			case fMore:
				if vi > 1 {
					return badFrame("more is %d", vi)
				}
				f.more = vi == 1
			case fCode:
				f.code = vi
			case fMessage:
				if len(v) > maxMessage {
					return badFrame("message of %d bytes, over %d", len(v), maxMessage)
				}
				f.message = string(v)
			case fRetry:
				f.retry = vi
			case fRelease:
				if len(f.releases) == maxAckIDs {
					return badFrame("more than %d releases", maxAckIDs)
				}
				if len(v) != releaseSize {
					return badFrame("release is %d bytes, want %d", len(v), releaseSize)
				}
				f.releases = append(f.releases, v)
			case fTomb:
				if len(f.tombs) == maxReleaseItems {
					return badFrame("more than %d tombstones", maxReleaseItems)
				}
				var t tombstone
				t, err = parseTombstone(v)
				f.tombs = append(f.tombs, t)
			}
			return err
		})
	if err != nil {
		return nil, err
	}
	if version != frameVersion {
		return nil, badFrame("version %d, want %d", version, frameVersion)
	}
	spec, ok := kindFields[f.kind]
	if !ok {
		return nil, badFrame("unknown kind %d", uint64(f.kind))
	}
	seen &^= bit(fVersion) | bit(fKind)
	if extra := seen &^ (spec.required | spec.optional); extra != 0 {
		return nil, badFrame("%v with fields it does not carry (%b)", f.kind, extra)
	}
	if missing := spec.required &^ seen; missing != 0 {
		return nil, badFrame("%v without required fields (%b)", f.kind, missing)
	}
	if f.kind == kindOK && (len(f.ids) > 1 || (len(f.ids) == 1) != (seen&bit(fExpires) != 0)) {
		return nil, badFrame("OK carries one id with its expiry, or neither")
	}
	if f.kind == kindOK && (len(f.releases) > 1 || (len(f.releases) == 1) != (f.pub != nil) || (len(f.releases) == 1 && len(f.ids) != 1)) {
		return nil, badFrame("OK carries one release with its public key and id, or none")
	}
	if f.kind == kindAck && len(f.releases) != 0 && len(f.releases) != len(f.ids) {
		return nil, badFrame("ACK with %d releases for %d ids", len(f.releases), len(f.ids))
	}
	return f, nil
}

func parseItem(b []byte) (Held, error) {
	var it Held
	var seen uint32
	err := walk(b, 3, func(num protowire.Number) protowire.Type {
		if num == 3 {
			return protowire.VarintType
		}
		return protowire.BytesType
	}, func(num protowire.Number, v []byte, vi uint64) (err error) {
		if seen&bit(num) != 0 {
			return badFrame("item field %d repeated", num)
		}
		seen |= bit(num)
		switch num {
		case 1:
			err = fixed32(&it.ID, "item id", v)
		case 2:
			it.Envelope, err = v, checkEnvelope(len(v))
		case 3:
			var ms int64
			ms, err = checkExpires(vi)
			it.Expires = time.UnixMilli(ms)
		}
		return err
	})
	if err != nil {
		return it, err
	}
	if seen != bit(1)|bit(2)|bit(3) {
		return it, badFrame("item without id, envelope or expiry")
	}
	return it, nil
}

func parseTombstone(b []byte) (tombstone, error) {
	var t tombstone
	var seen uint32
	err := walk(b, 3, func(num protowire.Number) protowire.Type {
		if num == 2 {
			return protowire.VarintType
		}
		return protowire.BytesType
	}, func(num protowire.Number, v []byte, vi uint64) (err error) {
		if seen&bit(num) != 0 {
			return badFrame("tombstone field %d repeated", num)
		}
		seen |= bit(num)
		switch num {
		case 1:
			err = fixed32(&t.id, "tombstone id", v)
		case 2:
			t.expires, err = checkExpires(vi)
		case 3:
			if len(v) != releaseSize {
				return badFrame("release is %d bytes, want %d", len(v), releaseSize)
			}
			t.release = v
		}
		return err
	})
	if err != nil {
		return t, err
	}
	if seen != bit(1)|bit(2)|bit(3) {
		return t, badFrame("tombstone without id, expiry or release")
	}
	return t, nil
}

// decodeClientFrame decodes what a client sends: a request or a proof.
func decodeClientFrame(b []byte) (*frame, error) {
	f, err := parseFrame(b)
	if err != nil {
		return nil, err
	}
	switch f.kind {
	case kindDeposit, kindFetch, kindAck, kindReplicate, kindProof, kindRelease:
		return f, nil
	}
	return nil, badFrame("%v from a client", f.kind)
}

// decodeServerFrame decodes what a holder sends: a challenge or an answer.
func decodeServerFrame(b []byte) (*frame, error) {
	f, err := parseFrame(b)
	if err != nil {
		return nil, err
	}
	switch f.kind {
	case kindChallenge, kindOK, kindEnvelopes, kindError:
		return f, nil
	}
	return nil, badFrame("%v from a holder", f.kind)
}

// errOversize marks a frame longer than the reader's limit.
var errOversize = framing.ErrOversize

// readFrame reads one length-prefixed frame body of at most max bytes
// (see package frame). A stream that ends cleanly before the length gives
// io.EOF.
func readFrame(r *bufio.Reader, max int) ([]byte, error) {
	b, err := framing.Read(r, max)
	if errors.Is(err, framing.ErrMalformed) {
		return nil, fmt.Errorf("%w: %w", ErrBadFrame, err)
	}
	return b, err
}

// writeFrame writes f with its length prefix in one write.
func writeFrame(w io.Writer, f *frame) error {
	body := f.marshal()
	out := protowire.AppendVarint(make([]byte, 0, len(body)+binary.MaxVarintLen64), uint64(len(body)))
	_, err := w.Write(append(out, body...))
	return err
}

// Proof domains; see doc.go.
const (
	fetchDomain = "discordopus/mailbox/v1/fetch"
	ackDomain   = "discordopus/mailbox/v1/ack"
)

// releaseDomain labels a release: the recipient's signature that says an
// envelope was delivered and may be deleted at every holder.
const releaseDomain = "discordopus/mailbox/v1/release"

// releaseMessage is what a release signs. It names no holder and no nonce:
// unlike a proof, it is meant to be carried from holder to holder.
func releaseMessage(addr Address, id [32]byte) []byte {
	m := make([]byte, 0, len(releaseDomain)+1+2*32)
	m = append(m, releaseDomain...)
	m = append(m, 0)
	m = append(m, addr[:]...)
	return append(m, id[:]...)
}

// verifyRelease checks a release by pub, which must own addr.
func verifyRelease(pub []byte, addr Address, id [32]byte, release []byte) bool {
	return len(pub) == ed25519.PublicKeySize && len(release) == releaseSize &&
		addressOf(pub) == addr && ed25519.Verify(pub, releaseMessage(addr, id), release)
}

// proofMessage is what a FETCH or ACK proof signs.
func proofMessage(k kind, holder peer.ID, nonce [32]byte, addr Address, ids [][32]byte) []byte {
	domain := fetchDomain
	if k == kindAck {
		domain = ackDomain
	}
	m := make([]byte, 0, len(domain)+1+binary.MaxVarintLen64+len(holder)+2*32+len(ids)*idSize)
	m = append(m, domain...)
	m = append(m, 0)
	m = binary.AppendUvarint(m, uint64(len(holder)))
	m = append(m, holder...)
	m = append(m, nonce[:]...)
	m = append(m, addr[:]...)
	if k == kindAck {
		for _, id := range ids {
			m = append(m, id[:]...)
		}
	}
	return m
}

// Stored records (doc.go, "Storage"): version || expires || payload.
const (
	storedVersion = 1
	storedHeader  = 1 + 8
)

// errBadRecord is a stored record this version cannot read.
var errBadRecord = errors.New("mailbox: unreadable stored record")

func encodeStored(expires int64, payload []byte) []byte {
	b := make([]byte, storedHeader, storedHeader+len(payload))
	b[0] = storedVersion
	binary.BigEndian.PutUint64(b[1:], uint64(expires))
	return append(b, payload...)
}

// decodeStored reads a stored record: its expiry (Unix ms) and payload,
// which aliases b.
func decodeStored(b []byte) (expires int64, payload []byte, err error) {
	if len(b) < storedHeader || len(b) > storedHeader+MaxEnvelope {
		return 0, nil, fmt.Errorf("%w: %d bytes", errBadRecord, len(b))
	}
	if b[0] != storedVersion {
		return 0, nil, fmt.Errorf("%w: version %d", errBadRecord, b[0])
	}
	e := binary.BigEndian.Uint64(b[1:storedHeader])
	if e == 0 || e > math.MaxInt64 {
		return 0, nil, fmt.Errorf("%w: expiry %d", errBadRecord, e)
	}
	return int64(e), b[storedHeader:], nil
}

// decodeIndex reads a mailbox-index record: expiry and envelope length.
func decodeIndex(b []byte) (expires int64, size int, err error) {
	expires, p, err := decodeStored(b)
	if err != nil {
		return 0, 0, err
	}
	if len(p) != 4 {
		return 0, 0, fmt.Errorf("%w: index payload of %d bytes", errBadRecord, len(p))
	}
	size = int(binary.BigEndian.Uint32(p))
	if size == 0 || size > MaxEnvelope {
		return 0, 0, fmt.Errorf("%w: envelope size %d", errBadRecord, size)
	}
	return expires, size, nil
}

func encodeIndex(expires int64, size int) []byte {
	return encodeStored(expires, binary.BigEndian.AppendUint32(nil, uint32(size)))
}
