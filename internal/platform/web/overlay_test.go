package web

import (
	"io/fs"
	"testing"
	"testing/fstest"
)

func TestOverlayFirstWins(t *testing.T) {
	t.Parallel()
	a := fstest.MapFS{"home.html": {Data: []byte("product")}, "auth/signin.html": {Data: []byte("product signin")}}
	b := fstest.MapFS{"auth/signin.html": {Data: []byte("platform signin")}, "auth/check.html": {Data: []byte("platform check")}}
	o, err := Overlay(a, b)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"home.html": "product", "auth/signin.html": "product signin", "auth/check.html": "platform check"} {
		got, err := fs.ReadFile(o, name)
		if err != nil || string(got) != want {
			t.Errorf("%s: got %q (%v), want %q", name, got, err, want)
		}
	}
}
