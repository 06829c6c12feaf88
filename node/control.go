package node

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// The control socket lets the CLI (`discordopus peers`, `ping`, `id`) ask a
// running node about itself. It is a Unix socket in the data directory,
// which is 0700, so only the node's owner can reach it. Each connection
// carries one JSON request line and one JSON response line.

const (
	maxControlRequest = 64 << 10
	controlTimeout    = 60 * time.Second
)

// controlRequest is one CLI question.
type controlRequest struct {
	Op     string `json:"op"`               // "status", "peers", "ping", "subscribe" or a chat op
	Target string `json:"target,omitempty"` // ping: PeerID, multiaddr or invite
	Count  int    `json:"count,omitempty"`  // ping: how many round trips
	// Chat is the argument of the chat ops (see chatOp).
	Chat *ChatRequest `json:"chat,omitempty"`
}

type controlResponse struct {
	Error  string        `json:"error,omitempty"`
	Status *Status       `json:"status,omitempty"`
	Peers  []PeerInfo    `json:"peers,omitempty"`
	Ping   *PingResult   `json:"ping,omitempty"`
	Chat   *ChatResponse `json:"chat,omitempty"`
	Doctor *Doctor       `json:"doctor,omitempty"`
}

// ErrNotRunning means no node answers on the data directory's control socket.
var ErrNotRunning = errors.New("no DiscordOpus node is running with this data directory")

func listenControl(path string) (net.Listener, error) {
	// We hold the data directory lock, so a socket file left here belongs
	// to a node that died: it is safe to replace.
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("control socket %s: %w", path, err)
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("control socket %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		l.Close()
		return nil, fmt.Errorf("control socket %s: %w", path, err)
	}
	return l, nil
}

// serveControl answers control requests until ctx ends; it returns only
// once every handler has finished, so none outlives the node.
func (n *Node) serveControl(ctx context.Context) error {
	var handlers sync.WaitGroup
	defer handlers.Wait()
	stop := context.AfterFunc(ctx, func() { n.control.Close() })
	defer stop()
	for {
		c, err := n.control.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("control socket: %w", err)
		}
		handlers.Go(func() {
			// Unblock a handler waiting on a silent client at shutdown.
			stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Now()) })
			defer stop()
			n.handleControl(ctx, c)
		})
	}
}

func (n *Node) handleControl(ctx context.Context, c net.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(controlTimeout))
	var req controlRequest
	var resp controlResponse
	line, err := bufio.NewReader(io.LimitReader(c, maxControlRequest)).ReadBytes('\n')
	if len(line) == 0 && errors.Is(err, io.EOF) {
		return // a client checking that the node runs
	}
	if err == nil {
		err = json.Unmarshal(line, &req)
	}
	if err == nil && req.Op == "subscribe" {
		n.streamEvents(ctx, c)
		return
	}
	if err != nil {
		resp.Error = fmt.Sprintf("bad control request: %v", err)
	} else {
		ctx, cancel := context.WithTimeout(ctx, controlTimeout)
		defer cancel()
		switch req.Op {
		case "status":
			s := n.Status()
			resp.Status = &s
		case "peers":
			resp.Peers = n.Peers()
			if resp.Peers == nil {
				resp.Peers = []PeerInfo{}
			}
		case "ping":
			var r PingResult
			r, err = n.Ping(ctx, req.Target, req.Count)
			resp.Ping = &r
		case "doctor":
			d := n.Doctor()
			resp.Doctor = &d
		default:
			resp.Chat, err = n.chatOp(req.Op, req.Chat)
		}
		if err != nil {
			resp.Error = err.Error()
		}
	}
	json.NewEncoder(c).Encode(resp)
}

// Control is a client of a running node's control socket.
type Control struct{ path string }

// DialControl finds the node running with dataDir.
func DialControl(dataDir string) (*Control, error) {
	path := filepath.Join(dataDir, controlSocket)
	c, err := net.DialTimeout("unix", path, time.Second)
	if err != nil {
		return nil, fmt.Errorf("%w (%s)", ErrNotRunning, dataDir)
	}
	c.Close()
	return &Control{path: path}, nil
}

func (c *Control) call(req controlRequest) (controlResponse, error) {
	var resp controlResponse
	conn, err := net.DialTimeout("unix", c.path, time.Second)
	if err != nil {
		return resp, fmt.Errorf("%w: %v", ErrNotRunning, err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(controlTimeout + 5*time.Second))
	if err := json.NewEncoder(conn).Encode(req); err != nil {
		return resp, fmt.Errorf("control request: %w", err)
	}
	if err := json.NewDecoder(io.LimitReader(conn, 16<<20)).Decode(&resp); err != nil {
		return resp, fmt.Errorf("control response: %w", err)
	}
	if resp.Error != "" {
		return resp, errors.New(resp.Error)
	}
	return resp, nil
}

// Status asks the running node for its status.
func (c *Control) Status() (Status, error) {
	resp, err := c.call(controlRequest{Op: "status"})
	if err != nil {
		return Status{}, err
	}
	if resp.Status == nil {
		return Status{}, errors.New("control response: no status")
	}
	return *resp.Status, nil
}

// Doctor asks the running node how it reaches and is reached.
func (c *Control) Doctor() (Doctor, error) {
	resp, err := c.call(controlRequest{Op: "doctor"})
	if err != nil {
		return Doctor{}, err
	}
	if resp.Doctor == nil {
		return Doctor{}, errors.New("control response: no doctor report")
	}
	return *resp.Doctor, nil
}

// Peers asks the running node for its connected peers.
func (c *Control) Peers() ([]PeerInfo, error) {
	resp, err := c.call(controlRequest{Op: "peers"})
	return resp.Peers, err
}

// Ping asks the running node to ping target.
func (c *Control) Ping(target string, count int) (PingResult, error) {
	resp, err := c.call(controlRequest{Op: "ping", Target: target, Count: count})
	if err != nil {
		return PingResult{}, err
	}
	if resp.Ping == nil {
		return PingResult{}, errors.New("control response: no ping result")
	}
	return *resp.Ping, nil
}
