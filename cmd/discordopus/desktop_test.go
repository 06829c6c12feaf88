//go:build desktop

package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/discordopus/discordopus/internal/proctest"
)

// TestDesktopWindow: the desktop build opens its window on an X display
// (Xvfb here) and the window shows the UI: the onboarding screen of a new
// profile, in the app's dark theme. `make test-desktop` builds the binary
// first; the screenshot is kept in bin/artifacts.
func TestDesktopWindow(t *testing.T) {
	binary := filepath.Join(moduleRootDir(t), "bin", "discordopus-desktop")
	if _, err := os.Stat(binary); err != nil {
		t.Fatalf("%v: build it with `make desktop`", err)
	}
	for _, tool := range []string{"Xvfb", "xwd"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is needed (packages xvfb and x11-apps; `make sysdeps` installs them): %v", tool, err)
		}
	}
	display := startXvfb(t)

	env := append(testEnv(t), "DISPLAY="+display,
		// Software rendering: Xvfb has no GPU.
		"WEBKIT_DISABLE_COMPOSITING_MODE=1", "LIBGL_ALWAYS_SOFTWARE=1")
	p := proctest.Start(t, env, binary, "--data-dir", t.TempDir(), "--listen", "/ip4/127.0.0.1/tcp/0", "--mdns=false")
	p.WaitFor(t, regexp.MustCompile(`^DiscordOpus is at http://127\.0\.0\.1:\d+/`), startupWait)
	if strings.Contains(p.Stdout(), "no window") {
		t.Fatalf("the desktop build opened no window:\n%s\n%s", p.Stdout(), p.Stderr())
	}

	// The page takes a moment to load and render: look until the screen
	// shows it, or give up after a minute.
	var img *image.RGBA
	var last string
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(time.Second) {
		var err error
		if img, err = captureScreen(display); err != nil {
			t.Fatal(err)
		}
		var ok bool
		if ok, last = looksLikeTheApp(img); ok {
			break
		}
		img = nil
	}
	dir := filepath.Join(moduleRootDir(t), "bin", "artifacts")
	os.MkdirAll(dir, 0o755)
	shot := filepath.Join(dir, "desktop-window.png")
	if img != nil {
		savePNG(t, shot, img)
		t.Logf("screenshot: %s", shot)
		return
	}
	if img, err := captureScreen(display); err == nil {
		savePNG(t, shot, img)
	}
	t.Fatalf("the window never showed the UI (%s); screenshot in %s\n%s", last, shot, p.Stderr())
}

// looksLikeTheApp says whether the screen shows the app rendered, not a
// blank window or an error page: most of it in the dark greys of the
// palette, text and controls in many other colours, and the accent blue
// of the onboarding screen's button (no server-made page has it).
func looksLikeTheApp(img *image.RGBA) (bool, string) {
	b := img.Bounds()
	colours := map[color.RGBA]int{}
	dark, accent := 0, 0
	near := func(v uint8, want int) bool { return int(v) > want-16 && int(v) < want+16 }
	for y := b.Min.Y; y < b.Max.Y; y += 2 {
		for x := b.Min.X; x < b.Max.X; x += 2 {
			c := img.RGBAAt(x, y)
			colours[c]++
			if c.R < 0x40 && c.G < 0x40 && c.B < 0x48 && c.R > 0x10 {
				dark++
			}
			if near(c.R, 0x58) && near(c.G, 0x65) && near(c.B, 0xf2) { // #5865f2
				accent++
			}
		}
	}
	total := (b.Dx() / 2) * (b.Dy() / 2)
	why := fmt.Sprintf("%d colours, %d%% dark grey, %d accent pixels", len(colours), 100*dark/max(total, 1), accent)
	return len(colours) >= 16 && dark*2 > total && accent >= 200, why
}

// startXvfb runs a virtual display for the test and returns its name.
func startXvfb(t *testing.T) string {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("Xvfb", "-displayfd", "3", "-screen", "0", "1280x800x24", "-nolisten", "tcp")
	cmd.ExtraFiles = []*os.File{w}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	got := make(chan string, 1)
	go func() {
		buf := make([]byte, 16)
		n, _ := r.Read(buf)
		got <- strings.TrimSpace(string(buf[:n]))
	}()
	select {
	case n := <-got:
		if n == "" {
			t.Fatal("Xvfb said no display number")
		}
		return ":" + n
	case <-time.After(30 * time.Second):
		t.Fatal("Xvfb did not start within 30 s")
	}
	return ""
}

// captureScreen takes the root window with xwd and decodes it.
func captureScreen(display string) (*image.RGBA, error) {
	out, err := exec.Command("xwd", "-root", "-silent", "-display", display).Output()
	if err != nil {
		return nil, fmt.Errorf("xwd: %w", err)
	}
	return decodeXWD(out)
}

// decodeXWD reads a 24- or 32-bit TrueColor X window dump.
func decodeXWD(b []byte) (*image.RGBA, error) {
	if len(b) < 100 {
		return nil, errors.New("xwd: short dump")
	}
	u := func(i int) uint32 { return binary.BigEndian.Uint32(b[4*i:]) }
	headerSize, version := int(u(0)), u(1)
	width, height := int(u(4)), int(u(5))
	byteOrder, bpp, bytesPerLine := u(7), int(u(11)), int(u(12))
	redMask, greenMask, blueMask := u(14), u(15), u(16)
	ncolors := int(u(19))
	if version != 7 || bpp != 32 || width <= 0 || height <= 0 {
		return nil, fmt.Errorf("xwd: version %d, %d bits per pixel: not a dump this test reads", version, bpp)
	}
	off := headerSize + 12*ncolors
	if len(b) < off+bytesPerLine*height {
		return nil, errors.New("xwd: truncated")
	}
	var order binary.ByteOrder = binary.LittleEndian
	if byteOrder == 1 {
		order = binary.BigEndian
	}
	channel := func(v, mask uint32) uint8 {
		if mask == 0 {
			return 0
		}
		for mask&1 == 0 {
			mask >>= 1
			v >>= 1
		}
		return uint8(v & mask)
	}
	img := image.NewRGBA(image.Rect(0, 0, width, height))
	for y := range height {
		row := b[off+y*bytesPerLine:]
		for x := range width {
			v := order.Uint32(row[4*x:])
			img.SetRGBA(x, y, color.RGBA{channel(v, redMask), channel(v, greenMask), channel(v, blueMask), 0xff})
		}
	}
	return img, nil
}

func savePNG(t *testing.T, path string, img image.Image) {
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func moduleRootDir(t *testing.T) string {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Dir(strings.TrimSpace(string(out)))
}
