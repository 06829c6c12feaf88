package e2e

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/subtle"
	"encoding/binary"
	"fmt"
	"io"
	"time"

	"golang.org/x/crypto/chacha20poly1305"
)

// Version is the protocol version, the first byte of every message.
const Version = 1

// Message types, the second byte of every message.
const (
	typeNormal  = 1
	typeInitial = 2
)

// Limits.
const (
	// MaxSkip is how far ahead of its receiving chain a message may be (and
	// how many message keys one message may make us derive and store per
	// chain). Checked before any key is derived.
	MaxSkip = 2000
	// MaxSkippedKeys caps the stored keys of skipped messages in a session
	// (all its states together); the oldest are evicted first.
	MaxSkippedKeys = 2000
	// SkippedKeyTTL is how long a skipped message key is kept: the mailbox
	// TTL ceiling, after which the message cannot arrive anymore.
	SkippedKeyTTL = 30 * 24 * time.Hour
	// MaxPlaintext is the largest plaintext Encrypt accepts. Files travel in
	// chunks over /discordopus/file/1, so chat messages stay small.
	MaxPlaintext = 64 << 10
	// MaxArchivedStates is how many previous states a session keeps next to
	// the current one, to decrypt late messages after simultaneous
	// initiation or a peer reset.
	MaxArchivedStates = 4
)

// Layout of a normal message (see doc.go).
const (
	hdrNonceSize  = 12
	hdrPlainSize  = x25519Size + 4 + 4 // DHs || PN || N
	tagSize       = 16
	hdrCTSize     = hdrPlainSize + tagSize
	normalHdrEnd  = 2 + hdrNonceSize + hdrCTSize // 70
	minPadded     = 64
	maxPadded     = 67584 // padLen(MaxPlaintext)
	maxNormalSize = normalHdrEnd + maxPadded + tagSize
	minNormalSize = normalHdrEnd + minPadded + tagSize
)

// padLen is the padded body length for a plaintext of n bytes: Padmé
// (Nikitin et al., PETS 2019) of n+1 (room for the 0x80 end marker), at
// least minPadded. Padmé leaks O(log log n) bits of the length and costs at
// most 12% (about 6% near 1 KiB).
func padLen(n int) int {
	l := n + 1
	if l <= minPadded {
		return minPadded
	}
	e := bitLen(l) - 1 // floor(log2 l)
	s := bitLen(e)     // floor(log2 e) + 1
	mask := (1 << (e - s)) - 1
	return (l + mask) &^ mask
}

func bitLen(x int) int {
	n := 0
	for ; x > 0; x >>= 1 {
		n++
	}
	return n
}

// unpad strips plaintext || 0x80 || 0x00*.
func unpad(b []byte) ([]byte, bool) {
	for i := len(b) - 1; i >= 0; i-- {
		switch b[i] {
		case 0:
			continue
		case 0x80:
			return b[:i], true
		default:
			return nil, false
		}
	}
	return nil, false
}

type skippedKey struct {
	n    uint32
	seed [32]byte // message key seed (HMAC(ck, 0x01))
	at   int64    // unix seconds when stored
}

// skippedChain holds the skipped keys of one receiving chain, found by trial
// decryption of the header under hk.
type skippedChain struct {
	hk   [32]byte
	keys []skippedKey
}

// state is one Double Ratchet (with header encryption) state plus the data
// of the PQXDH exchange that created it.
type state struct {
	initiator bool
	confirmed bool     // initiator: a message from the peer decrypted in this state
	initID    [32]byte // ReplayID of the initial exchange

	// Initiator until confirmed: what every initial message repeats.
	pending bool
	ek      [32]byte
	kemCT   []byte
	opkUsed bool
	opkID   uint32
	// Both roles: key of the initial envelope (initiator: to seal it while
	// pending; responder: to open repeated initial messages).
	hasEnv      bool
	envKey      [32]byte
	replayUntil int64 // responder: Received.ReplayUntil, unix seconds

	rk      [32]byte
	dhsPriv [32]byte
	dhs     *ecdh.PrivateKey
	dhsPub  [32]byte
	hasDHr  bool
	dhr     [32]byte
	hasCKs  bool
	cks     [32]byte
	ns, pn  uint32
	hasCKr  bool
	ckr     [32]byte
	nr      uint32
	hasHKs  bool
	hks     [32]byte
	hasNHKs bool
	nhks    [32]byte
	hasHKr  bool
	hkr     [32]byte
	hasNHKr bool
	nhkr    [32]byte

	skipped []skippedChain

	adSend, adRecv [32]byte // derived, not stored
	cache          *aeadCache
}

// aeadCache keeps the header AEADs of a state (AES-GCM key setup costs about
// a microsecond, and a header key serves a whole chain).
type aeadCache struct {
	e [3]struct {
		key  [32]byte
		aead cipher.AEAD
	}
	next int
}

func (c *aeadCache) get(key *[32]byte) cipher.AEAD {
	for i := range c.e {
		if c.e[i].aead != nil && c.e[i].key == *key {
			return c.e[i].aead
		}
	}
	a := newHeaderAEAD(key)
	c.e[c.next].key, c.e[c.next].aead = *key, a
	c.next = (c.next + 1) % len(c.e)
	return a
}

func newHeaderAEAD(key *[32]byte) cipher.AEAD {
	b, err := aes.NewCipher(key[:])
	if err != nil {
		panic(err) // 32-byte key: cannot happen
	}
	a, err := cipher.NewGCM(b)
	if err != nil {
		panic(err)
	}
	return a
}

func (st *state) setDHs(priv []byte) error {
	k, err := ecdh.X25519().NewPrivateKey(priv)
	if err != nil {
		return err
	}
	copy(st.dhsPriv[:], priv)
	st.dhs = k
	copy(st.dhsPub[:], k.PublicKey().Bytes())
	return nil
}

// ratchetKey returns the ratchet private key, rebuilding it after
// ParseSession (which stores the public key to avoid a scalar multiplication
// per parse).
func (st *state) ratchetKey() (*ecdh.PrivateKey, error) {
	if st.dhs != nil {
		return st.dhs, nil
	}
	k, err := ecdh.X25519().NewPrivateKey(st.dhsPriv[:])
	if err != nil {
		return nil, err
	}
	st.dhs = k
	return k, nil
}

func (st *state) numSkipped() int {
	n := 0
	for _, c := range st.skipped {
		n += len(c.keys)
	}
	return n
}

// dh computes X25519 and rejects an all-zero result (a low-order point).
func dh(priv *ecdh.PrivateKey, pub []byte) ([]byte, error) {
	p, err := ecdh.X25519().NewPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("%w: bad X25519 key", ErrInvalidMessage)
	}
	s, err := priv.ECDH(p) // crypto/ecdh rejects the all-zero output
	if err != nil {
		return nil, fmt.Errorf("%w: X25519 with a low-order point", ErrInvalidMessage)
	}
	return s, nil
}

// randomScalar reads a fresh X25519 private key from r.
func randomScalar(r io.Reader) ([]byte, error) {
	b := make([]byte, x25519Size)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, fmt.Errorf("e2e: random: %w", err)
	}
	return b, nil
}

// encrypt seals plaintext as a normal message (header encrypted under HKs)
// and advances the sending chain.
func (st *state) encrypt(sc *scratch, r io.Reader, plaintext []byte) ([]byte, error) {
	if !st.hasCKs || !st.hasHKs {
		return nil, fmt.Errorf("e2e: session cannot send yet")
	}
	if st.ns == ^uint32(0) {
		return nil, fmt.Errorf("%w: sending chain exhausted", ErrTooLarge)
	}
	seed, next := sc.h.chainStep(&st.cks)
	ckey, mkey := &sc.ckey, &sc.mkey
	*ckey, *mkey = sc.h.messageKeys(&seed)
	clear(seed[:])

	padded := padLen(len(plaintext))
	out := make([]byte, normalHdrEnd+padded+tagSize)
	out[0], out[1] = Version, typeNormal
	// A random nonce, not one derived from the message key: if the caller
	// ever encrypts again from an older copy of the session (a state
	// restored after a power loss), the same key never meets the same
	// nonce twice.
	if _, err := io.ReadFull(r, out[2:14]); err != nil {
		clear(ckey[:])
		clear(mkey[:])
		return nil, fmt.Errorf("e2e: random: %w", err)
	}
	hdr := sc.hdr[:hdrPlainSize]
	copy(hdr, st.dhsPub[:])
	binary.BigEndian.PutUint32(hdr[32:], st.pn)
	binary.BigEndian.PutUint32(hdr[36:], st.ns)
	st.cache.get(&st.hks).Seal(out[14:14], out[2:14], hdr, out[:2])

	body := out[normalHdrEnd : normalHdrEnd+padded]
	copy(body, plaintext)
	body[len(plaintext)] = 0x80
	a, _ := chacha20poly1305.New(ckey[:])
	a.Seal(body[:0], out[2:14], body, sc.bodyAD(&st.adSend, out))
	clear(ckey[:])
	clear(mkey[:])
	st.cks = next
	st.ns++
	return out, nil
}

// recvUpdate is the outcome of a successful decryption, applied by commit.
// It lives in the session's scratch memory; the state copy is made only for
// a DH ratchet step.
type recvUpdate struct {
	ratcheted *state // after a DH ratchet step: the state's new fields
	advance   bool   // the receiving chain moves to ckr, nr
	ckr       [32]byte
	nr        uint32
	useChain  int // index in st.skipped of a used skipped key, or -1
	useKey    int
	addHK     [2][32]byte // up to two chains get new skipped keys
	add       [2][]skippedKey
	nadd      int
}

// decrypt opens a normal message without touching st; commit applies the
// result. It returns ErrInvalidMessage if no header key of st opens the
// header (the message belongs to another state or is forged).
func (st *state) decrypt(sc *scratch, r io.Reader, msg []byte, now time.Time) ([]byte, *recvUpdate, error) {
	if len(msg) < minNormalSize || len(msg) > maxNormalSize || msg[0] != Version || msg[1] != typeNormal {
		return nil, nil, fmt.Errorf("%w: not a normal message", ErrInvalidMessage)
	}
	nonce, hct := msg[2:14], msg[14:normalHdrEnd]
	hdr := sc.hdr[:0]
	u := &sc.upd
	*u = recvUpdate{useChain: -1}
	var err error
	var ck [32]byte
	var n uint32
	switch {
	case st.hasHKr && openHeader(st.cache.get(&st.hkr), &hdr, nonce, hct, msg[:2]):
		n = binary.BigEndian.Uint32(hdr[36:])
		if subtle.ConstantTimeCompare(hdr[:32], st.dhr[:]) != 1 {
			return nil, nil, fmt.Errorf("%w: header ratchet key mismatch", ErrInvalidMessage)
		}
		if n < st.nr {
			return st.decryptSkipped(sc, u, st.hkr, n, msg, now)
		}
		if n-st.nr > MaxSkip {
			return nil, nil, fmt.Errorf("%w: %d messages ahead", ErrTooFarAhead, n-st.nr)
		}
		ck = st.ckr
		u.skip(sc, st.hkr, &ck, st.nr, n, now)
	case st.hasNHKr && openHeader(st.cache.get(&st.nhkr), &hdr, nonce, hct, msg[:2]):
		pn, nn := binary.BigEndian.Uint32(hdr[32:]), binary.BigEndian.Uint32(hdr[36:])
		if st.hasCKr && pn > st.nr && pn-st.nr > MaxSkip {
			return nil, nil, fmt.Errorf("%w: %d messages ahead in the previous chain", ErrTooFarAhead, pn-st.nr)
		}
		if nn > MaxSkip {
			return nil, nil, fmt.Errorf("%w: %d messages ahead", ErrTooFarAhead, nn)
		}
		u.ratcheted = new(state)
		*u.ratcheted = *st
		if err = u.ratchet(sc, r, hdr, now); err != nil {
			return nil, nil, err
		}
		n = nn
		ck = u.ratcheted.ckr
		u.skip(sc, u.ratcheted.hkr, &ck, 0, n, now)
	default:
		for i := range st.skipped {
			c := &st.skipped[i]
			if c.hk == st.hkr && st.hasHKr {
				continue
			}
			if openHeader(newHeaderAEAD(&c.hk), &hdr, nonce, hct, msg[:2]) {
				return st.decryptSkipped(sc, u, c.hk, binary.BigEndian.Uint32(hdr[36:]), msg, now)
			}
		}
		return nil, nil, errNoHeaderKey
	}
	seed, next := sc.h.chainStep(&ck)
	pt, err := sc.openBody(&seed, &st.adRecv, msg)
	if err != nil {
		return nil, nil, err
	}
	u.advance, u.ckr, u.nr = true, next, n+1
	return pt, u, nil
}

// decryptSkipped decrypts with a stored key of a skipped message.
func (st *state) decryptSkipped(sc *scratch, u *recvUpdate, hk [32]byte, n uint32, msg []byte, now time.Time) ([]byte, *recvUpdate, error) {
	for i := range st.skipped {
		c := &st.skipped[i]
		if c.hk != hk {
			continue
		}
		for j := range c.keys {
			if c.keys[j].n != n {
				continue
			}
			if now.Unix()-c.keys[j].at > int64(SkippedKeyTTL/time.Second) {
				return nil, nil, fmt.Errorf("%w: message key expired", ErrInvalidMessage)
			}
			pt, err := sc.openBody(&c.keys[j].seed, &st.adRecv, msg)
			if err != nil {
				return nil, nil, err
			}
			u.useChain, u.useKey = i, j
			return pt, u, nil
		}
	}
	return nil, nil, fmt.Errorf("%w: message %d already received", ErrReplay, n)
}

func openHeader(a cipher.AEAD, dst *[]byte, nonce, ct, ad []byte) bool {
	h, err := a.Open((*dst)[:0], nonce, ct, ad)
	if err != nil {
		return false
	}
	*dst = h
	return true
}

// skip derives the keys of messages from..to-1 of a receiving chain into
// u (not into the state); ck advances to the key of message to.
func (u *recvUpdate) skip(sc *scratch, hk [32]byte, ck *[32]byte, from, to uint32, now time.Time) {
	if from >= to {
		return
	}
	keys := make([]skippedKey, 0, to-from)
	for i := from; i < to; i++ {
		seed, next := sc.h.chainStep(ck)
		keys = append(keys, skippedKey{n: i, seed: seed, at: now.Unix()})
		*ck = next
	}
	u.addHK[u.nadd], u.add[u.nadd] = hk, keys
	u.nadd++
}

// ratchet performs the DH ratchet step of Signal's DHRatchetHE on
// u.ratcheted.
func (u *recvUpdate) ratchet(sc *scratch, r io.Reader, hdr []byte, now time.Time) error {
	t := u.ratcheted
	pn := binary.BigEndian.Uint32(hdr[32:])
	if t.hasCKr {
		ck := t.ckr
		u.skip(sc, t.hkr, &ck, t.nr, pn, now)
	}
	t.pn, t.ns, t.nr = t.ns, 0, 0
	t.hks, t.hasHKs = t.nhks, t.hasNHKs
	t.hkr, t.hasHKr = t.nhkr, t.hasNHKr
	copy(t.dhr[:], hdr[:32])
	t.hasDHr = true
	old, err := t.ratchetKey()
	if err != nil {
		return err
	}
	s, err := dh(old, t.dhr[:])
	if err != nil {
		return err
	}
	t.rk, t.ckr, t.nhkr = rootStep(&t.rk, s)
	clear(s)
	priv, err := randomScalar(r)
	if err != nil {
		return err
	}
	err = t.setDHs(priv)
	clear(priv)
	if err != nil {
		return err
	}
	if s, err = dh(t.dhs, t.dhr[:]); err != nil {
		return err
	}
	t.rk, t.cks, t.nhks = rootStep(&t.rk, s)
	clear(s)
	t.hasCKr, t.hasCKs, t.hasNHKr, t.hasNHKs = true, true, true, true
	return nil
}

// commit applies a successful decryption to st.
func (st *state) commit(u *recvUpdate) {
	if u.ratcheted != nil {
		sk := st.skipped
		*st = *u.ratcheted
		st.skipped = sk
	}
	if u.advance {
		st.ckr, st.nr = u.ckr, u.nr
	}
	if st.initiator {
		st.confirmed = true
		st.pending = false
		st.opkUsed, st.opkID = false, 0
		st.kemCT = nil
		clear(st.ek[:])
		st.hasEnv = false
		clear(st.envKey[:])
	}
	if u.useChain >= 0 {
		c := &st.skipped[u.useChain]
		clear(c.keys[u.useKey].seed[:])
		c.keys = append(c.keys[:u.useKey], c.keys[u.useKey+1:]...)
		if len(c.keys) == 0 {
			st.skipped = append(st.skipped[:u.useChain], st.skipped[u.useChain+1:]...)
		}
	}
	for i := 0; i < u.nadd; i++ {
		if j := len(st.skipped) - 1; j >= 0 && st.skipped[j].hk == u.addHK[i] {
			st.skipped[j].keys = append(st.skipped[j].keys, u.add[i]...)
		} else {
			st.skipped = append(st.skipped, skippedChain{hk: u.addHK[i], keys: u.add[i]})
		}
	}
}

// scratch is per-session working memory for the hot path.
type scratch struct {
	h   *hmacSHA256
	hdr []byte
	ad  []byte
	upd recvUpdate
	// message keys: here rather than on the stack, where passing them to
	// the AEADs would move them to the heap on every message
	ckey, mkey [32]byte
}

func newScratch() *scratch {
	return &scratch{h: newHMAC(), hdr: make([]byte, 0, hdrPlainSize+tagSize), ad: make([]byte, 0, 32+normalHdrEnd)}
}

// bodyAD is the associated data of a message body: the state's AD hash (the
// version, both identity keys and PeerIDs, the initial exchange) followed by
// the message's first normalHdrEnd bytes (version, type, header nonce and
// encrypted header).
func (sc *scratch) bodyAD(adHash *[32]byte, msg []byte) []byte {
	sc.ad = append(sc.ad[:0], adHash[:]...)
	sc.ad = append(sc.ad, msg[:normalHdrEnd]...)
	return sc.ad
}

func (sc *scratch) openBody(seed *[32]byte, adHash *[32]byte, msg []byte) ([]byte, error) {
	ckey, mkey := &sc.ckey, &sc.mkey
	*ckey, *mkey = sc.h.messageKeys(seed)
	defer clear(ckey[:])
	a, _ := chacha20poly1305.New(ckey[:])
	body := msg[normalHdrEnd:]
	pt, err := a.Open(make([]byte, 0, len(body)-tagSize), msg[2:14], body, sc.bodyAD(adHash, msg))
	clear(mkey[:])
	if err != nil {
		return nil, fmt.Errorf("%w: body authentication failed", ErrInvalidMessage)
	}
	if pt, ok := unpad(pt); ok {
		return pt, nil
	}
	return nil, fmt.Errorf("%w: bad padding", ErrInvalidMessage)
}
