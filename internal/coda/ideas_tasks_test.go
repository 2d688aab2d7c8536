package coda

import (
	"fmt"
	"strings"
	"testing"

	"github.com/relaywork/suite/internal/coda/idea"
)

const planBody = "## Plan\n\n- [ ] **second** thing\n- [x] done [link](http://x.example)\n  - [ ] nested\n\n" +
	"```go\nfmt.Println(1)\n```\n\n1. [ ] numbered\n\n> - [X] quoted\n\nSome *em* and `code` <b>raw</b> ![alt](i.png) https://auto.example\n"

func TestPlainText(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, src string
		skip      bool
		want      string
	}{
		{"headings, emphasis, code, links", planBody, false,
			"Plan second thing done link nested fmt.Println(1) numbered quoted Some em and code raw alt https://auto.example"},
		{"tasks left out", planBody, true, "Plan fmt.Println(1) Some em and code raw alt https://auto.example"},
		{"raw HTML block dropped", "<div>\nhidden\n</div>\n\nshown", false, "shown"},
		{"line breaks", "one\ntwo  \nthree", false, "one two three"},
		{"table", "| a | b |\n|---|---|\n| 1 | 2 |", false, "a b 1 2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := plainText(tc.src, tc.skip); got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
	if got := excerpt(strings.Repeat("word ", 100), 20, false); got != "word word word word…" {
		t.Fatalf("excerpt got %q", got)
	}
}

func TestHighlightExcerptKeepsMarks(t *testing.T) {
	t.Parallel()
	m := func(s string) string { return idea.MarkStart + s + idea.MarkEnd }
	for _, tc := range []struct{ in, want string }{
		{"## Plan - [ ] **" + m("second") + "** ```go", "Plan " + m("second")},
		{"a [" + m("link") + "](http://x)", "a " + m("link")},
		// A cut that left a mark without its pair is closed or dropped.
		{"tail " + m("x") + " " + idea.MarkStart + "cut", "tail " + m("x") + " " + m("cut")},
		{"x" + idea.MarkEnd + " y", "x y"},
	} {
		if got := highlightExcerpt(tc.in); got != tc.want {
			t.Errorf("%q: got %q, want %q", tc.in, got, tc.want)
		}
	}
	if got := string(highlightHTML(highlightExcerpt("**" + m("bird") + "house**"))); got != "<mark>bird</mark>house" {
		t.Fatalf("got %q", got)
	}
}

func TestTasks(t *testing.T) {
	t.Parallel()
	got := tasks(planBody)
	want := []task{{0, "second thing", false}, {1, "done link", true}, {2, "nested", false}, {3, "numbered", false}, {4, "quoted", true}}
	if len(got) != len(want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("task %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
	for _, tc := range []struct {
		n        int
		done     bool
		old, new string
	}{
		{0, true, "- [ ] **second**", "- [x] **second**"},
		{1, false, "- [x] done", "- [ ] done"},
		{2, true, "  - [ ] nested", "  - [x] nested"},
		{3, true, "1. [ ] numbered", "1. [x] numbered"},
		{4, false, "> - [X] quoted", "> - [ ] quoted"},
		{1, true, "- [x] done", "- [x] done"}, // already done: unchanged
	} {
		out, ok := setTask(planBody, tc.n, tc.done)
		if !ok || out != strings.Replace(planBody, tc.old, tc.new, 1) {
			t.Errorf("setTask(%d, %v): got %q", tc.n, tc.done, out)
		}
	}
	if _, ok := setTask(planBody, 5, true); ok {
		t.Error("setTask found a sixth task")
	}
	// Brackets that are not tasks are never touched.
	if got := tasks("- [link](x)\n- [y] not a task\n\n`- [ ] code`\n\n```\n- [ ] fenced\n```"); len(got) != 0 {
		t.Errorf("got tasks %+v from text that has none", got)
	}
}

func TestTaskListRenders(t *testing.T) {
	t.Parallel()
	got := string(renderMarkdown("- [ ] open\n- [x] done"))
	if !strings.Contains(got, `<input disabled="" type="checkbox"/>`) && !strings.Contains(got, `<input disabled="" type="checkbox">`) {
		t.Fatalf("open task renders %q", got)
	}
	if !strings.Contains(got, `checked=""`) {
		t.Fatalf("done task renders %q", got)
	}
	// Only a checkbox survives; raw inputs never reach the sanitiser, but
	// if one did it would be stripped of everything else.
	for _, bad := range []string{`<input type="text" value="x">`, `<input type="checkbox" onclick="alert(1)">`, `<input type="image" src="x">`} {
		out := string(policy.Sanitize(bad))
		if strings.Contains(out, "text") || strings.Contains(out, "onclick") || strings.Contains(out, "image") || strings.Contains(out, "value") {
			t.Errorf("%s sanitises to %s", bad, out)
		}
	}
}

func TestDigestReadsTheStartOnly(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("A paragraph with *emphasis*.\n\n", 2000)
	if got := excerpt(long, 40, false); got != "A paragraph with emphasis. A paragraph w…" {
		t.Fatalf("excerpt of a long body %q", got)
	}
	// Mostly markup at the start: the excerpt reads on until it has text.
	markup := strings.Repeat("<div></div>\n\n", 600) + "words at last"
	if got := excerpt(markup, 40, false); got != "words at last" {
		t.Fatalf("excerpt after markup %q", got)
	}
	many := ""
	for i := range 1000 {
		many += fmt.Sprintf("- [ ] task %d\n", i)
	}
	ex, ts, more, cut := digest("Intro.\n\n"+many, 180, 6)
	if ex != "Intro." || len(ts) != 6 || ts[5].Text != "task 5" || more == 0 || !cut {
		t.Fatalf("digest: %q %+v more %d cut %v", ex, ts, more, cut)
	}
	if ex, ts, _, _ := digest("No tasks [here](x).", 180, 6); ex != "No tasks here." || ts != nil {
		t.Fatalf("digest without tasks: %q %+v", ex, ts)
	}
}
