package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const module = "github.com/discordopus/discordopus"

// forbidden are packages the headless node must never link: the UI and the
// webview it needs, which bring cgo and a desktop with them.
var forbidden = []string{
	module + "/ui",
	"github.com/webview/webview_go",
}

// TestDeps fails if discordopusd links anything under ui/, the webview, or
// any package outside the standard library that uses cgo; and it builds the
// binary with CGO_ENABLED=0 as `make build` does.
func TestDeps(t *testing.T) {
	cmd := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}\t{{.Standard}}\t{{len .CgoFiles}}", ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=1") // so that cgo files show up
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	n := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(line, "\t")
		if len(f) != 3 {
			t.Fatalf("unexpected go list line %q", line)
		}
		path, std, cgoFiles := f[0], f[1] == "true", f[2]
		n++
		for _, bad := range forbidden {
			if path == bad || strings.HasPrefix(path, bad+"/") {
				t.Errorf("discordopusd links %s", path)
			}
		}
		if !std && cgoFiles != "0" {
			t.Errorf("discordopusd links %s, which uses cgo", path)
		}
	}
	if n < 50 {
		t.Fatalf("only %d dependencies listed: go list did not see the real graph", n)
	}
	build := exec.Command("go", "build", "-o", filepath.Join(t.TempDir(), "discordopusd"), ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("CGO_ENABLED=0 go build: %v\n%s", err, out)
	}
}
