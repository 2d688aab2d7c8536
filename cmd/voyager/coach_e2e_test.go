package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/relaywork/suite/internal/platform/app/apptest"
	"github.com/relaywork/suite/internal/voyager/ai/aitest"
	"github.com/relaywork/suite/internal/voyager/coach/coachtest"
)

// uploadDoc posts a file as the profile page's form would (multipart).
func uploadDoc(t *testing.T, c *http.Client, base, name string, data []byte) response {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	fw, _ := mw.CreateFormFile("file", name)
	fw.Write(data)
	mw.Close()
	req, _ := http.NewRequest("POST", base, &b)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Origin", base[:strings.Index(base[8:], "/")+8])
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return response{resp.StatusCode, string(body), resp.Header}
}

func newConversation(t *testing.T, c *http.Client, s *apptest.Server) string {
	t.Helper()
	r := do(t, c, "POST", s.URL+"/api/c/alpha/conversations", "", map[string]any{})
	if r.status != 201 {
		t.Fatalf("new conversation: %d %s", r.status, r.body)
	}
	return decode[struct{ ID string }](t, r).ID
}

func ask(t *testing.T, c *http.Client, s *apptest.Server, conv, q string) doneJSON {
	t.Helper()
	r := do(t, c, "POST", s.URL+"/api/c/alpha/conversations/"+conv+"/messages", "", map[string]any{"content": q})
	if r.status != 202 {
		t.Fatalf("send: %d %s", r.status, r.body)
	}
	ev := stream(t, c, s.URL+decode[sentJSON](t, r).StreamURL)
	last := ev[len(ev)-1]
	var d doneJSON
	if err := json.Unmarshal([]byte(strings.TrimPrefix(last, "done:")), &d); err != nil {
		t.Fatalf("done %q: %v", last, err)
	}
	return d
}

// TestCoachKnowsTheMember: the profile and remembered facts reach the
// provider as a cached block after the system prompt; a PDF goes to
// Anthropic as a native base64 document and its text to the OpenAI
// fallback; the coach's proposed fact is split off and kept only when the
// member accepts it; bad files are 4xx; another member sees none of it.
func TestCoachKnowsTheMember(t *testing.T) {
	t.Parallel()
	ant := aitest.Anthropic(aitest.Script{Chunks: []string{"Lead with the Spark work. ", "Good luck!\n\n[remember: You are preparing for a senior data-engineering interview]"}})
	oai := aitest.OpenAI(aitest.Script{Chunks: []string{"Fallback answer."}})
	s := apptest.Start(t, run, voyagerEnv(t, ant, oai, nil))
	c := signIn(t, s, "ada@example.com", false)
	if r := do(t, c, "POST", s.URL+"/c/alpha/join", "", nil); r.status != 200 {
		t.Fatalf("join: %d", r.status)
	}
	api := s.URL + "/api/c/alpha"
	if r := do(t, c, "PUT", api+"/profile", "", map[string]any{"current_role": "Data analyst", "goals": "Senior data engineer within a year", "location": "Lisbon"}); r.status != 200 {
		t.Fatalf("save profile: %d %s", r.status, r.body)
	}
	if r := do(t, c, "POST", api+"/memories", "", map[string]any{"text": "You prefer remote work"}); r.status != 201 {
		t.Fatalf("remember: %d %s", r.status, r.body)
	}
	cv := coachtest.PDF(t, "Ada Lovelace\nData analyst at Babbage and Co\nBuilt Spark pipelines")
	if r := uploadDoc(t, c, api+"/documents", "ada-cv.pdf", cv); r.status != 201 {
		t.Fatalf("attach CV: %d %s", r.status, r.body)
	}
	conv := newConversation(t, c, s)
	jd := coachtest.DOCX(t, "Senior data engineer", "Lisbon, hybrid")
	if r := uploadDoc(t, c, api+"/documents?conversation="+conv, "job.docx", jd); r.status != 201 {
		t.Fatalf("attach job description: %d %s", r.status, r.body)
	}

	d := ask(t, c, s, conv, "How should I prepare for this interview?")
	if d.Status != "complete" || strings.Contains(d.Content, "[remember") || !strings.HasSuffix(d.Content, "Good luck!") {
		t.Fatalf("answer: %+v", d)
	}
	calls := ant.Calls()
	body := calls[len(calls)-1].Body
	sys, _ := json.Marshal(body["system"])
	var blocks []struct {
		Text         string         `json:"text"`
		CacheControl map[string]any `json:"cache_control"`
	}
	json.Unmarshal(sys, &blocks)
	if len(blocks) != 2 || !strings.Contains(blocks[0].Text, "You are Nova") || blocks[0].CacheControl == nil ||
		!strings.Contains(blocks[1].Text, "Current role: Data analyst") || !strings.Contains(blocks[1].Text, "remote work") || blocks[1].CacheControl["type"] != "ephemeral" {
		t.Fatalf("system blocks: %s", sys)
	}
	msgs, _ := json.Marshal(body["messages"])
	var turns []struct {
		Role    string `json:"role"`
		Content []struct {
			Type   string `json:"type"`
			Text   string `json:"text"`
			Title  string `json:"title"`
			Source struct {
				Type, MediaType, Data string
			} `json:"source"`
		} `json:"content"`
	}
	json.Unmarshal(msgs, &turns)
	if len(turns) != 1 || len(turns[0].Content) != 3 {
		t.Fatalf("messages: %s", msgs)
	}
	pdfBlock, docxBlock := turns[0].Content[0], turns[0].Content[1]
	if pdfBlock.Type != "document" || pdfBlock.Source.Type != "base64" || pdfBlock.Title != "ada-cv.pdf" {
		t.Fatalf("the CV is not a native PDF document block: %s", msgs)
	}
	if raw, _ := base64.StdEncoding.DecodeString(pdfBlock.Source.Data); !bytes.Equal(raw, cv) {
		t.Fatal("the PDF sent is not the file uploaded")
	}
	if docxBlock.Type != "document" || docxBlock.Source.Type != "text" || !strings.Contains(docxBlock.Source.Data, "Senior data engineer") {
		t.Fatalf("the job description is not a text document block: %s", msgs)
	}

	// The proposed fact waits for the member; accepting it sends it next time.
	prof := decode[struct {
		Memories []struct{ ID, Text, Status string } `json:"memories"`
	}](t, do(t, c, "GET", api+"/profile", "", nil))
	var proposal string
	for _, m := range prof.Memories {
		if m.Status == "proposed" && strings.Contains(m.Text, "senior data-engineering interview") {
			proposal = m.ID
		}
	}
	if proposal == "" {
		t.Fatalf("no proposed memory: %+v", prof)
	}
	if r := do(t, c, "PATCH", api+"/memories/"+proposal, "", map[string]any{"keep": true}); r.status != 200 {
		t.Fatalf("keep: %d %s", r.status, r.body)
	}

	// Anthropic down: the OpenAI fallback gets the documents' text.
	ant.Push(aitest.Script{Status: 500})
	d = ask(t, c, s, conv, "And the salary?")
	if d.Provider != "openai" {
		t.Fatalf("fallback: %+v", d)
	}
	oc := oai.Calls()
	om, _ := json.Marshal(oc[len(oc)-1].Body["messages"])
	for _, want := range []string{"Built Spark pipelines", "Senior data engineer", "senior data-engineering interview", "Current role: Data analyst"} {
		if !strings.Contains(string(om), want) {
			t.Errorf("OpenAI request lacks %q: %s", want, om)
		}
	}

	// Bad files are refused with a 4xx, never stored.
	for name, data := range map[string][]byte{
		"fake.pdf":  []byte("%PDF-1.7 not really"),
		"evil.html": []byte("<html>\x00<script>alert(1)</script>"),
	} {
		if r := uploadDoc(t, c, api+"/documents", name, data); r.status < 400 || r.status >= 500 {
			t.Errorf("%s: got %d %s, want 4xx", name, r.status, r.body)
		}
	}
	docs := decode[struct {
		Documents []struct{ ID, Name string } `json:"documents"`
	}](t, do(t, c, "GET", api+"/documents", "", nil))
	if len(docs.Documents) != 1 {
		t.Fatalf("profile documents: %+v", docs)
	}
	// The file downloads as an attachment, never inline.
	resp, err := c.Get(api + "/documents/" + docs.Documents[0].ID + "/file")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Equal(got, cv) || !strings.HasPrefix(resp.Header.Get("Content-Disposition"), "attachment") || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Fatalf("download: %d %v", resp.StatusCode, resp.Header)
	}

	// Another member of the same community sees none of it.
	eve := signIn(t, s, "eve@example.com", false)
	do(t, eve, "POST", s.URL+"/c/alpha/join", "", nil)
	if r := do(t, eve, "GET", api+"/documents/"+docs.Documents[0].ID+"/file", "", nil); r.status != 404 {
		t.Errorf("another member's document: got %d", r.status)
	}
	if r := do(t, eve, "PATCH", api+"/memories/"+proposal, "", map[string]any{"text": "hijacked"}); r.status != 404 {
		t.Errorf("another member's memory: got %d", r.status)
	}
	if r := do(t, eve, "GET", api+"/profile", "", nil); !strings.Contains(r.body, `"memories":[]`) || strings.Contains(r.body, "Data analyst") {
		t.Errorf("another member's profile leaked: %s", r.body)
	}

	// The export carries the profile, memories and documents.
	exp := page(t, c, s.URL+"/account/export", "")
	for _, want := range []string{`"voyager_coach"`, "Data analyst", "senior data-engineering interview", "ada-cv.pdf", base64.StdEncoding.EncodeToString(cv)[:40]} {
		if !strings.Contains(exp.body, want) {
			t.Errorf("export lacks %q", want)
		}
	}
	// The profile page shows it all.
	pg := page(t, c, s.URL+"/c/alpha/profile", "")
	for _, want := range []string{"What Nova knows about you", "Data analyst", "senior data-engineering interview", "ada-cv.pdf"} {
		if pg.status != 200 || !strings.Contains(pg.body, want) {
			t.Errorf("profile page (%d) lacks %q", pg.status, want)
		}
	}
}

const cacheJSON = `{
  "id": "alpha", "name": "Alpha Careers", "description": "A public test community.", "visibility": "public",
  "coach": {"name": "Nova", "systemPrompt": "You are Nova, a careers coach.", "answerCache": {"ttl": "1h"},
    "starterQuestions": ["How do I ask for a raise?"]},
  "limits": {"messagesPerDay": 0}
}`

// TestAnswerCache: a community that opts in answers a repeated first
// question from the cache at no cost; Regenerate and a member with a
// profile always ask the provider.
func TestAnswerCache(t *testing.T) {
	t.Parallel()
	ant := aitest.Anthropic(aitest.Script{Chunks: []string{"Ask with numbers."}, Input: 100, Output: 40})
	env := voyagerEnv(t, ant, nil, nil)
	os.WriteFile(filepath.Join(env["COMMUNITIES_DIR"], "alpha.json"), []byte(cacheJSON), 0o644)
	s := apptest.Start(t, run, env)
	a := signIn(t, s, "ann@example.com", false)
	b := signIn(t, s, "bob@example.com", false)
	for _, c := range []*http.Client{a, b} {
		do(t, c, "POST", s.URL+"/c/alpha/join", "", nil)
	}
	first := ask(t, a, s, newConversation(t, a, s), "How do I ask for a raise?")
	if first.Tokens.Input == 0 || len(ant.Calls()) != 1 {
		t.Fatalf("miss: %+v, %d calls", first, len(ant.Calls()))
	}
	conv := newConversation(t, b, s)
	hit := ask(t, b, s, conv, "  how do I ask for a RAISE ")
	if len(ant.Calls()) != 1 || hit.Content != "Ask with numbers." || hit.Tokens.Input != 0 || hit.CostMicros != 0 {
		t.Fatalf("hit: %+v after %d provider calls", hit, len(ant.Calls()))
	}
	if r := do(t, b, "GET", s.URL+"/api/c/alpha/conversations/"+conv+"/messages", "", nil); !strings.Contains(r.body, `"finish_reason":"cached"`) {
		t.Fatalf("stored message not marked cached: %s", r.body)
	}
	// Regenerate asks the provider.
	r := do(t, b, "POST", s.URL+"/api/c/alpha/conversations/"+conv+"/regenerate", "", nil)
	stream(t, b, s.URL+decode[sentJSON](t, r).StreamURL)
	if len(ant.Calls()) != 2 {
		t.Fatalf("regenerate used the cache: %d provider calls", len(ant.Calls()))
	}
	// With a profile in play the answer is personal: no cache.
	do(t, b, "PUT", s.URL+"/api/c/alpha/profile", "", map[string]any{"current_role": "Nurse"})
	ask(t, b, s, newConversation(t, b, s), "How do I ask for a raise?")
	if len(ant.Calls()) != 3 {
		t.Fatalf("a member with a profile got a cached answer: %d provider calls", len(ant.Calls()))
	}
	m := page(t, http.DefaultClient, s.URL+"/metrics", "")
	for _, want := range []string{`voyager_answer_cache_lookups_total{community="alpha",result="hit"} 1`, `voyager_answer_cache_lookups_total{community="alpha",result="miss"} 1`, `voyager_answer_cache_tokens_saved_total{community="alpha"} 140`} {
		if !strings.Contains(m.body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

func jsonText(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestCoachFilesInS3: with FILES_URL on S3-compatible storage (gofakes3,
// in the test) the file goes to the bucket, not the database; it is read
// back for the provider and the download; account deletion removes it.
func TestCoachFilesInS3(t *testing.T) {
	t.Parallel()
	backend := s3mem.New()
	srv := httptest.NewServer(gofakes3.New(backend).Server())
	defer srv.Close()
	backend.CreateBucket("files")
	ant := aitest.Anthropic(aitest.Script{Chunks: []string{"Noted."}})
	s := apptest.Start(t, run, voyagerEnv(t, ant, nil, map[string]string{
		"FILES_URL": "s3://files/voyager?endpoint=" + srv.URL, "FILES_S3_ACCESS_KEY_ID": "test", "FILES_S3_SECRET_ACCESS_KEY": "test",
	}))
	c := signIn(t, s, "ada@example.com", false)
	do(t, c, "POST", s.URL+"/c/alpha/join", "", nil)
	cv := coachtest.PDF(t, "Ada Lovelace\nSpark pipelines")
	r := uploadDoc(t, c, s.URL+"/api/c/alpha/documents", "cv.pdf", cv)
	if r.status != 201 {
		t.Fatalf("attach: %d %s", r.status, r.body)
	}
	id := decode[struct{ Document struct{ ID string } }](t, r).Document.ID
	objects := func() int {
		l, err := backend.ListBucket("files", &gofakes3.Prefix{}, gofakes3.ListBucketPage{})
		if err != nil {
			t.Fatal(err)
		}
		return len(l.Contents)
	}
	if objects() != 1 {
		t.Fatalf("objects in the bucket: %d, want 1", objects())
	}
	ask(t, c, s, newConversation(t, c, s), "Read my CV")
	calls := ant.Calls()
	if !strings.Contains(jsonText(calls[len(calls)-1].Body["messages"]), base64.StdEncoding.EncodeToString(cv)[:60]) {
		t.Fatal("the PDF from the bucket did not reach the provider")
	}
	resp, err := c.Get(s.URL + "/api/c/alpha/documents/" + id + "/file")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Equal(got, cv) {
		t.Fatal("download differs from the upload")
	}
	req, _ := http.NewRequest("POST", s.URL+"/account/delete", strings.NewReader("confirm=ada%40example.com"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", s.URL)
	if resp, err := c.Do(req); err != nil || resp.StatusCode >= 400 {
		t.Fatalf("delete account: %v %v", err, resp)
	}
	if n := objects(); n != 0 {
		t.Fatalf("after account deletion %d object(s) remain in the bucket", n)
	}
}
