// Package dht is DiscordOpus's private Kademlia network: peer routing by
// PeerID and signed records, on go-libp2p-kad-dht under our own protocol.
//
// # Network
//
// Every node speaks /discordopus/kad/1.0.0 (protocol prefix "/discordopus")
// and nothing else: a node of the public IPFS DHT (/ipfs/kad/1.0.0) shares no
// protocol with us, so it can neither enter our routing tables nor query
// ours, and our records never leak into it.
//
// Infrastructure nodes (discordopusd) run in server mode: they answer
// queries and hold records. Desktop nodes run in auto mode, which turns into
// server mode only once AutoNAT has seen the node publicly reachable; the
// user can force either mode. Note that auto mode stays a client on loopback
// and LAN-only networks, so tests and LAN deployments choose server mode.
//
// # Bootstrap
//
// A node joins by connecting to bootstrap peers: the compiled-in default list
// (which may be empty), the config file and --bootstrap flags. Serve dials
// them concurrently, each with its own deadline; when none answers it says so
// and retries with exponential backoff (1 s doubling to 5 min), and it
// re-bootstraps whenever the routing table empties. With no bootstrap peer
// at all the node still works on its LAN through mDNS (see package node).
// The routing table is refreshed every RefreshInterval (default 10 min).
//
// # Lookups
//
// Every lookup has a deadline: FindPeer on an unreachable target can
// otherwise wait for the whole query to starve. FindPeer applies
// Options.FindPeerTimeout (default 15 s) unless the caller's context ends
// sooner.
//
// # Addresses
//
// In production (the default, AllowPrivateAddrs false) the address filter
// keeps loopback, private and link-local addresses out of what this node
// learns from the DHT, and peers that have only such addresses out of its
// routing table and queries: they are useless to anyone on the internet and
// leak the shape of home networks. What a DHT server hands out about a peer
// is what that peer advertised, so the other half of the rule lives in
// package node: a production host advertises only public addresses. LAN and
// test configurations set AllowPrivateAddrs and keep them.
//
// # Signed record namespaces
//
// Records are stored under keys "/<namespace>/<owner PeerID bytes>". A
// namespace registered with SignedNamespace accepts only values that are a
// SignedRecord signed by the key of the PeerID in the record's key, and
// selects the one with the highest sequence number (newest wins; equal
// sequence numbers with different values are resolved by the larger value
// bytes, so every node picks the same one). The encoding, in
// protobuf wire format:
//
//	message SignedRecord {
//	  uint32 version   = 1; // 1
//	  uint64 seq       = 2; // strictly increasing per owner and namespace
//	  bytes  payload   = 3; // at most the namespace's MaxPayload bytes
//	  bytes  signature = 4; // Ed25519 over the signing input below
//	}
//
// The signature covers "discordopus/dht-record/v1" || 0x00 || key || 0x00 ||
// seq (8 bytes, big endian) || payload, so a signature for one namespace or
// owner cannot be replayed under another. Only the canonical encoding is
// accepted (fields once each, in order, minimal varints) and only Ed25519
// owners, whose signatures are not malleable: so a record has exactly one
// valid byte string, and no one but its owner can make another. A whole
// record is at most MaxRecordSize bytes; the size is checked before anything
// is decoded.
// DHT servers drop a stored record after 48 hours (kad-dht's MaxRecordAge),
// so an owner must republish well within that. Prekey bundles (the next
// protocol to use this) register their namespace, a payload check of their
// own, and the republishing schedule.
//
// # Prekey bundles
//
// A user's prekey bundle (e2e.Bundle, encoded by its MarshalBinary) is the
// payload of their SignedRecord in the namespace "prekeys", key
// "/prekeys/<PeerID bytes>". Every node validates it with PrekeyValidator:
// besides the record rules (signed by the key's owner, highest seq wins),
// the payload must parse as a bundle (at most e2e.MaxBundleSize bytes, the
// namespace's MaxPayload), both prekey signatures must verify, and the
// bundle's identity must be the owner's Ed25519 key, so no one can publish
// prekeys under another's name, nor the owner publish someone else's.
// FetchBundle checks all of it again on the way out: what comes back from
// the network is not trusted to have been validated by anyone.
//
// The owner publishes with a BundlePublisher: at start, every
// RepublishInterval (default 1 h, well within kad's 48 h record lifetime,
// so a record survives its holders churning), and at once when the
// prekeys change (rotation, a one-time prekey used). A failed publish is
// retried after 5 s, doubling to at most 5 min. The sequence number comes
// with the bundle from its source (package keystore), which guarantees it
// never goes backwards; republishing an unchanged bundle sends the same
// bytes (Ed25519 signatures are deterministic), which kad accepts as is.
package dht
