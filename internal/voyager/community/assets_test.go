package community

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const testSVG = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10"><rect width="10" height="10" fill="#0f766e"/></svg>`

func TestLogoAndFaviconFilesBesideTheJSON(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "demo.logo.svg"), []byte(testSVG), 0o644)
	// A 1×1 PNG.
	png := []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82")
	os.WriteFile(filepath.Join(dir, "demo.icon.png"), png, 0o644)
	os.WriteFile(filepath.Join(dir, "demo.json"), []byte(`{"id":"demo","name":"Demo","visibility":"public","branding":{"logo":"demo.logo.svg","favicon":"demo.icon.png"},"coach":{"name":"N","systemPrompt":"P"}}`), 0o644)
	s, err := LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := s.ByID("demo")
	logo := c.LogoURL()
	if !strings.HasPrefix(logo, "/brand/demo/logo-") || !strings.HasSuffix(logo, ".svg") {
		t.Fatalf("got logo URL %q", logo)
	}
	a, ok := c.FileByName(strings.TrimPrefix(logo, "/brand/demo/"))
	if !ok || a.Type != "image/svg+xml" || string(a.Data) != testSVG {
		t.Fatalf("got %+v %v", a, ok)
	}
	if fav := c.AssetURL("favicon"); !strings.HasSuffix(fav, ".png") {
		t.Fatalf("got favicon URL %q", fav)
	}
}

func TestBadLogoFilesAreReported(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, logo, file, data, want string }{
		{"missing", "nope.svg", "", "", "cannot read nope.svg"},
		{"wrong type", "logo.gif", "logo.gif", "GIF89a", "not an SVG, PNG"},
		{"not a png", "logo.png", "logo.png", "<svg></svg>", "does not hold image/png"},
		{"svg with script", "logo.svg", "logo.svg", `<svg><script>alert(1)</script></svg>`, "has scripts"},
		{"folder escape", "../x.svg", "", "", "is not a file name"},
		{"http", "http://example.com/x.svg", "", "", "is not an https URL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if tc.file != "" {
				os.WriteFile(filepath.Join(dir, tc.file), []byte(tc.data), 0o644)
			}
			os.WriteFile(filepath.Join(dir, "demo.json"), []byte(`{"id":"demo","name":"Demo","visibility":"public","branding":{"logo":"`+tc.logo+`"},"coach":{"name":"N","systemPrompt":"P"}}`), 0o644)
			_, err := LoadDir(dir)
			ps, ok := err.(Problems)
			if !ok || len(ps) != 1 || ps[0].Field != "branding.logo" || !strings.Contains(ps[0].Issue, tc.want) || ps[0].Fix == "" {
				t.Fatalf("got %v, want one branding.logo problem with %q", err, tc.want)
			}
		})
	}
}
