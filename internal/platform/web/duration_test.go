package web

import (
	"testing"
	"time"
)

func TestDurationText(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{15 * time.Minute, "15 minutes"},
		{time.Hour, "1 hour"},
		{2 * time.Hour, "2 hours"},
		{90 * time.Second, "90 seconds"},
		{time.Second, "1 second"},
		{time.Minute, "1 minute"},
	} {
		if got := DurationText(tc.d); got != tc.want {
			t.Errorf("DurationText(%v): got %q, want %q", tc.d, got, tc.want)
		}
	}
}
