package node

import (
	"errors"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

func TestLoadConfig(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	const validPeer = "12D3KooWKL1TRRpXPF8Su4ZLqECbZ5icyh328gyzmBTKmdQfyYje"
	cases := []struct {
		name, body string
		wantErr    []string // substrings the error must contain; nil = success
	}{
		{"empty object keeps defaults", `{}`, nil},
		{"valid bootstrap", `{"bootstrap": ["/ip4/203.0.113.7/tcp/7406/p2p/` + validPeer + `"]}`, nil},
		{"bad listen multiaddr", `{"listen": ["/ip4/300.1.2.3/tcp/1"]}`, []string{`listen address "/ip4/300.1.2.3/tcp/1"`}},
		{"bad bootstrap multiaddr", `{"bootstrap": ["not-an-addr"]}`, []string{`bootstrap address "not-an-addr"`}},
		{"bootstrap without peer", `{"bootstrap": ["/ip4/203.0.113.7/tcp/7406"]}`, []string{`"/ip4/203.0.113.7/tcp/7406"`, "/p2p/<PeerID>"}},
		{"bad dht mode", `{"dht_mode": "sometimes"}`, []string{`"sometimes"`}},
		{"bad log level", `{"log_level": "loud"}`, []string{`"loud"`}},
		{"bad metrics address", `{"metrics": "9464"}`, []string{`"9464"`}},
		{"unknown field", `{"listen_on": []}`, []string{"listen_on"}},
		{"corrupt JSON", "{\n  \"mdns\": true,\n  \"listen\": [\n}", []string{"line 4", "not valid"}},
		{"wrong type", "{\n\"mdns\": \"yes\"}", []string{"line 2", "mdns"}},
		{"trailing garbage", `{} {}`, []string{"after the JSON object"}},
		{"binary garbage", "\x00\xff\xfe", []string{"not valid"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := write(strings.ReplaceAll(c.name, " ", "_")+".json", c.body)
			cfg, err := LoadConfig(path, RoleDesktop, true)
			if c.wantErr == nil {
				if err != nil {
					t.Fatal(err)
				}
				if len(cfg.Listen) == 0 {
					t.Fatal("defaults lost")
				}
				return
			}
			if err == nil {
				t.Fatalf("LoadConfig accepted %q", c.body)
			}
			for _, want := range append(c.wantErr, path) {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not mention %q", err, want)
				}
			}
		})
	}
}

func TestLoadConfigMissing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "none.json")
	cfg, err := LoadConfig(path, RoleInfrastructure, false)
	if err != nil {
		t.Fatalf("an absent default config is not an error: %v", err)
	}
	if cfg.DHTMode != "server" || cfg.MDNS {
		t.Fatalf("infrastructure defaults: %+v", cfg)
	}
	if _, err := LoadConfig(path, RoleDesktop, true); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("an absent --config file: %v, want ErrNotExist", err)
	}
}

func TestConfigSaveRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "config.json")
	want := DefaultConfig(RoleDesktop)
	want.Bootstrap = []string{"/ip4/203.0.113.7/tcp/7406/p2p/12D3KooWKL1TRRpXPF8Su4ZLqECbZ5icyh328gyzmBTKmdQfyYje"}
	if err := want.Save(path); err != nil {
		t.Fatal(err)
	}
	got, err := LoadConfig(path, RoleDesktop, true)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(got.Bootstrap, ",") != strings.Join(want.Bootstrap, ",") || got.DHTMode != want.DHTMode {
		t.Fatalf("got %+v, want %+v", got, want)
	}
}

// TestFlagsOverrideConfig: flags that were given win; the rest come from the
// file; a bad flag value is named.
func TestFlagsOverrideConfig(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "c.json")
	os.WriteFile(path, []byte(`{"dht_mode": "client", "mdns": false, "log_level": "warn"}`), 0o600)
	parse := func(args ...string) (Config, string, error) {
		var f Flags
		fs := newFlagSet()
		f.Register(fs, RoleDesktop)
		if err := fs.Parse(append([]string{"--config", path, "--data-dir", dir}, args...)); err != nil {
			t.Fatal(err)
		}
		return f.Resolve()
	}
	cfg, dataDir, err := parse("--dht-mode", "server", "--listen", "/ip4/127.0.0.1/tcp/1,/ip4/127.0.0.1/udp/1/quic-v1")
	if err != nil {
		t.Fatal(err)
	}
	if dataDir != dir || cfg.DHTMode != "server" || cfg.MDNS || cfg.LogLevel != "warn" || len(cfg.Listen) != 2 {
		t.Fatalf("resolved %+v in %s", cfg, dataDir)
	}
	if _, _, err := parse("--listen", "/ip4/nope"); err == nil || !strings.Contains(err.Error(), `"/ip4/nope"`) {
		t.Fatalf("bad --listen: %v", err)
	}
	if _, _, err := parse("--bootstrap-peer", "/dns4/x"); err == nil || !strings.Contains(err.Error(), `"/dns4/x"`) {
		t.Fatalf("bad --bootstrap-peer: %v", err)
	}
}

func newFlagSet() *flag.FlagSet { return flag.NewFlagSet("test", flag.ContinueOnError) }

func TestNewInviteDropsLoopback(t *testing.T) {
	id, _ := peer.Decode("12D3KooWKL1TRRpXPF8Su4ZLqECbZ5icyh328gyzmBTKmdQfyYje")
	addrs := []ma.Multiaddr{
		ma.StringCast("/ip4/127.0.0.1/tcp/7405"),
		ma.StringCast("/ip6/::1/tcp/7405"),
		ma.StringCast("/ip6/fe80::1/tcp/7405"),
		ma.StringCast("/ip4/192.168.1.20/tcp/7405"),
		ma.StringCast("/ip4/203.0.113.7/udp/7405/quic-v1"),
	}
	cfg := DefaultConfig(RoleDesktop)
	inv := NewInvite(cfg, id, addrs)
	if len(inv.Addrs) != 2 || !inv.Addrs[0].Equal(addrs[3]) || !inv.Addrs[1].Equal(addrs[4]) {
		t.Fatalf("invite addrs %v: want the LAN and public ones only", inv.Addrs)
	}
	cfg.PrivateAddrs = true
	if inv := NewInvite(cfg, id, addrs); len(inv.Addrs) != len(addrs) {
		t.Fatalf("with private_addrs the invite keeps all: got %v", inv.Addrs)
	}
}

func FuzzParseConfig(f *testing.F) {
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"listen": ["/ip4/0.0.0.0/tcp/7405"], "bootstrap": ["/ip4/203.0.113.7/tcp/7406/p2p/12D3KooWKL1TRRpXPF8Su4ZLqECbZ5icyh328gyzmBTKmdQfyYje"], "mdns": false, "dht_mode": "server"}`))
	f.Add([]byte("{\n\"mdns\": \"yes\"}"))
	f.Add([]byte(`{"metrics": "127.0.0.1:9464", "log_level": "debug"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		cfg, err := parseConfig(b, "fuzz.json", RoleDesktop)
		if err != nil {
			if !strings.Contains(err.Error(), "fuzz.json") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		// What parses is valid and usable.
		if err := cfg.Validate(); err != nil {
			t.Fatalf("parsed config fails validation: %v", err)
		}
	})
}
