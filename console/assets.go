package console

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

//go:embed assets
var assetFS embed.FS

// assetSet serves the embedded static files under content-hashed names
// (app.css → app.3f2a9c1b7d.css), so a page always loads the files it was
// rendered with and browsers may keep them for a year.
type assetSet struct {
	byHashed map[string]asset  // "app.3f2a9c1b7d.css" → file
	hashed   map[string]string // "app.css" → "/console/assets/app.3f2a9c1b7d.css"
}

type asset struct {
	body []byte
	ct   string
}

func loadAssets() (*assetSet, error) {
	s := &assetSet{byHashed: map[string]asset{}, hashed: map[string]string{}}
	err := fs.WalkDir(assetFS, "assets", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		ext := path.Ext(p)
		ct := map[string]string{".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8",
			".png": "image/png", ".svg": "image/svg+xml", ".ico": "image/x-icon"}[ext]
		if ct == "" {
			return nil // VERSIONS and the like are not served
		}
		b, err := assetFS.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		rel := strings.TrimPrefix(p, "assets/")
		name := strings.TrimSuffix(rel, ext) + "." + hex.EncodeToString(sum[:5]) + ext
		s.byHashed[name] = asset{body: b, ct: ct}
		s.hashed[rel] = "/console/assets/" + name
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("console assets: %w", err)
	}
	return s, nil
}

// url returns the hashed URL of an asset; a name that is not embedded is a
// template bug and fails loudly at parse-time rendering in tests.
func (s *assetSet) url(name string) (string, error) {
	u, ok := s.hashed[name]
	if !ok {
		return "", fmt.Errorf("console: no asset %q", name)
	}
	return u, nil
}

// ServeHTTP serves a hashed asset with a year-long immutable cache; an unknown
// or stale name is 404 (never the current file under an old hash).
func (s *assetSet) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a, ok := s.byHashed[strings.TrimPrefix(r.URL.Path, "/console/assets/")]
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", a.ct)
	w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.body))
}
