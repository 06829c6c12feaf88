// Package chat holds conversations between contacts. So far it defines the
// invite, the string one person hands another so that the other's node can
// reach them; messages, history and the /discordopus/chat/1 protocol build on
// it.
//
// # Invite
//
// An invite is "DO1" followed by the unpadded base64url encoding of a
// protobuf-wire message:
//
//	message Invite {
//	  uint32 version = 1;          // 1
//	  bytes  peer    = 2;          // the PeerID (binary); its Ed25519 key is inline
//	  repeated bytes addrs = 3;    // binary multiaddrs, without /p2p
//	}
//
// Fields this version does not know are skipped, so later versions can add
// some (a display name, mailbox keys) without breaking older readers. An
// invite string is at most MaxInviteLen characters and holds at most
// MaxInviteAddrs addresses; both are checked before decoding.
package chat
