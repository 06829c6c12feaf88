package ui

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/discordopus/discordopus/chat"
	"github.com/discordopus/discordopus/keystore"
	"github.com/discordopus/discordopus/node"
)

// AppState is where the app is between first start and chatting.
type AppState string

const (
	StateSetup    AppState = "setup"    // no identity yet: onboarding
	StateLocked   AppState = "locked"   // an identity waits for its passphrase
	StateStarting AppState = "starting" // unlocked; the node is starting
	StateRunning  AppState = "running"  // the node runs; everything works
	StateFailed   AppState = "failed"   // the node stopped on an error
)

// State is what /api/state answers.
type State struct {
	State  AppState `json:"state"`
	PeerID string   `json:"peer_id,omitempty"`
	Error  string   `json:"error,omitempty"`
}

// MinPassphrase is the shortest passphrase onboarding accepts. The page
// measures strength and asks for more; this is the floor it cannot talk
// its way under.
const MinPassphrase = 8

// app owns the node: it creates the identity, unlocks it, runs the node
// and stops it, and tells the pages each time the state changes.
type app struct {
	o   Options
	hub *hub

	// publish orders state changes as the pages see them: it is held from
	// a change until its event is out.
	publish sync.Mutex

	mu      sync.Mutex
	state   State
	node    *node.Node
	cancel  context.CancelFunc
	done    chan error // Serve's result
	busy    bool       // a setup or unlock is running
	stopped bool       // the app is shutting down: no node may start now
	// pendingName is a display name chosen at setup whose node did not
	// start; the next unlock applies it, so nothing typed is lost.
	pendingName string
}

func newApp(o Options, h *hub) *app {
	a := &app{o: o, hub: h, state: State{State: StateLocked}}
	if node.RequireIdentity(o.DataDir) != nil {
		a.state.State = StateSetup
	}
	return a
}

func (a *app) current() State {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.state
}

// change runs f under the lock (f changes the state and what goes with
// it) and tells every open page the state that results, in order.
func (a *app) change(f func()) {
	a.publish.Lock()
	defer a.publish.Unlock()
	a.mu.Lock()
	f()
	st := a.state
	a.mu.Unlock()
	a.hub.publish(event{Type: "state", State: &st})
}

// running returns the node, or errLocked before it runs.
func (a *app) running() (*node.Node, *chat.Service, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.state.State != StateRunning || a.node == nil || a.node.Chat() == nil {
		return nil, nil, errLocked
	}
	return a.node, a.node.Chat(), nil
}

// claim marks a setup (want StateSetup) or an unlock (want StateLocked)
// as under way, so that two clicks do not start two nodes, and says in a
// person's words why it cannot be.
func (a *app) claim(want AppState) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	st := a.state.State
	switch {
	case a.stopped:
		return errStopping
	case a.busy:
		return &apiError{status: 409, code: "busy", msg: "Already working on it."}
	case want == StateSetup && st != StateSetup:
		return &apiError{status: 409, code: "exists", msg: "This profile already has an identity: unlock it with its passphrase."}
	case want == StateLocked && st == StateSetup:
		return &apiError{status: 409, code: "no_identity", msg: "There is no identity here yet: create one first."}
	case want == StateLocked && st != StateLocked && st != StateFailed:
		return &apiError{status: 409, code: "unlocked", msg: "DiscordOpus is unlocked already."}
	}
	a.busy = true
	return nil
}

func (a *app) release() {
	a.mu.Lock()
	a.busy = false
	a.mu.Unlock()
}

var errStopping = &apiError{status: 503, code: "stopping", msg: "DiscordOpus is shutting down."}

// setup creates the identity with pass, then starts the node with it.
func (a *app) setup(pass []byte, name string) error {
	defer clear(pass)
	if utf8.RuneCount(bytes.TrimSpace(pass)) < MinPassphrase {
		return &apiError{status: 422, code: "weak_passphrase", msg: fmt.Sprintf("Choose a passphrase of at least %d characters.", MinPassphrase)}
	}
	if name != "" && chat.CheckName(name) != nil {
		return &apiError{status: 422, code: "bad_name", msg: "A display name is 1 to 64 characters, without control characters or spaces at either end."}
	}
	if err := a.claim(StateSetup); err != nil {
		return err
	}
	defer a.release()
	if err := os.MkdirAll(a.o.DataDir, 0o700); err != nil {
		return fmt.Errorf("data directory %s: %w", a.o.DataDir, err)
	}
	ks, err := keystore.Create(node.KeystorePath(a.o.DataDir), pass)
	if err != nil {
		return err
	}
	ks.Close()
	a.mu.Lock()
	a.pendingName = name
	a.mu.Unlock()
	return a.start(pass)
}

// unlock starts the node with pass.
func (a *app) unlock(pass []byte) error {
	defer clear(pass)
	if err := a.claim(StateLocked); err != nil {
		return err
	}
	defer a.release()
	return a.start(pass)
}

// start opens the node (which unlocks the keystore: a wrong passphrase
// fails here and changes nothing) and serves it until the app stops.
func (a *app) start(pass []byte) error {
	// Pages that ask meanwhile see "starting"; the one unlocking waits for
	// its answer, so it is not told: a wrong passphrase must leave it on
	// its unlock screen, with the error.
	a.mu.Lock()
	a.state = State{State: StateStarting}
	a.mu.Unlock()
	n, err := node.New(node.Options{
		Role: node.RoleDesktop, DataDir: a.o.DataDir, Config: a.o.Config, Logger: a.o.NodeLogger,
		Passphrase: func() ([]byte, error) { return bytes.Clone(pass), nil },
	})
	if err != nil {
		a.change(func() { a.state = State{State: StateLocked} })
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	started := false
	a.change(func() {
		if a.stopped {
			return
		}
		a.node, a.cancel, a.done, started = n, cancel, done, true
		a.state = State{State: StateRunning, PeerID: n.ID().String()}
	})
	if !started { // the app began to stop while the node opened
		cancel()
		n.Close()
		return errStopping
	}
	go a.serve(ctx, cancel, n, done)
	go a.forwardChat(ctx, n.Chat())
	return a.applyPendingName(n.Chat())
}

// serve runs the node until the app stops it. Should the node stop by
// itself, the pages are told, and the user may unlock again.
func (a *app) serve(ctx context.Context, cancel context.CancelFunc, n *node.Node, done chan<- error) {
	err := n.Serve(ctx)
	done <- err
	if ctx.Err() != nil {
		return
	}
	cancel()
	a.o.Logger.Error("node stopped", "err", err)
	msg := "The node stopped."
	if err != nil {
		msg = "The node stopped: " + err.Error()
	}
	a.change(func() {
		if a.node == n {
			a.node, a.cancel, a.done = nil, nil, nil
			a.state = State{State: StateFailed, Error: msg}
		}
	})
}

// applyPendingName sets the display name chosen at setup once a node runs.
func (a *app) applyPendingName(svc *chat.Service) error {
	a.mu.Lock()
	name := a.pendingName
	a.mu.Unlock()
	if name == "" {
		return nil
	}
	st := svc.Settings()
	st.DisplayName = name
	if err := svc.SetSettings(st); err != nil {
		return err
	}
	a.mu.Lock()
	a.pendingName = ""
	a.mu.Unlock()
	return nil
}

// stop stops the node, if it runs, waits for it, and lets none start.
func (a *app) stop() error {
	a.mu.Lock()
	a.stopped = true
	cancel, done := a.cancel, a.done
	a.cancel, a.done, a.node = nil, nil, nil
	a.mu.Unlock()
	if cancel == nil {
		return nil
	}
	cancel()
	select {
	case err := <-done:
		return err
	case <-time.After(30 * time.Second):
		return errors.New("the node did not stop within 30 s")
	}
}

// forwardChat publishes the chat service's events to the open pages.
func (a *app) forwardChat(ctx context.Context, svc *chat.Service) {
	events, cancel := svc.Subscribe()
	defer cancel()
	for {
		select {
		case <-ctx.Done():
			return
		case e, ok := <-events:
			if !ok {
				return
			}
			a.hub.publish(event{Type: "chat", Chat: &e})
		}
	}
}

// networkEvery bounds how often a changing network is reported.
const networkEvery = 2 * time.Second

// watchNetwork publishes the network view when it changes, at most every
// networkEvery: connected peers, routing table, bootstrap reachability.
func (a *app) watchNetwork(ctx context.Context) {
	t := time.NewTicker(networkEvery)
	defer t.Stop()
	var last []byte
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n, _, err := a.running()
		if err != nil || a.hub.empty() {
			continue
		}
		nw := networkView(n, a.o.Config)
		b := nw.fingerprint()
		if bytes.Equal(b, last) {
			continue
		}
		last = b
		a.hub.publish(event{Type: "network", Network: &nw})
	}
}
