// Command ideas measures Coda's ideas on a real coda binary, on SQLite and
// on PostgreSQL (when TEST_DATABASE_URL names a server it may create
// databases on):
//
//   - create (POST /api/ideas) and list (GET /api/ideas) latency at a
//     constant request rate;
//   - the purge of N expired ideas by `coda cron run purge-soft-deletes`
//     (wall time, batches, longest batch = longest lock held);
//   - the JSON and Markdown export of N ideas (time, bytes, and the
//     server's peak RSS before and after).
//
// It only talks to 127.0.0.1.
//
//	go build -o bin/coda ./cmd/coda && go run ./bench/ideas -bin bin -rate 1000 -duration 10s -n 100000
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/relaywork/suite/bench/loadgen"
	"github.com/relaywork/suite/internal/coda/idea"
	"github.com/relaywork/suite/internal/platform/store"
)

func main() {
	bin := flag.String("bin", "bin", "folder holding the coda binary")
	rate := flag.Int("rate", 1000, "requests per second for create and list")
	dur := flag.Duration("duration", 10*time.Second, "how long each load step runs")
	n := flag.Int("n", 100000, "ideas to purge and to export (0: skip the purge and export steps)")
	only := flag.String("only", "", "run only this dialect (sqlite or postgres)")
	searchRate := flag.Int("search-rate", 200, "requests per second for search")
	flag.Parse()
	path := filepath.Join(*bin, "coda")
	dialects := []string{"sqlite"}
	if os.Getenv("TEST_DATABASE_URL") != "" {
		dialects = append(dialects, "postgres")
	}
	fmt.Printf("## Ideas (%d cores)\n\n", runtimeCores())
	fmt.Printf("Each API row is followed by its floor, measured in the same run: the same call straight on the same\n")
	fmt.Printf("store (ideastore through the idea service, no HTTP, server stopped); p99/floor is the ratio of p99s.\n")
	fmt.Printf("`GET /healthz` on the same server at the same rate is the loopback HTTP floor.\n\n")
	fmt.Printf("| store | route | rate | requests | p50 | p99 | max | errors | p99/floor |\n|---|---|---|---|---|---|---|---|---|\n")
	var bulk []string
	for _, d := range dialects {
		if *only != "" && d != *only {
			continue
		}
		rows, err := measure(path, d, *rate, *searchRate, *dur, *n)
		if err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", d, err)
			os.Exit(1)
		}
		bulk = append(bulk, rows...)
	}
	fmt.Printf("\n| store | job | ideas | time | detail |\n|---|---|---|---|---|\n")
	for _, r := range bulk {
		fmt.Println(r)
	}
}

func runtimeCores() int {
	out, err := exec.Command("nproc").Output()
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(strings.TrimSpace(string(out)))
	return n
}

type server struct {
	cmd  *exec.Cmd
	base string
	env  []string
}

func start(path string, env []string) (*server, error) {
	port := loadgen.FreePort()
	env = append(env, "PORT="+strconv.Itoa(port))
	cmd := exec.Command(path, "serve")
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = io.Discard, os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	c := &http.Client{Timeout: time.Second}
	for t0 := time.Now(); time.Since(t0) < 30*time.Second; time.Sleep(5 * time.Millisecond) {
		if resp, err := c.Get(base + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return &server{cmd: cmd, base: base, env: env}, nil
			}
		}
	}
	cmd.Process.Kill()
	return nil, fmt.Errorf("server did not start")
}

func (s *server) stop() {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	_ = s.cmd.Wait()
}

// status reads a field (VmRSS, VmHWM) of /proc/pid/status in KB.
func (s *server) status(field string) int {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		return -1
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), field+":") {
			n, _ := strconv.Atoi(strings.Fields(sc.Text())[1])
			return n
		}
	}
	return -1
}

func signIn(path string, env []string, base, email string) (string, error) {
	cmd := exec.Command(path, "admin", "login-link", email)
	cmd.Env = env
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("admin login-link: %w", err)
	}
	link := strings.TrimSpace(string(out))
	i := strings.Index(link, "token=")
	if i < 0 {
		return "", fmt.Errorf("no token in %q", link)
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.PostForm(base+"/auth/email/confirm", url.Values{"token": {link[i+len("token="):]}})
	if err != nil {
		return "", err
	}
	resp.Body.Close()
	for _, ck := range resp.Cookies() {
		if ck.Value != "" {
			return ck.Name + "=" + ck.Value, nil
		}
	}
	return "", fmt.Errorf("confirm answered %s without a session cookie", resp.Status)
}

// newPostgres creates a fresh database on TEST_DATABASE_URL's server.
func newPostgres() (string, func(), error) {
	base := os.Getenv("TEST_DATABASE_URL")
	admin, err := sql.Open("pgx", base)
	if err != nil {
		return "", nil, err
	}
	var b [4]byte
	rand.Read(b[:])
	name := "bench_ideas_" + hex.EncodeToString(b[:])
	if _, err := admin.Exec("CREATE DATABASE " + name); err != nil {
		admin.Close()
		return "", nil, err
	}
	u, _ := url.Parse(base)
	u.Path = "/" + name
	q := u.Query()
	q.Set("connection_limit", "20")
	u.RawQuery = q.Encode()
	return u.String(), func() {
		admin.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)")
		admin.Close()
	}, nil
}

func measure(path, dialect string, rate, searchRate int, dur time.Duration, n int) ([]string, error) {
	dir, _ := os.MkdirTemp("", "bench-ideas-")
	defer os.RemoveAll(dir)
	env := append(os.Environ(), "DATA_DIR="+dir, "LOG_LEVEL=error", "APP_ENV=development", "RATE_LIMIT_SCALE=0", "EMAIL_SERVER=stream")
	dbURL := ""
	if dialect == "postgres" {
		u, drop, err := newPostgres()
		if err != nil {
			return nil, err
		}
		defer drop()
		dbURL = u
		env = append(env, "DATABASE_URL="+u)
	}
	s, err := start(path, env)
	if err != nil {
		return nil, err
	}
	cookie, err := signIn(path, s.env, s.base, "bench@example.com")
	if err != nil {
		s.stop()
		return nil, err
	}
	health := loadgen.Run(nil, rate, dur, loadgen.Get(s.base+"/healthz", nil))
	i := 0
	var mu sync.Mutex
	create := loadgen.Run(nil, rate, dur, func() *http.Request {
		mu.Lock()
		i++
		k := i
		mu.Unlock()
		body, _ := json.Marshal(map[string]any{"title": fmt.Sprintf("Bench idea %d", k), "body": "Some *Markdown* notes about idea " + strconv.Itoa(k), "tags": []string{"bench", "t" + strconv.Itoa(k%10)}})
		req, _ := http.NewRequest("POST", s.base+"/api/ideas", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Cookie", cookie)
		return req
	})
	list := loadgen.Run(nil, rate, dur, func() *http.Request {
		req, _ := http.NewRequest("GET", s.base+"/api/ideas?limit=20", nil)
		req.Header.Set("Cookie", cookie)
		req.Header.Set("Accept-Encoding", "gzip")
		return req
	})
	// Search for one idea's number: a selective query, as people type.
	k := 0
	search := loadgen.Run(nil, searchRate, dur, func() *http.Request {
		mu.Lock()
		k = k%i + 1
		q := strconv.Itoa(k)
		mu.Unlock()
		req, _ := http.NewRequest("GET", s.base+"/api/ideas?limit=20&q="+q, nil)
		req.Header.Set("Cookie", cookie)
		req.Header.Set("Accept-Encoding", "gzip")
		return req
	})
	s.stop()
	db, err := store.Open(context.Background(), store.Options{URL: dbURL, DataDir: dir, Name: "coda", ConnectTimeout: 5 * time.Second})
	if err != nil {
		return nil, err
	}
	defer db.Close()
	if err := printSettings(db); err != nil {
		return nil, err
	}
	var uid string
	if err := db.QueryRow(context.Background(), `SELECT id FROM users WHERE email = ?`, "bench@example.com").Scan(&uid); err != nil {
		return nil, err
	}
	fCreate, fList, fSearch := storeFloor(db, uid, rate, searchRate, dur, max(i, 1))
	row := func(name string, rate int, r loadgen.Result, floor *loadgen.Result) {
		ratio := ""
		if floor != nil && floor.P99 > 0 {
			ratio = fmt.Sprintf("%.1f", float64(r.P99)/float64(floor.P99))
		}
		fmt.Printf("| %s | %s | %d/s | %d | %s | %s | %s | %d | %s |\n", dialect, name, rate, r.N, loadgen.MS(r.P50), loadgen.MS(r.P99), loadgen.MS(r.Max), r.Errors, ratio)
	}
	row("GET /healthz (loopback HTTP floor)", rate, health, nil)
	row("POST /api/ideas", rate, create, &fCreate)
	row("floor: Service.Create on the store", rate, fCreate, nil)
	row("GET /api/ideas?limit=20", rate, list, &fList)
	row("floor: Service.List on the store", rate, fList, nil)
	row("GET /api/ideas?q=N (search, one match)", searchRate, search, &fSearch)
	row("floor: Service.List(q) on the store", searchRate, fSearch, nil)

	if n <= 0 {
		return nil, nil
	}
	// Bulk: seed n expired ideas for a second user and n live ones for a
	// third, straight into the database.
	s, err = start(path, env)
	if err != nil {
		return nil, err
	}
	if _, err := signIn(path, s.env, s.base, "purge@example.com"); err != nil {
		return nil, err
	}
	exportCookie, err := signIn(path, s.env, s.base, "export@example.com")
	if err != nil {
		return nil, err
	}
	s.stop()
	var rows []string
	t0 := time.Now()
	if err := seed(db, "purge@example.com", n, true); err != nil {
		return nil, fmt.Errorf("seed expired: %w", err)
	}
	if err := seed(db, "export@example.com", n, false); err != nil {
		return nil, fmt.Errorf("seed live: %w", err)
	}
	fmt.Fprintf(os.Stderr, "%s: seeded 2×%d ideas in %s\n", dialect, n, time.Since(t0).Round(time.Millisecond))

	// Purge through the CLI, as an operator (or the daily schedule) would.
	cmd := exec.Command(path, "cron", "run", "purge-soft-deletes")
	cmd.Env = env
	t0 = time.Now()
	out, err := cmd.Output()
	took := time.Since(t0)
	if err != nil {
		return nil, fmt.Errorf("cron run: %w\n%s", err, out)
	}
	var res map[string]any
	json.Unmarshal(out, &res)
	rows = append(rows, fmt.Sprintf("| %s | purge-soft-deletes (`coda cron run`, incl. process start) | %v | %s | %v batches (at most %d ideas each; smaller when a batch is slow), longest batch (lock held) %v ms |",
		dialect, res["deleted"], took.Round(time.Millisecond), res["batches"], idea.DefaultPurgeBatch, res["longest_batch_ms"]))

	for _, format := range []string{"json", "markdown"} {
		s, err = start(path, env)
		if err != nil {
			return nil, err
		}
		before := s.status("VmHWM")
		req, _ := http.NewRequest("GET", s.base+"/api/ideas/export?format="+format, nil)
		req.Header.Set("Cookie", exportCookie)
		t0 = time.Now()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			s.stop()
			return nil, err
		}
		nb, _ := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		took = time.Since(t0)
		after := s.status("VmHWM")
		s.stop()
		if resp.StatusCode != 200 {
			return nil, fmt.Errorf("export %s: %s", format, resp.Status)
		}
		rows = append(rows, fmt.Sprintf("| %s | export %s | %d | %s | %.1f MB sent; server peak RSS %.1f MB before, %.1f MB after |",
			dialect, format, n, took.Round(time.Millisecond), float64(nb)/1e6, float64(before)/1024, float64(after)/1024))
	}
	return rows, nil
}

// seed inserts n ideas for the user in batches; expired ones are deleted
// with a window that ended an hour ago.
func seed(db *store.DB, email string, n int, expired bool) error {
	ctx := context.Background()
	var uid string
	if err := db.QueryRow(ctx, `SELECT id FROM users WHERE email = ?`, email).Scan(&uid); err != nil {
		return err
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	const batch = 500
	for off := 0; off < n; off += batch {
		var b strings.Builder
		b.WriteString(`INSERT INTO ideas (id, user_id, title, body, tags, version, content_hash, created_at, updated_at, deleted_at, undo_expires_at) VALUES `)
		var args []any
		for k := off; k < min(off+batch, n); k++ {
			if k > off {
				b.WriteString(", ")
			}
			b.WriteString("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
			title := fmt.Sprintf("Seeded idea %d", k)
			body := fmt.Sprintf("## Notes %d\n\nA paragraph of *Markdown* about idea %d, long enough to look like a real note someone kept.\n", k, k)
			at := now.Add(-time.Duration(n-k) * time.Second)
			var del, exp any
			if expired {
				del, exp = now.Add(-2*time.Hour), now.Add(-time.Hour)
			}
			args = append(args, idea.NewID(), uid, title, body, `["seed"]`, 1, idea.ContentHash(title, body, []string{"seed"}), at, at, del, exp)
		}
		if _, err := db.Exec(ctx, b.String(), args...); err != nil {
			return err
		}
	}
	return nil
}

// printSettings prints what decides a commit's durability: PostgreSQL's
// synchronous_commit (the budget is for "on"), SQLite's journal mode and
// synchronous level.
func printSettings(db *store.DB) error {
	ctx := context.Background()
	if db.Dialect == store.Postgres {
		var sc, fsync string
		if err := db.QueryRow(ctx, `SHOW synchronous_commit`).Scan(&sc); err != nil {
			return err
		}
		if err := db.QueryRow(ctx, `SHOW fsync`).Scan(&fsync); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "postgres: synchronous_commit=%s fsync=%s\n", sc, fsync)
		return nil
	}
	var jm string
	var sync int
	if err := db.Writer().QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&jm); err != nil {
		return err
	}
	if err := db.Writer().QueryRowContext(ctx, `PRAGMA synchronous`).Scan(&sync); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "sqlite: journal_mode=%s synchronous=%d (1 = NORMAL: a commit survives the process being killed, not a power cut)\n", jm, sync)
	return nil
}
