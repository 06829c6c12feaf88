package node

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"

	golog "github.com/ipfs/go-log/v2"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
)

// Flags are the command-line flags both binaries share. Each one, when
// given, overrides the config file.
type Flags struct {
	fs           *flag.FlagSet
	role         Role
	ConfigPath   string
	DataDir      string
	Listen       stringList
	Bootstrap    stringList
	MDNS         bool
	DHTMode      string
	PrivateAddrs bool
	LogLevel     string
	Metrics      string
	Mailbox      bool
	Relay        bool
}

// Register adds the shared flags to fs.
func (f *Flags) Register(fs *flag.FlagSet, r Role) {
	f.fs, f.role = fs, r
	fs.StringVar(&f.ConfigPath, "config", "", "config file (default $XDG_CONFIG_HOME/"+r.appName()+"/config.json)")
	fs.StringVar(&f.DataDir, "data-dir", "", "data directory (default $XDG_DATA_HOME/"+r.appName()+")")
	fs.Var(&f.Listen, "listen", "multiaddr to listen on; repeat or comma-separate (replaces the config's list)")
	fs.Var(&f.Bootstrap, "bootstrap-peer", "bootstrap peer multiaddr ending in /p2p/<PeerID>; repeat or comma-separate (added to the config's)")
	fs.BoolVar(&f.MDNS, "mdns", DefaultConfig(r).MDNS, "find peers on the local network by mDNS")
	fs.StringVar(&f.DHTMode, "dht-mode", "", "DHT mode: auto, server or client")
	fs.BoolVar(&f.PrivateAddrs, "private-addrs", false, "keep loopback and private addresses in the DHT (LAN-only networks and tests)")
	fs.StringVar(&f.LogLevel, "log-level", "", "log level: debug, info, warn or error")
	fs.BoolVar(&f.Mailbox, "mailbox", DefaultConfig(r).Mailbox, "serve the mailbox role: hold sealed messages for people who are offline")
	fs.BoolVar(&f.Relay, "relay", DefaultConfig(r).Relay, "serve the relay role: carry encrypted connections for peers that cannot be reached directly")
	if r == RoleInfrastructure {
		fs.StringVar(&f.Metrics, "metrics", "", "Prometheus endpoint host:port, \"off\" to disable (default 127.0.0.1:9464)")
	}
}

// ConfigFile is the config file's path: --config, else the default.
func (f *Flags) ConfigFile() (string, error) {
	if f.ConfigPath != "" {
		return f.ConfigPath, nil
	}
	return DefaultConfigPath(f.role)
}

// Resolve loads the config file and applies the flags that were given. It
// returns the config and the data directory.
func (f *Flags) Resolve() (Config, string, error) {
	path, err := f.ConfigFile()
	if err != nil {
		return Config{}, "", err
	}
	cfg, err := LoadConfig(path, f.role, f.ConfigPath != "")
	if err != nil {
		return cfg, "", err
	}
	f.fs.Visit(func(fl *flag.Flag) {
		switch fl.Name {
		case "listen":
			cfg.Listen = f.Listen
		case "bootstrap-peer":
			cfg.Bootstrap = append(cfg.Bootstrap, f.Bootstrap...)
		case "mdns":
			cfg.MDNS = f.MDNS
		case "dht-mode":
			cfg.DHTMode = f.DHTMode
		case "private-addrs":
			cfg.PrivateAddrs = f.PrivateAddrs
		case "log-level":
			cfg.LogLevel = f.LogLevel
		case "mailbox":
			cfg.Mailbox = f.Mailbox
		case "relay":
			cfg.Relay = f.Relay
		case "metrics":
			cfg.Metrics = f.Metrics
			if f.Metrics == "off" {
				cfg.Metrics = ""
			}
		}
	})
	if err := cfg.Validate(); err != nil {
		return cfg, "", err
	}
	dir := f.DataDir
	if dir == "" {
		if dir, err = DefaultDataDir(f.role); err != nil {
			return cfg, "", err
		}
	}
	return cfg, dir, nil
}

// NewLogger writes text logs at cfg's level to w. It also quiets libp2p's
// own loggers, which otherwise repeat on stderr the errors we report in our
// own words; at debug level they say what they have to say, and
// GOLOG_LOG_LEVEL in the environment still wins.
func NewLogger(cfg Config, w io.Writer) *slog.Logger {
	level, _ := ParseLogLevel(cfg.LogLevel)
	if os.Getenv("GOLOG_LOG_LEVEL") == "" {
		if level <= slog.LevelDebug {
			golog.SetAllLoggers(golog.LevelWarn)
		} else {
			golog.SetAllLoggers(golog.LevelFatal)
		}
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}

// ExpectedAddrs is where a node with cfg will be reachable, for printing
// before it runs: unspecified IPs are expanded to the machine's interface
// addresses, and port-0 addresses, not known until then, are left out.
func ExpectedAddrs(cfg Config) ([]ma.Multiaddr, error) {
	listen, err := cfg.ListenAddrs()
	if err != nil {
		return nil, err
	}
	var fixed []ma.Multiaddr
	for _, a := range listen {
		if port, err := a.ValueForProtocol(ma.P_TCP); err == nil && port == "0" {
			continue
		}
		if port, err := a.ValueForProtocol(ma.P_UDP); err == nil && port == "0" {
			continue
		}
		fixed = append(fixed, a)
	}
	ifaces, err := manet.InterfaceMultiaddrs()
	if err != nil {
		return nil, fmt.Errorf("list interface addresses: %w", err)
	}
	return manet.ResolveUnspecifiedAddresses(fixed, ifaces)
}

// stringList is a repeatable, comma-separable flag.
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, ",") }

func (l *stringList) Set(s string) error {
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			*l = append(*l, v)
		}
	}
	return nil
}

// MetricsHostIsLoopback reports whether addr (host:port) binds to loopback only.
func MetricsHostIsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
