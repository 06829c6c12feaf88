package ui

import (
	"embed"
	"io/fs"
	"net/http"
	"path"
	"strings"
)

// web holds the built UI. `make ui` builds it into web/dist; a checkout
// that has not built it has only the placeholder, and the server says so.
//
//go:embed all:web/dist
var web embed.FS

func builtAssets() fs.FS {
	sub, err := fs.Sub(web, "web/dist")
	if err != nil {
		panic(err) // the embed pattern guarantees the directory
	}
	return sub
}

// static serves the assets, and index.html for any other path the
// single-page app may route to.
func (s *Server) static() http.Handler {
	files := http.FileServerFS(s.assets)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/api/") {
			writeError(w, errNotFound)
			return
		}
		name := strings.TrimPrefix(path.Clean(r.URL.Path), "/")
		if name == "" || name == "index.html" {
			s.index(w, r)
			return
		}
		if st, err := fs.Stat(s.assets, name); err != nil || st.IsDir() { // no listings
			s.index(w, r)
			return
		}
		if strings.HasPrefix(name, "assets/") { // content-hashed by Vite
			w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
		}
		files.ServeHTTP(w, r)
	})
}

func (s *Server) index(w http.ResponseWriter, r *http.Request) {
	b, err := fs.ReadFile(s.assets, "index.html")
	if err != nil {
		s.refuse(w, r, http.StatusServiceUnavailable, "not_built", "The web UI is not built into this binary: build it with `make build`.")
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(b)
}
