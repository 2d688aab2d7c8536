package browsertest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// ColorScheme makes the tab's pages see prefers-color-scheme as scheme
// ("light" or "dark"), as a system theme would.
func (b *Browser) ColorScheme(scheme string) {
	b.t.Helper()
	b.do("emulate prefers-color-scheme: "+scheme, chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}},
		})
		return err
	}))
}

// Viewport sets the tab's viewport to width×height CSS pixels; mobile
// emulates a phone (viewport meta tag, overlay scrollbars, touch) at
// device scale factor 3.
func (b *Browser) Viewport(width, height int, mobile bool) {
	b.t.Helper()
	scale := 1.0
	if mobile {
		scale = 3
	}
	b.do(fmt.Sprintf("set the viewport to %d×%d", width, height), chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, emulation.SetDeviceMetricsOverride, emulation.SetDeviceMetricsOverrideParams{
			Width: int64(width), Height: int64(height), DeviceScaleFactor: scale, Mobile: mobile,
		})
		if err != nil || !mobile {
			return err
		}
		_, err = chromedp.Call(ctx, emulation.SetTouchEmulationEnabled, emulation.SetTouchEmulationEnabledParams{Enabled: true, MaxTouchPoints: 5})
		return err
	}))
}

// BeforeEachPage runs the script in every page the tab loads from now on,
// before the page's own scripts (for example a PerformanceObserver that
// must see the whole page's life). It is not subject to the page's CSP.
func (b *Browser) BeforeEachPage(script string) {
	b.t.Helper()
	b.do("add a script to every page", chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: script})
		return err
	}))
}

// AllowClipboard lets pages of origin (e.g. "http://127.0.0.1:1234") read
// and write the clipboard without asking, so tests can check a Copy
// button by reading navigator.clipboard.
func (b *Browser) AllowClipboard(origin string) {
	b.t.Helper()
	b.do("allow the clipboard", chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		for _, name := range []string{"clipboard-read", "clipboard-write"} {
			_, err := chromedp.CallBrowser(ctx, browser.SetPermission, browser.SetPermissionParams{
				Permission: &browser.PermissionDescriptor{Name: name, AllowWithoutSanitization: true},
				Setting:    browser.PermissionSettingGranted, Origin: origin,
			})
			if err != nil {
				return err
			}
		}
		return nil
	}))
}

var (
	axeOnce sync.Once
	axeSrc  string
	axeErr  error
)

// axeSource reads axe-core from web/node_modules (a devDependency: it is
// injected by tests and never ships in a page bundle).
func axeSource() (string, error) {
	axeOnce.Do(func() {
		dir, err := os.Getwd()
		if err != nil {
			axeErr = err
			return
		}
		for {
			p := filepath.Join(dir, "web", "node_modules", "axe-core", "axe.min.js")
			if b, err := os.ReadFile(p); err == nil {
				axeSrc = string(b)
				return
			}
			if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
				axeErr = errors.New("axe-core not found in web/node_modules: run `make assets` (npm ci)")
				return
			}
			up := filepath.Dir(dir)
			if up == dir {
				axeErr = errors.New("axe-core not found: run the tests inside the repository")
				return
			}
			dir = up
		}
	})
	return axeSrc, axeErr
}

// AxeViolation is one rule axe-core found broken on the page.
type AxeViolation struct {
	ID      string   `json:"id"`
	Impact  string   `json:"impact"`
	Help    string   `json:"help"`
	Targets []string `json:"targets"`
	Summary string   `json:"summary"`
}

func (v AxeViolation) String() string {
	return fmt.Sprintf("%s (%s): %s at %s: %s", v.ID, v.Impact, v.Help, strings.Join(v.Targets, ", "), v.Summary)
}

// Axe runs axe-core's WCAG 2.x A and AA rules on the current page and
// returns the violations. axe is injected through the DevTools protocol,
// so the page's CSP does not stand in its way and no bundle carries it.
func (b *Browser) Axe() []AxeViolation {
	b.t.Helper()
	src, err := axeSource()
	if err != nil {
		b.t.Fatalf("browsertest: %v", err)
	}
	if !Eval[bool](b, `typeof window.axe === "object"`) {
		Eval[bool](b, src+";true")
	}
	raw := Eval[string](b, `axe.run(document, {runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]}, resultTypes: ["violations"]}).then(r => JSON.stringify(r.violations.map(v => ({
		id: v.id, impact: v.impact || "", help: v.help,
		targets: v.nodes.slice(0, 5).map(n => n.target.join(" ")),
		summary: (v.nodes[0] && v.nodes[0].failureSummary || "").replace(/\s+/g, " ").slice(0, 300)
	}))))`)
	var out []AxeViolation
	if err := json.Unmarshal([]byte(raw), &out); err != nil {
		b.t.Fatalf("browsertest: axe results: %v", err)
	}
	return out
}

// Survey screenshots the current page into dir as name-light.png,
// name-dark.png and name-phone.png (390×844), fails the test if the page
// is wider than the phone, and leaves the tab light at 1280×800.
func (b *Browser) Survey(dir, name string) {
	b.t.Helper()
	b.Screenshot(filepath.Join(dir, name+"-light.png"))
	b.ColorScheme("dark")
	b.Screenshot(filepath.Join(dir, name+"-dark.png"))
	b.ColorScheme("light")
	b.Run(chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile))
	if w := Eval[int](b, "document.documentElement.scrollWidth"); w > 400 {
		b.t.Errorf("%s is %d px wide on a 390 px phone", name, w)
	}
	b.Screenshot(filepath.Join(dir, name+"-phone.png"))
	b.Run(chromedp.EmulateReset(), chromedp.EmulateViewport(1280, 800))
}
