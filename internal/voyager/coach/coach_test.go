package coach_test

import (
	"archive/zip"
	"bytes"
	"strings"
	"testing"

	"github.com/relaywork/suite/internal/platform/apperr"
	"github.com/relaywork/suite/internal/voyager/coach"
	"github.com/relaywork/suite/internal/voyager/coach/coachtest"
)

var limits = coach.Limits{MaxBytes: 1 << 20, MaxPages: 3}

func TestExtract(t *testing.T) {
	t.Parallel()
	ex, err := coach.Extract("cv.pdf", coachtest.PDF(t, "Ada Lovelace\nAnalyst at Babbage and Co", "Skills: Spark, SQL"), limits)
	if err != nil || ex.Kind != coach.KindPDF || ex.Pages != 2 || !strings.Contains(ex.Text, "Babbage") || !strings.Contains(ex.Text, "Spark") {
		t.Fatalf("pdf: %+v %v", ex, err)
	}
	// Named .txt but a PDF inside: identified by content.
	if ex, err := coach.Extract("notes.txt", coachtest.PDF(t, "hello"), limits); err != nil || ex.Kind != coach.KindPDF {
		t.Fatalf("pdf by content: %+v %v", ex, err)
	}
	ex, err = coach.Extract("job.docx", coachtest.DOCX(t, "Senior data engineer", "Lisbon &amp; remote"), limits)
	if err != nil || ex.Kind != coach.KindDOCX || ex.Text != "Senior data engineer\nLisbon & remote" {
		t.Fatalf("docx: %+v %v", ex, err)
	}
	if ex, err := coach.Extract("cv", []byte("# Ada\n\n- SQL\r\n"), limits); err != nil || ex.Kind != coach.KindMarkdown || strings.Contains(ex.Text, "\r") {
		t.Fatalf("markdown: %+v %v", ex, err)
	}
	if ex, err := coach.Extract("x", []byte("plain words"), limits); err != nil || ex.Kind != coach.KindText {
		t.Fatalf("text: %+v %v", ex, err)
	}
	for name, tc := range map[string]struct {
		data []byte
		kind apperr.Kind
	}{
		"pdf that is not one":  {[]byte("%PDF-1.7\nthis is not a pdf at all"), apperr.Invalid},
		"zip that is not docx": {zipOf(t, "readme.txt", []byte("hi")), apperr.Invalid},
		"binary":               {[]byte{0x7f, 'E', 'L', 'F', 0, 1, 2}, apperr.Invalid},
		"empty":                {nil, apperr.Invalid},
		"too large":            {bytes.Repeat([]byte("a"), 2<<20), apperr.TooLarge},
		"too many pages":       {coachtest.PDF(t, "1", "2", "3", "4"), apperr.TooLarge},
		"zip bomb":             {zipOf(t, "word/document.xml", bomb()), apperr.TooLarge},
	} {
		if _, err := coach.Extract(name, tc.data, limits); !apperr.Is(err, tc.kind) {
			t.Errorf("%s: got %v, want kind %v", name, err, tc.kind)
		}
	}
}

// bomb is 40 MB of XML that compresses to a few tens of KB.
func bomb() []byte {
	return append([]byte(`<w:document xmlns:w="x"><w:body><w:p><w:r><w:t>`), append(bytes.Repeat([]byte("A"), 40<<20), []byte(`</w:t></w:r></w:p></w:body></w:document>`)...)...)
}

func zipOf(t testing.TB, name string, data []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	z := zip.NewWriter(&b)
	w, _ := z.Create(name)
	w.Write(data)
	z.Close()
	return b.Bytes()
}

func TestSplitProposal(t *testing.T) {
	t.Parallel()
	for in, want := range map[string][2]string{
		"Good luck!\n\n[remember: You are preparing for a senior data-engineering interview]": {"Good luck!", "You are preparing for a senior data-engineering interview"},
		"Good luck! [remember: You live in Lisbon]  \n":                                       {"Good luck!", "You live in Lisbon"},
		"No fact here.":                        {"No fact here.", ""},
		"[remember: early] and then more text": {"[remember: early] and then more text", ""},
	} {
		a, f := coach.SplitProposal(in)
		if a != want[0] || f != want[1] {
			t.Errorf("SplitProposal(%q): got %q, %q; want %q, %q", in, a, f, want[0], want[1])
		}
	}
}

func TestCacheKey(t *testing.T) {
	t.Parallel()
	k := coach.CacheKey("c1", "m", "You are Nova.", "How do I ask for a raise?")
	if k != coach.CacheKey("c1", "m", "You are Nova.", "  how do I ask   for a RAISE ") {
		t.Error("the same question asked differently gets another key")
	}
	for _, other := range []string{
		coach.CacheKey("c2", "m", "You are Nova.", "How do I ask for a raise?"),
		coach.CacheKey("c1", "m2", "You are Nova.", "How do I ask for a raise?"),
		coach.CacheKey("c1", "m", "You are Nova, v2.", "How do I ask for a raise?"),
		coach.CacheKey("c1", "m", "You are Nova.", "How do I ask for a promotion?"),
	} {
		if other == k {
			t.Error("a different community, model, prompt version or question shares the key")
		}
	}
}
