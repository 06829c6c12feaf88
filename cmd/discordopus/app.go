package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"

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
	srv, err := ui.New(ui.Options{
		DataDir: dataDir, Config: cfg, ConfigPath: configPath,
		Addr: c.af.addr, Token: os.Getenv("DISCORDOPUS_UI_TOKEN"), Logger: log,
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
		if err := exec.Command("xdg-open", srv.URL()).Start(); err != nil {
			fmt.Fprintln(c.out, "could not open a browser: open the address above")
		}
	}
	return <-served
}

// errNoDisplay is a desktop build started where there is no display.
var errNoDisplay = errors.New("no display ($DISPLAY and $WAYLAND_DISPLAY are unset)")
