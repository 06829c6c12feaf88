// Package mailbox is store-and-forward for people who are offline: sealed
// envelopes wait at mailbox holders under rotating, unlinkable addresses
// until the recipient fetches and acknowledges them. It has the holder's
// side (Server) and the client's (Deposit, Fetch, Ack, Replicate) of the
// /discordopus/mailbox/1 protocol, and replication over the DHT servers
// closest to an address: Network deposits at and drains from several of
// them, Repairer keeps a holder's envelopes at the current closest.
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
//     as a parameter for that reason; package node deposits from one
//     throwaway identity and drains from another, both new at every start,
//     each with a DHT client of its own for the lookups (node/anon.go).
//     One draining identity for the node's uptime still lets a holder that
//     serves several of its epochs link those addresses to each other,
//     and IP addresses show until traffic goes through relays. Address
//     rotation keeps what a holder learns from an address alone to one
//     epoch.
//   - DHT observers see lookups for an address, from the PeerID that
//     looks it up (the same caveat applies).
//   - A contact can deposit, not fetch or delete. A contact or stranger
//     who knows an address can fill it up to the per-address quota (this
//     delays new mail until the recipient drains it; it never evicts
//     mail), at the per-depositor rate limit.
//   - A holder can drop, delay, replay or withhold envelopes and lie
//     about having stored them. Replication to several holders and
//     end-to-end acknowledgements (the chat layer) cover that; e2e
//     discards replays. A holder may stop replicating what it holds, but
//     it cannot make other holders delete anything: only a release signed
//     by the recipient does that. A fetch or ack proof is bound to the
//     holder's PeerID, a fresh nonce and the address, so a holder cannot
//     replay it at another holder or later.
//   - Compromise of one epoch's private key exposes that epoch's mailbox
//     (fetch and delete, still only ciphertext); of the secret, every
//     epoch's. Addresses have no forward secrecy: they are pseudonyms.
//   - At rest, a holder keeps only address, envelope and expiry (and, for
//     acknowledged envelopes, address, ID, expiry, and the epoch's public
//     key with the recipient's release), in store namespaces, which the
//     store encrypts and seals. It keeps no depositor or fetcher PeerID,
//     and logs none next to an address.
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
//	                              18 release     64 bytes (Ed25519), repeated
//	                              19 tombstone   { 1: id  2: expires  3: release }, repeated
//
// Kinds and their fields (required, [optional]):
//
//	client -> holder                     holder -> client
//	1 DEPOSIT    address envelope [ttl]   5 CHALLENGE nonce
//	2 FETCH      address [limit] [cursor] 7 OK        [id expires]
//	3 ACK        address id x 1..1024     8 ENVELOPES [item x 0..1024] [more]
//	             [release x one per id]
//	4 REPLICATE  address envelope expires 9 ERROR     code [message] [retry after]
//	6 PROOF      public key signature     7 OK (to REPLICATE) id expires [public key release]
//	10 RELEASE   address public key
//	             tombstone x 1..512
//
// An ACK carries either no release or one per id (then at most 512 ids,
// to fit the frame limit). OK carries a public key and a release only
// with an id, both or neither.
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
//	RELEASE --> OK | ERROR, close
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
// A release is the recipient's word that an envelope was delivered and
// may be deleted everywhere: an Ed25519 signature, by the epoch key, over
//
//	"discordopus/mailbox/v1/release" || 0x00 || address || id
//
// It names no holder and no nonce, so that it can travel from holder to
// holder; replaying it only deletes what the recipient wanted deleted.
// A holder checks every release it is given (in an ACK, under the proof's
// key; in a RELEASE or an OK, under the public key given, which must hash
// to the address) and refuses the whole frame, ERROR unauthorized, if one
// does not verify. A client drops an OK whose release does not verify as
// malformed.
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
//     (100 per second, burst 1000), which a RELEASE frame also takes a
//     token from. At most 128 streams are served at once;
//     more get ERROR rate limited (busy).
//   - ACK deletes the listed envelopes of that address and remembers each
//     (address, id), a tombstone, with its release if the ACK carries
//     releases: until the envelope's expiry if it was held, else for
//     MaxTTL plus 5 min (no replica outlives that). A RELEASE does the
//     same with the tombstones it carries (never past that bound). A late
//     REPLICATE or re-deposit of a remembered envelope answers OK without
//     storing it; to a REPLICATE the OK carries the release, so that the
//     replicating holder deletes its copy too. Tombstones are bounded,
//     4096 per address and 262144 in all; past that an ACK still deletes,
//     but is not remembered (a late replica may then be delivered twice,
//     and the recipient's e2e layer drops it).
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
//	mailbox-acked  version 0x01 || expires [|| epoch public key (32) || release (64)]
//
// An envelope and its index record are written and deleted in one batch.
// NewServer rebuilds the accounting (per-address count and bytes, total
// bytes) from mailbox-index, which holds no envelope bytes, so a restart
// keeps both mail and quotas. The GC loop (Serve, every minute) deletes
// expired envelopes and gives their bytes back. Writes are not fsynced one
// by one: they survive a crash of the process; replication at several
// holders is what survives the loss of one.
//
// # Replication and repair
//
// A mailbox address is held by the R (Replicas, default 5) DHT servers
// closest to it, by kad's XOR distance over SHA-256 images: key = the
// 32 address bytes. Servers that do not run the mailbox role refuse the
// stream and count as unreachable.
//
// Deposit (Network.Deposit): look up the closest servers (at most 20),
// deposit at the first R concurrently, and for each that refuses or
// cannot be reached (full, over quota, rate limiting, down) try the next
// one down the list, until R stored it or the list is used up. The
// deposit counts as stored once Quorum (default 3) holders answered OK;
// holders still answering then get 2 s more. Otherwise it fails with a
// *QuorumError wrapping ErrNoQuorum and every refusal, so errors.Is
// finds ErrMailboxFull or ErrQuotaExceeded. Each holder sets its own
// expiry from the TTL.
//
// Drain (Network.Drain): for each epoch, in order, fetch from FetchFrom
// (default R) of the closest holders, going down the list past those that
// fail, so a replica missing at one is found at another; merge by
// envelope id (an id is the hash of the bytes, so copies are identical);
// hand each envelope to the caller once, ordered by expiry then id. What
// the caller took is acknowledged, with releases, at every holder that
// had it and at the AckAt (default 2R) closest holders whether they had
// it or not: their tombstones make a replica that arrives later (from a
// holder the recipient did not reach) be refused, and carry the release
// back to that holder.
//
// Repair (Repairer, on every holder, every 10 min): for each address with
// envelopes or signed tombstones, look up the closest servers, take the R
// nearest counting this node, and hand each of them but this node first
// the address's tombstones (RELEASE), then every envelope with its
// original expiry (REPLICATE; a holder that has it answers OK without
// storing it again). An OK carrying a release makes this node delete its
// copy and send that tombstone to all of them, including any that just
// stored the envelope. A holder that was handed everything the address
// has now (envelopes and tombstones) is not handed it again for
// ResyncAfter (6 h): in a steady state a round costs one lookup per
// address; a node that becomes one of the closest gets everything. A
// holder that does not speak the mailbox protocol (known from identify)
// is passed over for the next one. A round looks at most at MaxAddresses addresses and sends at
// most MaxBytes of envelopes (its first address excepted, so every round
// makes progress); the next round goes on after the last address done.
// Every lookup has 30 s and every call CallTimeout (10 s); a round has
// its interval.
//
// A holder keeps what it holds until it expires or the recipient releases
// it, even once it is no longer among the R closest. Its view of who is
// closest is a DHT lookup, which churn, partitions or an attacker placing
// node IDs near an address can make wrong; the new holders may refuse
// (full, over quota), be down, or drop what they are given. Deleting on
// hand-over would turn any such error, or a Sybil next to the address,
// into lost mail; keeping it costs bounded disk (quotas and the TTL) and
// a few extra copies, and the recipient's acknowledgement removes those
// too (repair carries the release to them). Likewise a holder never
// deletes on anyone's word but a release that verifies under the
// address's key.
package mailbox
