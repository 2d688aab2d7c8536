package coda

import (
	"bytes"
	"strings"

	"github.com/yuin/goldmark/ast"
	east "github.com/yuin/goldmark/extension/ast"
	"github.com/yuin/goldmark/text"
)

// task is one task-list item of an idea's Markdown ("- [ ] call Ada").
type task struct {
	Index int // 0-based, in document order: the n of /tasks/{n}
	Text  string
	Done  bool
}

// parseMarkdown parses src with the same parser that renders it.
func parseMarkdown(src []byte) ast.Node {
	return md.Parser().Parse(text.NewReader(src))
}

// taskBox is a task's checkbox and where its marker ("[ ]", "[x]") is
// in the source.
type taskBox struct {
	box    *east.TaskCheckBox
	marker int // offset of the "[" of the marker
}

// taskBoxes lists the task checkboxes of doc in document order. The
// marker is at the start of the first line of the checkbox's paragraph.
func taskBoxes(doc ast.Node, src []byte) []taskBox {
	var out []taskBox
	_ = ast.Walk(doc, func(n ast.Node, entering bool) (ast.WalkStatus, error) {
		if !entering {
			return ast.WalkContinue, nil
		}
		cb, ok := n.(*east.TaskCheckBox)
		if !ok {
			return ast.WalkContinue, nil
		}
		p := cb.Parent()
		if p == nil || p.Lines().Len() == 0 {
			return ast.WalkContinue, nil
		}
		at := p.Lines().At(0).Start
		for back := 0; back < 8 && at > 0 && at < len(src) && src[at] != '['; back++ {
			at-- // the parser's line may start after the marker
		}
		if at >= 0 && at+2 < len(src) && src[at] == '[' && src[at+2] == ']' {
			out = append(out, taskBox{box: cb, marker: at})
		}
		return ast.WalkContinue, nil
	})
	return out
}

// tasks lists an idea's tasks.
func tasks(body string) []task {
	src := []byte(body)
	return tasksOf(parseMarkdown(src), src)
}

func tasksOf(doc ast.Node, src []byte) []task {
	boxes := taskBoxes(doc, src)
	out := make([]task, 0, len(boxes))
	for i, b := range boxes {
		var t strings.Builder
		for c := b.box.NextSibling(); c != nil; c = c.NextSibling() {
			writePlain(&t, c, src)
		}
		out = append(out, task{Index: i, Text: squash(t.String()), Done: b.box.IsChecked})
	}
	return out
}

// setTask ticks (done) or clears task n of body; ok is false when body
// has no task n.
func setTask(body string, n int, done bool) (string, bool) {
	src := []byte(body)
	boxes := taskBoxes(parseMarkdown(src), src)
	if n < 0 || n >= len(boxes) {
		return body, false
	}
	mark := byte(' ')
	if done {
		mark = 'x'
	}
	out := bytes.Clone(src)
	out[boxes[n].marker+1] = mark
	return string(out), true
}

// plainText reduces Markdown to its words for the list's excerpt:
// headings, emphasis, code, links and images become their text; raw HTML
// is dropped; blocks are separated by a space. Task items are left out
// when skipTasks is set (the list shows them as checkboxes instead).
func plainText(src string, skipTasks bool) string {
	b := []byte(src)
	return plainOf(parseMarkdown(b), b, skipTasks)
}

func plainOf(doc ast.Node, b []byte, skipTasks bool) string {
	var out strings.Builder
	for c := doc.FirstChild(); c != nil; c = c.NextSibling() {
		writePlainBlock(&out, c, b, skipTasks)
	}
	return squash(out.String())
}

func writePlainBlock(out *strings.Builder, n ast.Node, src []byte, skipTasks bool) {
	switch n := n.(type) {
	case *ast.HTMLBlock, *ast.ThematicBreak:
		return
	case *ast.CodeBlock, *ast.FencedCodeBlock:
		lines := n.Lines()
		for i := range lines.Len() {
			seg := lines.At(i)
			out.Write(seg.Value(src))
			out.WriteByte(' ')
		}
		return
	case *ast.ListItem:
		if skipTasks && isTaskItem(n) {
			return
		}
	}
	if n.Type() == ast.TypeBlock && n.HasChildren() && n.FirstChild().Type() == ast.TypeInline {
		for c := n.FirstChild(); c != nil; c = c.NextSibling() {
			writePlain(out, c, src)
		}
		out.WriteByte(' ')
		return
	}
	for c := n.FirstChild(); c != nil; c = c.NextSibling() {
		writePlainBlock(out, c, src, skipTasks)
	}
	out.WriteByte(' ')
}

// isTaskItem reports whether list item n starts with a task checkbox.
func isTaskItem(n ast.Node) bool {
	p := n.FirstChild()
	if p == nil {
		return false
	}
	_, ok := p.FirstChild().(*east.TaskCheckBox)
	return ok
}

// writePlain writes the text of inline node n.
func writePlain(out *strings.Builder, n ast.Node, src []byte) {
	switch n := n.(type) {
	case *ast.Text:
		out.Write(n.Segment.Value(src))
		if n.SoftLineBreak() || n.HardLineBreak() {
			out.WriteByte(' ')
		}
		return
	case *ast.String:
		out.Write(n.Value)
		return
	case *ast.AutoLink:
		out.Write(n.Label(src))
		return
	case *ast.RawHTML, *east.TaskCheckBox:
		return
	}
	for c := n.FirstChild(); c != nil; c = c.NextSibling() {
		writePlain(out, c, src)
	}
}

// squash collapses runs of white space into single spaces.
func squash(s string) string { return strings.Join(strings.Fields(s), " ") }

// hasTaskMarker is a quick test for bodies that may hold a task list, so
// the list parses only those for tasks.
func hasTaskMarker(body string) bool {
	return strings.Contains(body, "[ ]") || strings.Contains(body, "[x]") || strings.Contains(body, "[X]")
}

// prefix is the start of body, cut at a line end, of about limit bytes
// (all of it when shorter); cut reports whether anything was left out.
// Parsing is the costly part of an excerpt, and the list needs only the
// start of each body.
func prefix(body string, limit int) (string, bool) {
	if len(body) <= limit {
		return body, false
	}
	if i := strings.LastIndexByte(body[:limit], '\n'); i > limit/2 {
		return body[:i], true
	}
	return body[:limit], true
}

// digest is what the list shows of a body: its excerpt and its first
// tasks, from one parse of its start (listBodyBytes). more is how many
// further tasks that start holds; cut says the body goes on beyond it.
func digest(body string, n, maxTasks int) (ex string, ts []task, more int, cut bool) {
	if !hasTaskMarker(body) {
		return excerpt(body, n, false), nil, 0, false
	}
	src, cut := prefix(body, listBodyBytes)
	b := []byte(src)
	doc := parseMarkdown(b)
	ts = tasksOf(doc, b)
	if len(ts) > maxTasks {
		ts, more = ts[:maxTasks], len(ts)-maxTasks
	}
	return clip(plainOf(doc, b, len(ts) > 0), n), ts, more, cut
}

// listBodyBytes is how much of a body the list reads for tasks.
const listBodyBytes = 4 << 10
