package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/relaywork/suite/internal/platform/app/apptest"
	"github.com/relaywork/suite/internal/platform/web/browsertest"
)

// colorScheme makes the tab prefer a light or dark colour scheme.
func colorScheme(b *browsertest.Browser, scheme string) {
	b.Run(chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}},
		})
		return err
	}))
}

// screenshots saves path as it looks light, dark and on a 390×844 phone.
func screenshots(t *testing.T, b *browsertest.Browser, url, name string) {
	t.Helper()
	dir := shotDir(t)
	for _, v := range []struct {
		suffix, scheme string
		w, h           int64
	}{{"light", "light", 1280, 900}, {"dark", "dark", 1280, 900}, {"phone", "light", 390, 844}} {
		b.Run(chromedp.EmulateViewport(v.w, v.h))
		colorScheme(b, v.scheme)
		b.Navigate(url)
		b.WaitVisible("main")
		b.WaitEval(name+" fits", `String(document.documentElement.scrollWidth <= window.innerWidth)`, "true")
		b.Screenshot(filepath.Join(dir, name+"-"+v.suffix+".png"))
	}
	b.Run(chromedp.EmulateViewport(1280, 900))
	colorScheme(b, "light")
}

// TestIdeasReadWellInBrowser: / leads to the ideas; the list shows plain
// excerpts and tickable tasks; ticking from the list and from the idea's
// preview saves a new version, and a stale one says so; tag counts follow
// deletes and undo; a new token has a Copy button.
func TestIdeasReadWellInBrowser(t *testing.T) {
	t.Parallel()
	env := apptest.BaseEnv(t, map[string]string{"RATE_LIMIT_SCALE": "0"})
	s := apptest.Start(t, run, env)
	out, _, err := apptest.Command(t, run, env, "admin", "login-link", "mae@example.com")
	m := ideasLoginLink.FindStringSubmatch(out)
	if err != nil || m == nil {
		t.Fatalf("login-link: %v %q", err, out)
	}
	other := ideasSignIn(t, s, "mae@example.com") // the same person on another device
	_, plan := other.json("POST", "/api/ideas", map[string]any{"title": "Plan the shed", "body": taskBody, "tags": []string{"home"}})
	_, _ = other.json("POST", "/api/ideas", map[string]any{"title": "Fix the gate", "body": "Oil the **hinges**.", "tags": []string{"home", "garden"}})
	id := plan["id"].(string)

	b := browsertest.New(t)
	b.AllowConsoleError("status of 409") // the stale ticks, on purpose
	b.Navigate(s.URL + "/auth/email/confirm?token=" + m[1])
	b.Click("#confirm-signin")
	b.WaitVisible(".account-name")
	b.Navigate(s.URL + "/")
	b.WaitEval("/ leads to the ideas", `location.pathname`, "/ideas")

	item := `document.querySelector("#idea-` + id + `")`
	b.WaitVisible("#idea-" + id + " .idea-tasks input[data-task='0']:not([disabled])")
	if got := b.Text("#idea-" + id + " .idea-snippet"); got != `Plan fmt.Println("hi")` {
		t.Fatalf("snippet %q", got)
	}
	// Tick from the list.
	b.Click("#idea-" + id + " input[data-task='0']")
	b.WaitEval("ticked from the list", item+`.dataset.version + ":" + `+item+`.querySelector("input[data-task='0']").closest("li").className`, "2:is-done")
	if _, got := other.json("GET", "/api/ideas/"+id, nil); !strings.Contains(got["body"].(string), "- [x] **second**") {
		t.Fatalf("server body after the tick %q", got["body"])
	}
	// Another device changes it: the list's next tick is refused and says so.
	if st, _ := other.json("POST", "/api/ideas/"+id+"/tasks/1", map[string]any{"done": false, "version": 2}); st != 200 {
		t.Fatalf("tick from the other device: %d", st)
	}
	b.Click("#idea-" + id + " input[data-task='0']")
	b.WaitEval("stale tick refused", item+`.querySelector(".task-status").hidden + ":" + `+item+`.querySelector("input[data-task='0']").checked`, "false:true")
	if got := b.Text("#idea-" + id + " .task-status"); !strings.Contains(got, "changed elsewhere") || !strings.Contains(got, "version 3") {
		t.Fatalf("stale tick says %q", got)
	}
	screenshots(t, b, s.URL+"/ideas", "ideas-list")

	// Tick from the idea's preview.
	b.Navigate(s.URL + "/ideas/" + id)
	b.WaitVisible(`#preview input[type="checkbox"]:not([disabled])`)
	b.Click(`#preview li:nth-child(2) input[type="checkbox"]`)
	b.WaitEval("ticked from the preview", `document.querySelector("#version").value + ":" + document.querySelector("#body").value.includes("- [x] first step")`, "4:true")
	if _, got := other.json("GET", "/api/ideas/"+id, nil); got["version"] != 4.0 || !strings.Contains(got["body"].(string), "- [x] first step") {
		t.Fatalf("server after the preview tick: %v", got)
	}
	if st, _ := other.json("POST", "/api/ideas/"+id+"/tasks/0", map[string]any{"done": false, "version": 4}); st != 200 {
		t.Fatalf("tick from the other device: %d", st)
	}
	b.Click(`#preview li:nth-child(2) input[type="checkbox"]`)
	b.WaitEval("stale preview tick says so", `String(document.querySelector("#save-status").innerText.includes("changed elsewhere (it is now at version 5)"))`, "true")
	screenshots(t, b, s.URL+"/ideas/"+id, "idea-tasks")

	// Tag counts follow deletes and undo on the list.
	b.Navigate(s.URL + "/ideas")
	tagCount := func(tag string) string {
		return `(document.querySelector('.tag-filter a[data-tag="` + tag + `"] .count')?.textContent ?? "none")`
	}
	b.WaitEval("two home ideas", tagCount("home"), "2")
	b.Click("#idea-list li.idea:first-child .idea-delete button") // "Fix the gate" (newest)
	b.WaitVisible("#undo-button")
	b.WaitEval("counts after a delete", tagCount("home")+` + "/" + `+tagCount("garden"), "1/none")
	b.Click("#undo-button")
	b.WaitEval("counts after undo", tagCount("home")+` + "/" + `+tagCount("garden"), "2/1")

	// A new token: shown once, with a Copy button; the list has a heading.
	b.Navigate(s.URL + "/settings/tokens")
	b.WaitVisible("#token-list-title")
	b.Type("#token-name", "backup script\n")
	b.WaitVisible("#copy-token")
	b.Click("#copy-token")
	b.WaitEval("copy answered", `String(["Copied", "Select and copy"].includes(document.querySelector("#copy-token").textContent))`, "true")
	if got := b.Text("#token-list-title"); got != "Your tokens" {
		t.Fatalf("token list heading %q", got)
	}
	if got := browsertest.Eval[string](b, `document.querySelector("#token-list").getAttribute("aria-labelledby")`); got != "token-list-title" {
		t.Fatalf("token list labelled by %q", got)
	}
	b.Screenshot(filepath.Join(shotDir(t), "tokens-new-light.png"))
	b.Run(chromedp.EmulateViewport(390, 844))
	b.Screenshot(filepath.Join(shotDir(t), "tokens-new-phone.png"))
	b.Run(chromedp.EmulateViewport(1280, 900))
	colorScheme(b, "dark")
	b.Screenshot(filepath.Join(shotDir(t), "tokens-new-dark.png"))
	colorScheme(b, "light")

	// Importing another account's export: the page lists the new IDs.
	zed := ideasSignIn(t, s, "zed@example.com")
	_, zi := zed.json("POST", "/api/ideas", map[string]any{"title": "Zed's idea"})
	_, _, export := zed.do("GET", "/api/ideas/export?format=json", nil, "")
	file := filepath.Join(t.TempDir(), "zed.json")
	if err := os.WriteFile(file, export, 0o600); err != nil {
		t.Fatal(err)
	}
	b.Navigate(s.URL + "/ideas/transfer")
	b.Run(chromedp.SetUploadFiles(chromedp.CSS("#import-file"), []string{file}))
	b.Click("#import-form button[type=submit]")
	b.WaitVisible("#import-new-ids")
	if got := b.Text("#import-result"); !strings.Contains(got, "1 got a new ID") || !strings.Contains(got, zi["id"].(string)+" →") {
		t.Fatalf("import result says %q", got)
	}
	shotsHere(t, b, "import-new-ids")
}

// shotsHere saves the page as it is (no reload) light, dark and on a phone.
func shotsHere(t *testing.T, b *browsertest.Browser, name string) {
	t.Helper()
	dir := shotDir(t)
	b.Screenshot(filepath.Join(dir, name+"-light.png"))
	colorScheme(b, "dark")
	b.Screenshot(filepath.Join(dir, name+"-dark.png"))
	colorScheme(b, "light")
	b.Run(chromedp.EmulateViewport(390, 844))
	b.WaitEval(name+" fits a phone", `String(document.documentElement.scrollWidth <= window.innerWidth)`, "true")
	b.Screenshot(filepath.Join(dir, name+"-phone.png"))
	b.Run(chromedp.EmulateViewport(1280, 900))
}
