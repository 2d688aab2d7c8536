package community

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// Asset is an image shipped beside a community's JSON file: its logo or
// favicon. It is read at load, so a reload that breaks it keeps the last
// good set, and it is served under a name with its content hash, so it can
// be cached for a year.
type Asset struct {
	Name string // the file name in COMMUNITIES_DIR
	Type string // the Content-Type served
	Data []byte
	Hash string // the first 12 hex digits of its SHA-256
}

// MaxAssetSize bounds a logo or favicon file.
const MaxAssetSize = 256 << 10

// assetTypes are the image types a community may ship, by extension.
var assetTypes = map[string]string{
	".svg":  "image/svg+xml",
	".png":  "image/png",
	".webp": "image/webp",
	".jpg":  "image/jpeg",
	".jpeg": "image/jpeg",
	".ico":  "image/x-icon",
}

var (
	assetNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$`)
	svgActiveRE = regexp.MustCompile(`(?i)<script|\son[a-z]+\s*=|javascript:|<foreignobject`)
)

// isURL says whether a logo or favicon value is a URL or a server path
// rather than a file beside the JSON.
func isURL(v string) bool {
	return strings.HasPrefix(v, "https://") || strings.HasPrefix(v, "/")
}

// loadFiles reads the logo and favicon files named in the branding.
func (c *Community) loadFiles(dir string) Problems {
	var ps Problems
	for _, f := range []struct{ role, field, value string }{
		{"logo", "branding.logo", c.Branding.Logo},
		{"favicon", "branding.favicon", c.Branding.Favicon},
	} {
		v := f.value
		switch {
		case v == "" || strings.HasPrefix(v, "https://") || (strings.HasPrefix(v, "/") && !strings.HasPrefix(v, "//")):
			continue
		case strings.Contains(v, "://") || strings.HasPrefix(v, "//"):
			ps = append(ps, Problem{File: c.File, Field: f.field, Issue: fmt.Sprintf("%q is not an https URL", v), Fix: `use "https://…", a path on this server such as "/static/logo.svg", or the name of an image file beside the JSON file`})
			continue
		}
		a, p := readAsset(dir, v)
		if p != nil {
			p.File, p.Field = c.File, f.field
			ps = append(ps, *p)
			continue
		}
		if c.Files == nil {
			c.Files = map[string]*Asset{}
		}
		c.Files[f.role] = a
	}
	return ps
}

func readAsset(dir, name string) (*Asset, *Problem) {
	if !assetNameRE.MatchString(name) || strings.Contains(name, "..") {
		return nil, &Problem{Issue: fmt.Sprintf("%q is not a file name in the communities folder", name), Fix: `name a file beside the JSON file, e.g. "acme-alumni.logo.svg" (letters, digits, dots, dashes; no folders)`}
	}
	ext := strings.ToLower(filepath.Ext(name))
	typ, ok := assetTypes[ext]
	if !ok {
		return nil, &Problem{Issue: fmt.Sprintf("%q is not an SVG, PNG, WebP, JPEG or ICO file", name), Fix: "convert the image to one of those formats and name it with its extension"}
	}
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		return nil, &Problem{Issue: fmt.Sprintf("cannot read %s: %s", name, errText(err)), Fix: "put the file in the communities folder beside the JSON file"}
	}
	if len(b) == 0 || len(b) > MaxAssetSize {
		return nil, &Problem{Issue: fmt.Sprintf("%s is %d bytes", name, len(b)), Fix: fmt.Sprintf("use an image of 1 byte to %d KB", MaxAssetSize>>10)}
	}
	if !looksLike(typ, b) {
		return nil, &Problem{Issue: fmt.Sprintf("%s does not hold %s data", name, typ), Fix: "export the image again, or rename it to the extension of its real format"}
	}
	if typ == "image/svg+xml" && svgActiveRE.Match(b) {
		return nil, &Problem{Issue: fmt.Sprintf("%s has scripts, event handlers or embedded HTML", name), Fix: "remove <script>, on…= attributes, javascript: links and <foreignObject> from the SVG"}
	}
	sum := sha256.Sum256(b)
	return &Asset{Name: name, Type: typ, Data: b, Hash: hex.EncodeToString(sum[:6])}, nil
}

// looksLike checks the file's bytes against its extension's type.
func looksLike(typ string, b []byte) bool {
	switch typ {
	case "image/svg+xml":
		head := bytes.ToLower(b[:min(len(b), 4096)])
		return bytes.Contains(head, []byte("<svg"))
	case "image/x-icon":
		return len(b) > 4 && b[0] == 0 && b[1] == 0 && (b[2] == 1 || b[2] == 2) && b[3] == 0
	}
	return http.DetectContentType(b) == typ
}

// FileName is the hashed name the asset is served under, e.g.
// "logo-3f2a9c01b2de.svg".
func (a *Asset) FileName(role string) string {
	return role + "-" + a.Hash + strings.ToLower(filepath.Ext(a.Name))
}

// AssetURL returns the URL of the community's logo or favicon (role), or
// "" when it has none: a file's hashed URL under /brand/{id}/, or the URL
// given in the JSON.
func (c *Community) AssetURL(role string) string {
	if a, ok := c.Files[role]; ok {
		return "/brand/" + c.ID + "/" + a.FileName(role)
	}
	v := c.Branding.Logo
	if role == "favicon" {
		v = c.Branding.Favicon
	}
	if isURL(v) {
		return v
	}
	return ""
}

// LogoURL is AssetURL("logo").
func (c *Community) LogoURL() string { return c.AssetURL("logo") }

// FileByName returns the asset served as name ("logo-<hash>.svg").
func (c *Community) FileByName(name string) (*Asset, bool) {
	for role, a := range c.Files {
		if a.FileName(role) == name {
			return a, true
		}
	}
	return nil, false
}
