package ui

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/discordopus/discordopus/node"
	"github.com/gorilla/websocket"
)

func testConfig() node.Config {
	c := node.DefaultConfig(node.RoleDesktop)
	c.Listen = []string{"/ip4/127.0.0.1/tcp/0"}
	c.MDNS = false
	c.DefaultBootstrap = false
	c.PrivateAddrs = true
	c.DHTMode = "server"
	return c
}

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// testApp is one app under test: its server, running until the test ends,
// and a client that presents the token as the page would.
type testApp struct {
	t    *testing.T
	srv  *Server
	base string
	stop func()
}

func startApp(t *testing.T, dataDir string) *testApp {
	t.Helper()
	srv, err := New(Options{
		DataDir: dataDir, Config: testConfig(), ConfigPath: filepath.Join(dataDir, "config.json"), Logger: discard(),
		Assets: fstest.MapFS{"index.html": {Data: []byte("<!doctype html><title>t</title>")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	a := &testApp{t: t, srv: srv, base: "http://" + srv.Addr()}
	a.stop = func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("Serve did not return")
		}
	}
	t.Cleanup(func() {
		if ctx.Err() == nil {
			a.stop()
		}
	})
	return a
}

// request sends a request as the page does: own Host, own Origin, token.
func (a *testApp) request(method, path string, body any) *http.Request {
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, a.base+path, r)
	if err != nil {
		a.t.Fatal(err)
	}
	req.Header.Set("Origin", a.base)
	req.Header.Set("Authorization", "Bearer "+a.srv.Token())
	req.Header.Set("Content-Type", "application/json")
	return req
}

// call runs a request and decodes the answer into out (if not nil); it
// returns the status and the error code of a failed call.
func (a *testApp) call(method, path string, in, out any) (int, string) {
	a.t.Helper()
	return do(a.t, a.request(method, path, in), out)
}

func do(t *testing.T, req *http.Request, out any) (int, string) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		var e struct{ Code, Error string }
		json.Unmarshal(b, &e)
		return resp.StatusCode, e.Code
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v in %s", req.Method, req.URL.Path, err, b)
		}
	}
	return resp.StatusCode, ""
}

// must fails the test unless the call succeeds.
func (a *testApp) must(method, path string, in, out any) {
	a.t.Helper()
	if status, code := a.call(method, path, in, out); status != http.StatusOK {
		a.t.Fatalf("%s %s: %d %s", method, path, status, code)
	}
}

// The guard: whatever does not come from this run's page is refused.
func TestGuard(t *testing.T) {
	a := startApp(t, t.TempDir())
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	status := func(req *http.Request) int {
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	cases := []struct {
		name   string
		modify func(*http.Request)
		want   int
	}{
		{"the page itself", func(*http.Request) {}, 200},
		{"no token", func(r *http.Request) { r.Header.Del("Authorization") }, 401},
		{"a wrong token", func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+strings.Repeat("x", 43)) }, 401},
		{"a wrong cookie", func(r *http.Request) {
			r.Header.Del("Authorization")
			r.AddCookie(&http.Cookie{Name: a.srv.cookieName(), Value: "nope"})
		}, 401},
		{"a foreign Origin", func(r *http.Request) { r.Header.Set("Origin", "http://evil.example") }, 403},
		{"another port's Origin", func(r *http.Request) { r.Header.Set("Origin", "http://127.0.0.1:1") }, 403},
		{"a foreign Host (DNS rebinding)", func(r *http.Request) { r.Host = "evil.example:" + a.srv.port }, 403},
		{"a cross-site fetch", func(r *http.Request) { r.Header.Set("Sec-Fetch-Site", "cross-site") }, 403},
		{"a fetch from another port", func(r *http.Request) { r.Header.Set("Sec-Fetch-Site", "same-site") }, 403},
	}
	for _, c := range cases {
		for _, method := range []string{"GET", "POST"} {
			path, body := "/api/state", any(nil)
			if method == "POST" {
				path, body = "/api/unlock", map[string]string{"passphrase": "x"}
			}
			req := a.request(method, path, body)
			c.modify(req)
			want := c.want
			if want == 200 && method == "POST" {
				want = 409 // reached the API: there is no identity to unlock yet
			}
			if got := status(req); got != want {
				t.Errorf("%s, %s %s: %d, want %d", c.name, method, path, got, want)
			}
		}
	}
	// A write that is not JSON is refused: no form can post to the API.
	req := a.request("POST", "/api/unlock", map[string]string{"passphrase": "x"})
	req.Header.Set("Content-Type", "text/plain")
	if got := status(req); got != http.StatusUnsupportedMediaType {
		t.Errorf("a text/plain POST: %d, want 415", got)
	}
	// A write without an Origin is refused even with the token.
	req = a.request("POST", "/api/unlock", map[string]string{"passphrase": "x"})
	req.Header.Del("Origin")
	if got := status(req); got != 403 {
		t.Errorf("a POST without Origin: %d, want 403", got)
	}
	// Assets need the token too, and the answer carries the CSP.
	req = a.request("GET", "/", nil)
	req.Header.Del("Authorization")
	if got := status(req); got != 401 {
		t.Errorf("the page without a token: %d, want 401", got)
	}
	resp, err := noRedirect.Do(a.request("GET", "/", nil))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("CSP %q", csp)
	}

	// The link's one-time code buys the session cookie, once, and leaves
	// the address bar.
	link := a.srv.URL()
	if !strings.Contains(link, "?login=") || strings.Contains(link, a.srv.Token()) {
		t.Fatalf("the link %q should carry a login code, not the session token", link)
	}
	login, _ := http.NewRequest("GET", link, nil)
	resp, err = noRedirect.Do(login)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var cookie *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == a.srv.cookieName() {
			cookie = c
		}
	}
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" || cookie == nil ||
		!cookie.HttpOnly || cookie.SameSite != http.SameSiteStrictMode {
		t.Fatalf("login: %d to %q, cookie %+v", resp.StatusCode, resp.Header.Get("Location"), cookie)
	}
	req, _ = http.NewRequest("GET", a.base+"/api/state", nil)
	req.AddCookie(cookie)
	if got := status(req); got != 200 {
		t.Errorf("with the cookie: %d", got)
	}
	again, _ := http.NewRequest("GET", link, nil)
	if got := status(again); got != 401 {
		t.Errorf("the link used a second time: %d, want 401", got)
	}
	bad, _ := http.NewRequest("GET", a.base+"/?login=wrong", nil)
	if got := status(bad); got != 401 {
		t.Errorf("a link with a wrong code: %d, want 401", got)
	}

	// WebSockets: the page's upgrade works; another origin's, or one
	// without the token, is refused.
	header := http.Header{"Origin": {a.base}, "Authorization": {"Bearer " + a.srv.Token()}}
	wsURL := "ws://" + a.srv.Addr() + "/api/events"
	conn, _, err := websocket.DefaultDialer.Dial(wsURL, header)
	if err != nil {
		t.Fatalf("the page's WebSocket: %v", err)
	}
	var hello map[string]any
	if err := conn.ReadJSON(&hello); err != nil || hello["type"] != "hello" {
		t.Errorf("first frame %v, %v; want hello", hello, err)
	}
	conn.Close()
	for name, h := range map[string]http.Header{
		"a foreign Origin": {"Origin": {"http://evil.example"}, "Authorization": {"Bearer " + a.srv.Token()}},
		"no Origin":        {"Authorization": {"Bearer " + a.srv.Token()}},
		"no token":         {"Origin": {a.base}},
	} {
		if c, resp, err := websocket.DefaultDialer.Dial(wsURL, h); err == nil {
			c.Close()
			t.Errorf("a WebSocket with %s was accepted", name)
		} else if resp == nil || (resp.StatusCode != 403 && resp.StatusCode != 401) {
			t.Errorf("a WebSocket with %s: %v, want 401 or 403", name, err)
		}
	}

	// Only loopback.
	if _, err := New(Options{DataDir: t.TempDir(), Addr: "0.0.0.0:0"}); err == nil {
		t.Error("a UI on 0.0.0.0 was allowed")
	}
}

// Onboarding, unlocking, and two people chatting through the API, with
// the events a page sees.
func TestOnboardAndChat(t *testing.T) {
	aliceDir := t.TempDir()
	alice, bob := startApp(t, aliceDir), startApp(t, t.TempDir())
	var st State
	alice.must("GET", "/api/state", nil, &st)
	if st.State != StateSetup {
		t.Fatalf("a new profile is %q, want setup", st.State)
	}
	if status, code := alice.call("GET", "/api/contacts", nil, nil); status != 409 || code != "locked" {
		t.Errorf("contacts before setup: %d %s, want 409 locked", status, code)
	}
	if _, code := alice.call("POST", "/api/setup", map[string]string{"passphrase": "short"}, nil); code != "weak_passphrase" {
		t.Errorf("a 5-character passphrase: %q, want weak_passphrase", code)
	}
	alice.must("POST", "/api/setup", map[string]string{"passphrase": "correct horse battery", "display_name": "Alice"}, &st)
	if st.State != StateRunning || st.PeerID == "" {
		t.Fatalf("after setup: %+v", st)
	}
	if _, code := alice.call("POST", "/api/setup", map[string]string{"passphrase": "another passphrase"}, nil); code != "exists" {
		t.Errorf("a second setup: %q, want exists", code)
	}
	bob.must("POST", "/api/setup", map[string]string{"passphrase": "bobs own passphrase", "display_name": "Bob"}, nil)

	events := alice.subscribe()

	var me struct {
		Invite      string `json:"invite"`
		DisplayName string `json:"display_name"`
	}
	bob.must("GET", "/api/me", nil, &me)
	if me.DisplayName != "Bob" {
		t.Errorf("display name %q", me.DisplayName)
	}
	if _, code := alice.call("POST", "/api/contacts", map[string]string{"invite": me.Invite[:len(me.Invite)-3] + "!!!"}, nil); code != "bad_invite" {
		t.Errorf("an invite with a typo: %q, want bad_invite", code)
	}
	var added struct{ Contact struct{ ID, Name string } }
	alice.must("POST", "/api/contacts", map[string]string{"invite": me.Invite}, &added)
	if added.Contact.Name != "Bob" {
		t.Errorf("the contact took the name %q; the invite suggests Bob", added.Contact.Name)
	}
	bobID := added.Contact.ID
	if _, code := alice.call("POST", "/api/conversations/"+bobID+"/messages", map[string]string{"text": strings.Repeat("x", 8193)}, nil); code != "too_long" {
		t.Errorf("an 8193-byte message: %q, want too_long", code)
	}
	var sent struct{ Message struct{ ID, State string } }
	alice.must("POST", "/api/conversations/"+bobID+"/messages", map[string]string{"text": "hello Bob"}, &sent)

	// Alice's page hears the message and then its delivery.
	waitEvent(t, events, "the message delivered", func(e map[string]any) bool {
		m, _ := e["message"].(map[string]any)
		return e["type"] == "chat" && e["kind"] == "state" && m != nil && m["id"] == sent.Message.ID && m["state"] == "delivered"
	})

	// Bob sees a request from Alice and accepts it.
	var convs struct {
		Conversations []struct {
			Contact struct{ ID, State string }
			Unread  int
			Last    *struct{ Text string }
		}
	}
	bob.must("GET", "/api/conversations", nil, &convs)
	if len(convs.Conversations) != 1 || convs.Conversations[0].Contact.State != "request" || convs.Conversations[0].Last == nil || convs.Conversations[0].Last.Text != "hello Bob" {
		t.Fatalf("Bob's conversations: %+v", convs)
	}
	aliceID := convs.Conversations[0].Contact.ID
	bob.must("POST", "/api/contacts/"+aliceID+"/state", map[string]string{"state": "accepted"}, nil)
	bob.must("POST", "/api/conversations/"+aliceID+"/messages", map[string]string{"text": "hi Alice"}, nil)
	waitEvent(t, events, "Bob's answer", func(e map[string]any) bool {
		m, _ := e["message"].(map[string]any)
		return e["kind"] == "message" && m != nil && m["text"] == "hi Alice"
	})

	// Safety numbers agree; verifying marks the contact.
	var sa, sb struct {
		SafetyNumber string `json:"safety_number"`
		QR           []byte `json:"qr"`
	}
	alice.must("GET", "/api/contacts/"+bobID+"/safety-number", nil, &sa)
	bob.must("GET", "/api/contacts/"+aliceID+"/safety-number", nil, &sb)
	if len(sa.SafetyNumber) != 60 || sa.SafetyNumber != sb.SafetyNumber || len(sa.QR) == 0 {
		t.Errorf("safety numbers %q and %q", sa.SafetyNumber, sb.SafetyNumber)
	}
	var verified struct{ Contact struct{ Verified bool } }
	alice.must("POST", "/api/contacts/"+bobID+"/verify", map[string]bool{"verified": true}, &verified)
	if !verified.Contact.Verified {
		t.Error("not verified")
	}

	// Settings round-trip; a bad bootstrap entry changes nothing.
	var set Settings
	alice.must("GET", "/api/settings", nil, &set)
	if !set.Notifications || !set.NotificationContent || set.DisplayName != "Alice" || !set.TypingIndicators {
		t.Errorf("default settings %+v", set)
	}
	set.NotificationContent, set.ReadReceipts = false, true
	alice.must("PUT", "/api/settings", set, &set)
	if set.NotificationContent || !set.ReadReceipts {
		t.Errorf("saved settings %+v", set)
	}
	bad := set
	bad.Bootstrap = []string{"/ip4/1.2.3.4/tcp/1"}
	if _, code := alice.call("PUT", "/api/settings", bad, nil); code != "bad_bootstrap" {
		t.Errorf("a bootstrap entry without /p2p: %q, want bad_bootstrap", code)
	}
	boot := "/ip4/127.0.0.1/tcp/4001/p2p/" + networkOf(t, bob).PeerID
	set.Bootstrap = []string{boot}
	alice.must("PUT", "/api/settings", set, &set)
	if len(set.Bootstrap) != 1 || set.Bootstrap[0] != boot {
		t.Errorf("saved bootstrap list %q", set.Bootstrap)
	}
	if cfg, err := node.LoadConfig(filepath.Join(aliceDir, "config.json"), node.RoleDesktop, true); err != nil || len(cfg.Bootstrap) != 1 {
		t.Errorf("the config file after saving: %+v, %v", cfg.Bootstrap, err)
	}
	var nw Network
	alice.must("GET", "/api/network", nil, &nw)
	if nw.PeerID != st.PeerID || len(nw.Peers) == 0 {
		t.Errorf("network %+v", nw)
	}

	// Restart Alice: locked; a wrong passphrase is refused and changes
	// nothing; the right one brings back the history.
	alice.stop()
	alice = startApp(t, aliceDir)
	alice.must("GET", "/api/state", nil, &st)
	if st.State != StateLocked {
		t.Fatalf("after a restart: %q, want locked", st.State)
	}
	if status, code := alice.call("POST", "/api/unlock", map[string]string{"passphrase": "wrong horse"}, nil); status != 422 || code != "wrong_passphrase" {
		t.Errorf("a wrong passphrase: %d %q", status, code)
	}
	alice.must("GET", "/api/state", nil, &st)
	if st.State != StateLocked {
		t.Errorf("after a wrong passphrase: %q, want locked", st.State)
	}
	alice.must("POST", "/api/unlock", map[string]string{"passphrase": "correct horse battery"}, &st)
	var hist struct{ Messages []struct{ Text string } }
	alice.must("GET", "/api/conversations/"+bobID+"/messages?limit=10", nil, &hist)
	if len(hist.Messages) != 2 || hist.Messages[0].Text != "hi Alice" || hist.Messages[1].Text != "hello Bob" {
		t.Errorf("history after a restart: %+v", hist.Messages)
	}
	alice.must("GET", "/api/settings", nil, &set)
	if set.NotificationContent || !set.ReadReceipts {
		t.Errorf("settings after a restart: %+v", set)
	}
}

// subscribe opens the page's event stream and returns its frames.
func (a *testApp) subscribe() <-chan map[string]any {
	a.t.Helper()
	header := http.Header{"Origin": {a.base}, "Authorization": {"Bearer " + a.srv.Token()}}
	u := url.URL{Scheme: "ws", Host: a.srv.Addr(), Path: "/api/events"}
	conn, _, err := websocket.DefaultDialer.Dial(u.String(), header)
	if err != nil {
		a.t.Fatal(err)
	}
	a.t.Cleanup(func() { conn.Close() })
	out := make(chan map[string]any, 256)
	go func() {
		defer close(out)
		for {
			var e map[string]any
			if err := conn.ReadJSON(&e); err != nil {
				return
			}
			out <- e
		}
	}()
	return out
}

func waitEvent(t *testing.T, events <-chan map[string]any, what string, match func(map[string]any) bool) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		select {
		case e, ok := <-events:
			if !ok {
				t.Fatalf("%s: the event stream ended", what)
			}
			if match(e) {
				return
			}
		case <-deadline:
			t.Fatalf("%s: no such event within 30 s", what)
		}
	}
}

func networkOf(t *testing.T, a *testApp) Network {
	var nw Network
	a.must("GET", "/api/network", nil, &nw)
	return nw
}

// A setup whose node cannot start (its port is taken) keeps the identity
// and the chosen name: the state is locked, and the first unlock that
// works applies the name.
func TestSetupKeepsInputWhenStartFails(t *testing.T) {
	taken, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig()
	cfg.Listen = []string{"/ip4/127.0.0.1/tcp/" + strconv.Itoa(taken.Addr().(*net.TCPAddr).Port)}
	dir := t.TempDir()
	srv, err := New(Options{DataDir: dir, Config: cfg, Logger: discard(), Assets: fstest.MapFS{}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	defer func() { cancel(); <-done }()
	a := &testApp{t: t, srv: srv, base: "http://" + srv.Addr()}

	if status, code := a.call("POST", "/api/setup", map[string]string{"passphrase": "a good passphrase", "display_name": "Dana"}, nil); code != "port_in_use" {
		t.Fatalf("setup with the port taken: %d %q, want port_in_use", status, code)
	}
	var st State
	a.must("GET", "/api/state", nil, &st)
	if st.State != StateLocked {
		t.Fatalf("after a failed start: %q, want locked (the identity exists)", st.State)
	}
	if _, code := a.call("POST", "/api/setup", map[string]string{"passphrase": "another one entirely"}, nil); code != "exists" {
		t.Errorf("a second setup: %q, want exists", code)
	}
	taken.Close()
	a.must("POST", "/api/unlock", map[string]string{"passphrase": "a good passphrase"}, &st)
	var set Settings
	a.must("GET", "/api/settings", nil, &set)
	if st.State != StateRunning || set.DisplayName != "Dana" {
		t.Errorf("after unlocking: %q, display name %q; want running and Dana", st.State, set.DisplayName)
	}
}

// Stopping the app while an unlock derives its key leaves no node behind:
// the unlock answers that the app is stopping, and the data directory is
// free for the next run.
func TestStopDuringUnlock(t *testing.T) {
	dir := t.TempDir()
	first := startApp(t, dir)
	first.must("POST", "/api/setup", map[string]string{"passphrase": "correct horse battery"}, nil)
	first.stop()

	a := startApp(t, dir)
	answered := make(chan string, 1)
	req := a.request("POST", "/api/unlock", map[string]string{"passphrase": "correct horse battery"})
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil { // the server closed first: also fine
			answered <- ""
			return
		}
		defer resp.Body.Close()
		var e struct{ Code string }
		json.NewDecoder(resp.Body).Decode(&e)
		answered <- e.Code
	}()
	time.Sleep(20 * time.Millisecond) // the unlock is in its key derivation
	a.stop()
	if code := <-answered; code != "" && code != "stopping" {
		t.Errorf("the unlock answered %q", code)
	}
	// Whatever the unlock did, the data directory is free: a new run
	// unlocks it.
	b := startApp(t, dir)
	b.must("POST", "/api/unlock", map[string]string{"passphrase": "correct horse battery"}, nil)
}
