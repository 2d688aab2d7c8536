package main

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/relaywork/suite/internal/platform/app/apptest"
)

// TestAlertRulesMatchMetrics scrapes a serving Voyager (with a continuous
// replica, an AI provider and a finished cron run, so every series the
// rules use exists), lints the scrape with `promtool check metrics`, and
// checks that every metric deploy/alerts.yml names is in it.
func TestAlertRulesMatchMetrics(t *testing.T) {
	t.Parallel()
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("promtool is not installed (Debian: apt-get install prometheus); CI must run this test")
		}
		t.Skip("promtool not installed")
	}
	env := apptest.BaseEnv(t, map[string]string{
		"ANTHROPIC_API_KEY":  "sk-ant-test",
		"ANTHROPIC_BASE_URL": "http://127.0.0.1:9/",
		"BACKUP_REPLICA_URL": filepath.Join(t.TempDir(), "replica"),
		"CRON_SECRET":        "cron-secret-for-tests",
	})
	s := apptest.Start(t, run, env)
	req, _ := http.NewRequest("POST", s.URL+"/api/cron/backup", nil)
	req.Header.Set("Authorization", "Bearer cron-secret-for-tests")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("POST /api/cron/backup: %d %s", resp.StatusCode, b)
	}
	var scrape string
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(s.URL + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		scrape = string(b)
		if strings.Contains(scrape, "backup_replication_lag_seconds") || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}

	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(scrape)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out.String())
	}

	rules, err := os.ReadFile("../../deploy/alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, m := range regexp.MustCompile(`\b[a-z][a-z0-9_]*_(?:total|seconds|ratio|bytes|state|bucket)\b`).FindAllString(string(rules), -1) {
		names[m] = true
	}
	var missing []string
	for n := range names {
		if strings.HasPrefix(n, "tls_") {
			continue // only with TLS=auto: TestHTTPSCustomDomains checks these series exist
		}
		if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(n) + `(_bucket|_sum|_count)?[{ ]`).MatchString(scrape) {
			missing = append(missing, n)
		}
	}
	sort.Strings(missing)
	if len(names) < 10 || len(missing) > 0 {
		t.Fatalf("deploy/alerts.yml uses metrics %v that /metrics does not have (of %d named)", missing, len(names))
	}
}
