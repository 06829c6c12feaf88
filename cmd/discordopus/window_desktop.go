//go:build desktop

package main

import (
	"context"
	"os"
	"os/exec"
	"runtime"

	webview "github.com/webview/webview_go"
)

// GTK wants its calls on the thread that started it: keep main on the
// process's first thread, where openWindow runs.
func init() { runtime.LockOSThread() }

// openWindow shows url in a native window (WebKitGTK on Linux) and returns
// when the user closes it or ctx ends. Without a display it fails at once,
// and the caller falls back to the browser.
func openWindow(ctx context.Context, url string) error {
	if os.Getenv("DISPLAY") == "" && os.Getenv("WAYLAND_DISPLAY") == "" {
		return errNoDisplay
	}
	w := webview.New(false)
	if w == nil {
		return errNoDisplay
	}
	defer w.Destroy()
	w.SetTitle("DiscordOpus")
	w.SetSize(1280, 800, webview.HintNone)
	// WebKitGTK grants the page no notifications: the page calls this
	// instead, and the desktop's notification service shows them.
	w.Bind("discordopusNotify", func(title, body string) {
		if path, err := exec.LookPath("notify-send"); err == nil {
			cmd := exec.Command(path, "--app-name=DiscordOpus", "--", title, body)
			if cmd.Start() == nil {
				go cmd.Wait()
			}
		}
	})
	stop := context.AfterFunc(ctx, func() { w.Dispatch(w.Terminate) })
	defer stop()
	w.Navigate(url)
	w.Run()
	return nil
}
