// Command runnerdist fills the folder of runner builds that coda serves on
// its DevMode page (RUNNER_DOWNLOAD_DIR): it copies a built runner in under
// its download name and rewrites checksums.txt and latest.json.
//
//	go run ./tools/runnerdist -dir bin/release -version v1.2.3
//	    rewrite the manifest for the builds already in the folder
//	go run ./tools/runnerdist -dir dist/runner -version v1.2.3 -add dist/x/coda-runner -os linux -arch amd64
//	    copy one build in first (GoReleaser runs this after each runner build)
//
// Builds run in parallel, so the folder is locked while the manifest is
// rewritten: the last writer sees every build copied before it.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/relaywork/suite/internal/coda/runnerdist"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "runnerdist:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout io.Writer) error {
	fl := flag.NewFlagSet("runnerdist", flag.ContinueOnError)
	dir := fl.String("dir", "", "the folder to fill (required)")
	version := fl.String("version", "", "the runner release's version, e.g. v1.2.3 (required)")
	add := fl.String("add", "", "a built runner binary to copy in first")
	goos := fl.String("os", "", "with -add: the build's GOOS")
	goarch := fl.String("arch", "", "with -add: the build's GOARCH")
	if err := fl.Parse(args); err != nil {
		return err
	}
	if *dir == "" || *version == "" {
		return errors.New("usage: runnerdist -dir DIR -version VERSION [-add BINARY -os GOOS -arch GOARCH]")
	}
	if err := os.MkdirAll(*dir, 0o755); err != nil {
		return err
	}
	if *add != "" {
		if *goos == "" || *goarch == "" {
			return errors.New("-add needs -os and -arch")
		}
		if err := copyIn(*add, filepath.Join(*dir, runnerdist.BinaryName(*goos, *goarch))); err != nil {
			return err
		}
	}
	unlock, err := lock(*dir)
	if err != nil {
		return err
	}
	defer unlock()
	m, err := runnerdist.Write(*dir, *version, time.Now())
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "runnerdist: %s: %d build(s) of %s\n", *dir, len(m.Files), m.Version)
	return nil
}

// copyIn copies src to dst through a temporary file, so a reader never
// sees half a binary.
func copyIn(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp, err := os.CreateTemp(filepath.Dir(dst), ".copy-*")
	if err != nil {
		return err
	}
	if _, err := io.Copy(tmp, in); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o755); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), dst)
}

// lock takes dir/.lock (a directory: mkdir is atomic everywhere).
func lock(dir string) (func(), error) {
	p := filepath.Join(dir, ".lock")
	deadline := time.Now().Add(2 * time.Minute)
	for {
		err := os.Mkdir(p, 0o700)
		if err == nil {
			return func() { os.Remove(p) }, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return nil, err
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%s is held for over 2 minutes; remove it if no release is running", p)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
