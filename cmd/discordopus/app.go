package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"html"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"time"

	"github.com/discordopus/discordopus/node"
	"github.com/discordopus/discordopus/ui"
)

// appFlags are the desktop app's own flags.
type appFlags struct {
	browser bool   // serve the UI to a browser, no window
	noOpen  bool   // print the URL only; open nothing
	addr    string // the UI's loopback address
}

func (f *appFlags) register(fs *flag.FlagSet) {
	fs.BoolVar(&f.browser, "browser", false, "use the web browser instead of a window")
	fs.BoolVar(&f.noOpen, "no-open", false, "print the UI's address and open nothing (implies --browser)")
	fs.StringVar(&f.addr, "ui-addr", "127.0.0.1:0", "loopback address of the UI (port 0: a random one)")
}

// errNoWindow is a build without the desktop window (no `desktop` tag).
var errNoWindow = errors.New("this build has no desktop window (built without the desktop tag)")

// app runs the desktop app: the UI server and the node behind it, shown
// in a window, or in the browser when there is no window to be had.
func (c *command) app(cfg node.Config, dataDir string) error {
	configPath, err := c.flags.ConfigFile()
	if err != nil {
		return err
	}
	log := node.NewLogger(cfg, os.Stderr)
	token := os.Getenv("DISCORDOPUS_UI_TOKEN")
	os.Unsetenv("DISCORDOPUS_UI_TOKEN") // not for the browser or anything else we start
	srv, err := ui.New(ui.Options{
		DataDir: dataDir, Config: cfg, ConfigPath: configPath,
		Addr: c.af.addr, Token: token, Logger: log,
	})
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx) }()
	fmt.Fprintf(c.out, "DiscordOpus is at %s\n", srv.URL())

	if !c.af.browser && !c.af.noOpen {
		err := openWindow(ctx, srv.URL())
		if err == nil { // the window was closed: quit
			stop()
			return <-served
		}
		fmt.Fprintf(c.out, "no window (%v): opening the browser instead\n", err)
	}
	if !c.af.noOpen {
		if err := openBrowser(srv.URL()); err != nil {
			fmt.Fprintf(c.out, "could not open a browser (%v): open the address above\n", err)
		}
	}
	return <-served
}

// openBrowser opens url in the user's browser. It hands the browser a
// private file that redirects to url, not url itself: a command line is
// readable by every user of the machine, and the browser's may stay
// around as long as the browser does.
func openBrowser(url string) error {
	dir := os.Getenv("XDG_RUNTIME_DIR")
	if dir == "" {
		dir = os.TempDir()
	}
	f, err := os.CreateTemp(dir, "discordopus-*.html") // 0600
	if err != nil {
		return err
	}
	defer func() {
		// Long enough for the browser to read it; then nothing remains.
		time.AfterFunc(time.Minute, func() { os.Remove(f.Name()) })
	}()
	page := `<!doctype html><meta charset="utf-8"><meta name="referrer" content="no-referrer">` +
		`<meta http-equiv="refresh" content="0;url=` + html.EscapeString(url) + `"><title>DiscordOpus</title>`
	if _, err := f.WriteString(page); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	cmd := exec.Command("xdg-open", f.Name())
	if err := cmd.Start(); err != nil {
		return err
	}
	go cmd.Wait()
	return nil
}

// errNoDisplay is a desktop build started where there is no display.
var errNoDisplay = errors.New("no display ($DISPLAY and $WAYLAND_DISPLAY are unset)")
