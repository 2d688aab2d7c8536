package chat

import (
	"strings"
	"testing"
)

func TestMarkdownIsSanitised(t *testing.T) {
	t.Parallel()
	md := NewMarkdown()
	for _, tc := range []struct{ in, want, never string }{
		{"**bold** and `code`", "<strong>bold</strong>", ""},
		{"<script>alert(1)</script>\n\nhi", "hi", "<script"},
		{"<img src=x onerror=alert(1)>", "", "onerror"},
		{"[x](javascript:alert(1))", "", "javascript:"},
		{"[site](https://example.com)", `rel="nofollow noreferrer noopener"`, ""},
		{"| a | b |\n|---|---|\n| 1 | 2 |", "<table>", ""},
		{"<a href=\"https://e.com\" style=\"x\">raw</a>", "", "style="},
		// Images are links, never loaded: an answer steered by prompt
		// injection must not make the browser fetch a tracker.
		{"![chart](https://tracker.example/p.png?leak=salary)", `<a href="https://tracker.example/p.png?leak=salary" rel="nofollow noreferrer noopener" target="_blank">chart</a>`, "<img"},
		{"![](https://tracker.example/p.png)", `>https://tracker.example/p.png</a>`, "<img"},
		{"[![logo](https://t.example/i.png)](https://example.com)", `<a href="https://example.com" rel="nofollow noreferrer noopener" target="_blank">logo</a>`, "<img"},
		{"![x](javascript:alert(1))", "", "javascript:"},
		{"![x][r]\n\n[r]: https://t.example/r.png \"t\"", `href="https://t.example/r.png"`, "<img"},
		{"<img src=\"https://tracker.example/p.png\">", "", "<img"},
	} {
		got := string(md.HTML(tc.in))
		if tc.want != "" && !strings.Contains(got, tc.want) {
			t.Errorf("%q: got %q, want it to contain %q", tc.in, got, tc.want)
		}
		if tc.never != "" && strings.Contains(got, tc.never) {
			t.Errorf("%q: got %q, which contains %q", tc.in, got, tc.never)
		}
	}
}

func TestHubFollowersGetSnapshotThenPieces(t *testing.T) {
	t.Parallel()
	h := NewHub()
	st := h.start("a", func() {})
	st.append("one ")
	snap, ch, cancel, ok := h.Subscribe("a")
	defer cancel()
	if !ok || snap != "one " {
		t.Fatalf("got %q %v", snap, ok)
	}
	st.append("two")
	st.finish(Message{ID: "a", Content: "one two", Status: Complete})
	h.remove("a")
	if ev := <-ch; ev.Kind != "delta" || ev.Text != "two" {
		t.Fatalf("got %+v", ev)
	}
	if ev := <-ch; ev.Kind != "done" || ev.Message.Content != "one two" {
		t.Fatalf("got %+v", ev)
	}
	if _, ok := <-ch; ok {
		t.Fatal("channel open after done")
	}
	if _, _, _, ok := h.Subscribe("a"); ok {
		t.Fatal("finished answer still live")
	}
}
