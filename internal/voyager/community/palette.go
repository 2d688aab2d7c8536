package community

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// WCAG 2.x contrast minimums (AA).
const (
	MinTextContrast = 4.5 // normal text
	MinUIContrast   = 3.0 // large text and user-interface parts
)

// RGB is an sRGB colour, each channel 0–255.
type RGB struct{ R, G, B uint8 }

// ParseHex reads "#rgb" or "#rrggbb".
func ParseHex(s string) (RGB, bool) {
	s = strings.TrimPrefix(s, "#")
	if len(s) == 3 {
		s = string([]byte{s[0], s[0], s[1], s[1], s[2], s[2]})
	}
	if len(s) != 6 {
		return RGB{}, false
	}
	v, err := strconv.ParseUint(s, 16, 32)
	if err != nil {
		return RGB{}, false
	}
	return RGB{uint8(v >> 16), uint8(v >> 8), uint8(v)}, true
}

func mustHex(s string) RGB { c, _ := ParseHex(s); return c }

// Hex writes the colour as "#rrggbb".
func (c RGB) Hex() string { return fmt.Sprintf("#%02x%02x%02x", c.R, c.G, c.B) }

// Luminance is the WCAG relative luminance, 0 (black) to 1 (white).
func (c RGB) Luminance() float64 {
	ch := func(v uint8) float64 {
		x := float64(v) / 255
		if x <= 0.03928 {
			return x / 12.92
		}
		return math.Pow((x+0.055)/1.055, 2.4)
	}
	return 0.2126*ch(c.R) + 0.7152*ch(c.G) + 0.0722*ch(c.B)
}

// Contrast is the WCAG contrast ratio of two colours, 1 to 21.
func Contrast(a, b RGB) float64 {
	la, lb := a.Luminance(), b.Luminance()
	if la < lb {
		la, lb = lb, la
	}
	return (la + 0.05) / (lb + 0.05)
}

// Mix moves c towards to by t (0: c, 1: to).
func Mix(c, to RGB, t float64) RGB {
	m := func(a, b uint8) uint8 { return uint8(math.Round(float64(a) + (float64(b)-float64(a))*t)) }
	return RGB{m(c.R, to.R), m(c.G, to.G), m(c.B, to.B)}
}

var (
	black = RGB{0, 0, 0}
	white = RGB{255, 255, 255}
)

// reach moves c towards black (darker) or white until it has at least min
// contrast with every colour in against. ok is false when even black or
// white does not reach it.
func reach(c RGB, darker bool, min float64, against ...RGB) (RGB, bool) {
	to := white
	if darker {
		to = black
	}
	for i := 0; i <= 50; i++ {
		x := Mix(c, to, float64(i)/50)
		if minContrast(x, against) >= min {
			return x, true
		}
	}
	return to, false
}

func minContrast(c RGB, against []RGB) float64 {
	m := 21.0
	for _, a := range against {
		m = min(m, Contrast(c, a))
	}
	return m
}

// Scheme is the colours of one colour scheme (light or dark), as the
// shared stylesheet's custom properties name them.
type Scheme struct {
	Bg, Surface, Surface2, Text, Muted, Border RGB
	// Brand is the background of buttons and marks, BrandContrast the text
	// on it, BrandStrong links and hovered buttons.
	Brand, BrandStrong, BrandContrast RGB
	Accent                            RGB
}

// Palette is a community's colours for both schemes, derived so that text
// reaches WCAG AA (4.5:1) and brand marks 3:1 on their surfaces.
type Palette struct{ Light, Dark Scheme }

// The platform's neutral colours (web/src/shared/base.css).
var (
	lightBase = Scheme{Bg: mustHex("#f8fafc"), Surface: mustHex("#ffffff"), Surface2: mustHex("#f1f5f9"), Text: mustHex("#0f172a"), Muted: mustHex("#475569"), Border: mustHex("#d6dde6")}
	darkBase  = Scheme{Bg: mustHex("#0b1020"), Surface: mustHex("#121a2e"), Surface2: mustHex("#1a2440"), Text: mustHex("#e5e9f2"), Muted: mustHex("#a3afc4"), Border: mustHex("#2c3a5a")}
	// defaultPrimary is Voyager's own brand colour.
	defaultPrimary = mustHex("#4f46e5")
)

// DerivePalette computes the community's palette from its colours. The
// community's background and text shape the light scheme; the dark scheme
// keeps the platform's dark neutrals (a light page under a dark system
// theme would be a surprise) and carries the brand hue. problems lists
// what cannot reach AA, for `communities validate`.
func DerivePalette(col Colors) (Palette, []Problem) {
	var ps []Problem
	primary := defaultPrimary
	if c, ok := ParseHex(col.Primary); ok {
		primary = c
	}
	accent := primary
	if c, ok := ParseHex(col.Accent); ok {
		accent = c
	}

	light := lightBase
	bg, hasBg := ParseHex(col.Background)
	text, hasText := ParseHex(col.Text)
	if hasBg {
		light.Bg = bg
		dark := bg.Luminance() < 0.18
		if dark {
			light.Surface, light.Surface2, light.Border = Mix(bg, white, 0.05), Mix(bg, white, 0.1), Mix(bg, white, 0.22)
			if !hasText {
				light.Text = darkBase.Text
			}
		} else {
			light.Surface, light.Surface2, light.Border = Mix(bg, white, 0.7), Mix(bg, black, 0.035), Mix(bg, black, 0.15)
		}
	}
	if hasText {
		light.Text = text
	}
	surfaces := []RGB{light.Bg, light.Surface, light.Surface2}
	if c := minContrast(light.Text, surfaces); c < MinTextContrast {
		ps = append(ps, Problem{Field: "branding.colors.text", Issue: fmt.Sprintf("text %s on background %s has contrast %.2f:1, below the 4.5:1 WCAG AA needs", light.Text.Hex(), light.Bg.Hex(), c),
			Fix: "darken the text or lighten the background (or the other way round) until they reach 4.5:1; leave both out to use the platform's neutrals"})
	}
	darkPage := light.Bg.Luminance() < 0.18
	light.Muted, _ = reach(Mix(light.Text, light.Bg, 0.3), !darkPage, MinTextContrast, surfaces...)

	var ok bool
	light, ok = brand(light, primary, accent, darkPage)
	if !ok {
		ps = append(ps, Problem{Field: "branding.colors.primary", Issue: fmt.Sprintf("no shade of %s reaches 4.5:1 on background %s and under button text", primary.Hex(), light.Bg.Hex()),
			Fix: "choose a background further from mid-grey, so links and buttons in the brand colour can stand out"})
	}
	dark, _ := brand(darkBase, primary, accent, true)
	return Palette{Light: light, Dark: dark}, ps
}

// brand fills the brand colours of s from primary. On a light page buttons
// carry white text and the brand is darkened as needed; on a dark page
// buttons carry dark text and the brand is lightened.
func brand(s Scheme, primary, accent RGB, darkPage bool) (Scheme, bool) {
	surfaces := []RGB{s.Bg, s.Surface, s.Surface2}
	if darkPage {
		s.BrandContrast = darkBase.Bg
		if s.Bg.Luminance() < s.BrandContrast.Luminance() {
			s.BrandContrast = black
		}
	} else {
		s.BrandContrast = white
	}
	// Buttons: text on the brand at 4.5:1, the brand against the page at 3:1.
	b, ok1 := reach(primary, !darkPage, MinTextContrast, s.BrandContrast)
	b, ok2 := reach(b, !darkPage, MinUIContrast, surfaces...)
	s.Brand = b
	// Links and hovered buttons: a step further, text contrast on every surface.
	strong, ok3 := reach(Mix(b, map[bool]RGB{true: white, false: black}[darkPage], 0.12), !darkPage, MinTextContrast, surfaces...)
	s.BrandStrong = strong
	s.Accent, _ = reach(accent, !darkPage, MinUIContrast, surfaces...)
	return s, ok1 && ok2 && ok3 && Contrast(strong, s.BrandContrast) >= MinTextContrast
}

// CSS writes the palette as the custom properties of the shared
// stylesheet, light first and dark under prefers-color-scheme.
func (p Palette) CSS() string {
	var b strings.Builder
	write := func(s Scheme) {
		fmt.Fprintf(&b, "--bg: %s; --surface: %s; --surface-2: %s; --text: %s; --muted: %s; --border: %s; --brand: %s; --brand-strong: %s; --brand-contrast: %s; --accent: %s; --focus: %s;",
			s.Bg.Hex(), s.Surface.Hex(), s.Surface2.Hex(), s.Text.Hex(), s.Muted.Hex(), s.Border.Hex(), s.Brand.Hex(), s.BrandStrong.Hex(), s.BrandContrast.Hex(), s.Accent.Hex(), s.BrandStrong.Hex())
	}
	b.WriteString(":root { ")
	write(p.Light)
	b.WriteString(" }\n@media (prefers-color-scheme: dark) {\n  :root { ")
	write(p.Dark)
	b.WriteString(" }\n}\n")
	return b.String()
}
