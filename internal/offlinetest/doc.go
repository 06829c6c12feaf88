// Package offlinetest checks offline delivery end to end, at the level of
// the chat service, in one process: a swarm of DHT servers on 127.0.0.1
// holding mailboxes, and two users whose chat services deposit to and
// drain from them, all on one clock the tests move by days. It wires the
// packages as package node does (node itself takes no clock), and holds
// only tests.
package offlinetest
