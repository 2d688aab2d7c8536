package coda

import "testing"

func TestOlderVersion(t *testing.T) {
	t.Parallel()
	tests := []struct {
		runner, server string
		want           bool
	}{
		{"v1.2.3", "v1.2.4", true},
		{"v1.2.3", "v1.10.0", true},
		{"1.9.9", "v2.0.0", true},
		{"v1.2.3", "v1.2.3", false},
		{"v1.3.0", "v1.2.9", false},
		{"v1.2.3-4-gabcdef", "v1.2.4", true},
		{"dev", "v1.2.3", false},
		{"v1.2.3", "dev", false},
		{"", "v1.0.0", false},
	}
	for _, tt := range tests {
		t.Run(tt.runner+"<"+tt.server, func(t *testing.T) {
			if got := olderVersion(tt.runner, tt.server); got != tt.want {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}
