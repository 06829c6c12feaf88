package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestUsageErrors: mistakes on the command line are named before anything
// is loaded or started.
func TestUsageErrors(t *testing.T) {
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"bogus"}, `unknown command "bogus"`},
		{[]string{"peers", "extra"}, "takes no arguments"},
		{[]string{"ping"}, "usage: discordopus ping"},
		{[]string{"ping", "a", "b"}, "usage: discordopus ping"},
		{[]string{"id", "--count", "3"}, "flag provided but not defined: -count"},
		{[]string{"run", "--dht-mode", "sometimes"}, `"sometimes"`},
		{[]string{"run", "--bootstrap-peer", "/ip4/1.2.3.4/tcp/1"}, "/p2p/<PeerID>"},
		{[]string{"run", "--config", "/nonexistent/config.json"}, "/nonexistent/config.json"},
	}
	for _, c := range cases {
		var out bytes.Buffer
		err := run(c.args, &out)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("discordopus %v: %v, want an error containing %q", c.args, err, c.want)
		}
	}
	var out bytes.Buffer
	if err := run([]string{"--help"}, &out); err != nil || !strings.Contains(out.String(), "usage: discordopus") {
		t.Errorf("--help: %v %q, want the usage", err, out.String())
	}
	// No command is the app; a UI address off loopback is refused before
	// anything starts.
	config := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(config, []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := run([]string{"--ui-addr", "0.0.0.0:0", "--data-dir", t.TempDir(), "--config", config}, &out)
	if err == nil || !strings.Contains(err.Error(), "only 127.0.0.1") {
		t.Errorf("the app on 0.0.0.0: %v, want a refusal", err)
	}
}
