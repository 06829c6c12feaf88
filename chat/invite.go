package chat

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	"google.golang.org/protobuf/encoding/protowire"
)

// Invite bounds.
const (
	MaxInviteLen   = 4096
	MaxInviteAddrs = 32
	invitePrefix   = "DO1"
	inviteVersion  = 1
)

// ErrBadInvite is an invite that cannot be read.
var ErrBadInvite = errors.New("invalid invite")

// Invite is what someone needs to reach a person's node, and the name
// they go by: a suggestion the one adding them may keep or change.
type Invite struct {
	Peer  peer.ID
	Addrs []ma.Multiaddr
	Name  string // optional; a valid contact name when set
}

// String encodes the invite.
func (inv Invite) String() string {
	var b []byte
	b = protowire.AppendTag(b, 1, protowire.VarintType)
	b = protowire.AppendVarint(b, inviteVersion)
	b = protowire.AppendTag(b, 2, protowire.BytesType)
	b = protowire.AppendBytes(b, []byte(inv.Peer))
	for i, a := range inv.Addrs {
		if i == MaxInviteAddrs {
			break
		}
		b = protowire.AppendTag(b, 3, protowire.BytesType)
		b = protowire.AppendBytes(b, a.Bytes())
	}
	if inv.Name != "" {
		b = protowire.AppendTag(b, 4, protowire.BytesType)
		b = protowire.AppendString(b, inv.Name)
	}
	return invitePrefix + base64.RawURLEncoding.EncodeToString(b)
}

// AddrInfo is the invite as libp2p dials it.
func (inv Invite) AddrInfo() peer.AddrInfo { return peer.AddrInfo{ID: inv.Peer, Addrs: inv.Addrs} }

// LooksLikeInvite reports whether s is meant to be an invite (it may still
// be invalid).
func LooksLikeInvite(s string) bool { return strings.HasPrefix(strings.TrimSpace(s), invitePrefix) }

// ParseContactRef reads what a user adds a contact by: an invite, or a
// bare PeerID (whose addresses the DHT then supplies).
func ParseContactRef(s string) (Invite, error) {
	s = strings.TrimSpace(s)
	if LooksLikeInvite(s) {
		return ParseInvite(s)
	}
	id, err := peer.Decode(s)
	if err != nil {
		return Invite{}, fmt.Errorf("%w: neither an invite (DO1...) nor a PeerID", ErrBadInvite)
	}
	return Invite{Peer: id}, nil
}

// ParseInvite decodes an invite string.
func ParseInvite(s string) (Invite, error) {
	s = strings.TrimSpace(s)
	if len(s) > MaxInviteLen {
		return Invite{}, fmt.Errorf("%w: longer than %d characters", ErrBadInvite, MaxInviteLen)
	}
	if !strings.HasPrefix(s, invitePrefix) {
		return Invite{}, fmt.Errorf("%w: does not start with %q", ErrBadInvite, invitePrefix)
	}
	b, err := base64.RawURLEncoding.DecodeString(s[len(invitePrefix):])
	if err != nil {
		return Invite{}, fmt.Errorf("%w: %w", ErrBadInvite, err)
	}
	var inv Invite
	var version uint64
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return Invite{}, fmt.Errorf("%w: %w", ErrBadInvite, protowire.ParseError(n))
		}
		b = b[n:]
		switch {
		case num == 1 && typ == protowire.VarintType:
			version, n = protowire.ConsumeVarint(b)
		case num == 2 && typ == protowire.BytesType:
			var v []byte
			v, n = protowire.ConsumeBytes(b)
			if n >= 0 {
				inv.Peer, err = peer.IDFromBytes(v)
				if err != nil {
					return Invite{}, fmt.Errorf("%w: peer: %w", ErrBadInvite, err)
				}
			}
		case num == 3 && typ == protowire.BytesType:
			var v []byte
			v, n = protowire.ConsumeBytes(b)
			if n >= 0 {
				if len(inv.Addrs) == MaxInviteAddrs {
					return Invite{}, fmt.Errorf("%w: more than %d addresses", ErrBadInvite, MaxInviteAddrs)
				}
				a, err := ma.NewMultiaddrBytes(v)
				if err != nil {
					return Invite{}, fmt.Errorf("%w: address: %w", ErrBadInvite, err)
				}
				inv.Addrs = append(inv.Addrs, a)
			}
		case num == 4 && typ == protowire.BytesType:
			var v []byte
			v, n = protowire.ConsumeBytes(b)
			if n >= 0 {
				if CheckName(string(v)) != nil {
					return Invite{}, fmt.Errorf("%w: %w", ErrBadInvite, ErrBadName)
				}
				inv.Name = string(v)
			}
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return Invite{}, fmt.Errorf("%w: %w", ErrBadInvite, protowire.ParseError(n))
		}
		b = b[n:]
	}
	if version != inviteVersion {
		return Invite{}, fmt.Errorf("%w: version %d, want %d", ErrBadInvite, version, inviteVersion)
	}
	if inv.Peer == "" {
		return Invite{}, fmt.Errorf("%w: names no peer", ErrBadInvite)
	}
	return inv, nil
}
