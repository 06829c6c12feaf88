// Package mailbox is store-and-forward for people who are offline: sealed
// envelopes wait at mailbox holders under rotating, unlinkable addresses
// until the recipient fetches and acknowledges them. It has the holder's
// side (Server) and the client's (Deposit, Fetch, Ack, Replicate) of the
// /discordopus/mailbox/1 protocol. Choosing holders and replicating between
// them is built on top of this package.
//
// # Addressing
//
// A recipient has a 32-byte mailbox secret (the node derives it from its
// keystore). Time is cut into epochs of EpochLength (UTC days: Epoch(t) is
// the number of whole days since 1970-01-01 UTC). For each epoch e,
//
//	seed(e)    = HKDF-SHA256(ikm = secret, salt = none, info = "discordopus/mailbox/v1/epoch-key" || uint64be(e), 32 bytes)
//	key(e)     = Ed25519 key pair from seed(e)
//	address(e) = SHA-256("discordopus/mailbox/v1/address" || public key(e))
//
// The recipient hands the public keys of the coming epochs (EpochKey) to
// its contacts inside their end-to-end sessions; the chat layer does that.
// A contact deposits at address(e) for the epoch of the moment it sends.
// Holding the public key lets one deposit; only the private key, which
// never leaves the recipient, fetches and deletes. Since a deposit may be
// made with the key of any epoch a contact knows, and is kept up to
// MaxTTL, a recipient drains the addresses of every epoch from
// Epoch(now - MaxTTL) to Epoch(now) + 1 (clocks drift).
//
// Without the secret, the addresses of two epochs are outputs of SHA-256
// over independent-looking public keys: nothing in them links one to the
// other or to a PeerID. testdata/kat.txt holds known answers computed
// with OpenSSL (see testdata/README.md).
//
// # Threat model
//
// Holders are untrusted infrastructure: anyone can run one, and the DHT
// picks them by distance to the address.
//
//   - A holder sees an address, opaque envelopes (end-to-end encrypted,
//     padded by e2e, naming neither party), their sizes, expiries and
//     arrival times. It cannot read or forge them (e2e authenticates
//     them), nor tell whose mailbox an address is from the address alone.
//   - A deposit names no sender, but the holder sees the PeerID and IP of
//     the connection the deposit arrives on, and the fetch arrives on the
//     recipient's connection. A holder (or colluding holders) therefore
//     learns "PeerID X deposited n envelopes of these sizes at address A
//     at these times" and "PeerID Y fetched A": within one epoch, who
//     writes to whom. To deny it that, a node deposits and fetches from a
//     throwaway libp2p identity (a separate host with a random key, not
//     its own PeerID), ideally over a relay. This package takes the host
//     as a parameter for that reason; choosing it is the node's business.
//     Rotation limits what one holder learns to one epoch per address.
//   - DHT observers see lookups for an address, from the PeerID that
//     looks it up (the same caveat applies).
//   - A contact can deposit, not fetch or delete. A contact or stranger
//     who knows an address can fill it up to the per-address quota (this
//     delays new mail until the recipient drains it; it never evicts
//     mail), at the per-depositor rate limit.
//   - A holder can drop, delay, replay or withhold envelopes and lie
//     about having stored them. Replication to several holders and
//     end-to-end acknowledgements (the chat layer) cover that; e2e
//     discards replays. A fetch or ack proof is bound to the holder's
//     PeerID, a fresh nonce and the address, so a holder cannot replay
//     it at another holder or later.
//   - Compromise of one epoch's private key exposes that epoch's mailbox
//     (fetch and delete, still only ciphertext); of the secret, every
//     epoch's. Addresses have no forward secrecy: they are pseudonyms.
//   - At rest, a holder keeps only address, envelope and expiry (and, for
//     acknowledged envelopes, address, ID and expiry), in store
//     namespaces, which the store encrypts and seals. It keeps no
//     depositor or fetcher PeerID, and logs none next to an address.
//
// # Protocol /discordopus/mailbox/1
//
// One request per stream. Each frame is
//
//	frame = uvarint length || body       1 <= length <= the direction's limit
//	body  = protobuf { 1: version (varint, 1)  2: kind (varint)  ...fields of the kind }
//
// The reader checks the length before it allocates. Unknown field numbers
// are skipped (a newer peer may add some); a known field with the wrong
// wire type, repeated when it is singular, out of place for the kind, or
// missing when required makes the frame malformed. Fields:
//
//	3 address   32 bytes          10 nonce       32 bytes
//	4 envelope  1..MaxEnvelope    11 public key  32 bytes (Ed25519)
//	5 ttl       varint, seconds   12 signature   64 bytes
//	6 expires   varint, Unix ms   13 item        { 1: id  2: envelope  3: expires }, repeated
//	7 id        32 bytes          14 more        varint, 0 or 1
//	8 limit     varint            15 code        varint (error codes below)
//	9 cursor    32 bytes          16 message     text, at most 512 bytes
//	                              17 retry after varint, milliseconds
//
// Kinds and their fields (required, [optional]):
//
//	client -> holder                     holder -> client
//	1 DEPOSIT    address envelope [ttl]   5 CHALLENGE nonce
//	2 FETCH      address [limit] [cursor] 7 OK        [id expires]
//	3 ACK        address id x 1..1024     8 ENVELOPES [item x 0..1024] [more]
//	4 REPLICATE  address envelope expires 9 ERROR     code [message] [retry after]
//	6 PROOF      public key signature
//
// Limits: a client frame is at most MaxEnvelope + 1 KiB, a holder frame
// at most 1 MiB + 1 KiB (an ENVELOPES page); CHALLENGE, PROOF, OK and
// ERROR are read with a limit of 1 KiB. A stream lasts at most 10 s at
// the holder; every client call has a deadline (10 s unless ctx has one).
//
// State machine at the holder:
//
//	read request --malformed/oversize--> ERROR, close
//	DEPOSIT, REPLICATE --> OK {id, expires} | ERROR, close
//	FETCH, ACK --> CHALLENGE {random nonce}
//	           --> read PROOF --bad key or signature--> ERROR unauthorized, close
//	           --> FETCH: ENVELOPES page; ACK: delete, OK; close
//
// The client writes its request, then (FETCH, ACK) reads the challenge,
// writes the proof, and closes its side; it reads one answer. ERROR may
// come in place of any holder frame.
//
// The proof is an Ed25519 signature, by the epoch key, over
//
//	domain || 0x00 || uvarint(len(holder)) || holder PeerID || nonce || address [|| id...]
//
// with domain "discordopus/mailbox/v1/fetch", or "discordopus/mailbox/v1/ack"
// followed by the ACK's ids in request order. The holder accepts it only if
// SHA-256("discordopus/mailbox/v1/address" || public key) is the address
// and the signature verifies; anything else is ERROR unauthorized.
//
// An envelope's id is SHA-256 of its bytes: the client checks it in OK
// and in every item (an item whose id does not match is dropped), and a
// second deposit of the same bytes at the same address is a no-op that
// answers OK with the first expiry. A FETCH page holds the live envelopes
// with id > cursor in id order, at most limit (default 256, at most 1024)
// and at most 1 MiB of items; more = 1 says to ask again with the last id
// as cursor. Fetch walks the pages, each on a new stream with a new
// challenge, up to 64 MiB per call; it insists that ids increase.
//
// Error codes: 1 malformed frame (ErrBadFrame), 2 envelope too large
// (ErrTooLarge), 3 per-address quota (ErrQuotaExceeded), 4 holder out of
// space (ErrMailboxFull), 5 rate limited or busy (ErrRateLimited, with
// retry after), 6 unauthorized (ErrUnauthorized), 7 already expired
// (ErrExpired), 8 holder failure and unknown codes (ErrHolderFailed).
//
// # Holder rules and defaults
//
//   - TTL: a deposit's ttl of 0 means DefaultTTL (14 days); it is clamped
//     to [MinTTL, MaxTTL] = [1 h, 30 days]. A sender asking for less than
//     an hour gets an hour: expiry exists to bound storage, and deletion
//     is the recipient's ack. OK carries the expiry actually set.
//   - REPLICATE hands over an envelope with its absolute expiry, from one
//     holder to another: refused with ErrExpired once it has passed, and
//     as malformed if it is more than MaxTTL + 5 min (clock skew) ahead.
//     It is subject to the same size and quota checks as a deposit, and
//     to a rate limit of its own.
//   - Size: envelopes of 1 to MaxEnvelope (72 KiB) bytes; a holder may
//     set a lower limit (ServerOptions.MaxEnvelope).
//   - Quotas: per address at most MaxPerAddress envelopes (1000) and
//     MaxBytesPerAddress bytes of envelopes (32 MiB) -> ErrQuotaExceeded;
//     over all addresses MaxTotalBytes (1 GiB) -> ErrMailboxFull. Expired
//     envelopes are collected before a quota refuses; unexpired mail is
//     never evicted. Bytes count envelope bytes; the disk holds about
//     150 bytes more per envelope, plus Badger's garbage until its GC.
//   - Rate: DepositsPerSecond (20) with Burst (200) per depositing PeerID,
//     a token bucket on the injectable clock; REPLICATE has its own
//     (100 per second, burst 1000). At most 128 streams are served at once;
//     more get ERROR rate limited (busy).
//   - ACK deletes the listed envelopes of that address (ids it does not
//     hold are ignored) and remembers each deleted (address, id) until the
//     envelope's expiry, so that a late REPLICATE or re-deposit of the same
//     bytes answers OK without storing them again.
//   - Unknown address on FETCH: an empty page (after the proof), like an
//     empty mailbox.
//
// # Storage
//
// Namespaces of the node's store, keys address || id (64 bytes), each
// record with store TTL = its expiry:
//
//	mailbox        version 0x01 || expires (8 bytes, Unix ms, big-endian) || envelope
//	mailbox-index  version 0x01 || expires || envelope length (4 bytes)
//	mailbox-acked  version 0x01 || expires
//
// An envelope and its index record are written and deleted in one batch.
// NewServer rebuilds the accounting (per-address count and bytes, total
// bytes) from mailbox-index, which holds no envelope bytes, so a restart
// keeps both mail and quotas. The GC loop (Serve, every minute) deletes
// expired envelopes and gives their bytes back. Writes are not fsynced one
// by one: they survive a crash of the process; replication at several
// holders is what survives the loss of one.
package mailbox
