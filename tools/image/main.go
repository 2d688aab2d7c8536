// Command image builds the container images of coda and voyager without a
// Docker daemon: FROM scratch, one layer with the static binary, a tiny
// /etc/passwd with the non-root user 65532, CA certificates (Debian's
// ca-certificates), an empty /tmp and the DATA_DIR volume /data. It writes
// a `docker load`-able tarball per product and platform and, per product,
// an OCI image layout holding both platforms under one index (push it with
// `skopeo copy --all oci:dist/images/coda-oci docker://REGISTRY/coda:TAG`).
//
//	go run ./tools/image -dist dist -version v1.2.3 -out dist/images
//	    every product and platform GoReleaser built into dist/
//	go run ./tools/image -product coda -binary bin/coda -arch amd64 -version v1.2.3 -o coda.tar
//	    one image from one binary
//
// The images and their health check are described in docs/deploy.md.
package main

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// The image's user: not root, the uid distroless images use.
const (
	uid      = 65532
	dataDir  = "/data"
	binDir   = "/usr/local/bin"
	caBundle = "/etc/ssl/certs/ca-certificates.crt"
)

// Product is what differs between the two server images.
type Product struct {
	Name  string
	Port  int
	Title string
	// Extra folders copied into the image: source on this machine →
	// destination in the image, with the setting that points there.
	Extras []Extra
}

// Extra is a folder shipped in the image.
type Extra struct {
	Src, Dst string
	Env      string // NAME=VALUE set in the image so the server finds it
}

// Options are one image's inputs.
type Options struct {
	Product  Product
	Binary   string // the static linux binary
	Arch     string // amd64 or arm64
	Version  string
	CACerts  string    // PEM bundle; Debian's ca-certificates by default
	Created  time.Time // image and file times (reproducible builds)
	Revision string    // the commit, for the OCI label
}

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
}

func products(dist string) map[string]Product {
	return map[string]Product{
		"coda": {Name: "coda", Port: 3000, Title: "Coda",
			Extras: []Extra{{Src: filepath.Join(dist, "runner"), Dst: "/usr/local/share/coda/runner", Env: "RUNNER_DOWNLOAD_DIR=/usr/local/share/coda/runner"}}},
		"voyager": {Name: "voyager", Port: 3001, Title: "Voyager",
			Extras: []Extra{{Src: "communities", Dst: "/etc/voyager/communities", Env: "COMMUNITIES_DIR=/etc/voyager/communities"}}},
	}
}

func run(args []string, stdout io.Writer) error {
	fl := flag.NewFlagSet("image", flag.ContinueOnError)
	dist := fl.String("dist", "", "GoReleaser's dist folder: build every product and platform found there")
	outDir := fl.String("out", "", "with -dist: where the images go (default DIST/images)")
	product := fl.String("product", "", "coda or voyager (with -binary)")
	binary := fl.String("binary", "", "one static linux binary")
	arch := fl.String("arch", "amd64", "with -binary: its GOARCH")
	out := fl.String("o", "", "with -binary: the tarball to write")
	runnerDir := fl.String("runner-dir", "", "with -product coda: the runner downloads folder to ship (default DIST/runner, or none)")
	version := fl.String("version", "", "the release's version, e.g. v1.2.3 (default with -dist: from DIST/metadata.json)")
	repo := fl.String("repo", "ghcr.io/relaywork", "the registry path the tarballs' tags name")
	ca := fl.String("ca-certs", caBundle, "CA certificates to ship (Debian: apt-get install ca-certificates)")
	if err := fl.Parse(args); err != nil {
		return err
	}
	if *version == "" && *dist != "" {
		// GoReleaser writes the release's version into dist/metadata.json.
		if b, err := os.ReadFile(filepath.Join(*dist, "metadata.json")); err == nil {
			var md struct{ Version string }
			if json.Unmarshal(b, &md) == nil && md.Version != "" {
				*version = "v" + strings.TrimPrefix(md.Version, "v")
			}
		}
	}
	if *version == "" {
		return errors.New("-version is required")
	}
	created := sourceDate()
	if *binary != "" {
		p, ok := products(".")[*product]
		if !ok {
			return fmt.Errorf("-product must be coda or voyager, not %q", *product)
		}
		if p.Name == "coda" {
			p.Extras = nil
			if *runnerDir != "" {
				p.Extras = []Extra{{Src: *runnerDir, Dst: "/usr/local/share/coda/runner", Env: "RUNNER_DOWNLOAD_DIR=/usr/local/share/coda/runner"}}
			}
		}
		if *out == "" {
			return errors.New("-binary needs -o FILE.tar")
		}
		img, err := Build(Options{Product: p, Binary: *binary, Arch: *arch, Version: *version, CACerts: *ca, Created: created})
		if err != nil {
			return err
		}
		if err := writeTarball(img, *out, *repo+"/"+p.Name+":"+*version); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "image: wrote %s\n", *out)
		return nil
	}
	if *dist == "" {
		return errors.New("give -dist DIR, or -product, -binary and -o")
	}
	if *outDir == "" {
		*outDir = filepath.Join(*dist, "images")
	}
	if err := os.MkdirAll(*outDir, 0o755); err != nil {
		return err
	}
	names := []string{"coda", "voyager"}
	ps := products(*dist)
	for _, n := range names {
		p := ps[n]
		var imgs []v1.Image
		var arches []string
		for _, a := range []string{"amd64", "arm64"} {
			bins, _ := filepath.Glob(filepath.Join(*dist, n+"_linux_"+a+"*", n))
			if len(bins) == 0 {
				continue
			}
			img, err := Build(Options{Product: p, Binary: bins[0], Arch: a, Version: *version, CACerts: *ca, Created: created, Revision: os.Getenv("GIT_COMMIT")})
			if err != nil {
				return fmt.Errorf("%s linux/%s: %w", n, a, err)
			}
			file := filepath.Join(*outDir, fmt.Sprintf("%s_%s_linux_%s.tar", n, strings.TrimPrefix(*version, "v"), a))
			if err := writeTarball(img, file, *repo+"/"+n+":"+*version); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "image: wrote %s\n", file)
			imgs = append(imgs, img)
			arches = append(arches, a)
		}
		if len(imgs) == 0 {
			return fmt.Errorf("no linux build of %s under %s (run goreleaser first)", n, *dist)
		}
		dir := filepath.Join(*outDir, n+"-oci")
		if err := writeLayout(dir, imgs, arches, *version); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "image: wrote %s (OCI layout, linux/%s)\n", dir, strings.Join(arches, ", linux/"))
	}
	return nil
}

// sourceDate is SOURCE_DATE_EPOCH when set (reproducible builds), else now.
func sourceDate() time.Time {
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return time.Unix(n, 0).UTC()
		}
	}
	return time.Now().UTC().Truncate(time.Second)
}

// Build makes one product's image for one platform.
func Build(o Options) (v1.Image, error) {
	if o.CACerts == "" {
		o.CACerts = caBundle
	}
	ca, err := os.ReadFile(o.CACerts)
	if err != nil {
		return nil, fmt.Errorf("CA certificates: %w (on Debian: apt-get install ca-certificates)", err)
	}
	bin, err := os.ReadFile(o.Binary)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	mt := o.Created
	dir := func(p string, mode int64, owner int) error {
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: strings.TrimPrefix(p, "/") + "/", Mode: mode, Uid: owner, Gid: owner, ModTime: mt})
	}
	file := func(p string, mode int64, body []byte) error {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: strings.TrimPrefix(p, "/"), Mode: mode, Size: int64(len(body)), ModTime: mt}); err != nil {
			return err
		}
		_, err := tw.Write(body)
		return err
	}
	passwd := "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/data:/sbin/nologin\n"
	group := "root:x:0:\nnonroot:x:65532:\n"
	steps := []func() error{
		func() error { return dir("/etc", 0o755, 0) },
		func() error { return file("/etc/passwd", 0o644, []byte(passwd)) },
		func() error { return file("/etc/group", 0o644, []byte(group)) },
		func() error { return dir("/etc/ssl", 0o755, 0) },
		func() error { return dir("/etc/ssl/certs", 0o755, 0) },
		func() error { return file(caBundle, 0o644, ca) },
		func() error { return dir("/tmp", 0o1777, 0) },
		func() error { return dir("/usr", 0o755, 0) },
		func() error { return dir("/usr/local", 0o755, 0) },
		func() error { return dir(binDir, 0o755, 0) },
		func() error { return file(binDir+"/"+o.Product.Name, 0o755, bin) },
		func() error { return dir(dataDir, 0o700, uid) },
	}
	for _, s := range steps {
		if err := s(); err != nil {
			return nil, err
		}
	}
	env := []string{"PATH=/usr/local/bin", "DATA_DIR=" + dataDir, "PORT=" + strconv.Itoa(o.Product.Port), "SSL_CERT_FILE=" + caBundle}
	for _, x := range o.Product.Extras {
		n, err := addTree(tw, x.Src, x.Dst, mt)
		if err != nil {
			return nil, err
		}
		if n > 0 {
			env = append(env, x.Env)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	layerBytes := buf.Bytes()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(layerBytes)), nil },
		tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, err
	}
	img, err := mutate.AppendLayers(mutate.MediaType(empty.Image, types.OCIManifestSchema1), layer)
	if err != nil {
		return nil, err
	}
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	exe := binDir + "/" + o.Product.Name
	port := strconv.Itoa(o.Product.Port) + "/tcp"
	cfg := v1.Config{
		User:         strconv.Itoa(uid) + ":" + strconv.Itoa(uid),
		Entrypoint:   []string{exe},
		Cmd:          []string{"serve"},
		Env:          env,
		WorkingDir:   dataDir,
		ExposedPorts: map[string]struct{}{port: {}},
		Volumes:      map[string]struct{}{dataDir: {}},
		// The binary asks itself: scratch has no curl or wget.
		Healthcheck: &v1.HealthConfig{Test: []string{"CMD", exe, "healthcheck"}, Interval: 30 * time.Second,
			Timeout: 5 * time.Second, StartPeriod: 10 * time.Second, Retries: 3},
		StopSignal: "SIGTERM",
		Labels: map[string]string{
			"org.opencontainers.image.title":    o.Product.Title,
			"org.opencontainers.image.version":  o.Version,
			"org.opencontainers.image.source":   "https://github.com/relaywork/suite",
			"org.opencontainers.image.revision": o.Revision,
			"org.opencontainers.image.created":  mt.Format(time.RFC3339),
		},
	}
	img, err = mutate.Config(img, cfg)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Created = "linux", o.Arch, v1.Time{Time: mt}
	cf.Author = "relaywork"
	if o.Arch == "arm64" {
		cf.Variant = "v8"
	}
	return mutate.ConfigFile(img, cf)
}

// addTree copies the files under src (if it exists) to dst in the layer,
// readable by everyone; it returns how many files it copied.
func addTree(tw *tar.Writer, src, dst string, mt time.Time) (int, error) {
	if _, err := os.Stat(src); errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	parts := strings.Split(strings.Trim(dst, "/"), "/")
	for i := range parts {
		p := strings.Join(parts[:i+1], "/")
		if p == "etc" || p == "usr" || p == "usr/local" {
			continue // written already
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: p + "/", Mode: 0o755, ModTime: mt}); err != nil {
			return 0, err
		}
	}
	var files []string
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() && !strings.HasPrefix(d.Name(), ".") {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	sort.Strings(files)
	for _, f := range files {
		rel, _ := filepath.Rel(src, f)
		if strings.Contains(rel, string(filepath.Separator)) {
			continue // flat folders only
		}
		b, err := os.ReadFile(f)
		if err != nil {
			return 0, err
		}
		mode := int64(0o644)
		if fi, err := os.Stat(f); err == nil && fi.Mode()&0o111 != 0 {
			mode = 0o755
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: strings.Trim(dst, "/") + "/" + rel, Mode: mode, Size: int64(len(b)), ModTime: mt}); err != nil {
			return 0, err
		}
		if _, err := tw.Write(b); err != nil {
			return 0, err
		}
	}
	return len(files), nil
}

func writeTarball(img v1.Image, path, ref string) error {
	// A tag allows [A-Za-z0-9_.-]: v1.2.3+meta becomes v1.2.3-meta.
	i := strings.LastIndex(ref, ":")
	repo, t := ref[:i], ref[i+1:]
	t = strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '.' || r == '-' {
			return r
		}
		return '-'
	}, t)
	tag, err := name.NewTag(repo + ":" + t)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return tarball.WriteToFile(path, tag, img)
}

// writeLayout writes an OCI image layout with one index over imgs.
func writeLayout(dir string, imgs []v1.Image, arches []string, version string) error {
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for i, img := range imgs {
		pl := &v1.Platform{OS: "linux", Architecture: arches[i]}
		if arches[i] == "arm64" {
			pl.Variant = "v8"
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: pl}})
	}
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return err
	}
	return p.AppendIndex(idx, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": version}))
}
