package e2e

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"

	"google.golang.org/protobuf/encoding/protowire"
)

// Safety numbers, specified: referred to from doc.go.
//
// Two contacts verify each other as Signal users do: by comparing a 60-digit
// safety number read aloud or side by side, or by scanning a QR code. The
// computation is libsignal's (rust/protocol/src/fingerprint.rs), checked
// against its test vectors; only the inputs are ours.
//
// Per party, a 64-byte logical fingerprint:
//
//	h = version (2 bytes, 0x0000) || key || stableID
//	5200 times: h = SHA-512(h || key)
//
// Its first 30 bytes, as six 5-byte big-endian integers each taken mod
// 100000 and written as 5 decimal digits, are the party's 30 digits. The
// safety number is the two parties' digit strings, the smaller (as a string)
// first, so both sides show the same 60 digits. [FormatSafetyNumber] groups
// them in 12 blocks of 5.
//
// Inputs. key is the party's Ed25519 identity in libp2p's protobuf public
// key encoding, 08 01 12 20 || the 32-byte key (crypto.MarshalPublicKey):
// these are exactly the bytes its PeerID commits to, they carry the key type
// (an Ed25519 key can never collide with the bytes of another key type), and
// every libp2p implementation encodes the key this way. stableID is the
// PeerID in its binary form (the identity multihash 00 24 || key, which
// peer.ID holds as a string), not its base58 text, so that the input has a
// single spelling. The PeerID repeats the key, which costs nothing; it is
// there so that the construction stays libsignal's, where the stable ID is
// what the user knows the contact by. A Peer whose PeerID is not the one of
// its key is refused rather than fingerprinted.
//
// Scannable code. The QR code carries libsignal's CombinedFingerprints
// protobuf:
//
//	message LogicalFingerprint   { bytes content = 1; }      // 32 bytes
//	message CombinedFingerprints {
//	  uint32             version            = 1;
//	  LogicalFingerprint local_fingerprint  = 2;  // the shower's own
//	  LogicalFingerprint remote_fingerprint = 3;  // the shower's contact's
//	}
//
// with the first 32 bytes of each logical fingerprint. The version is
// SafetyNumberVersion (0x444F0001: "DO", scheme 1), not one of Signal's
// (1, 2), because our inputs differ: a Signal code scanned by us (or ours by
// Signal) reports a version mismatch instead of "no match", which would
// suggest an attack. The scanner accepts a payload of at most
// maxSafetyNumberQR bytes, skips unknown fields (protobuf rules), checks the
// version first ([ErrSafetyNumberVersion]), then requires both fingerprints
// ([ErrSafetyNumberQR] otherwise) and compares, in constant time, their local
// with our remote and their remote with our local.

// SafetyNumberVersion is the version in our scannable safety number codes.
const SafetyNumberVersion uint32 = 0x444F0001

const (
	// safetyNumberIterations is libsignal's (and Signal's) iteration count.
	safetyNumberIterations = 5200
	// safetyNumberDigits is the length of one party's half.
	safetyNumberDigits = 30
	// scannableLen is how much of a logical fingerprint a QR code carries.
	scannableLen = 32
	// maxSafetyNumberQR bounds a scanned payload; ours are 78 bytes.
	maxSafetyNumberQR = 1024
)

var (
	// ErrSafetyNumberVersion: the scanned code is of another version
	// (another app, or another version of ours). It says nothing about
	// whether the keys match.
	ErrSafetyNumberVersion = errors.New("safety number code is of another version")
	// ErrSafetyNumberQR: the scanned bytes are not a safety number code.
	ErrSafetyNumberQR = errors.New("not a safety number code")
)

// SafetyNumber is the 60-digit safety number of local and remote: the same
// for both of them, whoever computes it.
func SafetyNumber(local, remote Peer) (string, error) {
	l, r, err := safetyNumberFingerprints(local, remote)
	if err != nil {
		return "", err
	}
	return displayableFingerprint(l, r), nil
}

// SafetyNumberQR is the payload of the QR code that local shows to remote.
func SafetyNumberQR(local, remote Peer) ([]byte, error) {
	l, r, err := safetyNumberFingerprints(local, remote)
	if err != nil {
		return nil, err
	}
	return scannableFingerprint{version: SafetyNumberVersion, local: l[:scannableLen], remote: r[:scannableLen]}.marshal(), nil
}

// CompareSafetyNumberQR reports whether scanned, the code that remote shows,
// is the one remote would show local when neither key is substituted. An
// error wrapping ErrSafetyNumberVersion means the code is of another version;
// ErrSafetyNumberQR, that it is not a safety number code at all.
func CompareSafetyNumberQR(local, remote Peer, scanned []byte) (bool, error) {
	l, r, err := safetyNumberFingerprints(local, remote)
	if err != nil {
		return false, err
	}
	ours := scannableFingerprint{version: SafetyNumberVersion, local: l[:scannableLen], remote: r[:scannableLen]}
	return ours.compare(scanned)
}

// FormatSafetyNumber groups a safety number's digits in blocks of five
// separated by spaces: 12 blocks for 60 digits. Anything but ASCII digits
// (spaces from an earlier formatting, say) is dropped first.
func FormatSafetyNumber(s string) string {
	digits := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if '0' <= s[i] && s[i] <= '9' {
			digits = append(digits, s[i])
		}
	}
	var b strings.Builder
	b.Grow(len(digits) + len(digits)/5)
	for i := 0; i < len(digits); i += 5 {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.Write(digits[i:min(i+5, len(digits))])
	}
	return b.String()
}

func safetyNumberFingerprints(local, remote Peer) (l, r []byte, err error) {
	lk, err := safetyNumberKey(local)
	if err != nil {
		return nil, nil, fmt.Errorf("safety number: local: %w", err)
	}
	rk, err := safetyNumberKey(remote)
	if err != nil {
		return nil, nil, fmt.Errorf("safety number: remote: %w", err)
	}
	return logicalFingerprint(safetyNumberIterations, lk, local.PeerID),
		logicalFingerprint(safetyNumberIterations, rk, remote.PeerID), nil
}

// libp2p's protobuf encoding of an Ed25519 public key is this header (field 1
// KeyType = 1 (Ed25519), field 2 Data, 32 bytes) and the key; the binary
// PeerID of such a key is the identity multihash (code 0, length 36) of it.
var (
	libp2pEd25519Header = []byte{0x08, 0x01, 0x12, 0x20}
	identityMultihash36 = []byte{0x00, 0x24}
)

// safetyNumberKey returns p's key in libp2p's protobuf encoding, after
// checking that p.PeerID is the PeerID of that key.
func safetyNumberKey(p Peer) ([]byte, error) {
	if len(p.Key) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("identity key is %d bytes, want %d", len(p.Key), ed25519.PublicKeySize)
	}
	key := append(bytes.Clone(libp2pEd25519Header), p.Key...)
	if !bytes.Equal(p.PeerID, append(bytes.Clone(identityMultihash36), key...)) {
		return nil, errors.New("PeerID is not the binary PeerID of the identity key")
	}
	return key, nil
}

// logicalFingerprint is libsignal's per-party fingerprint of key and
// stableID, for any byte strings.
func logicalFingerprint(iterations int, key, stableID []byte) []byte {
	buf := make([]byte, 0, sha512.Size+len(key)+len(stableID)+2)
	buf = append(buf, 0, 0) // fingerprint format version 0
	buf = append(buf, key...)
	buf = append(buf, stableID...)
	for range iterations {
		buf = append(buf, key...)
		sum := sha512.Sum512(buf)
		buf = append(buf[:0], sum[:]...)
	}
	return buf
}

// fingerprintDigits is one party's 30 digits: six 5-byte big-endian chunks,
// each mod 100000.
func fingerprintDigits(fp []byte) string {
	var b strings.Builder
	b.Grow(safetyNumberDigits)
	for i := range safetyNumberDigits / 5 {
		var chunk [8]byte
		copy(chunk[3:], fp[5*i:5*i+5])
		fmt.Fprintf(&b, "%05d", binary.BigEndian.Uint64(chunk[:])%100000)
	}
	return b.String()
}

// displayableFingerprint is the 60-digit number of two logical
// fingerprints: the smaller digit string first.
func displayableFingerprint(local, remote []byte) string {
	l, r := fingerprintDigits(local), fingerprintDigits(remote)
	if l < r {
		return l + r
	}
	return r + l
}

// scannableFingerprint is a CombinedFingerprints message.
type scannableFingerprint struct {
	version       uint32
	local, remote []byte
}

func (s scannableFingerprint) marshal() []byte {
	var b []byte
	b = protowire.AppendTag(b, 1, protowire.VarintType)
	b = protowire.AppendVarint(b, uint64(s.version))
	for i, fp := range [][]byte{s.local, s.remote} {
		var inner []byte
		inner = protowire.AppendTag(inner, 1, protowire.BytesType)
		inner = protowire.AppendBytes(inner, fp)
		b = protowire.AppendTag(b, protowire.Number(2+i), protowire.BytesType)
		b = protowire.AppendBytes(b, inner)
	}
	return b
}

// parseScannableFingerprint decodes a CombinedFingerprints message by
// protobuf's rules: unknown fields are skipped, a repeated field's last
// value wins. Absent fields are nil (version 0); the caller decides what
// is required.
func parseScannableFingerprint(b []byte) (scannableFingerprint, error) {
	var s scannableFingerprint
	if len(b) > maxSafetyNumberQR {
		return s, fmt.Errorf("%w: %d bytes exceeds %d", ErrSafetyNumberQR, len(b), maxSafetyNumberQR)
	}
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return s, fmt.Errorf("%w: %w", ErrSafetyNumberQR, protowire.ParseError(n))
		}
		b = b[n:]
		switch {
		case num == 1 && typ == protowire.VarintType:
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return s, fmt.Errorf("%w: %w", ErrSafetyNumberQR, protowire.ParseError(n))
			}
			if v > math.MaxUint32 {
				return s, fmt.Errorf("%w: version %d out of range", ErrSafetyNumberQR, v)
			}
			s.version = uint32(v)
			b = b[n:]
		case (num == 2 || num == 3) && typ == protowire.BytesType:
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return s, fmt.Errorf("%w: %w", ErrSafetyNumberQR, protowire.ParseError(n))
			}
			content, err := parseLogicalFingerprint(v)
			if err != nil {
				return s, err
			}
			if num == 2 {
				s.local = content
			} else {
				s.remote = content
			}
			b = b[n:]
		case num == 1 || num == 2 || num == 3:
			return s, fmt.Errorf("%w: field %d has wire type %d", ErrSafetyNumberQR, num, typ)
		default:
			n := protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return s, fmt.Errorf("%w: %w", ErrSafetyNumberQR, protowire.ParseError(n))
			}
			b = b[n:]
		}
	}
	return s, nil
}

// parseLogicalFingerprint returns the content of a LogicalFingerprint
// message, non-nil if the field is present (even empty).
func parseLogicalFingerprint(b []byte) ([]byte, error) {
	var content []byte
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, fmt.Errorf("%w: %w", ErrSafetyNumberQR, protowire.ParseError(n))
		}
		b = b[n:]
		if num == 1 {
			if typ != protowire.BytesType {
				return nil, fmt.Errorf("%w: fingerprint content has wire type %d", ErrSafetyNumberQR, typ)
			}
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return nil, fmt.Errorf("%w: %w", ErrSafetyNumberQR, protowire.ParseError(n))
			}
			content = append([]byte{}, v...)
			b = b[n:]
			continue
		}
		n = protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			return nil, fmt.Errorf("%w: %w", ErrSafetyNumberQR, protowire.ParseError(n))
		}
		b = b[n:]
	}
	return content, nil
}

// compare reports whether scanned is the code of the other side of s: its
// local fingerprint is our remote one and the other way round.
func (s scannableFingerprint) compare(scanned []byte) (bool, error) {
	theirs, err := parseScannableFingerprint(scanned)
	if err != nil {
		return false, err
	}
	if theirs.version != s.version {
		return false, fmt.Errorf("%w: theirs %#x, ours %#x", ErrSafetyNumberVersion, theirs.version, s.version)
	}
	if theirs.local == nil || theirs.remote == nil {
		return false, fmt.Errorf("%w: a fingerprint is missing", ErrSafetyNumberQR)
	}
	same1 := subtle.ConstantTimeCompare(theirs.local, s.remote)
	same2 := subtle.ConstantTimeCompare(theirs.remote, s.local)
	return same1&same2 == 1, nil
}
