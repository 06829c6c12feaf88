package ui

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/discordopus/discordopus/chat"
	"github.com/discordopus/discordopus/node"
	"github.com/discordopus/discordopus/store"
)

// Settings are what the settings screen edits. They live in three places,
// each with its owner: the display name and the read-receipt and typing
// choices in chat's settings, the bootstrap list in the config file (it
// applies at the next start), and the notification choices in the
// encrypted store, in the namespace "ui".
type Settings struct {
	DisplayName         string   `json:"display_name"`
	ReadReceipts        bool     `json:"read_receipts"`
	TypingIndicators    bool     `json:"typing_indicators"`
	Bootstrap           []string `json:"bootstrap"`
	Notifications       bool     `json:"notifications"`
	NotificationContent bool     `json:"notification_content"`
}

// notifyPrefs are the app's own choices, stored in the "ui" namespace.
type notifyPrefs struct {
	Off         bool `json:"off,omitempty"`          // notifications off
	HideContent bool `json:"hide_content,omitempty"` // name only, no text
}

var notifyKey = []byte("notifications")

func (s *Server) uiState() (*store.Namespace, error) {
	n, _, err := s.app.running()
	if err != nil {
		return nil, err
	}
	return n.Store().Namespace("ui"), nil
}

func (s *Server) notifyPrefs() (notifyPrefs, error) {
	var p notifyPrefs
	ns, err := s.uiState()
	if err != nil {
		return p, err
	}
	v, err := ns.Get(notifyKey)
	if errors.Is(err, store.ErrNotFound) {
		return p, nil
	}
	if err != nil {
		return p, err
	}
	return p, json.Unmarshal(v, &p)
}

// bootstrapList is the config file's list (the one settings edit), or the
// running config's when there is no file to edit.
func (s *Server) bootstrapList() []string {
	if s.o.ConfigPath != "" {
		if cfg, err := node.LoadConfig(s.o.ConfigPath, node.RoleDesktop, false); err == nil {
			return nonNil(cfg.Bootstrap)
		}
	}
	return nonNil(s.o.Config.Bootstrap)
}

func (s *Server) settings(svc *chat.Service) (Settings, error) {
	cs := svc.Settings()
	np, err := s.notifyPrefs()
	if err != nil {
		return Settings{}, err
	}
	return Settings{
		DisplayName: cs.DisplayName, ReadReceipts: cs.ReadReceipts, TypingIndicators: cs.TypingIndicators,
		Bootstrap: s.bootstrapList(), Notifications: !np.Off, NotificationContent: !np.HideContent,
	}, nil
}

// saveSettings checks everything first, then saves each part; a bad
// bootstrap address changes nothing.
func (s *Server) saveSettings(svc *chat.Service, in Settings) error {
	in.DisplayName = strings.TrimSpace(in.DisplayName)
	if in.DisplayName != "" && chat.CheckName(in.DisplayName) != nil {
		return &apiError{status: 422, code: "bad_name", msg: "A display name is 1 to 64 characters, without control characters."}
	}
	var bootstrap []string
	for _, b := range in.Bootstrap {
		if b = strings.TrimSpace(b); b != "" {
			bootstrap = append(bootstrap, b)
		}
	}
	changeBootstrap := !slices.Equal(bootstrap, s.bootstrapList())
	var cfg node.Config
	if changeBootstrap {
		if s.o.ConfigPath == "" {
			return &apiError{status: 409, code: "no_config", msg: "This run has no config file to save the bootstrap list in."}
		}
		var err error
		if cfg, err = node.LoadConfig(s.o.ConfigPath, node.RoleDesktop, false); err != nil {
			return err
		}
		cfg.Bootstrap = bootstrap
		if _, err := cfg.BootstrapPeers(); err != nil {
			return &apiError{status: 422, code: "bad_bootstrap", msg: fmt.Sprintf("A bootstrap entry is not valid: %v. Each is a multiaddr ending in /p2p/<PeerID>.", err)}
		}
	}
	cs := svc.Settings()
	cs.DisplayName, cs.ReadReceipts, cs.TypingIndicators = in.DisplayName, in.ReadReceipts, in.TypingIndicators
	if err := svc.SetSettings(cs); err != nil {
		return err
	}
	ns, err := s.uiState()
	if err != nil {
		return err
	}
	v, _ := json.Marshal(notifyPrefs{Off: !in.Notifications, HideContent: !in.NotificationContent})
	if err := ns.Put(notifyKey, v, store.Durable()); err != nil {
		return err
	}
	if changeBootstrap {
		return cfg.Save(s.o.ConfigPath)
	}
	return nil
}
