package version

import (
	"runtime/debug"
	"testing"
)

func TestFromBuildInfo(t *testing.T) {
	t.Parallel()
	vcs := func(rev, modified string) []debug.BuildSetting {
		return []debug.BuildSetting{{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: rev},
			{Key: "vcs.time", Value: "2026-12-01T09:00:00Z"}, {Key: "vcs.modified", Value: modified}}
	}
	const rev = "9869763abcdef0123456789abcdef0123456789a"
	for _, tc := range []struct {
		name     string
		tag      string
		bi       *debug.BuildInfo
		want     string
		modified bool
	}{
		{"tag wins", "v1.4.0", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: vcs(rev, "true")}, "v1.4.0", true},
		{"go install of a release", "", &debug.BuildInfo{Main: debug.Module{Version: "v1.3.2"}}, "v1.3.2", false},
		{"release candidate", "", &debug.BuildInfo{Main: debug.Module{Version: "v1.3.2-rc.1"}}, "v1.3.2-rc.1", false},
		{"clean commit", "", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: vcs(rev, "false")}, "9869763abcde", false},
		{"dirty commit", "", &debug.BuildInfo{Main: debug.Module{Version: "v0.0.0-20261201090000-9869763abcde+dirty"}, Settings: vcs(rev, "true")}, "9869763abcde-dirty", true},
		{"pseudo-version is not a release", "", &debug.BuildInfo{Main: debug.Module{Version: "v0.0.0-20261201090000-9869763abcde"}, Settings: vcs(rev, "false")}, "9869763abcde", false},
		{"pseudo-version after a tag", "", &debug.BuildInfo{Main: debug.Module{Version: "v1.2.4-0.20261201090000-9869763abcde"}, Settings: vcs(rev, "false")}, "9869763abcde", false},
		{"nothing known", "", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, "dev", false},
		{"no build info", "", nil, "dev", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := fromBuildInfo(tc.tag, tc.bi)
			if got.Version != tc.want || got.Modified != tc.modified {
				t.Fatalf("got %q modified=%v, want %q modified=%v", got.Version, got.Modified, tc.want, tc.modified)
			}
			if got.Go == "" || got.Platform == "" {
				t.Fatalf("got %+v, want Go and Platform filled", got)
			}
		})
	}
}
