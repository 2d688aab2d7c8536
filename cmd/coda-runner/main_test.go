package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
)

func runWith(t *testing.T, cfg string, args ...string) (string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	getenv := func(k string) string {
		if k == "CODA_RUNNER_CONFIG" {
			return cfg
		}
		return ""
	}
	err := run(context.Background(), args, getenv, &out, &errb)
	return out.String() + errb.String(), err
}

func TestCommands(t *testing.T) {
	t.Parallel()
	cfg := filepath.Join(t.TempDir(), "credential.json")
	tests := []struct {
		name    string
		args    []string
		want    string // in the output or the error
		wantErr bool
	}{
		{"help explains pairing", []string{"--help"}, "coda-runner pair --server URL", false},
		{"help names the config file", []string{"help"}, cfg, false},
		{"version", []string{"version"}, "coda-runner dev", false},
		{"run before pairing", nil, "not paired", true},
		{"pair needs a server", []string{"pair"}, "--server", true},
		{"pair refuses a non-URL", []string{"pair", "--server", "coda.example.com"}, "must be Coda's address", true},
		{"unpair when not paired", []string{"unpair"}, "Removed", false},
		{"unknown command", []string{"frobnicate"}, "unknown command", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := runWith(t, cfg, tt.args...)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			text := out
			if err != nil {
				text += err.Error()
			}
			if !strings.Contains(text, tt.want) {
				t.Fatalf("got %q, want it to mention %q", text, tt.want)
			}
		})
	}
}
