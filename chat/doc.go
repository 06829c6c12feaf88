// Package chat is one-to-one messaging between contacts: contacts and
// message requests, the message model, history, delivery state, receipts,
// reactions and typing, and the /discordopus/chat/1 protocol that carries
// them end-to-end encrypted over direct libp2p streams.
//
// # Contacts
//
// A contact has a local, stable ID; the conversation belongs to that ID.
// Its identity is its PeerID, which embeds its Ed25519 identity key, so the
// key is pinned the moment the contact is added (by invite or by PeerID).
// Verification compares safety numbers (e2e.SafetyNumber) or checks a
// scanned QR payload. When a person has a new identity, the user adds
// their new invite under the same name with replace: the contact keeps its
// conversation, takes the new PeerID, loses its verified mark, and a
// notice in the conversation says the safety number changed, as Signal
// does. Without replace that is refused (ErrIdentityChange), so a key is
// never silently swapped.
//
// A first message from someone who is not a contact becomes a message
// request: a contact in state Request. Its messages are stored (at most
// MaxRequestMessages) and acknowledged, but nothing is sent back, not even
// read receipts, until the user accepts; blocking drops every later frame
// unread. At most MaxPendingRequests requests are pending; a stranger's
// first message past that is dropped and nothing of it is stored.
//
// # Messages and history
//
// Message IDs are 16 bytes: 6 bytes of Unix milliseconds and 10 random
// bytes, increasing for one sender (see ID). History lives in the store
// under "messages"/<contact ID><message ID>, so a conversation is one key
// range in ID order: both sides show the same order, pages newest first
// are a reverse scan, and a message that arrives twice is recognised by
// its ID and stored once. Text is UTF-8, 1 to MaxTextBytes bytes; the
// sender refuses anything else with a clear error before it is queued.
// Reactions are emoji (a short string with no letters, digits or spaces)
// added or removed by either side. Unread counts are kept per
// conversation and cleared by MarkRead.
//
// Delivery states of an outgoing message: Sending (stored and queued),
// Sent (written to a stream to the contact's node), Delivered (the
// contact's node stored it and acknowledged), Read (the contact read it).
// Read receipts flow only when both sides turned them on (off by default):
// each side tells the other its setting in a Settings item, and a side
// sends Read items only if both are on, and shows them only if its own is.
// Typing indicators are on by default, never stored, never retried, sent
// at most once per 3 s and shown at most once per second per contact.
//
// # Delivery
//
// Send stores the message and an outbox entry ("outbox"/<contact
// ID><item ID>) in one write and returns. A worker per conversation
// connects (the invite's addresses, then the LAN and the DHT, each with a
// deadline), opens a stream, makes sure there is an e2e session (fetching
// the contact's prekey bundle from the DHT for a first message), and sends
// queued items in payloads. Failures back off from 1 s to 5 min; a new
// connection to the contact retries at once. Items stay in the outbox
// until the contact acknowledges them; an item unacknowledged for 10 s is
// sent again (the receiver deduplicates by ID), and so is everything
// unacknowledged when a new stream opens.
//
// Deadlines: reaching the contact 30 s (their addresses, a DHT lookup, the
// dial, relayed or not); the stream, the session and each write 15 s; a
// frame whose first byte has arrived must arrive whole within 30 s (an
// idle stream may stay open as long as the conversation). A connection
// that dies silently (a router renumbered, a laptop moved) is found by a
// liveness ping on each connection to the contact, 5 s, when an
// acknowledgement is overdue or the contact dials anew while we thought we
// were connected (liveness.go); one that does not answer is closed and
// what went out on it is sent again.
//
// # Offline delivery
//
// With a Mailbox (package mailbox, wired by package node), each side's
// Settings item also carries its mailbox keys for the next 30 epochs
// (days), announced again to every contact when fewer than 14 are left.
// When a contact cannot be reached, the worker seals what is queued for
// them (and pending receipts) exactly as for a stream and deposits it in
// their mailbox under the key of the current epoch, for 14 days; those
// items are marked in the outbox so they are not deposited twice, show as
// Sent, and are still sent directly as soon as a stream to the contact
// opens (the contact deduplicates). Acknowledgements travel the same way:
// directly, or through the sender's own mailbox. An item whose mailbox copy
// expires unacknowledged leaves the outbox, and a message shows as Failed,
// so the user can send it again. The node drains its own mailbox (at
// start, on reconnect, periodically) and hands each envelope to
// ReceiveMailbox: an initial message names its sender inside, a follow-up
// is tried against every contact's session (an envelope names no one).
//
// A node that receives a message of a session it does not have (it lost
// its state, say restored from an old backup) sends a restart request; the
// contact then starts a new session from a fresh bundle, keeping the old
// one's states to decrypt what is still in flight, and sends its
// unacknowledged items again. Either side acts on this at most once per
// 30 s, so two confused peers cannot restart each other in a loop. The
// request is not end-to-end authenticated, but it travels on the
// connection libp2p authenticated as the contact's PeerID, and all it can
// cause is a new session.
//
// Every change to a session is stored before the bytes it produced leave
// the node, and what a received message changes (session, history,
// receipts) is stored in one atomic write before it is acknowledged: a
// crash loses nothing and shows nothing twice. These writes are not
// fsynced one by one (that would cap a conversation at a few hundred
// messages a second); they survive a crash of the process, and the store
// flushes them to disk within moments.
//
// # Protocol /discordopus/chat/1
//
// Each side opens its own stream to the other and only writes to it; the
// other side only reads. A stream carries frames:
//
//	frame   = uvarint length || body           (1 <= length <= MaxFrameBytes)
//	body    = protobuf { 1: version (varint, 1)  2: envelope (bytes) | 3: restart request (varint 1) }
//
// The envelope is one e2e message (see package e2e): an initial message
// while the session is unconfirmed, then Double Ratchet messages. It names
// neither party and its length is padded. Its plaintext is a payload:
//
//	payload  = protobuf, each field repeatable, at most 512 fields:
//	  1 message   { 1: id (16 bytes)  2: sent_at (varint, Unix ms)  3: text  4: reply_to (16 bytes) }
//	  2 reaction  { 1: id  2: target message id  3: emoji  4: remove (varint bool) }
//	  3 settings  { 1: id  2: read_receipts (varint bool) }
//	  4 delivered (16-byte id of an item of the peer's this side stored)
//	  5 read      (16-byte id of a message of the peer's the user read)
//	  6 typing    (varint: 1 started, 2 stopped)
//	at most MaxPayloadBytes of plaintext
//
// Unknown fields are skipped, so a newer peer can add items. Messages,
// reactions and settings carry IDs and are acknowledged by a delivered
// item in a later payload; receipts and typing are not acknowledged.
//
// State machine of a stream, at the reader: read a length; if it is 0 or
// over the limit, or the body is not a valid frame, or an authenticated
// payload is malformed, the stream is reset and the connection to the
// peer closed (other conversations go on over their own connections). A
// frame that does not decrypt (a stale session, a blocked contact, a
// stranger past the cap) is dropped; more than 16 in a row end the stream
// the same way. Otherwise the payload is applied and stored, and its items
// are acknowledged.
package chat
