package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/relaywork/suite/internal/coda/runner"
	"github.com/relaywork/suite/internal/coda/runnerdist"
	"github.com/relaywork/suite/internal/platform/app/apptest"
	"github.com/relaywork/suite/internal/platform/web/browsertest"
)

const versionPkg = "github.com/relaywork/suite/internal/platform/version"

// goBuild builds pkg (relative to this folder) into out with the release
// tag, as `make build` and the release do.
func goBuild(t *testing.T, pkg, out, tag string, env ...string) {
	t.Helper()
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w -X "+versionPkg+".tag="+tag, "-o", out, pkg)
	cmd.Env = append(os.Environ(), append([]string{"CGO_ENABLED=0"}, env...)...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
}

// startBinary runs the coda binary exe with env until the test ends and
// waits for /healthz.
func startBinary(t *testing.T, exe string, env map[string]string) *apptest.Server {
	t.Helper()
	cmd := exec.Command(exe, "serve")
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Env = append(cmd.Env, "PATH="+os.Getenv("PATH"))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := &apptest.Buffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("coda exited with %v\n%s", err, stderr)
			}
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			t.Error("coda did not stop within 20s")
		}
	})
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		re := regexp.MustCompile(`listening on (http://\S+)`)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				urls <- strings.Replace(m[1], "localhost", "127.0.0.1", 1)
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	var u string
	select {
	case u = <-urls:
	case <-time.After(60 * time.Second):
		t.Fatalf("coda did not start\n%s", stderr)
	}
	waitFor(t, "/healthz", func() string {
		resp, err := http.Get(u + "/healthz")
		if err != nil {
			return ""
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return ""
		}
		return "ok"
	})
	return &apptest.Server{URL: u, Env: env, Stderr: stderr}
}

func fetch(t *testing.T, c *http.Client, u string) (int, http.Header, []byte) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

// TestRunnerDownloadsFromTheBinary builds coda (v2.0.0) and a runner
// (v1.5.0), lays the runner folder out as a release does (beside the coda
// binary, with checksums.txt and latest.json), and checks through the real
// binary: the version command and /healthz, the downloads and their
// checksums, the downloaded runner's version, and the update banner, which
// follows latest.json's runner version, not the server's own.
func TestRunnerDownloadsFromTheBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binaries")
	}
	t.Parallel()
	dir := t.TempDir()
	exe := filepath.Join(dir, "coda")
	goBuild(t, ".", exe, "v2.0.0")
	runnerDir := filepath.Join(dir, "runner")
	if err := os.Mkdir(runnerDir, 0o755); err != nil {
		t.Fatal(err)
	}
	ownRunner := runnerdist.BinaryName(runtime.GOOS, runtime.GOARCH)
	goBuild(t, "../coda-runner", filepath.Join(runnerDir, ownRunner), "v1.5.0")
	if _, err := runnerdist.Write(runnerDir, "v1.5.0", time.Now()); err != nil {
		t.Fatal(err)
	}

	out, err := exec.Command(exe, "version").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "coda v2.0.0 (") {
		t.Fatalf("coda version: %q %v", out, err)
	}

	env := apptest.BaseEnv(t, nil) // RUNNER_DOWNLOAD_DIR unset: the folder beside the binary
	s := startBinary(t, exe, env)
	anon := &http.Client{Timeout: 15 * time.Second}
	_, _, body := fetch(t, anon, s.URL+"/healthz")
	var health struct{ Version string }
	if json.Unmarshal(body, &health); health.Version != "v2.0.0" {
		t.Fatalf("/healthz: %s", body)
	}

	// The manifest, the checksums and the build, without signing in.
	st, h, body := fetch(t, anon, s.URL+"/devmode/downloads/latest.json")
	m, err := runnerdist.Parse(body)
	if st != 200 || err != nil || m.Version != "v1.5.0" || len(m.Files) != 1 || h.Get("Content-Type") != "application/json" {
		t.Fatalf("latest.json: %d %v %s", st, err, body)
	}
	st, _, sums := fetch(t, anon, s.URL+"/devmode/downloads/checksums.txt")
	if st != 200 || !strings.Contains(string(sums), m.Files[0].SHA256+"  "+ownRunner) {
		t.Fatalf("checksums.txt: %d %s", st, sums)
	}
	st, h, bin := fetch(t, anon, s.URL+"/devmode/downloads/"+ownRunner)
	sum := sha256.Sum256(bin)
	if st != 200 || hex.EncodeToString(sum[:]) != m.Files[0].SHA256 || !strings.Contains(h.Get("Content-Disposition"), ownRunner) {
		t.Fatalf("download: %d, %d bytes, headers %v", st, len(bin), h)
	}
	got := filepath.Join(t.TempDir(), "coda-runner")
	if err := os.WriteFile(got, bin, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(got, "version").CombinedOutput(); err != nil || !strings.HasPrefix(string(out), "coda-runner v1.5.0 (") {
		t.Fatalf("downloaded runner version: %q %v", out, err)
	}
	for _, name := range []string{"coda-runner-plan9-amd64", ".lock", "..%2fcoda", "coda-runner-windows-amd64.exe"} {
		if st, _, body := fetch(t, anon, s.URL+"/devmode/downloads/"+name); st != 404 || !strings.Contains(string(body), `"not_found"`) {
			t.Fatalf("%s: got %d %s, want a JSON 404", name, st, body)
		}
	}

	// Admins see the build in the footer; other people do not.
	admin := &http.Client{Timeout: 15 * time.Second}
	{
		out, _, err := apptest.Command(t, run, s.Env, "admin", "login-link", "ops@example.com", "--role", "admin")
		if err != nil {
			t.Fatal(err)
		}
		admin = signInWithLink(t, s.URL, linkToken.FindStringSubmatch(out)[1])
	}
	if _, _, page := fetch(t, admin, s.URL+"/ideas"); !strings.Contains(string(page), `<p class="build-version muted">Version <code>v2.0.0</code></p>`) {
		t.Fatalf("admin's footer lacks the version:\n%s", page)
	}

	// A runner at the latest release raises no banner although the
	// server is newer; an older one does.
	api := devSignIn(t, s, "lin@example.com")
	cfg := pairRunner(t, s, api, "lin-laptop")
	connectRunner(t, cfg, "v1.5.0")
	page := devmodePage(t, api, s.URL, `runner v1.5.0`)
	if strings.Contains(page, "build-version") {
		t.Fatalf("a non-admin sees the build version:\n%s", page)
	}
	if strings.Contains(page, `id="runner-outdated"`) || !strings.Contains(page, `href="/devmode/downloads/`+ownRunner+`"`) {
		t.Fatalf("runner at the latest release: page\n%s", page)
	}
	old := pairRunner(t, s, api, "lin-desktop")
	connectRunner(t, old, "v1.4.2")
	page = devmodePage(t, api, s.URL, `runner v1.4.2`)
	if !strings.Contains(page, `A new runner version is available (v1.5.0)`) {
		t.Fatalf("older runner: no banner naming v1.5.0\n%s", page)
	}
	_, _, body = fetch(t, api, s.URL+"/api/devmode/runners")
	if !strings.Contains(string(body), `"latest_runner_version":"v1.5.0"`) || !strings.Contains(string(body), `"outdated":true`) {
		t.Fatalf("runners API: %s", body)
	}
}

// signInWithLink confirms a sign-in link token and returns the client.
func signInWithLink(t *testing.T, base, token string) *http.Client {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 15 * time.Second}
	resp, err := c.PostForm(base+"/auth/email/confirm", url.Values{"token": {token}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("confirm sign-in: %s", resp.Status)
	}
	return c
}

// connectRunner runs a runner announcing version until the test ends.
func connectRunner(t *testing.T, cfg runner.Config, version string) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = runner.Run(ctx, runner.Options{Config: cfg, Name: cfg.RunnerID[:8], Version: version, Shell: "/bin/sh",
			MinBackoff: 20 * time.Millisecond, MaxBackoff: 300 * time.Millisecond})
	}()
	t.Cleanup(func() { cancel(); <-done })
}

// devmodePage polls /devmode until it contains want.
func devmodePage(t *testing.T, c *http.Client, base, want string) string {
	t.Helper()
	return waitFor(t, "/devmode showing "+want, func() string {
		st, _, body := fetch(t, c, base+"/devmode")
		if st == 200 && strings.Contains(string(body), want) {
			return string(body)
		}
		return ""
	})
}

// TestRunnerDownloadsElsewhere: with RUNNER_DOWNLOAD_BASE the links point
// there and the banner follows the latest.json found there; with no
// downloads at all the page says how to get the runner instead of an empty
// list.
func TestRunnerDownloadsElsewhere(t *testing.T) {
	t.Parallel()
	manifest := `{"format":"coda-runner-release","version":"v3.1.0","published":"2026-12-01T00:00:00Z","files":[
		{"name":"coda-runner-linux-amd64","os":"linux","arch":"amd64","size":9400000,"sha256":"` + strings.Repeat("ab", 32) + `"},
		{"name":"coda-runner-darwin-arm64","os":"darwin","arch":"arm64","size":9100000,"sha256":"` + strings.Repeat("cd", 32) + `"}]}`
	releases := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/releases/latest/download/latest.json" {
			http.NotFound(w, r)
			return
		}
		io.WriteString(w, manifest)
	}))
	defer releases.Close()
	base := releases.URL + "/releases/latest/download"
	s := apptest.Start(t, run, apptest.BaseEnv(t, map[string]string{"RUNNER_DOWNLOAD_BASE": base, "RUNNER_DOWNLOAD_DIR": t.TempDir()}))
	api := devSignIn(t, s, "ada@example.com")
	cfg := pairRunner(t, s, api, "ada-laptop")
	connectRunner(t, cfg, "v3.0.9")
	page := devmodePage(t, api, s.URL, "runner v3.0.9")
	for _, want := range []string{
		`href="` + base + `/coda-runner-darwin-arm64"`, `href="` + base + `/coda-runner-linux-amd64"`,
		`href="` + base + `/checksums.txt"`, `A new runner version is available (v3.1.0)`, "9.4 MB",
	} {
		if !strings.Contains(page, want) {
			t.Fatalf("page lacks %q:\n%s", want, page)
		}
	}
	if strings.Contains(page, "/devmode/downloads/") || strings.Contains(page, "coda-runner-windows-amd64.exe") {
		t.Fatalf("page links builds the manifest does not list:\n%s", page)
	}
	if st, _, _ := fetch(t, api, s.URL+"/devmode/downloads/latest.json"); st != 404 {
		t.Fatalf("local latest.json with an empty folder: %d, want 404", st)
	}

	// No base and an empty folder: no "Download the runner…:" with nothing after it.
	bare := apptest.Start(t, run, apptest.BaseEnv(t, map[string]string{"RUNNER_DOWNLOAD_DIR": t.TempDir()}))
	c := devSignIn(t, bare, "bo@example.com")
	st, _, body := fetch(t, c, bare.URL+"/devmode")
	if st != 200 || !strings.Contains(string(body), `id="runner-no-downloads"`) || strings.Contains(string(body), "Download the runner for your computer") || strings.Contains(string(body), `id="runner-outdated"`) {
		t.Fatalf("page without downloads:\n%s", body)
	}
}

// TestDevModePageScreenshots draws the DevMode page with downloads and the
// update banner in light and dark, and on a phone.
func TestDevModePageScreenshots(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, p := range runnerdist.Platforms {
		if err := os.WriteFile(filepath.Join(dir, runnerdist.BinaryName(p.OS, p.Arch)), []byte(strings.Repeat("x", 9_400_000)), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := runnerdist.Write(dir, "v1.5.0", time.Now()); err != nil {
		t.Fatal(err)
	}
	s := apptest.Start(t, run, apptest.BaseEnv(t, map[string]string{"RUNNER_DOWNLOAD_DIR": dir}))
	api := devSignIn(t, s, "grace@example.com")
	cfg := pairRunner(t, s, api, "grace-laptop")
	connectRunner(t, cfg, "v1.4.0")
	devmodePage(t, api, s.URL, "runner v1.4.0")

	out, _, err := apptest.Command(t, run, s.Env, "admin", "login-link", "grace@example.com")
	if err != nil {
		t.Fatal(err)
	}
	b := browsertest.New(t)
	b.Navigate(s.URL + "/auth/email/confirm?token=" + linkToken.FindStringSubmatch(out)[1])
	b.Click("#confirm-signin")
	b.WaitVisible(".account-name")
	b.Navigate(s.URL + "/devmode")
	b.WaitVisible("#runner-outdated")
	if got := b.Text("#runner-downloads"); !strings.Contains(got, "Linux (ARM64)") {
		t.Fatalf("downloads: %q", got)
	}
	shots := os.Getenv("SCREENSHOT_DIR")
	if shots == "" {
		shots = t.TempDir()
	}
	b.Screenshot(filepath.Join(shots, "devmode-light.png"))
	b.Run(emulateScheme("dark"))
	if !browsertest.Eval[bool](b, `matchMedia("(prefers-color-scheme: dark)").matches`) {
		t.Fatal("dark mode not emulated")
	}
	b.Screenshot(filepath.Join(shots, "devmode-dark.png"))
	b.Run(emulateScheme("light"), chromedp.EmulateViewport(375, 740))
	b.WaitEval("/devmode fits a phone", `String(document.documentElement.scrollWidth <= window.innerWidth)`, "true")
	b.Screenshot(filepath.Join(shots, "devmode-phone.png"))

	// No downloads, seen by an admin (whose footer names the build).
	bare := apptest.Start(t, run, apptest.BaseEnv(t, map[string]string{"RUNNER_DOWNLOAD_DIR": t.TempDir()}))
	out, _, err = apptest.Command(t, run, bare.Env, "admin", "login-link", "ops@example.com", "--role", "admin")
	if err != nil {
		t.Fatal(err)
	}
	b.Run(chromedp.EmulateViewport(1280, 900))
	b.Navigate(bare.URL + "/auth/email/confirm?token=" + linkToken.FindStringSubmatch(out)[1])
	b.Click("#confirm-signin")
	b.WaitVisible(".account-name")
	b.Navigate(bare.URL + "/devmode")
	b.WaitVisible("#runner-no-downloads")
	if got := b.Text(".build-version"); !strings.HasPrefix(got, "Version ") {
		t.Fatalf("admin footer: %q", got)
	}
	b.Screenshot(filepath.Join(shots, "devmode-no-downloads-admin.png"))
}

// colorScheme emulates prefers-color-scheme.
func emulateScheme(v string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: v}}})
		return err
	})
}
