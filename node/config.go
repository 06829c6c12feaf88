package node

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/discordopus/discordopus/dht"
)

// Role is what a node is for: a person's desktop app or a community's
// infrastructure node. Roles differ in defaults and resource limits.
type Role int

const (
	RoleDesktop Role = iota
	RoleInfrastructure
)

func (r Role) String() string {
	if r == RoleInfrastructure {
		return "infrastructure"
	}
	return "desktop"
}

// appName names the XDG directories of each role.
func (r Role) appName() string {
	if r == RoleInfrastructure {
		return "discordopusd"
	}
	return "discordopus"
}

// DefaultBootstrap is the compiled-in bootstrap list, used unless a config
// sets "default_bootstrap": false. It is empty until the project runs public
// bootstrap nodes; until then nodes meet through configured bootstrap peers
// or on their LAN.
var DefaultBootstrap = []string{}

// Config is the node's configuration file (JSON). Flags override it.
type Config struct {
	// Listen holds the multiaddrs to listen on (TCP and QUIC).
	Listen []string `json:"listen"`
	// Bootstrap peers, as multiaddrs ending in /p2p/<PeerID>, are used in
	// addition to the compiled-in list.
	Bootstrap []string `json:"bootstrap"`
	// DefaultBootstrap says whether to use the compiled-in list as well.
	DefaultBootstrap bool `json:"default_bootstrap"`
	// MDNS finds peers on the local network with no infrastructure at all.
	MDNS bool `json:"mdns"`
	// DHTMode is "auto", "server" or "client".
	DHTMode string `json:"dht_mode"`
	// PrivateAddrs keeps loopback and private addresses in the DHT: for a
	// LAN-only deployment or tests. Leave false on the internet.
	PrivateAddrs bool `json:"private_addrs"`
	// Metrics is the host:port of the Prometheus endpoint; empty disables it.
	Metrics string `json:"metrics,omitempty"`
	// LogLevel is debug, info, warn or error.
	LogLevel string `json:"log_level"`
	// Mailbox serves the mailbox role: holding sealed envelopes for people
	// who are offline (see package mailbox). On by default on
	// infrastructure nodes; a desktop that is publicly reachable may opt in.
	Mailbox bool `json:"mailbox"`
	// MailboxMaxBytes bounds the disk the mailbox role may fill with
	// envelopes; 0 means the default, 1 GiB.
	MailboxMaxBytes int64 `json:"mailbox_max_bytes,omitempty"`
	// Relays are relays to reserve a slot at when this node is not
	// reachable (multiaddrs ending in /p2p/<PeerID>), tried before the
	// relays found among the DHT servers.
	Relays []string `json:"relays,omitempty"`
	// Relay serves circuit relay v2: peers that cannot be reached directly
	// (behind strict NATs) reserve a slot here and are reached through it.
	// Off by default; a community's discordopusd turns it on with --relay.
	Relay bool `json:"relay,omitempty"`
	// RelayLimits bound what the relay gives each peer; see RelayLimits.
	RelayLimits RelayLimits `json:"relay_limits,omitzero"`
}

// DefaultPort is where each role listens unless configured otherwise.
func (r Role) DefaultPort() int {
	if r == RoleInfrastructure {
		return 7406
	}
	return 7405
}

// DefaultConfig is the configuration a role runs with when no file says
// otherwise.
func DefaultConfig(r Role) Config {
	port := r.DefaultPort()
	c := Config{
		Listen: []string{
			fmt.Sprintf("/ip4/0.0.0.0/tcp/%d", port),
			fmt.Sprintf("/ip4/0.0.0.0/udp/%d/quic-v1", port),
			fmt.Sprintf("/ip6/::/tcp/%d", port),
			fmt.Sprintf("/ip6/::/udp/%d/quic-v1", port),
		},
		DefaultBootstrap: true,
		MDNS:             true,
		DHTMode:          "auto",
		LogLevel:         "info",
	}
	if r == RoleInfrastructure {
		c.MDNS = false // servers sit on networks where multicast is noise
		c.DHTMode = "server"
		c.Metrics = "127.0.0.1:9464"
		c.Mailbox = true
	}
	return c
}

// DefaultConfigPath is $XDG_CONFIG_HOME/<app>/config.json.
func DefaultConfigPath(r Role) (string, error) {
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("find the config directory: %w", err)
	}
	return filepath.Join(dir, r.appName(), "config.json"), nil
}

// DefaultDataDir is $XDG_DATA_HOME/<app> (~/.local/share/<app>).
func DefaultDataDir(r Role) (string, error) {
	if d := os.Getenv("XDG_DATA_HOME"); d != "" && filepath.IsAbs(d) {
		return filepath.Join(d, r.appName()), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("find the data directory: %w", err)
	}
	return filepath.Join(home, ".local", "share", r.appName()), nil
}

// maxConfigSize bounds the config file we are willing to read.
const maxConfigSize = 1 << 20

// LoadConfig reads path over the role's defaults. A missing file is not an
// error unless required (the user named it with --config).
func LoadConfig(path string, r Role, required bool) (Config, error) {
	c := DefaultConfig(r)
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) && !required {
		return c, nil
	}
	if err != nil {
		return c, fmt.Errorf("read config: %w", err)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxConfigSize+1))
	f.Close()
	if err != nil {
		return c, fmt.Errorf("read config: %w", err)
	}
	if len(b) > maxConfigSize {
		return c, fmt.Errorf("config %s: more than %d bytes; that is not a config file", path, maxConfigSize)
	}
	return parseConfig(b, path, r)
}

// parseConfig decodes a config file's bytes over the role's defaults.
func parseConfig(b []byte, path string, r Role) (Config, error) {
	c := DefaultConfig(r)
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return c, fmt.Errorf("config %s is not valid: %s", path, describeJSONError(b, err))
	}
	if dec.More() {
		return c, fmt.Errorf("config %s is not valid: unexpected data after the JSON object", path)
	}
	if err := c.Validate(); err != nil {
		return c, fmt.Errorf("config %s: %w", path, err)
	}
	return c, nil
}

// describeJSONError adds a line number to encoding/json's byte offsets.
func describeJSONError(b []byte, err error) string {
	var offset int64 = -1
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		offset = syn.Offset
	case errors.As(err, &typ):
		offset = typ.Offset
	}
	if offset < 0 || offset > int64(len(b)) {
		return err.Error()
	}
	line := 1 + bytes.Count(b[:offset], []byte("\n"))
	return fmt.Sprintf("line %d: %v", line, err)
}

// Save writes c to path, creating its directory. It writes a temporary
// file and renames it over path, so a full disk or a crash leaves the old
// config whole.
func (c Config) Save(path string) error {
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("save config: %w", err)
	}
	f, err := os.CreateTemp(dir, ".config-*.json")
	if err != nil {
		return fmt.Errorf("save config: %w", err)
	}
	_, err = f.Write(append(b, '\n'))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("save config: %w", err)
	}
	return nil
}

// Validate checks every value and names the one that is wrong.
func (c Config) Validate() error {
	if _, err := c.ListenAddrs(); err != nil {
		return err
	}
	if _, err := c.BootstrapPeers(); err != nil {
		return err
	}
	if _, err := c.RelayPeers(); err != nil {
		return err
	}
	if _, err := dht.ParseMode(c.DHTMode); err != nil {
		return err
	}
	if err := c.RelayLimits.validate(); err != nil {
		return err
	}
	if c.Metrics != "" {
		if _, _, err := net.SplitHostPort(c.Metrics); err != nil {
			return fmt.Errorf("metrics address %q: %w", c.Metrics, err)
		}
	}
	if _, err := ParseLogLevel(c.LogLevel); err != nil {
		return err
	}
	if c.MailboxMaxBytes < 0 {
		return fmt.Errorf("mailbox_max_bytes %d is negative", c.MailboxMaxBytes)
	}
	return nil
}

// ListenAddrs parses Listen.
func (c Config) ListenAddrs() ([]ma.Multiaddr, error) {
	if len(c.Listen) == 0 {
		return nil, errors.New("no listen address configured")
	}
	out := make([]ma.Multiaddr, 0, len(c.Listen))
	for _, s := range c.Listen {
		a, err := ma.NewMultiaddr(strings.TrimSpace(s))
		if err != nil {
			return nil, fmt.Errorf("listen address %q is not a valid multiaddr: %w", s, err)
		}
		out = append(out, a)
	}
	return out, nil
}

// BootstrapPeers parses the bootstrap list, the compiled-in one included
// when DefaultBootstrap is set. Addresses of one peer are merged.
func (c Config) BootstrapPeers() ([]peer.AddrInfo, error) {
	list := c.Bootstrap
	if c.DefaultBootstrap {
		list = append(append([]string{}, DefaultBootstrap...), list...)
	}
	return parsePeerList("bootstrap", list)
}

// RelayPeers parses the relay list.
func (c Config) RelayPeers() ([]peer.AddrInfo, error) { return parsePeerList("relay", c.Relays) }

// parsePeerList reads multiaddrs ending in /p2p/<PeerID> and merges the
// addresses of each peer; what names the list in errors.
func parsePeerList(what string, list []string) ([]peer.AddrInfo, error) {
	addrs := make([]ma.Multiaddr, 0, len(list))
	for _, s := range list {
		a, err := ma.NewMultiaddr(strings.TrimSpace(s))
		if err != nil {
			return nil, fmt.Errorf("%s address %q is not a valid multiaddr: %w", what, s, err)
		}
		if _, err := peer.AddrInfoFromP2pAddr(a); err != nil {
			return nil, fmt.Errorf("%s address %q must end in /p2p/<PeerID>: %w", what, s, err)
		}
		addrs = append(addrs, a)
	}
	infos, err := peer.AddrInfosFromP2pAddrs(addrs...)
	if err != nil {
		return nil, fmt.Errorf("%s list: %w", what, err)
	}
	return infos, nil
}

// ParseLogLevel reads debug, info, warn or error.
func ParseLogLevel(s string) (slog.Level, error) {
	var l slog.Level
	if s == "" {
		return slog.LevelInfo, nil
	}
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return l, fmt.Errorf("log level %q: want debug, info, warn or error", s)
	}
	return l, nil
}
