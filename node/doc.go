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
package node
