package main

import (
	"bytes"
	"os"
	"testing"
)

// TestCodeCSSIsCurrent keeps web/src/voyager/code.css in step with chroma
// and this generator.
func TestCodeCSSIsCurrent(t *testing.T) {
	var b bytes.Buffer
	if err := write(&b); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile("../../web/src/voyager/code.css")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, b.Bytes()) {
		t.Fatal("web/src/voyager/code.css is stale: run `go run ./tools/chromacss > web/src/voyager/code.css`")
	}
}
