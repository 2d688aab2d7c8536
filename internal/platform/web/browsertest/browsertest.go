// Package browsertest drives headless Chromium from tests with chromedp and
// fails a test whose page logs an error: console.error calls, uncaught
// exceptions and browser log entries of level error, which is where Chromium
// reports Content-Security-Policy violations and failed resource loads.
//
//	b := browsertest.New(t) // skips when Chromium is missing, unless $CI is set
//	b.Navigate(srv.URL + "/ideas")
//	b.Click("#new-idea")
//	b.Type("#title", "Rocket fuel")
//	if got := b.Text("h1"); got != "Rocket fuel" { … }
//
// Selectors are CSS selectors; each helper waits for its element, gives up
// after the timeout (15 s) and calls t.Fatal with what it was doing. One
// browser serves many subtests: b.Tab(t) opens a tab whose errors are checked
// when that subtest ends. Tabs are independent, so parallel subtests may each
// use their own tab.
//
// Chromium comes from $CHROMIUM_PATH, /usr/bin/chromium (Debian's package) or
// the PATH.
package browsertest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// DefaultTimeout bounds each helper call.
const DefaultTimeout = 15 * time.Second

// startTimeout bounds the start of the browser and of a tab. A loaded CI
// runner can be slow to start Chromium.
const startTimeout = 60 * time.Second

// Browser is one tab of a headless Chromium. Its methods are for the test
// goroutine that owns the tab; use Tab for another goroutine or subtest.
type Browser struct {
	t       testing.TB
	ctx     context.Context // the tab's chromedp context, without deadline
	timeout time.Duration

	mu       sync.Mutex
	problems []string // console errors, exceptions and error log entries
	allowed  []string // substrings of problems that are expected
	done     bool     // the test ended: no more t.Logf
}

// New starts a headless Chromium for the test and returns its first tab. The
// browser stops when the test ends. It skips the test when Chromium is not
// installed, or fails it when the environment variable CI is set.
//
// At the end of the test, New fails the test if the tab logged an error (see
// AllowConsoleError).
func New(t testing.TB, opts ...Option) *Browser {
	t.Helper()
	var o options
	for _, f := range opts {
		f(&o)
	}
	opts = nil
	execPath, err := findChromium()
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("browsertest: %v (CI is set, so browser tests may not skip)", err)
		}
		t.Skipf("browsertest: %v", err)
	}

	dataDir := filepath.Join(t.TempDir(), "chromium")
	alloc := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(execPath),
		chromedp.UserDataDir(dataDir),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(1280, 800),
	)
	if len(o.hosts) > 0 {
		rules := make([]string, len(o.hosts))
		for i, h := range o.hosts {
			rules[i] = "MAP " + h + " 127.0.0.1"
		}
		alloc = append(alloc, chromedp.Flag("host-resolver-rules", strings.Join(rules, ", ")))
	}
	alloc = append(alloc, o.flags...)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), alloc...)

	b := &Browser{t: t, timeout: DefaultTimeout}
	ctx, cancelTab := chromedp.NewContext(allocCtx, b.contextOptions(true)...)
	b.ctx = ctx

	// The first Do starts the browser and binds its life to the context it
	// gets, so that context has no deadline: a timer cancels a stuck start.
	if err := doWithin(ctx, startTimeout, cancelAlloc); err != nil {
		cancelTab()
		cancelAlloc()
		t.Fatalf("browsertest: start %s: %v", execPath, err)
	}
	t.Cleanup(func() {
		b.finish()
		cancelTab()
		cancelAlloc() // waits for the browser to exit
		killLeftovers(dataDir)
	})
	return b
}

// Option changes how New starts the browser.
type Option func(*options)

type options struct {
	hosts []string
	flags []chromedp.ExecAllocatorOption
}

// WithFlags adds Chromium allocator options (such as
// chromedp.Flag("ignore-certificate-errors-spki-list", …)).
func WithFlags(flags ...chromedp.ExecAllocatorOption) Option {
	return func(o *options) { o.flags = append(o.flags, flags...) }
}

// MapHosts makes the browser resolve each host name to 127.0.0.1, so a test
// can visit a server on loopback under names such as a community's own
// domain ("http://coach.example:PORT/").
func MapHosts(hosts ...string) Option {
	return func(o *options) { o.hosts = append(o.hosts, hosts...) }
}

// Tab opens a new tab in the same browser for t, typically a subtest. The
// tab closes when t ends, and t fails if the tab logged an error.
func (b *Browser) Tab(t testing.TB) *Browser {
	t.Helper()
	nb := &Browser{t: t, timeout: b.timeout}
	ctx, cancel := chromedp.NewContext(b.ctx, nb.contextOptions(false)...)
	nb.ctx = ctx
	if err := doWithin(ctx, startTimeout, cancel); err != nil {
		cancel()
		t.Fatalf("browsertest: open tab: %v", err)
	}
	t.Cleanup(func() {
		nb.finish()
		cancel()
	})
	return nb
}

// contextOptions returns the options of a tab context: its events feed the
// problem list from the very start of the tab. For the first tab, which
// allocates the browser, chromedp's own errors also go to the test log.
func (b *Browser) contextOptions(first bool) []chromedp.ContextOption {
	opts := []chromedp.ContextOption{chromedp.WithListener(b.listen)}
	if first {
		opts = append(opts, chromedp.WithErrorf(func(format string, args ...any) {
			b.mu.Lock()
			defer b.mu.Unlock()
			if !b.done {
				b.t.Logf("chromedp: "+format, args...)
			}
		}))
	}
	return opts
}

// doWithin runs the first Do on ctx, calling cancel if it takes longer than d.
func doWithin(ctx context.Context, d time.Duration, cancel context.CancelFunc) error {
	timer := time.AfterFunc(d, cancel)
	defer timer.Stop()
	return chromedp.Do(ctx)
}

// findChromium returns the browser to run.
func findChromium() (string, error) {
	if p := os.Getenv("CHROMIUM_PATH"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("CHROMIUM_PATH: %w", err)
		}
		return p, nil
	}
	if _, err := os.Stat("/usr/bin/chromium"); err == nil {
		return "/usr/bin/chromium", nil
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", errors.New("chromium not found: install it (apt-get install chromium) or set CHROMIUM_PATH")
}

// listen runs on chromedp's reader goroutine for every event of the tab, so
// it only records.
func (b *Browser) listen(ev any) {
	var problem string
	switch ev := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		if ev.Type != runtime.ConsoleAPICalledTypeError && ev.Type != runtime.ConsoleAPICalledTypeAssert {
			return
		}
		problem = "console." + string(ev.Type) + ": " + argsText(ev.Args) + stackPlace(ev.StackTrace)
	case *runtime.EventExceptionThrown:
		d := ev.ExceptionDetails
		if d == nil {
			return
		}
		text := d.Text
		if d.Exception != nil {
			desc, _, _ := strings.Cut(remoteText(d.Exception), "\n    at ")
			text += " " + desc
		}
		problem = "exception: " + text + place(d.URL, d.LineNumber)
	case *log.EventEntryAdded:
		e := ev.Entry
		if e == nil || e.Level != log.EntryLevelError {
			return
		}
		problem = "log." + string(e.Source) + ": " + e.Text + place(e.URL, e.LineNumber)
	default:
		return
	}
	b.mu.Lock()
	b.problems = append(b.problems, problem)
	b.mu.Unlock()
}

func argsText(args []*runtime.RemoteObject) string {
	parts := make([]string, 0, len(args))
	for _, a := range args {
		parts = append(parts, remoteText(a))
	}
	return strings.Join(parts, " ")
}

// remoteText is a short text for a value the page logged.
func remoteText(o *runtime.RemoteObject) string {
	switch {
	case o == nil:
		return ""
	case len(o.Value) > 0:
		if s, err := strconv.Unquote(string(o.Value)); err == nil {
			return s
		}
		return string(o.Value)
	case o.UnserializableValue != "":
		return string(o.UnserializableValue)
	case o.Description != "":
		return o.Description
	default:
		return string(o.Type)
	}
}

func stackPlace(st *runtime.StackTrace) string {
	if st == nil || len(st.CallFrames) == 0 {
		return ""
	}
	f := st.CallFrames[0]
	return place(f.URL, f.LineNumber)
}

// place formats a location; protocol lines start at 0.
func place(url string, line int64) string {
	if url == "" {
		return ""
	}
	return fmt.Sprintf(" (%s:%d)", url, line+1)
}

// AllowConsoleError makes the end-of-test check ignore errors whose text
// contains substr, for a test that provokes one on purpose.
func (b *Browser) AllowConsoleError(substr string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.allowed = append(b.allowed, substr)
}

// ConsoleErrors returns the errors the tab has logged so far, allowed ones
// included. It first waits until the browser has delivered every event that
// happened before the call.
func (b *Browser) ConsoleErrors() []string {
	b.t.Helper()
	b.sync()
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.problems...)
}

// sync makes a round trip through the tab. chromedp calls the listener on
// the goroutine that reads the tab's messages, in order, so once the reply
// is back every earlier event has been recorded.
func (b *Browser) sync() error {
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	_, err := chromedp.Run(ctx, chromedp.Evaluate[int]("0"))
	return err
}

// finish reports the problems that are not allowed, as one test error.
func (b *Browser) finish() {
	b.t.Helper()
	syncErr := b.sync()
	b.mu.Lock()
	defer b.mu.Unlock()
	b.done = true
	var report []string
	for _, p := range b.problems {
		if !b.isAllowed(p) {
			report = append(report, "  "+p)
		}
	}
	if len(report) > 0 {
		b.t.Errorf("browsertest: the page logged %d error(s) (use AllowConsoleError if expected):\n%s", len(report), strings.Join(report, "\n"))
	}
	if syncErr != nil && b.ctx.Err() == nil {
		b.t.Logf("browsertest: could not collect the last console messages: %v", syncErr)
	}
}

func (b *Browser) isAllowed(problem string) bool {
	for _, a := range b.allowed {
		if strings.Contains(problem, a) {
			return true
		}
	}
	return false
}

// Context returns the tab's chromedp context, for chromedp.Run and
// chromedp.Do with actions the helpers do not cover. It has no deadline.
func (b *Browser) Context() context.Context { return b.ctx }

// SetTimeout changes the time limit of each helper call on this tab.
func (b *Browser) SetTimeout(d time.Duration) { b.timeout = d }

// do runs actions within the timeout and fails the test with what on error.
func (b *Browser) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, b.timeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("browsertest: %s: %v", what, err)
	}
}

// Run runs chromedp actions in the tab within the timeout.
func (b *Browser) Run(actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	b.do("run actions", actions...)
}

// Navigate loads url and waits for its load event.
func (b *Browser) Navigate(url string) {
	b.t.Helper()
	b.do("navigate to "+url, chromedp.Navigate(url))
}

// WaitVisible waits until the first element matching the CSS selector is
// visible.
func (b *Browser) WaitVisible(sel string) {
	b.t.Helper()
	b.do("wait for "+sel+" to be visible", chromedp.WaitVisible(chromedp.CSS(sel)))
}

// Click clicks the first element matching the CSS selector, once visible.
func (b *Browser) Click(sel string) {
	b.t.Helper()
	b.do("click "+sel, chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible))
}

// Type focuses the first element matching the CSS selector and types text
// into it, key by key.
func (b *Browser) Type(sel, text string) {
	b.t.Helper()
	b.do("type into "+sel, chromedp.SendKeys(chromedp.CSS(sel), text, chromedp.NodeVisible))
}

// Text returns the visible text of the first element matching the CSS
// selector, as innerText gives it.
func (b *Browser) Text(sel string) string {
	b.t.Helper()
	return Eval[string](b, fmt.Sprintf(`(() => {
		const el = document.querySelector(%q);
		if (!el) throw new Error("no element matches " + %[1]q);
		return el.innerText;
	})()`, sel), chromedp.WaitReady(chromedp.CSS(sel)))
}

// Screenshot saves a PNG of the whole page to path, creating its folder.
func (b *Browser) Screenshot(path string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, b.timeout)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("browsertest: screenshot: %v", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		b.t.Fatalf("browsertest: screenshot: %v", err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Fatalf("browsertest: screenshot: %v", err)
	}
}

// Eval evaluates the JavaScript expression in the tab and decodes its value
// into T (a promise is awaited). Optional actions run first, such as a wait.
func Eval[T any](b *Browser, expr string, before ...chromedp.Action[chromedp.Void]) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, b.timeout)
	defer cancel()
	var zero T
	if err := chromedp.Do(ctx, before...); err != nil {
		b.t.Fatalf("browsertest: evaluate %s: %v", expr, err)
		return zero
	}
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		b.t.Fatalf("browsertest: evaluate %s: %v", expr, err)
		return zero
	}
	return v
}

// WaitEval polls the JavaScript expression until it returns want, and fails
// the test with what it saw last if that takes longer than the browser's
// timeout.
func (b *Browser) WaitEval(what, expr, want string) {
	b.t.Helper()
	deadline := time.Now().Add(b.timeout)
	var got string
	for time.Now().Before(deadline) {
		if got = Eval[string](b, expr); got == want {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	b.t.Fatalf("browsertest: %s: got %q, want %q", what, got, want)
}

// WaitLCP waits until the page has a largest-contentful-paint entry, so
// that leaving the page (or typing, which ends LCP) still reports it.
// Chrome records no LCP at all for a page that had input before its first
// contentful paint, which a loaded machine makes likely when a test types
// straight after an element appears: call this first.
func (b *Browser) WaitLCP() {
	b.t.Helper()
	deadline := time.Now().Add(b.timeout)
	for time.Now().Before(deadline) {
		n := Eval[int](b, `new Promise(r => {
			const o = new PerformanceObserver(l => { o.disconnect(); r(l.getEntries().length) });
			o.observe({type: "largest-contentful-paint", buffered: true});
			setTimeout(() => { o.disconnect(); r(0) }, 250);
		})`)
		if n > 0 {
			return
		}
	}
	b.t.Fatalf("browsertest: no largest-contentful-paint entry on %s", Eval[string](b, "location.href"))
}
