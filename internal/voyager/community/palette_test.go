package community

import (
	"strings"
	"testing"
)

func TestDerivePaletteReachesAA(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		col  Colors
	}{
		{"none", Colors{}},
		{"tech careers blue", Colors{Primary: "#2856c7", Accent: "#f2a93b"}},
		{"acme teal on its own light page", Colors{Primary: "#0f766e", Accent: "#e11d48", Background: "#f8fafc", Text: "#0f172a"}},
		{"yellow", Colors{Primary: "#ffe600"}},
		{"near white", Colors{Primary: "#fefefe"}},
		{"near black", Colors{Primary: "#050505"}},
		{"dark page", Colors{Primary: "#2856c7", Background: "#101418", Text: "#f0f0f0"}},
		{"dark page without text", Colors{Primary: "#e11d48", Background: "#000"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, ps := DerivePalette(tc.col)
			if len(ps) > 0 {
				t.Fatalf("got problems %v", ps)
			}
			for name, s := range map[string]Scheme{"light": p.Light, "dark": p.Dark} {
				for _, sf := range []RGB{s.Bg, s.Surface, s.Surface2} {
					check(t, name+" text", s.Text, sf, MinTextContrast)
					check(t, name+" muted", s.Muted, sf, MinTextContrast)
					check(t, name+" link", s.BrandStrong, sf, MinTextContrast)
					check(t, name+" button edge", s.Brand, sf, MinUIContrast)
				}
				check(t, name+" button text", s.BrandContrast, s.Brand, MinTextContrast)
				check(t, name+" hovered button text", s.BrandContrast, s.BrandStrong, MinTextContrast)
			}
		})
	}
}

func check(t *testing.T, what string, a, b RGB, want float64) {
	t.Helper()
	if got := Contrast(a, b); got < want {
		t.Errorf("%s: %s on %s is %.2f:1, want ≥ %.1f:1", what, a.Hex(), b.Hex(), got, want)
	}
}

func TestContrastKnownValues(t *testing.T) {
	t.Parallel()
	if got := Contrast(black, white); got < 20.99 || got > 21.01 {
		t.Errorf("black on white: got %.2f, want 21", got)
	}
	if got := Contrast(mustHex("#777"), white); got < 4.47 || got > 4.49 {
		t.Errorf("#777 on white: got %.3f, want 4.48", got)
	}
}

func TestValidateReportsPaletteBelowAA(t *testing.T) {
	t.Parallel()
	c := validCommunity()
	c.Branding.Colors = Colors{Background: "#ffffff", Text: "#aaaaaa"}
	ps := c.Validate()
	if len(ps) != 1 || ps[0].Field != "branding.colors.text" || !strings.Contains(ps[0].Issue, "4.5:1") {
		t.Fatalf("got %v, want one contrast problem on branding.colors.text", ps)
	}
	c.Branding.Colors = Colors{Primary: "#123456", Background: "#777777", Text: "#000000"}
	ps = c.Validate()
	if len(ps) != 2 || ps[1].Field != "branding.colors.primary" {
		t.Fatalf("got %v, want the text and the primary colour reported", ps)
	}
}

func validCommunity() *Community {
	return &Community{ID: "demo", Name: "Demo", Visibility: Public, Coach: Coach{Name: "Nova", SystemPrompt: "Coach."}}
}
