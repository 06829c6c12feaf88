// Package node is DiscordOpus's composition root: it builds a node from its
// configuration, starts and stops every service, and is the API that the
// binaries (and later the UI) use.
//
// # What a node is made of
//
//   - An exclusive lock on the data directory (<data-dir>/LOCK, flock), so a
//     second instance fails with ErrAlreadyRunning before it asks for a
//     passphrase or touches anything.
//   - An identity. A desktop node unlocks its keystore with the user's
//     passphrase and opens its encrypted store with keys derived from it;
//     an infrastructure node holds no user data and keeps its node key in
//     <data-dir>/node.key (0600, no passphrase) so it can start unattended.
//   - A libp2p host: TCP and QUIC, Noise and TLS, yamux, identify and ping,
//     AutoNAT (a client everywhere; infrastructure nodes also serve it), a
//     resource manager with explicit per-role budgets (limits.go) and a
//     connection manager. Fixed-port listen addresses are checked first, so
//     a taken port is reported by name (ErrPortInUse).
//   - The private DHT (package dht) and, when enabled, mDNS under our own
//     service name "_discordopus._udp", which finds DiscordOpus nodes on the
//     LAN with no infrastructure at all.
//   - The control socket, <data-dir>/control.sock (0600 inside the 0700 data
//     directory): one JSON request line, one JSON response line, for the
//     CLI's status, peers and ping. It will give way to the UI's local API.
//   - On infrastructure nodes, a Prometheus endpoint (127.0.0.1:9464 by
//     default) with the node's gauges and libp2p's own metrics.
//
// # Lifecycle
//
// New acquires everything and binds every listener, but talks to no one.
// Serve runs the services (DHT bootstrap and refresh, store GC, mDNS,
// control socket, metrics) until its context ends, then closes them in
// reverse: DHT, host, store (flushed), keystore (keys zeroed), lock. A
// failed New releases whatever it had acquired, so the user can fix the
// problem and try again.
//
// # Configuration
//
// A JSON file (Config) under the XDG config directory or --config, with
// per-role defaults (DefaultConfig) and flags on top (Flags). Unknown
// fields, bad multiaddrs, bad modes are refused with an error naming the
// file, the line where it can, and the value. An absent default config file
// is not an error; an absent --config file is.
//
// # Addresses
//
// Desktop defaults listen on port 7405, infrastructure on 7406, TCP and
// QUIC, IPv4 and IPv6. In production the DHT keeps loopback and private
// addresses out of what it stores and hands out (dht.PublicAddrs);
// "private_addrs": true keeps them for LAN-only networks and tests. mDNS is
// unaffected: it exists for exactly those private addresses, and the peers
// it finds are dialled directly.
//
// # Reachability
//
// Most people sit behind NATs; every message must still arrive, directly
// where a hole can be punched and through a community relay where not,
// and the user is told which and why (Doctor, `discordopus doctor`, the
// UI's network panel and a chip in each conversation's header).
//
//   - Relays: `discordopusd --relay` runs circuit relay v2 with limits set
//     for conversations, calls and files (RelayLimits: 1 h and 1 GiB per
//     circuit by default, not libp2p's 2 min and 128 KiB), and advertises
//     itself in the DHT every hour (dht.ServiceRelay). A relay carries
//     only the end-to-end encrypted, authenticated libp2p connection
//     between the two people; it sees neither keys nor plaintext.
//   - A desktop takes relay candidates from its config, then from the
//     peers it is connected to that speak the relay protocol, then from
//     the DHT; AutoRelay reserves at them once AutoNAT says the node is
//     not reachable, and tries another 30 s after one fails or refuses.
//   - DCUtR replaces a relayed connection with a hole-punched one where
//     the NATs allow (cone); behind a symmetric NAT the relay stays.
//     UPnP/NAT-PMP asks the router for a port where the node listens
//     beyond loopback.
//   - Chat, the mailbox and DHT lookups all use relayed connections;
//     other protocols wait for a direct one.
//   - When a relay cuts a connection (its limits, or it went away) the
//     node logs it and Doctor says so for that contact until they are
//     connected again; the next message reconnects, through another
//     relay or the same one, or waits in the contact's mailbox. A refused
//     reservation is told in plain words the same way.
//   - Every dial and lookup has a deadline (see dht, chat and mailbox for
//     theirs). A connection that dies silently (a router renumbered, a
//     laptop moved) is found by the chat's liveness ping once an
//     acknowledgement is 10 s overdue, not at the keepalive's timeout.
package node
