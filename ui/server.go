package ui

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/discordopus/discordopus/node"
)

// CookiePrefix starts the name of the cookie that carries the session
// token after the first visit; the port ends it, because browsers share
// cookies between the ports of one host, and two profiles' pages must not
// overwrite each other's.
const CookiePrefix = "discordopus_"

// contentSecurityPolicy allows the embedded assets and the API on the
// same origin, and nothing else: no inline script, no remote anything.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; " +
	"img-src 'self' data: blob:; connect-src 'self'; font-src 'self'; object-src 'none'; " +
	"base-uri 'none'; frame-ancestors 'none'; form-action 'none'"

// Options configure a Server.
type Options struct {
	DataDir    string
	Config     node.Config
	ConfigPath string // where a changed bootstrap list is saved
	// Addr is the loopback address to listen on; "" is 127.0.0.1 on a
	// random port. Anything not on loopback is refused.
	Addr string
	// Token is the session secret a page or client must present; ""
	// makes a random one, which is the normal case: a new one each run.
	Token  string
	Logger *slog.Logger
	// Assets are the web UI's files (index.html at the root); nil means
	// the ones built into the binary.
	Assets fs.FS
	// NodeLogger receives the node's own logs; nil means Logger.
	NodeLogger *slog.Logger
}

// Server is the desktop app's local web server: the UI, the API, the
// event stream, and the node they drive.
type Server struct {
	o     Options
	ln    net.Listener
	port  string
	token []byte // the session secret: the cookie's value, or a Bearer token
	login struct {
		sync.Mutex
		code []byte // the one-time code in URL; nil once it was used
	}
	app    *app
	hub    *hub
	assets fs.FS
	log    *slog.Logger
}

// New makes the token and binds the listener; Serve serves.
func New(o Options) (*Server, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.NodeLogger == nil {
		o.NodeLogger = o.Logger
	}
	if o.Addr == "" {
		o.Addr = "127.0.0.1:0"
	}
	host, _, err := net.SplitHostPort(o.Addr)
	if err != nil {
		return nil, fmt.Errorf("UI address %q: %w", o.Addr, err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() || ip.To4() == nil {
		return nil, fmt.Errorf("UI address %q: only 127.0.0.1 is allowed: the UI must not be reachable from other machines", o.Addr)
	}
	token := []byte(o.Token)
	if len(token) == 0 {
		token = randomSecret()
	} else if len(token) < 32 {
		return nil, errors.New("UI token: at least 32 characters")
	}
	assets := o.Assets
	if assets == nil {
		assets = builtAssets()
	}
	ln, err := net.Listen("tcp4", o.Addr)
	if err != nil {
		return nil, fmt.Errorf("UI listener: %w", err)
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	s := &Server{o: o, ln: ln, port: port, token: token, assets: assets, log: o.Logger, hub: newHub()}
	s.login.code = randomSecret()
	s.app = newApp(o, s.hub)
	return s, nil
}

// URL is the address to open. It carries a one-time login code, which
// the server trades for the session cookie on the first visit: the link
// may end up in a terminal, a log or a process list, and is worth nothing
// once used.
func (s *Server) URL() string {
	s.login.Lock()
	defer s.login.Unlock()
	if s.login.code == nil {
		return "http://127.0.0.1:" + s.port + "/"
	}
	return "http://127.0.0.1:" + s.port + "/?login=" + url.QueryEscape(string(s.login.code))
}

// randomSecret is 256 bits, URL-safe.
func randomSecret() []byte {
	b := make([]byte, 32)
	rand.Read(b)
	return []byte(base64.RawURLEncoding.EncodeToString(b))
}

// cookieName is this server's session cookie.
func (s *Server) cookieName() string { return CookiePrefix + s.port }

// useLogin checks a login code and spends it.
func (s *Server) useLogin(code string) bool {
	s.login.Lock()
	defer s.login.Unlock()
	if s.login.code == nil || subtle.ConstantTimeCompare([]byte(code), s.login.code) != 1 {
		return false
	}
	s.login.code = nil
	return true
}

// Addr is the listener's address, host:port.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Token is this run's session secret, for clients that present it as a
// Bearer token (tests, scripts).
func (s *Server) Token() string { return string(s.token) }

// Serve serves until ctx ends (or the listener fails), then stops the
// node if one runs. It lets requests under way finish first (for up to
// shutdownWait), so that an unlock in the middle of its key derivation
// does not start a node after the app stopped.
func (s *Server) Serve(ctx context.Context) error {
	srv := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return ctx },
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	go s.app.watchNetwork(ctx)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(s.ln) }()
	var err error
	select {
	case <-ctx.Done():
	case err = <-served: // the listener failed
	}
	s.hub.close()
	sctx, cancel := context.WithTimeout(context.Background(), shutdownWait)
	srv.Shutdown(sctx)
	cancel()
	if err == nil {
		err = <-served
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return errors.Join(err, s.app.stop())
}

// shutdownWait bounds how long Serve waits for requests under way.
const shutdownWait = 10 * time.Second

// Handler is the whole server behind its guard.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	s.routes(mux)
	mux.HandleFunc("GET /api/events", s.events)
	mux.Handle("/", s.static())
	return s.guard(mux)
}

// guard refuses whatever does not come from this run's page: a foreign
// Host header (DNS rebinding), a foreign or missing Origin on anything
// but a plain navigation, a cross-site fetch, and a missing or wrong
// token. It also sets the security headers on every answer.
func (s *Server) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		if !s.ownHost(r.Host) {
			s.refuse(w, r, http.StatusForbidden, "forbidden", "This server answers only to 127.0.0.1:"+s.port+".")
			return
		}
		origin := r.Header.Get("Origin")
		write := r.Method != http.MethodGet && r.Method != http.MethodHead
		upgrade := strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
		site := r.Header.Get("Sec-Fetch-Site") // another port of 127.0.0.1 is "same-site"
		switch {
		case origin != "" && !s.ownOrigin(origin),
			origin == "" && (write || upgrade),
			site == "cross-site" || site == "same-site":
			s.refuse(w, r, http.StatusForbidden, "forbidden", "Requests from other sites are refused.")
			return
		case write && !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json"):
			s.refuse(w, r, http.StatusUnsupportedMediaType, "bad_request", "The API takes JSON (Content-Type: application/json).")
			return
		}
		if code := r.URL.Query().Get("login"); code != "" && r.Method == http.MethodGet && r.URL.Path == "/" {
			if !s.useLogin(code) {
				s.refuse(w, r, http.StatusUnauthorized, "unauthorized", "That link was used already or is from another run: start DiscordOpus again to get a new one.")
				return
			}
			http.SetCookie(w, &http.Cookie{Name: s.cookieName(), Value: string(s.token), Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode})
			http.Redirect(w, r, "/", http.StatusSeeOther)
			return
		}
		if !s.authorized(r) {
			s.refuse(w, r, http.StatusUnauthorized, "unauthorized", "This page is not signed in: open DiscordOpus from the link it printed.")
			return
		}
		if strings.HasPrefix(r.URL.Path, "/api/") {
			h.Set("Cache-Control", "no-store")
		}
		next.ServeHTTP(w, r)
	})
}

func (s *Server) ownHost(host string) bool {
	return host == "127.0.0.1:"+s.port || host == "localhost:"+s.port
}

func (s *Server) ownOrigin(origin string) bool {
	return origin == "http://127.0.0.1:"+s.port || origin == "http://localhost:"+s.port
}

func (s *Server) validToken(t string) bool {
	return subtle.ConstantTimeCompare([]byte(t), s.token) == 1
}

func (s *Server) authorized(r *http.Request) bool {
	if b, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		return s.validToken(b)
	}
	c, err := r.Cookie(s.cookieName())
	return err == nil && s.validToken(c.Value)
}

// refuse answers JSON on the API and a short page elsewhere.
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, status int, code, msg string) {
	s.log.Debug("UI request refused", "path", r.URL.Path, "status", status, "host", r.Host, "origin", r.Header.Get("Origin"))
	if strings.HasPrefix(r.URL.Path, "/api/") {
		writeError(w, &apiError{status: status, code: code, msg: msg})
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	fmt.Fprintf(w, "<!doctype html><meta charset=utf-8><title>DiscordOpus</title><body style=\"background:#313338;color:#dbdee1;font-family:sans-serif;padding:3em\"><h1>DiscordOpus</h1><p>%s</p>", msg)
}

// port reports the numeric port, for tests.
func (s *Server) Port() int {
	p, _ := strconv.Atoi(s.port)
	return p
}
