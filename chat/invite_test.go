package chat

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	"google.golang.org/protobuf/encoding/protowire"
)

func testPeer(t testing.TB) peer.ID {
	t.Helper()
	_, pub, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestInviteRoundTrip(t *testing.T) {
	id := testPeer(t)
	inv := Invite{Peer: id, Addrs: []ma.Multiaddr{
		ma.StringCast("/ip4/203.0.113.7/tcp/7405"),
		ma.StringCast("/ip6/2001:db8::1/udp/7405/quic-v1"),
	}}
	s := inv.String()
	if !LooksLikeInvite(s) {
		t.Fatalf("%q does not look like an invite", s)
	}
	got, err := ParseInvite("  " + s + "\n")
	if err != nil {
		t.Fatal(err)
	}
	if got.Peer != id || len(got.Addrs) != 2 || !got.Addrs[0].Equal(inv.Addrs[0]) || !got.Addrs[1].Equal(inv.Addrs[1]) {
		t.Fatalf("round trip: got %+v, want %+v", got, inv)
	}
}

// TestInviteSkipsUnknownFields shows that a later version's extra fields do
// not break this reader.
func TestInviteSkipsUnknownFields(t *testing.T) {
	id := testPeer(t)
	b, _ := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(Invite{Peer: id}.String(), invitePrefix))
	b = protowire.AppendTag(b, 9, protowire.BytesType)
	b = protowire.AppendBytes(b, []byte("Alice"))
	b = protowire.AppendTag(b, 10, protowire.VarintType)
	b = protowire.AppendVarint(b, 42)
	got, err := ParseInvite(invitePrefix + base64.RawURLEncoding.EncodeToString(b))
	if err != nil {
		t.Fatal(err)
	}
	if got.Peer != id {
		t.Fatalf("peer %s, want %s", got.Peer, id)
	}
}

func TestInviteCapsAddresses(t *testing.T) {
	inv := Invite{Peer: testPeer(t)}
	for range MaxInviteAddrs + 5 {
		inv.Addrs = append(inv.Addrs, ma.StringCast("/ip4/203.0.113.7/tcp/7405"))
	}
	got, err := ParseInvite(inv.String())
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Addrs) != MaxInviteAddrs {
		t.Fatalf("%d addresses, want the first %d", len(got.Addrs), MaxInviteAddrs)
	}
}

func TestParseInviteRejects(t *testing.T) {
	id := testPeer(t)
	enc := func(f func([]byte) []byte) string {
		return invitePrefix + base64.RawURLEncoding.EncodeToString(f(nil))
	}
	version := func(b []byte, v uint64) []byte {
		b = protowire.AppendTag(b, 1, protowire.VarintType)
		return protowire.AppendVarint(b, v)
	}
	withPeer := func(b []byte) []byte {
		b = protowire.AppendTag(b, 2, protowire.BytesType)
		return protowire.AppendBytes(b, []byte(id))
	}
	var tooMany []byte
	tooMany = withPeer(version(tooMany, 1))
	for range MaxInviteAddrs + 1 {
		tooMany = protowire.AppendTag(tooMany, 3, protowire.BytesType)
		tooMany = protowire.AppendBytes(tooMany, ma.StringCast("/ip4/203.0.113.7/tcp/1").Bytes())
	}
	cases := []struct{ name, in string }{
		{"empty", ""},
		{"no prefix", "hello"},
		{"bad base64", invitePrefix + "!!!"},
		{"too long", invitePrefix + strings.Repeat("A", MaxInviteLen)},
		{"no version", enc(func(b []byte) []byte { return withPeer(b) })},
		{"future version", enc(func(b []byte) []byte { return withPeer(version(b, 2)) })},
		{"no peer", enc(func(b []byte) []byte { return version(b, 1) })},
		{"bad peer", enc(func(b []byte) []byte {
			b = version(b, 1)
			b = protowire.AppendTag(b, 2, protowire.BytesType)
			return protowire.AppendBytes(b, []byte("not a peer id"))
		})},
		{"bad address", enc(func(b []byte) []byte {
			b = withPeer(version(b, 1))
			b = protowire.AppendTag(b, 3, protowire.BytesType)
			return protowire.AppendBytes(b, []byte{0xff, 0xff, 0xff})
		})},
		{"truncated field", enc(func(b []byte) []byte {
			b = version(b, 1)
			b = protowire.AppendTag(b, 2, protowire.BytesType)
			return protowire.AppendVarint(b, 100) // length with no bytes after it
		})},
		{"too many addresses", invitePrefix + base64.RawURLEncoding.EncodeToString(tooMany)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := ParseInvite(c.in); !errors.Is(err, ErrBadInvite) {
				t.Fatalf("ParseInvite(%.40q) = %v, want ErrBadInvite", c.in, err)
			}
		})
	}
}

func FuzzParseInvite(f *testing.F) {
	f.Add(Invite{Peer: testPeer(f), Addrs: []ma.Multiaddr{ma.StringCast("/ip4/127.0.0.1/tcp/1")}}.String())
	f.Add(invitePrefix)
	f.Add("DO1CAE")
	f.Fuzz(func(t *testing.T, s string) {
		inv, err := ParseInvite(s)
		if err != nil {
			if !errors.Is(err, ErrBadInvite) {
				t.Fatalf("error %v is not ErrBadInvite", err)
			}
			return
		}
		again, err := ParseInvite(inv.String())
		if err != nil || again.Peer != inv.Peer || len(again.Addrs) != len(inv.Addrs) {
			t.Fatalf("re-encoding %+v: %+v, %v", inv, again, err)
		}
	})
}

func TestParseContactRef(t *testing.T) {
	id := testPeer(t)
	inv, err := ParseContactRef("  " + id.String() + "\n")
	if err != nil || inv.Peer != id || len(inv.Addrs) != 0 {
		t.Fatalf("ParseContactRef(PeerID) = %+v, %v", inv, err)
	}
	full := Invite{Peer: id}.String()
	if inv, err := ParseContactRef(full); err != nil || inv.Peer != id {
		t.Fatalf("ParseContactRef(invite) = %+v, %v", inv, err)
	}
	for _, bad := range []string{"", "bob", "DO1!!", "Qm"} {
		if _, err := ParseContactRef(bad); !errors.Is(err, ErrBadInvite) {
			t.Errorf("ParseContactRef(%q) = %v, want ErrBadInvite", bad, err)
		}
	}
}

// An invite may suggest a name; AddContact takes it when no name is given,
// and an invite whose name is no valid contact name is refused whole.
func TestInviteName(t *testing.T) {
	inv := Invite{Peer: testPeer(t), Name: "Zoë"}
	got, err := ParseInvite(inv.String())
	if err != nil || got.Name != "Zoë" || got.Peer != inv.Peer {
		t.Fatalf("round trip: %+v, %v", got, err)
	}
	for _, bad := range []string{"a\nb", " padded", strings.Repeat("n", MaxNameLen+1)} {
		b, _ := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(Invite{Peer: inv.Peer}.String(), invitePrefix))
		b = protowire.AppendTag(b, 4, protowire.BytesType)
		b = protowire.AppendString(b, bad)
		if _, err := ParseInvite(invitePrefix + base64.RawURLEncoding.EncodeToString(b)); !errors.Is(err, ErrBadInvite) {
			t.Errorf("name %q: %v, want ErrBadInvite", bad, err)
		}
	}
}
