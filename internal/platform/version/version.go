// Package version tells which build a binary is. A release sets the tag at
// link time:
//
//	go build -ldflags "-X github.com/relaywork/suite/internal/platform/version.tag=v1.2.3"
//
// Without it the version comes from what the Go toolchain stamped into the
// binary (debug.ReadBuildInfo): the module version when it was installed
// with `go install …@v1.2.3`, else the commit it was built from
// (vcs.revision, "-dirty" when vcs.modified), else "dev".
package version

import (
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
)

// tag is set by the release build's -ldflags -X; empty otherwise.
var tag string

// Info describes the running build.
type Info struct {
	Version  string // v1.2.3, 0123456789ab, 0123456789ab-dirty or dev
	Commit   string // the full vcs.revision, when known
	Modified bool   // built from a work tree with uncommitted changes
	Time     string // the commit's time (vcs.time, RFC 3339), when known
	Go       string // the Go release that built it
	Platform string // GOOS/GOARCH
}

var (
	once sync.Once
	info Info
)

// Get returns the running build's Info.
func Get() Info {
	once.Do(func() {
		bi, _ := debug.ReadBuildInfo()
		info = fromBuildInfo(tag, bi)
	})
	return info
}

// String returns the running build's version.
func String() string { return Get().Version }

// fromBuildInfo works out the Info from a link-time tag and build info.
func fromBuildInfo(tag string, bi *debug.BuildInfo) Info {
	in := Info{Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	mainVersion := ""
	if bi != nil {
		if bi.GoVersion != "" {
			in.Go = bi.GoVersion
		}
		mainVersion = bi.Main.Version
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				in.Commit = s.Value
			case "vcs.modified":
				in.Modified = s.Value == "true"
			case "vcs.time":
				in.Time = s.Value
			}
		}
	}
	switch {
	case tag != "":
		in.Version = tag
	case isRelease(mainVersion):
		in.Version = mainVersion
	case in.Commit != "":
		in.Version = short(in.Commit)
		if in.Modified {
			in.Version += "-dirty"
		}
	default:
		in.Version = "dev"
	}
	return in
}

// isRelease reports whether a module version names a tagged release
// (v1.2.3, v1.2.3-rc.1), not "(devel)", a pseudo-version made up from a
// commit (v0.0.0-20261201095302-9869763abcde) or a dirty build.
func isRelease(v string) bool {
	if !strings.HasPrefix(v, "v") || strings.Contains(v, "+") {
		return false
	}
	core, pre, _ := strings.Cut(v, "-")
	if strings.Count(core, ".") != 2 {
		return false
	}
	// A pseudo-version's last part is yyyymmddhhmmss-abcdefabcdef.
	if i := strings.LastIndex(pre, "."); i >= 0 {
		pre = pre[i+1:]
	}
	if f := strings.Split(pre, "-"); len(f) >= 2 && len(f[len(f)-2]) == 14 && len(f[len(f)-1]) == 12 {
		return false
	}
	return true
}

func short(rev string) string {
	if len(rev) > 12 {
		return rev[:12]
	}
	return rev
}

// Line is what a binary's `version` command prints after its name:
// "v1.2.3 (commit 9869763abcde, 2026-12-01T09:00:00Z, go1.26.8 linux/amd64)".
func (in Info) Line() string {
	var extra []string
	if in.Commit != "" && !strings.HasPrefix(in.Version, short(in.Commit)) {
		c := "commit " + short(in.Commit)
		if in.Modified {
			c += " with local changes"
		}
		extra = append(extra, c)
	}
	if in.Time != "" {
		extra = append(extra, in.Time)
	}
	extra = append(extra, in.Go+" "+in.Platform)
	return in.Version + " (" + strings.Join(extra, ", ") + ")"
}
