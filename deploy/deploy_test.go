// Package deploy holds the deployment files (compose.yaml, systemd units,
// fly.toml, Caddyfile); this test checks they name real settings, fit
// together, and that the units pass systemd-analyze.
package deploy

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v4"

	"github.com/relaywork/suite/internal/platform/config"
)

// checkVar fails unless name is a setting product reads (by its name or
// an alias) and not one of the hosted stack's retired ones.
func checkVar(t *testing.T, where, name string, p config.Product) {
	t.Helper()
	for _, r := range config.RetiredVars {
		if r.Name == name {
			t.Errorf("%s sets %s, which is not read", where, name)
			return
		}
	}
	for _, v := range config.Vars {
		if v.Name != name && !slices.Contains(v.Aliases, name) {
			continue
		}
		if len(v.Products) > 0 && !slices.Contains(v.Products, p) {
			t.Errorf("%s sets %s, which %s does not read", where, name, p)
		}
		return
	}
	t.Errorf("%s sets %s, which is no setting (internal/platform/config/vars.go)", where, name)
}

type composeFile struct {
	Services map[string]struct {
		Image       string            `yaml:"image"`
		Command     []string          `yaml:"command"`
		Environment map[string]string `yaml:"environment"`
		Volumes     []string          `yaml:"volumes"`
		Ports       []string          `yaml:"ports"`
		DependsOn   any               `yaml:"depends_on"`
	} `yaml:"services"`
	Volumes map[string]any `yaml:"volumes"`
}

func TestCompose(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var f composeFile
	if err := yaml.Unmarshal(b, &f); err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	for _, name := range []string{"coda", "voyager", "relay-1", "relay-2", "postgres", "redis", "caddy"} {
		if _, ok := f.Services[name]; !ok {
			t.Fatalf("compose.yaml has no service %s", name)
		}
	}
	products := map[string]config.Product{"coda": config.Coda, "relay-1": config.Coda, "relay-2": config.Coda, "voyager": config.Voyager}
	for name, p := range products {
		s := f.Services[name]
		if want := "ghcr.io/relaywork/" + string(p) + ":"; !strings.HasPrefix(s.Image, want) {
			t.Errorf("%s: image %q, want %s… (what tools/image tags)", name, s.Image, want)
		}
		for k := range s.Environment {
			checkVar(t, "compose.yaml "+name, k, p)
		}
		for _, k := range []string{"APP_ENV", "PUBLIC_URL", "DATABASE_URL", "REDIS_URL", "AUTH_SECRET", "CRON_SECRET"} {
			if s.Environment[k] == "" {
				t.Errorf("%s: %s is not set", name, k)
			}
		}
		if !strings.HasPrefix(s.Environment["DATABASE_URL"], "postgres://") || !strings.HasPrefix(s.Environment["REDIS_URL"], "redis://redis:6379/") {
			t.Errorf("%s: the scaled stack needs PostgreSQL and Redis: %q %q", name, s.Environment["DATABASE_URL"], s.Environment["REDIS_URL"])
		}
	}
	if f.Services["coda"].Environment["DATABASE_URL"] == f.Services["voyager"].Environment["DATABASE_URL"] {
		t.Error("coda and voyager share one database")
	}
	for _, n := range []string{"relay-1", "relay-2"} {
		s := f.Services[n]
		if len(s.Command) != 3 || s.Command[0] != "relay" || s.Command[1] != "--advertise" || s.Command[2] != "http://"+n+":"+s.Environment["PORT"] {
			t.Errorf("%s: command %q, want relay --advertise http://%s:PORT", n, s.Command, n)
		}
		if s.Environment["DEVMODE_JWT_SECRET"] != f.Services["coda"].Environment["DEVMODE_JWT_SECRET"] {
			t.Errorf("%s: DEVMODE_JWT_SECRET differs from coda's", n)
		}
	}
	if !strings.HasPrefix(f.Services["coda"].Environment["DEVMODE_RELAY_URL"], "wss://") {
		t.Errorf("coda: DEVMODE_RELAY_URL %q, want the relay nodes' wss:// address", f.Services["coda"].Environment["DEVMODE_RELAY_URL"])
	}
	for _, n := range []string{"coda", "voyager"} {
		if !slices.ContainsFunc(f.Services[n].Volumes, func(v string) bool { return strings.HasSuffix(v, ":/data") }) {
			t.Errorf("%s: DATA_DIR (/data) is not a volume: %q", n, f.Services[n].Volumes)
		}
	}
	// Every init file and config the stack mounts is here.
	for _, s := range f.Services {
		for _, v := range s.Volumes {
			if src, _, _ := strings.Cut(v, ":"); strings.HasPrefix(src, "./") && src != "./communities" {
				if _, err := os.Stat(src); err != nil {
					t.Errorf("compose.yaml mounts %s: %v", src, err)
				}
			}
		}
	}

	// Caddy sends each site to a service and port that exist.
	caddy, err := os.ReadFile("Caddyfile")
	if err != nil {
		t.Fatal(err)
	}
	ports := map[string]string{"coda": "3000", "voyager": "3001", "relay-1": "3002", "relay-2": "3002"}
	var ups [][]string
	for _, line := range regexp.MustCompile(`reverse_proxy ([^{\n]+)`).FindAllStringSubmatch(string(caddy), -1) {
		ups = append(ups, regexp.MustCompile(`([a-z0-9-]+):(\d+)`).FindAllStringSubmatch(line[1], -1)...)
	}
	seen := map[string]bool{}
	for _, u := range ups {
		if ports[u[1]] != u[2] {
			t.Errorf("Caddyfile proxies to %s:%s; compose runs it on %s", u[1], u[2], ports[u[1]])
		}
		seen[u[1]] = true
	}
	if len(seen) != 4 {
		t.Errorf("Caddyfile reaches %v, want coda, voyager and both relays", seen)
	}
	if f.Services["relay-1"].Environment["PORT"] != "3002" {
		t.Errorf("relay-1 PORT %q", f.Services["relay-1"].Environment["PORT"])
	}
}

// readTOML reads the subset of TOML fly.toml uses: [section] and
// [[section]] headers and key = value lines; values keep their quotes off.
func readTOML(t *testing.T, path string) map[string]map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]map[string]string{"": {}}
	section := ""
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "["):
			section = strings.Trim(line, "[]")
			if out[section] == nil {
				out[section] = map[string]string{}
			}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				t.Fatalf("%s:%d: not key = value: %q", path, n, line)
			}
			v = strings.TrimSpace(v)
			if s, err := strconv.Unquote(v); err == nil {
				v = s
			} else if !regexp.MustCompile(`^(true|false|\d+|\[.*\])$`).MatchString(v) {
				t.Fatalf("%s:%d: value %s is not TOML", path, n, v)
			}
			out[section][strings.TrimSpace(k)] = v
		}
	}
	return out
}

func TestFlyToml(t *testing.T) {
	t.Parallel()
	fly := readTOML(t, "fly.toml")
	if fly[""]["app"] != "coda-relay" {
		t.Errorf("app %q, want the hosted stack's coda-relay", fly[""]["app"])
	}
	for k := range fly["env"] {
		checkVar(t, "fly.toml [env]", k, config.Coda)
	}
	for _, secret := range []string{"DATABASE_URL", "REDIS_URL", "DEVMODE_JWT_SECRET", "AUTH_SECRET"} {
		if _, ok := fly["env"][secret]; ok {
			t.Errorf("fly.toml [env] sets %s: secrets go in `fly secrets set`", secret)
		}
	}
	if cmd := fly["processes"]["relay"]; !strings.HasPrefix(cmd, "relay --advertise ") || !strings.Contains(cmd, "${FLY_PRIVATE_IP}") {
		t.Errorf("relay process %q", cmd)
	}
	port := fly["env"]["PORT"]
	if fly["http_service"]["internal_port"] != port || fly["metrics"]["port"] != port {
		t.Errorf("internal_port %q and metrics port %q, want PORT %q", fly["http_service"]["internal_port"], fly["metrics"]["port"], port)
	}
	if fly["http_service.checks"]["path"] != "/readyz" || fly["metrics"]["path"] != "/metrics" {
		t.Errorf("checks %v metrics %v", fly["http_service.checks"], fly["metrics"])
	}
	if fly["http_service"]["auto_stop_machines"] != "off" {
		t.Error("idle relay machines would be stopped with their runners' connections")
	}
}

var units = []struct {
	file, binary string
	product      config.Product
}{
	{"coda.service", "/usr/local/bin/coda", config.Coda},
	{"voyager.service", "/usr/local/bin/voyager", config.Voyager},
	{"coda-relay.service", "/usr/local/bin/coda", config.Coda},
}

// unitEnv returns the variables a unit's Environment= lines set.
func unitEnv(body string) map[string]string {
	env := map[string]string{}
	for _, line := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(line, "Environment="); ok {
			for _, kv := range strings.Fields(v) {
				k, val, _ := strings.Cut(kv, "=")
				env[k] = val
			}
		}
	}
	return env
}

func TestSystemdUnits(t *testing.T) {
	t.Parallel()
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil && os.Getenv("CI") == "" {
		t.Log("systemd-analyze not installed: checking the units' text only")
	} else if err != nil {
		t.Fatal("systemd-analyze is missing on CI (apt-get install systemd)")
	}
	dir := t.TempDir()
	for _, u := range units {
		b, err := os.ReadFile(u.file)
		if err != nil {
			t.Fatal(err)
		}
		body := string(b)
		for _, want := range []string{"DynamicUser=yes", "ProtectSystem=strict", "NoNewPrivileges=yes", "StateDirectory=", "ProtectHome=yes", "PrivateTmp=yes", "CapabilityBoundingSet=\n", "ExecStart=" + u.binary + " ", "EnvironmentFile=/etc/"} {
			if !strings.Contains(body, want) {
				t.Errorf("%s lacks %q", u.file, strings.TrimSpace(want))
			}
		}
		env := unitEnv(body)
		for k := range env {
			if k == "RELAY_ADVERTISE" {
				continue // the unit's own, used in ExecStart
			}
			checkVar(t, u.file, k, u.product)
		}
		state := regexp.MustCompile(`StateDirectory=(\S+)`).FindStringSubmatch(body)[1]
		if env["DATA_DIR"] != "/var/lib/"+state {
			t.Errorf("%s: DATA_DIR %q is not its StateDirectory /var/lib/%s", u.file, env["DATA_DIR"], state)
		}
		// systemd-analyze wants the binary to exist: point at a stand-in.
		stand := filepath.Join(dir, "bin-"+u.file)
		if err := os.WriteFile(stand, []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, u.file), []byte(strings.ReplaceAll(body, u.binary, stand)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if analyze == "" {
		return
	}
	for _, u := range units {
		path := filepath.Join(dir, u.file)
		out, err := exec.Command(analyze, "verify", path).CombinedOutput()
		if err != nil || len(strings.TrimSpace(string(out))) > 0 {
			t.Errorf("systemd-analyze verify %s: %v\n%s", u.file, err, out)
		}
		// Exposure 0 (locked down) to 10 (unprotected): ours is about 1.5.
		out, err = exec.Command(analyze, "security", "--offline=yes", "--threshold=25", path).CombinedOutput()
		if err != nil {
			t.Errorf("systemd-analyze security %s: exposure above 2.5: %v\n%s", u.file, err, out)
		}
	}
}
