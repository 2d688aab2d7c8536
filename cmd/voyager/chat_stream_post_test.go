package main

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/relaywork/suite/internal/platform/app/apptest"
	"github.com/relaywork/suite/internal/voyager/ai/aitest"
)

// sseReader reads one SSE event at a time from a response.
type sseReader struct{ sc *bufio.Scanner }

// next returns the next event's name and data ("", "" at the end).
func (s sseReader) next() (string, string) {
	ev := ""
	for s.sc.Scan() {
		line := s.sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			ev = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			return ev, strings.TrimPrefix(line, "data: ")
		}
	}
	return "", ""
}

func postStream(t *testing.T, c *http.Client, base, path string, body any) *http.Response {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", base+path, strings.NewReader(string(b)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Origin", base)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	return resp
}

// TestSendStreamsAnswer: a send with Accept: text/event-stream answers the
// answer's events itself — "sent" once the turn is stored, then snapshot,
// each piece and done — while other followers still get the GET stream; a
// refused send answers its JSON error, another member's conversation 404.
func TestSendStreamsAnswer(t *testing.T) {
	t.Parallel()
	gate := make(chan struct{})
	ant := aitest.Anthropic(aitest.Script{Chunks: []string{"Piece one.", " Piece two."}, Gate: gate})
	defer ant.Close()
	s := apptest.Start(t, run, voyagerEnv(t, ant, nil, nil))
	alice := signIn(t, s, "alice@example.com", false)
	bob := signIn(t, s, "bob@example.com", false)
	do(t, alice, "POST", s.URL+"/c/alpha/join", "", nil)
	do(t, bob, "POST", s.URL+"/c/alpha/join", "", nil)
	conv := decode[struct{ ID string }](t, do(t, alice, "POST", s.URL+"/api/c/alpha/conversations", "", map[string]string{})).ID
	msgs := "/api/c/alpha/conversations/" + conv + "/messages"

	resp := postStream(t, alice, s.URL, msgs, map[string]string{"content": "How do I ask for a raise?"})
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || ct != "text/event-stream" {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("streamed send: %d %s %s", resp.StatusCode, ct, b)
	}
	sc := bufio.NewScanner(resp.Body)
	rd := sseReader{sc}
	ev, data := rd.next()
	if ev != "sent" {
		t.Fatalf("first event %q %s, want sent", ev, data)
	}
	sent := decode[sentJSON](t, response{body: data})
	if sent.Answer.ID == "" || sent.Quota.Remaining != 2 || sent.StreamURL == "" {
		t.Fatalf("sent: %s", data)
	}
	// The turn is stored before any of the answer shows: the member's
	// message and the answer in progress are in the conversation now, with
	// no piece released yet.
	list := decode[struct {
		Messages []struct{ ID, Role, Content, Status string }
	}](t, do(t, alice, "GET", s.URL+msgs, "", nil)).Messages
	if len(list) != 2 || list[0].Role != "user" || list[0].Content != "How do I ask for a raise?" || list[1].ID != sent.Answer.ID || list[1].Status != "streaming" {
		t.Fatalf("stored before the first piece: %+v", list)
	}
	if ev, data := rd.next(); ev != "snapshot" || data != `{"text":""}` {
		t.Fatalf("got %q %s, want an empty snapshot", ev, data)
	}
	// Another tab follows the same answer through the GET stream.
	other := make(chan []string, 1)
	// (Whenever it subscribes, its snapshot covers what came before.)
	go func() { other <- stream(t, alice, s.URL+sent.StreamURL) }()

	gate <- struct{}{}
	if ev, data := rd.next(); ev != "delta" || data != `{"text":"Piece one."}` {
		t.Fatalf("got %q %s, want the first piece", ev, data)
	}
	close(gate)
	var text strings.Builder
	text.WriteString("Piece one.")
	for {
		ev, data := rd.next()
		if ev == "delta" {
			var d struct{ Text string }
			json.Unmarshal([]byte(data), &d)
			text.WriteString(d.Text)
			continue
		}
		if ev != "done" {
			t.Fatalf("got %q %s, want delta or done", ev, data)
		}
		done := decode[doneJSON](t, response{body: data})
		if done.Content != "Piece one. Piece two." || done.Status != "complete" || !strings.Contains(done.HTML, "Piece two.") {
			t.Fatalf("done: %s", data)
		}
		break
	}
	if text.String() != "Piece one. Piece two." {
		t.Fatalf("pieces %q", text.String())
	}
	if ev, _ := rd.next(); ev != "" {
		t.Fatalf("event %q after done", ev)
	}
	evs := <-other
	if last := evs[len(evs)-1]; !strings.HasPrefix(last, "done:") || !strings.Contains(last, "Piece one. Piece two.") {
		t.Fatalf("other follower: %v", evs)
	}

	// A refused send answers the JSON error, not a stream.
	r := postStream(t, alice, s.URL, msgs, map[string]string{"content": "  "})
	b, _ := io.ReadAll(r.Body)
	r.Body.Close()
	if r.StatusCode != 400 || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") || !strings.Contains(string(b), `"content"`) {
		t.Fatalf("empty message: %d %s %s", r.StatusCode, r.Header.Get("Content-Type"), b)
	}
	// Bob, a member too, cannot send into (or regenerate) Alice's conversation.
	for _, p := range []string{msgs, "/api/c/alpha/conversations/" + conv + "/regenerate"} {
		r = postStream(t, bob, s.URL, p, map[string]string{"content": "Hi"})
		b, _ = io.ReadAll(r.Body)
		r.Body.Close()
		if r.StatusCode != 404 || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
			t.Fatalf("bob %s: %d %s", p, r.StatusCode, b)
		}
	}
	// Regenerate streams the same way.
	r = postStream(t, alice, s.URL, "/api/c/alpha/conversations/"+conv+"/regenerate", nil)
	defer r.Body.Close()
	rd = sseReader{bufio.NewScanner(r.Body)}
	var names []string
	for ev, _ := rd.next(); ev != ""; ev, _ = rd.next() {
		names = append(names, ev)
	}
	if r.StatusCode != 200 || len(names) < 3 || names[0] != "sent" || names[1] != "snapshot" || names[len(names)-1] != "done" {
		t.Fatalf("regenerate: %d %v", r.StatusCode, names)
	}
}

// TestSendStreamStalledReader: a member whose streamed send stops reading
// does not hold up the answer: within the direct write timeout the
// connection is dropped, the answer is saved whole and another tab on the
// GET stream gets all of it.
func TestSendStreamStalledReader(t *testing.T) {
	t.Parallel()
	// More than the server's send buffer can take (tcp_wmem's 4 MB at
	// most) while the stalled reader's receive buffer is held small.
	chunk := strings.Repeat("All work and no play makes a dull coach. ", 1600) // 64 KB
	chunks := make([]string, 96)
	for i := range chunks {
		chunks[i] = chunk
	}
	ant := aitest.Anthropic(aitest.Script{Chunks: chunks})
	defer ant.Close()
	s := apptest.Start(t, run, voyagerEnv(t, ant, nil, nil))
	alice := signIn(t, s, "alice@example.com", false)
	do(t, alice, "POST", s.URL+"/c/alpha/join", "", nil)
	conv := decode[struct{ ID string }](t, do(t, alice, "POST", s.URL+"/api/c/alpha/conversations", "", map[string]string{})).ID

	small := &net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		return c.Control(func(fd uintptr) { syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 8192) })
	}}
	stalled := &http.Client{Jar: alice.Jar, Transport: &http.Transport{DialContext: small.DialContext}}
	resp := postStream(t, stalled, s.URL, "/api/c/alpha/conversations/"+conv+"/messages", map[string]string{"content": "Tell me everything."})
	defer resp.Body.Close()
	rd := sseReader{bufio.NewScanner(resp.Body)}
	ev, data := rd.next()
	if ev != "sent" {
		t.Fatalf("first event %q, want sent", ev)
	}
	sent := decode[sentJSON](t, response{body: data})
	// ... and this tab reads no more.

	// The other tab's snapshot can hold megabytes on one line.
	got := make(chan string, 1)
	go func() {
		follower := &http.Client{Jar: alice.Jar} // no client timeout: the select below bounds it
		r, err := follower.Get(s.URL + sent.StreamURL)
		if err != nil {
			got <- "error: " + err.Error()
			return
		}
		defer r.Body.Close()
		sc := bufio.NewScanner(r.Body)
		sc.Buffer(make([]byte, 0, 1<<20), 64<<20)
		other := sseReader{sc}
		for ev, data := other.next(); ev != ""; ev, data = other.next() {
			if ev == "done" {
				got <- data
				return
			}
		}
		got <- "the stream ended without done"
	}()
	select {
	case last := <-got:
		d := decode[doneJSON](t, response{body: last})
		if d.Status != "complete" || len(d.Content) != len(chunk)*len(chunks) {
			t.Fatalf("done: status %q, %d bytes, want complete and %d", d.Status, len(d.Content), len(chunk)*len(chunks))
		}
	case <-time.After(60 * time.Second):
		t.Fatal("the answer did not finish while one reader stalled: its writes hold up the generation")
	}
}
