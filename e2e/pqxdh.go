package e2e

import (
	"bytes"
	"crypto/ecdh"
	"crypto/mlkem"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"golang.org/x/crypto/chacha20poly1305"
)

// DefaultMaxPrekeyAge is how long after its creation a signed-prekey
// generation may be used to accept initial messages, unless
// Local.MaxPrekeyAge says otherwise: a rotation period of 7 days plus the
// 28-day grace period that covers a 14-day mailbox TTL twice over. Replay-cache
// entries can be dropped at Received.ReplayUntil = Created + this age.
const DefaultMaxPrekeyAge = 35 * 24 * time.Hour

// maxTrialPrekeys bounds the generations tried per initial message.
const maxTrialPrekeys = 8

// PrekeyLookup is what the receiver of an initial message consults.
type PrekeyLookup interface {
	SignedPrekeys() []*Prekeys              // newest first; every generation still in its grace period
	OneTimePrekey(id uint32) *OneTimePrekey // nil if unknown or already consumed
}

// ReplayCache says whether an initial message was already accepted. The
// caller records Received.ReplayID after it committed the result.
type ReplayCache interface {
	Seen(id [32]byte) bool
}

// Local is the local party's keys and environment.
type Local struct {
	Identity Identity
	Prekeys  PrekeyLookup // needed to receive initial messages
	Replay   ReplayCache  // needed to receive initial messages
	Rand     io.Reader    // nil means crypto/rand
	// MaxPrekeyAge: generations older than this are not tried; 0 means
	// DefaultMaxPrekeyAge.
	MaxPrekeyAge time.Duration
}

func (l *Local) rand() io.Reader {
	if l.Rand != nil {
		return l.Rand
	}
	return rand.Reader
}

func (l *Local) maxPrekeyAge() time.Duration {
	if l.MaxPrekeyAge > 0 {
		return l.MaxPrekeyAge
	}
	return DefaultMaxPrekeyAge
}

func (l *Local) self() (Peer, error) {
	p := l.Identity.Public()
	if err := p.check(); err != nil {
		return Peer{}, fmt.Errorf("local identity: %w", err)
	}
	return p, nil
}

// Layout of an initial message (see doc.go).
const (
	initEKOff      = 2
	initCTOff      = initEKOff + x25519Size   // 34
	initNonceOff   = initCTOff + kemCTSize    // 1602
	initEnvOff     = initNonceOff + 24        // 1626
	envFixedSize   = identitySize + 1 + 1 + 4 // key, PeerID length, flags, one-time ID (+ PeerID)
	minInitialSize = initEnvOff + envFixedSize + 1 + minNormalSize + tagSize
	maxInitialSize = initEnvOff + envFixedSize + MaxPeerIDSize + maxNormalSize + tagSize
	// MaxMessageSize is the largest message Decrypt accepts.
	MaxMessageSize = maxInitialSize
)

// kemEncapsulate is ML-KEM encapsulation. crypto/mlkem draws its own
// randomness; tests replace this with a derandomized encapsulation
// (crypto/mlkem/mlkemtest) fed from Local.Rand, for reproducible sessions.
var kemEncapsulate = func(k *mlkem.EncapsulationKey1024, _ io.Reader) (ss, ct []byte) {
	return k.Encapsulate()
}

// IsInitial reports whether msg is an initial (prekey) message, which starts
// or restarts a session. It looks only at the version and type bytes.
func IsInitial(msg []byte) bool {
	return len(msg) >= 2 && msg[0] == Version && msg[1] == typeInitial
}

func replayID(ek, ct []byte) [32]byte {
	h := sha256.New()
	h.Write([]byte(labelReplayID))
	h.Write(ek)
	h.Write(ct)
	var id [32]byte
	h.Sum(id[:0])
	return id
}

var discontinuity = bytes.Repeat([]byte{0xff}, 32)

// envelopeKey keys the sealed part of initial messages. It needs only
// DH(EK, SPK) and the KEM secret, so the receiver can open it before it
// knows the sender.
func envelopeKey(dh3, ss []byte, rid *[32]byte) (k [32]byte) {
	ikm := make([]byte, 0, 32+len(dh3)+len(ss))
	ikm = append(append(append(ikm, discontinuity...), dh3...), ss...)
	out := hkdfKeys(ikm, labelEnvelope+string(rid[:]), 1)
	copy(k[:], out)
	clear(ikm)
	clear(out)
	return k
}

// deriveSK is PQXDH's KDF: HKDF-SHA256(salt = 32 zero bytes, ikm = 0xFF*32 ||
// DH1 || DH2 || DH3 [|| DH4] || SS, info = labelPQXDH), 32 bytes.
func deriveSK(dh1, dh2, dh3, dh4, ss []byte) []byte {
	ikm := make([]byte, 0, 32*6)
	ikm = append(ikm, discontinuity...)
	ikm = append(append(append(ikm, dh1...), dh2...), dh3...)
	ikm = append(append(ikm, dh4...), ss...)
	sk := hkdfKeys(ikm, labelPQXDH, 1)
	clear(ikm)
	return sk
}

// initRatchet derives the first root key and the two initial header keys
// from SK: (RK, -) = HKDF(SK, "WhisperText") as libsignal's derive_keys (the
// chain key is unused: neither side ever sends on the signed prekey's
// chain), and HKa || NHKb = HKDF(SK, labelHeaderKeys).
func initRatchet(sk []byte) (rk, hka, nhkb [32]byte) {
	rk, ck := deriveRootChain(sk, labelText)
	clear(ck[:])
	hk := hkdfKeys(sk, labelHeaderKeys, 2)
	copy(hka[:], hk[:32])
	copy(nhkb[:], hk[32:])
	clear(hk)
	return rk, hka, nhkb
}

// adHash binds the protocol version, the sender's and the receiver's identity
// keys and PeerIDs, and the initial exchange of the state.
func adHash(sender, receiver Peer, initID *[32]byte) (h [32]byte) {
	d := sha256.New()
	d.Write([]byte(labelAD))
	d.Write([]byte{Version})
	d.Write(sender.Key)
	d.Write([]byte{byte(len(sender.PeerID))})
	d.Write(sender.PeerID)
	d.Write(receiver.Key)
	d.Write([]byte{byte(len(receiver.PeerID))})
	d.Write(receiver.PeerID)
	d.Write(initID[:])
	d.Sum(h[:0])
	return h
}

func samePeer(a, b Peer) bool {
	return bytes.Equal(a.Key, b.Key) && bytes.Equal(a.PeerID, b.PeerID)
}

// NewSession starts a session with peer from its published bundle (the
// initiator's side of PQXDH). It checks that the bundle is peer's and that
// both prekey signatures verify. Until the peer replies, Encrypt produces
// initial messages.
func NewSession(l *Local, peer Peer, b *Bundle, now time.Time) (*Session, error) {
	self, err := l.self()
	if err != nil {
		return nil, err
	}
	if err := peer.check(); err != nil {
		return nil, fmt.Errorf("peer: %w", err)
	}
	if b == nil || !bytes.Equal(b.Identity, peer.Key) {
		return nil, fmt.Errorf("%w: bundle is not signed by the peer's identity", ErrWrongPeer)
	}
	if err := b.Verify(); err != nil {
		return nil, err
	}
	ikA, err := identityX25519Private(l.Identity.Key)
	if err != nil {
		return nil, err
	}
	ikB, err := identityX25519Public(peer.Key)
	if err != nil {
		return nil, fmt.Errorf("%w: peer identity key: %v", ErrWrongPeer, err)
	}
	r := l.rand()
	ekPriv, err := randomScalar(r)
	if err != nil {
		return nil, err
	}
	ek, err := ecdh.X25519().NewPrivateKey(ekPriv)
	clear(ekPriv)
	if err != nil {
		return nil, err
	}
	dh1, err := dh(ikA, b.X25519)
	if err != nil {
		return nil, fmt.Errorf("signed prekey: %w", err)
	}
	dh2, err := dh(ek, ikB.Bytes())
	if err != nil {
		return nil, fmt.Errorf("peer identity: %w", err)
	}
	dh3, err := dh(ek, b.X25519)
	if err != nil {
		return nil, fmt.Errorf("signed prekey: %w", err)
	}
	var dh4 []byte
	st := &state{initiator: true, pending: true, hasEnv: true}
	if n := len(b.OneTime); n > 0 {
		var x [4]byte
		if _, err := io.ReadFull(r, x[:]); err != nil {
			return nil, fmt.Errorf("e2e: random: %w", err)
		}
		otp := b.OneTime[binary.BigEndian.Uint32(x[:])%uint32(n)]
		if dh4, err = dh(ek, otp.Key); err != nil {
			return nil, fmt.Errorf("one-time prekey %d: %w", otp.ID, err)
		}
		st.opkUsed, st.opkID = true, otp.ID
	}
	kem, err := mlkem.NewEncapsulationKey1024(b.KEM)
	if err != nil {
		return nil, fmt.Errorf("%w: ML-KEM prekey: %v", ErrMalformed, err)
	}
	ss, ct := kemEncapsulate(kem, r)
	copy(st.ek[:], ek.PublicKey().Bytes())
	st.kemCT = ct
	st.initID = replayID(st.ek[:], ct)
	st.envKey = envelopeKey(dh3, ss, &st.initID)
	sk := deriveSK(dh1, dh2, dh3, dh4, ss)
	rk0, hka, nhkb := initRatchet(sk)
	for _, s := range [][]byte{dh1, dh2, dh3, dh4, ss, sk} {
		clear(s)
	}

	// RatchetInitAliceHE: a fresh ratchet key, DHr = the signed prekey.
	priv, err := randomScalar(r)
	if err != nil {
		return nil, err
	}
	err = st.setDHs(priv)
	clear(priv)
	if err != nil {
		return nil, err
	}
	copy(st.dhr[:], b.X25519)
	st.hasDHr = true
	s0, err := dh(st.dhs, st.dhr[:])
	if err != nil {
		return nil, err
	}
	st.rk, st.cks, st.nhks = rootStep(&rk0, s0)
	clear(s0)
	st.hasCKs, st.hasNHKs = true, true
	st.hks, st.hasHKs = hka, true
	st.nhkr, st.hasNHKr = nhkb, true

	s := &Session{self: clonePeer(self), peer: clonePeer(peer), states: []*state{st}}
	s.initState(st)
	return s, nil
}

// opened is an initial message whose envelope one of our prekey
// generations opened.
type opened struct {
	rid     [32]byte
	ek      []byte
	gen     *Prekeys
	dh3, ss []byte
	env     [32]byte
	sender  Peer
	opkUsed bool
	opkID   uint32
	inner   []byte // the first ratchet message
}

// splitInitial checks an initial message's size and returns its parts.
func splitInitial(msg []byte) (ek, ct, nonce, sealed []byte, err error) {
	if len(msg) > maxInitialSize {
		return nil, nil, nil, nil, fmt.Errorf("%w: message of %d bytes", ErrTooLarge, len(msg))
	}
	if !IsInitial(msg) || len(msg) < minInitialSize {
		return nil, nil, nil, nil, fmt.Errorf("%w: not an initial message", ErrInvalidMessage)
	}
	return msg[initEKOff:initCTOff], msg[initCTOff:initNonceOff], msg[initNonceOff:initEnvOff], msg[initEnvOff:], nil
}

func envelopeAD(msg []byte, rid *[32]byte) []byte {
	return append(append(make([]byte, 0, 34), msg[:2]...), rid[:]...)
}

// parseEnvelope parses the opened envelope: sender key, PeerID, one-time
// prekey flag and ID, inner message.
func parseEnvelope(pt []byte) (sender Peer, opkUsed bool, opkID uint32, inner []byte, err error) {
	bad := fmt.Errorf("%w: malformed envelope", ErrInvalidMessage)
	if len(pt) < envFixedSize+1 {
		return sender, false, 0, nil, bad
	}
	n := int(pt[identitySize])
	if n == 0 || n > MaxPeerIDSize || len(pt) < envFixedSize+n+minNormalSize {
		return sender, false, 0, nil, bad
	}
	sender = Peer{Key: pt[:identitySize:identitySize], PeerID: pt[identitySize+1 : identitySize+1+n : identitySize+1+n]}
	rest := pt[identitySize+1+n:]
	switch rest[0] {
	case 0:
		if binary.BigEndian.Uint32(rest[1:5]) != 0 {
			return sender, false, 0, nil, bad
		}
	case 1:
		opkUsed, opkID = true, binary.BigEndian.Uint32(rest[1:5])
	default:
		return sender, false, 0, nil, bad
	}
	return sender, opkUsed, opkID, rest[5:], nil
}

// openInitial trial-decrypts the envelope of an initial message with each of
// our live signed-prekey generations.
func openInitial(l *Local, msg []byte, now time.Time) (*opened, error) {
	ek, ct, nonce, sealed, err := splitInitial(msg)
	if err != nil {
		return nil, err
	}
	if l.Prekeys == nil {
		return nil, fmt.Errorf("%w: no prekeys configured", ErrNoPrekey)
	}
	o := &opened{rid: replayID(ek, ct), ek: ek}
	ad := envelopeAD(msg, &o.rid)
	tried := 0
	for _, g := range l.Prekeys.SignedPrekeys() {
		if g == nil || g.x25519 == nil || g.kem == nil || now.After(g.Created.Add(l.maxPrekeyAge())) {
			continue
		}
		if tried++; tried > maxTrialPrekeys {
			break
		}
		dh3, err := dh(g.x25519, ek)
		if err != nil {
			return nil, fmt.Errorf("ephemeral key: %w", err)
		}
		ss, err := g.kem.Decapsulate(ct)
		if err != nil {
			return nil, fmt.Errorf("%w: ML-KEM ciphertext", ErrInvalidMessage)
		}
		key := envelopeKey(dh3, ss, &o.rid)
		a, _ := chacha20poly1305.NewX(key[:])
		pt, err := a.Open(nil, nonce, sealed, ad)
		if err != nil {
			clear(dh3)
			clear(ss)
			continue
		}
		o.gen, o.dh3, o.ss, o.env = g, dh3, ss, key
		if o.sender, o.opkUsed, o.opkID, o.inner, err = parseEnvelope(pt); err != nil {
			return nil, err
		}
		if err := o.sender.check(); err != nil {
			return nil, fmt.Errorf("%w: sender: %v", ErrInvalidMessage, err)
		}
		return o, nil
	}
	return nil, fmt.Errorf("%w: no live signed prekey opens the initial message", ErrNoPrekey)
}

// responderState runs the responder's side of PQXDH (RatchetInitBobHE).
func (o *opened) responderState(l *Local, self Peer) (*state, error) {
	ikB, err := identityX25519Private(l.Identity.Key)
	if err != nil {
		return nil, err
	}
	ikA, err := identityX25519Public(o.sender.Key)
	if err != nil {
		return nil, fmt.Errorf("%w: sender identity: %v", ErrInvalidMessage, err)
	}
	dh1, err := dh(o.gen.x25519, ikA.Bytes())
	if err != nil {
		return nil, fmt.Errorf("sender identity: %w", err)
	}
	dh2, err := dh(ikB, o.ek)
	if err != nil {
		return nil, err
	}
	var dh4 []byte
	if o.opkUsed {
		k := l.Prekeys.OneTimePrekey(o.opkID)
		if k == nil || k.key == nil || k.ID != o.opkID {
			return nil, fmt.Errorf("%w: one-time prekey %d unknown or consumed", ErrNoPrekey, o.opkID)
		}
		if dh4, err = dh(k.key, o.ek); err != nil {
			return nil, err
		}
	}
	sk := deriveSK(dh1, dh2, o.dh3, dh4, o.ss)
	rk0, hka, nhkb := initRatchet(sk)
	for _, s := range [][]byte{dh1, dh2, dh4, sk} {
		clear(s)
	}
	st := &state{
		confirmed:   true,
		initID:      o.rid,
		hasEnv:      true,
		envKey:      o.env,
		replayUntil: o.gen.Created.Add(l.maxPrekeyAge()).Unix(),
		rk:          rk0,
	}
	// The signed prekey is the responder's first ratchet key; it is
	// replaced by the DH ratchet step on the first message.
	st.dhs, st.dhsPriv = o.gen.x25519, o.gen.x25519Priv
	copy(st.dhsPub[:], o.gen.x25519.PublicKey().Bytes())
	st.nhks, st.hasNHKs = nhkb, true
	st.nhkr, st.hasNHKr = hka, true
	return st, nil
}

// acceptInitial opens an initial message that starts a new state, checks
// the replay cache, and decrypts its first ratchet message into a fresh
// responder state; nothing outside the returned values is changed.
func acceptInitial(l *Local, msg []byte, now time.Time, expect *Peer) (*Session, *Received, error) {
	self, err := l.self()
	if err != nil {
		return nil, nil, err
	}
	ek, ct, _, _, err := splitInitial(msg)
	if err != nil {
		return nil, nil, err
	}
	if l.Replay == nil {
		return nil, nil, errors.New("e2e: Local.Replay is nil; initial messages need a replay cache")
	}
	if l.Replay.Seen(replayID(ek, ct)) {
		return nil, nil, fmt.Errorf("%w: initial message already accepted", ErrReplay)
	}
	o, err := openInitial(l, msg, now)
	if err != nil {
		return nil, nil, err
	}
	defer func() { clear(o.dh3); clear(o.ss) }()
	if expect != nil && !samePeer(o.sender, *expect) {
		return nil, nil, fmt.Errorf("%w: initial message from another identity", ErrWrongPeer)
	}
	if samePeer(o.sender, self) {
		return nil, nil, fmt.Errorf("%w: initial message claims our own identity", ErrInvalidMessage)
	}
	st, err := o.responderState(l, self)
	if err != nil {
		return nil, nil, err
	}
	s := &Session{self: clonePeer(self), peer: clonePeer(o.sender), states: []*state{st}}
	s.initState(st)
	pt, u, err := st.decrypt(s.scratch(), l.rand(), o.inner, now)
	if err != nil {
		return nil, nil, fmt.Errorf("first message: %w", err)
	}
	st.commit(u)
	rec := &Received{
		Plaintext:   pt,
		Initial:     true,
		ReplayID:    o.rid,
		ReplayUntil: time.Unix(st.replayUntil, 0),
		OneTimeUsed: o.opkUsed,
		OneTimeID:   o.opkID,
	}
	return s, rec, nil
}

// Accept handles an initial message when no session with its sender exists:
// it reveals the sender, creates the session and decrypts the message. The
// caller records rec.ReplayID in its replay cache (until rec.ReplayUntil)
// and deletes the one-time prekey rec.OneTimeID if rec.OneTimeUsed, after it
// has stored the session.
func Accept(l *Local, msg []byte, now time.Time) (*Session, Peer, *Received, error) {
	s, rec, err := acceptInitial(l, msg, now, nil)
	if err != nil {
		return nil, Peer{}, nil, err
	}
	return s, clonePeer(s.peer), rec, nil
}

// InitialSender opens the envelope of an initial message and returns its
// sender, changing nothing, so that the caller can pick the existing session
// (Session.Decrypt) or create one (Accept). It does not authenticate the
// sender: only Decrypt and Accept do.
func InitialSender(l *Local, msg []byte, now time.Time) (Peer, error) {
	o, err := openInitial(l, msg, now)
	if err != nil {
		return Peer{}, err
	}
	clear(o.dh3)
	clear(o.ss)
	return clonePeer(o.sender), nil
}

// sealInitial wraps a normal message of a pending initiator state into an
// initial message.
func (s *Session) sealInitial(st *state, r io.Reader, inner []byte) ([]byte, error) {
	pt := make([]byte, 0, envFixedSize+len(s.self.PeerID)+len(inner))
	pt = append(pt, s.self.Key...)
	pt = append(pt, byte(len(s.self.PeerID)))
	pt = append(pt, s.self.PeerID...)
	if st.opkUsed {
		pt = append(pt, 1)
	} else {
		pt = append(pt, 0)
	}
	pt = binary.BigEndian.AppendUint32(pt, st.opkID)
	pt = append(pt, inner...)

	out := make([]byte, initEnvOff, initEnvOff+len(pt)+tagSize)
	out[0], out[1] = Version, typeInitial
	copy(out[initEKOff:], st.ek[:])
	copy(out[initCTOff:], st.kemCT)
	if _, err := io.ReadFull(r, out[initNonceOff:initEnvOff]); err != nil {
		return nil, fmt.Errorf("e2e: random: %w", err)
	}
	a, _ := chacha20poly1305.NewX(st.envKey[:])
	return a.Seal(out, out[initNonceOff:initEnvOff], pt, envelopeAD(out, &st.initID)), nil
}

// openRepeat opens a repeated initial message of an existing responder state.
func openRepeat(st *state, msg []byte) (Peer, []byte, error) {
	_, _, nonce, sealed, err := splitInitial(msg)
	if err != nil {
		return Peer{}, nil, err
	}
	a, _ := chacha20poly1305.NewX(st.envKey[:])
	pt, err := a.Open(nil, nonce, sealed, envelopeAD(msg, &st.initID))
	if err != nil {
		return Peer{}, nil, fmt.Errorf("%w: initial envelope authentication failed", ErrInvalidMessage)
	}
	sender, _, _, inner, err := parseEnvelope(pt)
	return sender, inner, err
}
