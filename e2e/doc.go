// Package e2e implements DiscordOpus's end-to-end protocols: prekey
// bundles, PQXDH session setup with a hidden sender, the Double Ratchet with
// header encryption, and safety numbers. It is pure and I/O-free: the caller
// stores keys, sessions and the replay cache, and carries the bytes.
//
// It builds on the Go standard library (crypto/ed25519, crypto/ecdh,
// crypto/mlkem, crypto/sha256, crypto/hkdf, crypto/aes, crypto/cipher) and
// golang.org/x/crypto/chacha20poly1305, and follows Signal's specifications
// (PQXDH rev. 3, the Double Ratchet rev. 4 §4 "header encryption") with
// libsignal's KDFs and labels, checked against libsignal's known answers
// (testdata/README.md). All integers are big-endian.
//
// # How a caller uses it
//
//	sender:   s, _ := NewSession(l, peer, bundle, now)   // bundle from the DHT
//	          msg, _ := s.Encrypt(l, text, now)           // store s after each call
//	receiver: if IsInitial(msg) {
//	              p, _ := InitialSender(l, msg, now)      // who is it from?
//	              existing session with p ? s.Decrypt(l, msg, now) : Accept(l, msg, now)
//	          } else { s.Decrypt(l, msg, now) }           // s: the sender's session
//	          then store the session, record rec.ReplayID in the replay cache
//	          until rec.ReplayUntil, delete one-time prekey rec.OneTimeID if
//	          rec.OneTimeUsed — in that order, so a crash replays, never loses.
//
// Messages name neither party. The caller knows the sender of a normal
// message from the authenticated stream or the sealed envelope it came in,
// or tries its sessions: a message that is not for a session fails fast
// (one AES-GCM open per header key) and changes nothing. A Session is not
// safe for concurrent use; Decrypt leaves it exactly unchanged on any error
// (all work happens on copies and is committed on success).
//
// # Keys
//
// The identity is the Ed25519 key of the libp2p PeerID. Ed25519 cannot sign
// XEdDSA-style with an X25519 key, so we go the other way: prekeys are
// signed with Ed25519 directly, and the identity takes part in X25519 as its
// birationally equivalent Montgomery form. Private: the clamped first half
// of SHA-512(seed), RFC 8032's scalar. Public: u = (1+y)/(1-y) mod 2^255-19,
// after checking that y < p, y != 1, that y decodes to a point (x^2 a square)
// and that x = 0 has no sign bit. Small-order points pass the conversion but
// give an all-zero X25519 output, which every DH here rejects (crypto/ecdh).
//
// A signed-prekey generation (Prekeys) is an X25519 key and an ML-KEM-1024
// key under one 32-bit ID, rotated by the keystore. A generation is tried
// for initial messages until Created + MaxPrekeyAge (DefaultMaxPrekeyAge, 35
// days: 7 days of rotation and 28 of grace, twice the 14-day mailbox TTL).
// One-time prekeys are X25519 keys. Signatures:
//
//	X25519Sig = Ed25519(identity, "DiscordOpus signed prekey X25519 v1" 0x00 || ID (4) || X25519 (32))
//	KEMSig    = Ed25519(identity, "DiscordOpus signed prekey ML-KEM-1024 v1" 0x00 || ID (4) || KEM (1568))
//
// Each context names its key type, so neither signature verifies for the
// other key, nor for any other use of the identity key.
//
// # Encodings of keys
//
// Prekeys (secret, 113 bytes): 0 version 1 | 1 ID (4) | 5 created, Unix
// seconds (8) | 13 nanoseconds (4, < 1e9) | 17 X25519 private (32) | 49
// ML-KEM-1024 seed d||z (64). OneTimePrekey (secret, 37 bytes): 0 version 1
// | 1 ID (4) | 5 X25519 private (32).
//
// Bundle (published as a signed DHT record; 1766 + 36n bytes, at most
// MaxBundleSize = 2918):
//
//	   0  version 1
//	   1  identity, Ed25519 public key (32)
//	  33  prekey ID (4)
//	  37  X25519 signed prekey (32)
//	  69  X25519Sig (64)
//	 133  ML-KEM-1024 encapsulation key (1568)
//	1701  KEMSig (64)
//	1765  n, number of one-time prekeys (1), n <= MaxOneTimePrekeys = 32
//	1766  n times: ID (4) | X25519 public key (32), IDs strictly increasing
//
// ParseBundle checks the length against n before it allocates and accepts
// only the canonical encoding: exact length, increasing IDs, X25519 keys
// below 2^255-19, an ML-KEM key that crypto/mlkem accepts (coefficients
// below q). Verify checks both signatures; NewSession calls it.
//
// One-time prekeys are not signed one by one (as in Signal): the DHT record
// carrying the bundle is signed by the identity, and a substituted one-time
// key only adds a DH term the attacker knows. One-time prekeys in a DHT
// record are seen by every initiator, so two may
// pick the same one. The receiver consumes a one-time prekey when the caller
// deletes it (Received.OneTimeUsed); until then a reused one still works,
// and after that an initial message naming it fails with ErrNoPrekey. Either
// way the secret stays safe: the one-time DH is an extra term, and replays
// are stopped by the replay cache, not by the one-time key.
//
// # Session setup: PQXDH
//
// Alice (initiator) has Bob's verified bundle: identity IK_B (converted to
// X25519), signed prekey SPK_B, ML-KEM key PQSPK_B, maybe a one-time OPK_B
// (chosen at random from the bundle). With her converted identity IK_A and a
// fresh ephemeral EK_A:
//
//	DH1 = DH(IK_A, SPK_B)  DH2 = DH(EK_A, IK_B)  DH3 = DH(EK_A, SPK_B)  [DH4 = DH(EK_A, OPK_B)]
//	(CT, SS) = ML-KEM-1024.Encaps(PQSPK_B)
//	SK = HKDF-SHA256(salt = 32 zero bytes, ikm = 0xFF*32 || DH1 || DH2 || DH3 [|| DH4] || SS,
//	                 info = "DiscordOpus_X25519_SHA-256_ML-KEM-1024", 32 bytes)
//
// The info string is ours, not libsignal's
// "WhisperText_X25519_SHA-256_CRYSTALS-KYBER-1024": that label names
// Kyber-1024 (round 3), whose shared secret differs from FIPS 203 ML-KEM's,
// and a protocol with other identity keys, other messages and other
// associated data must not share a KDF domain with Signal's (PQXDH §2.2
// asks for an application-specific info). Every X25519 output is checked
// not to be all zeros (a low-order point): ErrInvalidMessage.
//
// From SK (HKDF-SHA256, no salt):
//
//	RK0 || -   = HKDF(SK, "WhisperText", 64)               libsignal's derive_keys; its chain key is unused
//	HKa || NHKb = HKDF(SK, "DiscordOpus_HeaderKeys_v1", 64)  the header keys of Signal's RatchetInitAliceHE/BobHE
//	ReplayID   = SHA-256("DiscordOpus_ReplayID_v1" || EK_A || CT)
//	EnvKey     = HKDF(0xFF*32 || DH3 || SS, "DiscordOpus_InitialEnvelope_v1" || ReplayID, 32)
//
// Alice then runs RatchetInitAliceHE with a fresh ratchet key and DHr =
// SPK_B; Bob, on the first message, RatchetInitBobHE with SPK_B as his first
// ratchet key (replaced at once by the DH ratchet step of that message, so
// the session never holds the prekey).
//
// Hidden sender. EnvKey needs only DH3 and SS: Bob can open the envelope
// without knowing who sent it, by trying his live generations (at most 8,
// newest first; each costs one X25519 and one ML-KEM decapsulation), and
// learns Alice's identity from inside. Nothing on the wire names Alice, Bob
// or a prekey: EK_A is a fresh key and CT an ML-KEM ciphertext. The
// envelope authenticates nobody: Alice is authenticated by DH1 and DH2 in
// SK, through the AEAD of the first ratchet message, whose associated data
// binds her claimed identity. A receiver drops an initial message whose
// ReplayID its cache has seen.
//
// Initial message (sent by Alice until she has received a message in the
// session; every one repeats EK_A, CT and the envelope key, with its own
// nonce):
//
//	   0  version 1
//	   1  type 2 (initial)
//	   2  EK_A (32)
//	  34  CT, ML-KEM-1024 ciphertext (1568)
//	1602  nonce (24, random)
//	1626  XChaCha20-Poly1305(EnvKey, nonce, envelope, ad = bytes 0..1 || ReplayID), envelope =
//	        0  Alice's Ed25519 identity key (32)
//	       32  PeerID length L, 1..MaxPeerIDSize = 64 (1)
//	       33  PeerID (L)
//	     33+L  flags: 1 if a one-time prekey was used, else 0 (1)
//	     34+L  one-time prekey ID, 0 if none (4)
//	     38+L  the first ratchet message, a normal message (below)
//
// Bob's session keeps EnvKey and ReplayID, so repeats of Alice's initial
// messages decrypt in it without his prekeys; Alice drops EK_A, CT and
// EnvKey once she received from Bob.
//
// # Double Ratchet with header encryption
//
// Signal's Double Ratchet §4 with libsignal's KDFs:
//
//	root KDF:  PRK = HMAC-SHA256(RK, DH)                     (HKDF-Extract, salt = RK)
//	           RK' || CK = HKDF-Expand(PRK, "WhisperRatchet", 64)       libsignal's create_chain
//	           NHK      = HKDF-Expand(PRK, "DiscordOpus_NextHeaderKey_v1", 32)
//	chain KDF: seed = HMAC-SHA256(CK, 0x01), CK' = HMAC-SHA256(CK, 0x02)
//	message:   cipher key || mac key = HKDF-SHA256(no salt, seed, "WhisperMessageKeys"), first 64 of libsignal's 80 bytes
//
// The header key is a separate expansion of the same PRK, so the root and
// chain keys are exactly libsignal's (known-answer tests) and NHK is
// independent of them. Ciphers (ours; libsignal uses AES-CBC + HMAC):
//
//	body:   ChaCha20-Poly1305(cipher key, nonce)
//	header: AES-256-GCM(HK, nonce), header = ratchet public key (32) || PN (4) || N (4)
//
// nonce is 12 random bytes per message, sent in the clear. Every message
// key is meant to be used once, so a nonce derived from it would do while
// the session only moves forward; but a caller that encrypts again from an
// older copy of the session (its store lost the last writes in a power
// failure) would then seal a different plaintext under the same key and
// nonce, which gives away both. With a random nonce that cannot happen,
// and the header key, which serves a whole chain, gets fresh nonces too
// (2^32 messages a chain at most, far below the collision bound of 96-bit
// random nonces). The mac key of libsignal's expansion is not used.
// AES-GCM for headers: its key setup (about 1 µs in Go) is paid once per
// chain, and it seals a 40-byte header 2.5 times faster than
// ChaCha20-Poly1305; for bodies,
// whose keys are single-use, ChaCha20-Poly1305 needs no key setup.
//
// Normal message (70 + P + 16 bytes, P the padded length):
//
//	 0  version 1
//	 1  type 1 (normal)
//	 2  header nonce (12)
//	14  encrypted header (40 + 16), associated data bytes 0..1
//	70  ChaCha20-Poly1305 body (P + 16), associated data = AD || bytes 0..69
//
//	AD = SHA-256("DiscordOpus_AD_v1" || version || sender key || len || sender PeerID ||
//	             receiver key || len || receiver PeerID || ReplayID of the session's setup)
//
// so a message binds the protocol version, both identity keys, both PeerIDs,
// its direction, its session and its header. The caller must check that a
// PeerID belongs to its key (the safety number code refuses a mismatch).
//
// Receiving follows RatchetDecryptHE: the header is tried under HKr (then,
// if N < Nr, the stored key of a skipped message, or ErrReplay), under NHKr
// (a DH ratchet step), then under the header keys of chains with stored
// skipped keys. Before any key is derived, N - Nr (and PN - Nr of the
// previous chain on a DH step) must be at most MaxSkip = 2000, else
// ErrTooFarAhead. A used message key is deleted, so a replay fails.
//
// Padding: the body is plaintext || 0x80 || 0x00..., to Padmé(len+1)
// (Nikitin et al., PETS 2019), at least 64 bytes: Padmé reveals O(log log n)
// bits of the length and costs at most 12% (a 1 KiB text is 1088 bytes).
//
// # Limits
//
//	MaxPlaintext       64 KiB (files go in chunks over /discordopus/file/1)
//	MaxMessageSize     69414 bytes (an initial message with the largest text and PeerID)
//	MaxSkip            2000 messages ahead per chain, checked before deriving
//	MaxSkippedKeys     2000 stored skipped keys per session, the oldest evicted first
//	MaxSkippedChains   64 chains with stored keys per state (each costs a trial header open)
//	SkippedKeyTTL      30 days, the mailbox TTL ceiling; older keys are refused and dropped
//	MaxArchivedStates  4 previous states kept next to the current one
//	DefaultMaxPrekeyAge 35 days; Received.ReplayUntil = generation created + this
//	MaxOneTimePrekeys  32 per bundle; MaxBundleSize 2918 bytes; MaxPeerIDSize 64 bytes
//
// # Sessions, states and who wins
//
// A Session holds the current state and up to MaxArchivedStates previous
// ones; Decrypt tries them all. An initial message of the peer that is not a
// repeat of a state we hold creates a new state:
//
//   - if our current state is one we initiated and the peer has not yet
//     answered in it (simultaneous initiation), the state initiated by the
//     smaller PeerID (bytewise) stays or becomes current, the other is
//     archived: both sides apply the same rule and converge;
//   - otherwise the new state becomes current: the peer started over
//     (reinstalled, lost its session), as Signal does.
//
// A message decrypted in an archived state does not make it current, with
// one exception: the first message the peer sends in a state we initiated
// and archived unanswered. That is how both converge when the loser's
// initial message arrives late, after the winner's state was confirmed: the
// winner takes it for a reset and answers in it, and the loser, seeing the
// answer, follows. Promoting in other cases (as libsignal does) would switch
// back to a state the peer abandoned whenever a late message arrives.
//
// # Session encoding
//
// MarshalBinary (secret; the store seals it): version 1 | own key (32) | L
// (1) | own PeerID | peer key (32) | L | peer PeerID | state count 1..5 |
// states, current first. A state: flags (2) | ReplayID (32) | if pending: EK
// (32), CT (1568), one-time ID (4) | if it has one: EnvKey (32) | replay
// until, Unix seconds (8) | RK (32) | ratchet private key (32) | ratchet
// public key (32) | DHr, CKs, CKr, HKs, NHKs, HKr, NHKr (32 each, if
// present) | Ns, PN, Nr (4 each) | chain count (2) | chains: HK (32) | key
// count (2) | keys: N (4), seed (32), stored at, Unix seconds (8).
// ParseSession checks counts against the remaining length before it
// allocates and accepts only what MarshalBinary would produce.
//
// # Safety numbers
//
// SafetyNumber, SafetyNumberQR and CompareSafetyNumberQR compute libsignal's
// numeric fingerprint (5200 iterations of SHA-512) over the libp2p-encoded
// identity key and the binary PeerID, with code version 0x444F0001; the
// construction is specified in fingerprint.go.
//
// # Not provided
//
// Post-quantum protection covers the session secret (PQXDH), and through
// the root-key chain every later message key, but the DH ratchet heals from
// a state compromise only classically: there is no post-quantum ratchet
// (libsignal's SPQR). Sender keys for groups and sealed envelopes are built
// on top of this package elsewhere.
package e2e
