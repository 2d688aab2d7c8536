package main

import (
	"archive/tar"
	"bytes"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/relaywork/suite/internal/coda/runnerdist"
)

// TestImage builds the coda image from a freshly built static binary and
// a runner folder, loads the tarball back with go-containerregistry, checks
// its configuration, then extracts the binary from the layer and runs it:
// `version`, and `healthcheck` against it serving.
func TestImage(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the coda binary")
	}
	t.Parallel()
	dir := t.TempDir()
	bin := filepath.Join(dir, "coda")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w -X github.com/relaywork/suite/internal/platform/version.tag=v9.9.9", "-o", bin, "../../cmd/coda")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	runners := filepath.Join(dir, "runner")
	os.Mkdir(runners, 0o755)
	if err := os.WriteFile(filepath.Join(runners, "coda-runner-linux-amd64"), []byte("runner"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := runnerdist.Write(runners, "v9.9.9", time.Now()); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "coda.tar")
	if err := run([]string{"-product", "coda", "-binary", bin, "-arch", runtime.GOARCH, "-runner-dir", runners, "-version", "v9.9.9", "-o", out}, io.Discard); err != nil {
		t.Fatal(err)
	}

	tag, _ := name.NewTag("ghcr.io/relaywork/coda:v9.9.9")
	img, err := tarball.ImageFromPath(out, &tag)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	c := cf.Config
	if c.User != "65532:65532" {
		t.Fatalf("user %q, want 65532:65532 (not root)", c.User)
	}
	if strings.Join(c.Entrypoint, " ") != "/usr/local/bin/coda" || strings.Join(c.Cmd, " ") != "serve" {
		t.Fatalf("entrypoint %q cmd %q", c.Entrypoint, c.Cmd)
	}
	if _, ok := c.ExposedPorts["3000/tcp"]; !ok || len(c.ExposedPorts) != 1 {
		t.Fatalf("exposed ports %v, want 3000/tcp", c.ExposedPorts)
	}
	if _, ok := c.Volumes["/data"]; !ok {
		t.Fatalf("volumes %v, want /data", c.Volumes)
	}
	if c.Healthcheck == nil || strings.Join(c.Healthcheck.Test, " ") != "CMD /usr/local/bin/coda healthcheck" {
		t.Fatalf("healthcheck %+v", c.Healthcheck)
	}
	env := strings.Join(c.Env, " ")
	for _, want := range []string{"DATA_DIR=/data", "PORT=3000", "RUNNER_DOWNLOAD_DIR=/usr/local/share/coda/runner"} {
		if !strings.Contains(env, want) {
			t.Fatalf("env %q lacks %s", env, want)
		}
	}
	if cf.OS != "linux" || cf.Architecture != runtime.GOARCH || c.Labels["org.opencontainers.image.version"] != "v9.9.9" {
		t.Fatalf("platform %s/%s labels %v", cf.OS, cf.Architecture, c.Labels)
	}

	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("layers: %d, %v", len(layers), err)
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	files := map[string]*tar.Header{}
	var exe []byte
	var passwd string
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		files[h.Name] = h
		switch h.Name {
		case "usr/local/bin/coda":
			exe, _ = io.ReadAll(tr)
		case "etc/passwd":
			b, _ := io.ReadAll(tr)
			passwd = string(b)
		}
	}
	if d := files["data/"]; d == nil || d.Uid != 65532 || d.Mode&0o777 != 0o700 {
		t.Fatalf("/data: %+v, want a 0700 folder owned by 65532", d)
	}
	for _, f := range []string{"etc/ssl/certs/ca-certificates.crt", "tmp/", "usr/local/share/coda/runner/latest.json", "usr/local/share/coda/runner/coda-runner-linux-amd64"} {
		if files[f] == nil {
			t.Fatalf("the layer lacks %s", f)
		}
	}
	if !strings.Contains(passwd, "nonroot:x:65532:65532:") {
		t.Fatalf("/etc/passwd: %q", passwd)
	}
	if h := files["usr/local/bin/coda"]; h == nil || h.Mode&0o111 == 0 {
		t.Fatalf("binary: %+v", h)
	}

	// The binary from the layer runs: it is static.
	extracted := filepath.Join(t.TempDir(), "coda")
	if err := os.WriteFile(extracted, exe, 0o755); err != nil {
		t.Fatal(err)
	}
	got, err := exec.Command(extracted, "version").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(got), "coda v9.9.9 (") {
		t.Fatalf("version: %q %v", got, err)
	}
	if ldd, err := exec.Command("file", extracted).CombinedOutput(); err == nil && !bytes.Contains(ldd, []byte("statically linked")) {
		t.Fatalf("file says %s", ldd)
	}

	// HEALTHCHECK: fails while nothing listens, passes once it serves.
	port := freePort(t)
	runEnv := append(os.Environ(), "DATA_DIR="+t.TempDir(), "PORT="+strconv.Itoa(port), "HOST=127.0.0.1", "APP_ENV=test")
	hc := exec.Command(extracted, "healthcheck")
	hc.Env = runEnv
	if out, err := hc.CombinedOutput(); err == nil {
		t.Fatalf("healthcheck with no server passed: %s", out)
	}
	srv := exec.Command(extracted, "serve")
	srv.Env = runEnv
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { srv.Process.Signal(os.Interrupt); srv.Wait() }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		hc := exec.Command(extracted, "healthcheck")
		hc.Env = runEnv
		out, err := hc.CombinedOutput()
		if err == nil {
			if !strings.Contains(string(out), "200 OK") {
				t.Fatalf("healthcheck: %s", out)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("healthcheck never passed: %s", out)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
