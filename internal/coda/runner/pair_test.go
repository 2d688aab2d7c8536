package runner

import (
	"os"
	"path/filepath"
	"testing"
)

func TestConfigSavedPrivately(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "sub", "credential.json")
	want := Config{Server: "https://coda.example.com", RelayURL: "wss://coda.example.com/devmode/relay/runner", RunnerID: "r1", Credential: "secret"}
	if err := want.Save(path); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := st.Mode().Perm(); got != 0o600 {
		t.Fatalf("credential mode %o, want 600", got)
	}
	if st, _ := os.Stat(filepath.Dir(path)); st.Mode().Perm() != 0o700 {
		t.Fatalf("directory mode %o, want 700", st.Mode().Perm())
	}
	got, err := LoadConfig(path)
	if err != nil || got != want {
		t.Fatalf("got %+v, %v, want %+v", got, err, want)
	}
}
