package dht

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	record "github.com/libp2p/go-libp2p-record"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"google.golang.org/protobuf/encoding/protowire"
)

// MaxRecordSize bounds an encoded SignedRecord; larger values are refused
// before they are decoded.
const MaxRecordSize = 16 << 10

const (
	recordVersion = 1
	recordDomain  = "discordopus/dht-record/v1"
)

// SignedRecord is a value published by the owner of a record key.
type SignedRecord struct {
	Seq       uint64
	Payload   []byte
	Signature []byte
}

var (
	// ErrBadRecord is a record that is malformed, too large, or not signed
	// by the PeerID in its key.
	ErrBadRecord = errors.New("invalid DHT record")
)

// RecordKey is the DHT key of owner's record in namespace.
func RecordKey(namespace string, owner peer.ID) string {
	return "/" + namespace + "/" + string(owner)
}

// SignedNamespace validates the records of one namespace: signed by the
// owner named in the key, the highest sequence number wins.
type SignedNamespace struct {
	// MaxPayload bounds a record's payload (at most MaxRecordSize).
	MaxPayload int
	// Check, if set, validates the payload itself.
	Check func(owner peer.ID, payload []byte) error
}

var _ record.Validator = SignedNamespace{}

// Validate accepts value under key only if it is a well-formed record signed
// by the key's owner with a payload the namespace accepts.
func (v SignedNamespace) Validate(key string, value []byte) error {
	owner, rec, err := openRecord(key, value, v.maxPayload())
	if err != nil {
		return err
	}
	if v.Check != nil {
		if err := v.Check(owner, rec.Payload); err != nil {
			return fmt.Errorf("%w: payload: %w", ErrBadRecord, err)
		}
	}
	return nil
}

// Select picks the record with the highest sequence number; ties go to the
// larger encoded value so that every node chooses the same one.
func (v SignedNamespace) Select(key string, values [][]byte) (int, error) {
	best, bestRec := -1, SignedRecord{}
	for i, val := range values {
		_, rec, err := openRecord(key, val, v.maxPayload())
		if err != nil {
			continue
		}
		if best < 0 || rec.Seq > bestRec.Seq ||
			(rec.Seq == bestRec.Seq && bytes.Compare(val, values[best]) > 0) {
			best, bestRec = i, rec
		}
	}
	if best < 0 {
		return 0, fmt.Errorf("%w: no valid record among %d", ErrBadRecord, len(values))
	}
	return best, nil
}

func (v SignedNamespace) maxPayload() int {
	if v.MaxPayload <= 0 || v.MaxPayload > MaxRecordSize {
		return MaxRecordSize
	}
	return v.MaxPayload
}

// SignRecord encodes payload as the seq-th record of priv's owner in
// namespace.
func SignRecord(priv crypto.PrivKey, namespace string, seq uint64, payload []byte) ([]byte, error) {
	owner, err := peer.IDFromPrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("sign record: %w", err)
	}
	sig, err := priv.Sign(signingInput(RecordKey(namespace, owner), seq, payload))
	if err != nil {
		return nil, fmt.Errorf("sign record: %w", err)
	}
	rec := SignedRecord{Seq: seq, Payload: payload, Signature: sig}
	b := rec.marshal()
	if len(b) > MaxRecordSize {
		return nil, fmt.Errorf("sign record: %d bytes exceeds the %d-byte limit", len(b), MaxRecordSize)
	}
	return b, nil
}

// OpenRecord checks value as the record stored under key and returns it.
func OpenRecord(key string, value []byte) (SignedRecord, error) {
	_, rec, err := openRecord(key, value, MaxRecordSize)
	return rec, err
}

func openRecord(key string, value []byte, maxPayload int) (peer.ID, SignedRecord, error) {
	if len(value) > MaxRecordSize {
		return "", SignedRecord{}, fmt.Errorf("%w: %d bytes exceeds %d", ErrBadRecord, len(value), MaxRecordSize)
	}
	_, ownerBytes, err := record.SplitKey(key)
	if err != nil {
		return "", SignedRecord{}, fmt.Errorf("%w: key: %w", ErrBadRecord, err)
	}
	owner, err := peer.IDFromBytes([]byte(ownerBytes))
	if err != nil {
		return "", SignedRecord{}, fmt.Errorf("%w: key does not name a peer", ErrBadRecord)
	}
	pub, err := owner.ExtractPublicKey()
	if err != nil {
		return "", SignedRecord{}, fmt.Errorf("%w: owner key not embedded in its PeerID: %w", ErrBadRecord, err)
	}
	// Ed25519 signatures cannot be altered into other valid ones (ECDSA's
	// can), which with the canonical encoding below makes a record's bytes
	// unique: no one but the owner can mint a second valid copy.
	if pub.Type() != crypto.Ed25519 {
		return "", SignedRecord{}, fmt.Errorf("%w: owner key is %s, want Ed25519", ErrBadRecord, pub.Type())
	}
	rec, err := unmarshalRecord(value)
	if err != nil {
		return "", SignedRecord{}, err
	}
	if !bytes.Equal(rec.marshal(), value) {
		return "", SignedRecord{}, fmt.Errorf("%w: not in canonical encoding", ErrBadRecord)
	}
	if len(rec.Payload) > maxPayload {
		return "", SignedRecord{}, fmt.Errorf("%w: payload of %d bytes exceeds %d", ErrBadRecord, len(rec.Payload), maxPayload)
	}
	ok, err := pub.Verify(signingInput(key, rec.Seq, rec.Payload), rec.Signature)
	if err != nil || !ok {
		return "", SignedRecord{}, fmt.Errorf("%w: signature does not match the owner %s", ErrBadRecord, owner)
	}
	return owner, rec, nil
}

func signingInput(key string, seq uint64, payload []byte) []byte {
	b := make([]byte, 0, len(recordDomain)+len(key)+10+len(payload))
	b = append(b, recordDomain...)
	b = append(b, 0)
	b = append(b, key...)
	b = append(b, 0)
	b = binary.BigEndian.AppendUint64(b, seq)
	return append(b, payload...)
}

func (r SignedRecord) marshal() []byte {
	var b []byte
	b = protowire.AppendTag(b, 1, protowire.VarintType)
	b = protowire.AppendVarint(b, recordVersion)
	b = protowire.AppendTag(b, 2, protowire.VarintType)
	b = protowire.AppendVarint(b, r.Seq)
	b = protowire.AppendTag(b, 3, protowire.BytesType)
	b = protowire.AppendBytes(b, r.Payload)
	b = protowire.AppendTag(b, 4, protowire.BytesType)
	return protowire.AppendBytes(b, r.Signature)
}

// unmarshalRecord decodes the wire form. Unknown fields are an error: a
// signed record has nothing optional to skip.
func unmarshalRecord(b []byte) (SignedRecord, error) {
	var r SignedRecord
	var version uint64
	seen := 0
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return r, fmt.Errorf("%w: %w", ErrBadRecord, protowire.ParseError(n))
		}
		b = b[n:]
		bit := 1 << num
		if num < 1 || num > 4 || seen&bit != 0 {
			return r, fmt.Errorf("%w: unexpected or repeated field %d", ErrBadRecord, num)
		}
		seen |= bit
		switch {
		case (num == 1 || num == 2) && typ == protowire.VarintType:
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return r, fmt.Errorf("%w: %w", ErrBadRecord, protowire.ParseError(n))
			}
			b = b[n:]
			if num == 1 {
				version = v
			} else {
				r.Seq = v
			}
		case (num == 3 || num == 4) && typ == protowire.BytesType:
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return r, fmt.Errorf("%w: %w", ErrBadRecord, protowire.ParseError(n))
			}
			b = b[n:]
			if num == 3 {
				r.Payload = v
			} else {
				r.Signature = v
			}
		default:
			return r, fmt.Errorf("%w: field %d has wire type %d", ErrBadRecord, num, typ)
		}
	}
	if version != recordVersion {
		return r, fmt.Errorf("%w: version %d, want %d", ErrBadRecord, version, recordVersion)
	}
	if seen != 0b11110 {
		return r, fmt.Errorf("%w: missing fields", ErrBadRecord)
	}
	return r, nil
}

// PutSigned publishes payload as this node's record in namespace.
func (d *DHT) PutSigned(ctx context.Context, namespace string, seq uint64, payload []byte) error {
	priv := d.host.Peerstore().PrivKey(d.host.ID())
	if priv == nil {
		return errors.New("put record: host has no private key")
	}
	value, err := SignRecord(priv, namespace, seq, payload)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, d.opts.FindPeerTimeout)
	defer cancel()
	if err := d.kad.PutValue(ctx, RecordKey(namespace, d.host.ID()), value); err != nil {
		return fmt.Errorf("put %s record: %w", namespace, err)
	}
	return nil
}

// GetSigned fetches owner's newest record in namespace.
func (d *DHT) GetSigned(ctx context.Context, namespace string, owner peer.ID) (SignedRecord, error) {
	ctx, cancel := context.WithTimeout(ctx, d.opts.FindPeerTimeout)
	defer cancel()
	key := RecordKey(namespace, owner)
	value, err := d.kad.GetValue(ctx, key)
	if err != nil {
		return SignedRecord{}, fmt.Errorf("get %s record of %s: %w", namespace, owner, err)
	}
	return OpenRecord(key, value)
}
