// Command backup measures what continuous backup (BACKUP_REPLICA_URL,
// Litestream) promises, on a real coda binary with embedded SQLite:
//
//   - RPO: writers create ideas over the API as fast as the server takes
//     them; at a random moment the server is killed with SIGKILL and the
//     machine is treated as lost (DATA_DIR deleted). The replica is restored
//     with `coda restore --latest --yes` and every idea the server had
//     acknowledged (201) is looked for. RPO is how long before the kill the
//     oldest lost acknowledged write was made (0 when none was lost).
//   - RTO: from running `coda restore --latest --yes` on the empty machine
//     until the restarted server (after `coda maintenance off`) answers an
//     authenticated GET /api/ideas with 200: restore, reopen, serve.
//
// The database is first padded to -size (incompressible rows in a table of
// its own) so the restore moves a database of that size. The replica is a
// folder on the same disk (file://), so the figures leave out a network
// link to S3; that adds upload time per sync (RPO) and download time
// (RTO) in proportion to the link.
//
// It only talks to 127.0.0.1.
//
//	go build -o bin/coda ./cmd/coda && go run ./bench/backup -bin bin -runs 3 -size 1GB
package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	_ "modernc.org/sqlite"

	"github.com/relaywork/suite/bench/loadgen"
	"github.com/relaywork/suite/internal/platform/backup"
)

func main() {
	bin := flag.String("bin", "bin", "folder holding the coda binary")
	runs := flag.Int("runs", 3, "kill-and-restore rounds")
	size := flag.String("size", "100MB", "database size before the writes start (e.g. 100MB, 1GB)")
	writers := flag.Int("writers", 8, "concurrent writers")
	minKill := flag.Duration("kill-min", 2*time.Second, "earliest kill after the writes start")
	maxKill := flag.Duration("kill-max", 8*time.Second, "latest kill after the writes start")
	sync := flag.String("sync-interval", "500ms", "BACKUP_SYNC_INTERVAL")
	work := flag.String("dir", "", "working folder (default a temporary one; needs twice -size free)")
	flag.Parse()
	bytesWanted, err := parseSize(*size)
	if err != nil {
		fail(err)
	}
	coda, err := filepath.Abs(filepath.Join(*bin, "coda"))
	if err != nil {
		fail(err)
	}
	root := *work
	if root == "" {
		if root, err = os.MkdirTemp("", "bench-backup-"); err != nil {
			fail(err)
		}
		defer os.RemoveAll(root)
	}
	fmt.Printf("## Continuous backup: kill -9 under writes, restore the replica (%d cores, replica on local disk, BACKUP_SYNC_INTERVAL=%s)\n\n", cores(), *sync)
	template := filepath.Join(root, "template", "coda.db")
	t0 := time.Now()
	if err := prepare(coda, template, bytesWanted); err != nil {
		fail(err)
	}
	fi, _ := os.Stat(template)
	fmt.Printf("database padded to %.0f MB in %s\n\n", float64(fi.Size())/(1<<20), time.Since(t0).Round(time.Second))
	fmt.Printf("| run | writes acked | acked writes lost | RPO | killed after | restore --latest | restore to serving (RTO) |\n|---|---|---|---|---|---|---|\n")
	var rpos, rtos []time.Duration
	var lostTotal, ackedTotal int
	for i := 1; i <= *runs; i++ {
		r, err := round(coda, root, template, *sync, *writers, *minKill+time.Duration(rand.Int64N(int64(*maxKill-*minKill)+1)))
		if err != nil {
			fail(fmt.Errorf("run %d: %w", i, err))
		}
		fmt.Printf("| %d | %d | %d | %s | %s | %s | %s |\n", i, r.acked, r.lost, r.rpo.Round(time.Millisecond), r.killedAfter.Round(time.Millisecond), r.restore.Round(time.Millisecond), r.rto.Round(time.Millisecond))
		rpos, rtos = append(rpos, r.rpo), append(rtos, r.rto)
		lostTotal += r.lost
		ackedTotal += r.acked
	}
	fmt.Printf("\nRPO %s (spread %s-%s, goal ≤ 1 s); RTO %s (spread %s-%s, goal ≤ 1 min for 1 GB); %d of %d acknowledged writes lost in all\n",
		median(rpos).Round(time.Millisecond), minOf(rpos).Round(time.Millisecond), maxOf(rpos).Round(time.Millisecond),
		median(rtos).Round(time.Millisecond), minOf(rtos).Round(time.Millisecond), maxOf(rtos).Round(time.Millisecond), lostTotal, ackedTotal)
}

type result struct {
	acked, lost               int
	rpo, killedAfter, restore time.Duration
	rto                       time.Duration
}

// round runs one kill-and-restore.
func round(coda, root, template, syncInterval string, writers int, killAfter time.Duration) (result, error) {
	var r result
	data := filepath.Join(root, "machine")
	replica := filepath.Join(root, "replica")
	os.RemoveAll(data)
	os.RemoveAll(replica)
	if err := os.MkdirAll(data, 0o700); err != nil {
		return r, err
	}
	if err := copyFile(template, filepath.Join(data, "coda.db")); err != nil {
		return r, err
	}
	env := append(os.Environ(), "DATA_DIR="+data, "LOG_LEVEL=warn", "APP_ENV=development", "RATE_LIMIT_SCALE=0",
		"EMAIL_SERVER=stream", "BACKUP_REPLICA_URL="+replica, "BACKUP_SYNC_INTERVAL="+syncInterval)
	srv, err := start(coda, env)
	if err != nil {
		return r, err
	}
	defer srv.cmd.Process.Kill()
	cookie, err := signIn(coda, srv.env, srv.base, "bench@example.com")
	if err != nil {
		return r, err
	}
	// The first snapshot of the whole database must be in the replica
	// before the writes that count begin.
	if err := waitCaughtUp(srv.base, replica, 5*time.Minute); err != nil {
		return r, err
	}

	type ack struct {
		id string
		at time.Time
	}
	var mu sync.Mutex
	var acks []ack
	stop := make(chan struct{})
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: writers}}
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for k := 0; ; k++ {
				select {
				case <-stop:
					return
				default:
				}
				body, _ := json.Marshal(map[string]any{"title": fmt.Sprintf("w%d idea %d", w, k), "body": "written under a kill -9"})
				req, _ := http.NewRequest("POST", srv.base+"/api/ideas", bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Cookie", cookie)
				resp, err := client.Do(req)
				if err != nil {
					continue
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusCreated {
					continue
				}
				var idea struct{ ID string }
				if json.Unmarshal(b, &idea) != nil || idea.ID == "" {
					continue
				}
				mu.Lock()
				acks = append(acks, ack{idea.ID, time.Now()})
				mu.Unlock()
			}
		}(w)
	}
	began := time.Now()
	time.Sleep(killAfter)
	if err := srv.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		return r, err
	}
	killed := time.Now()
	_ = srv.cmd.Wait()
	close(stop)
	wg.Wait()
	r.killedAfter = killed.Sub(began)

	// The machine is lost: only the replica is left.
	if err := os.RemoveAll(data); err != nil {
		return r, err
	}
	fresh := filepath.Join(root, "new-machine")
	os.RemoveAll(fresh)
	if err := os.MkdirAll(fresh, 0o700); err != nil {
		return r, err
	}
	env2 := append(os.Environ(), "DATA_DIR="+fresh, "LOG_LEVEL=warn", "APP_ENV=development", "RATE_LIMIT_SCALE=0",
		"EMAIL_SERVER=stream", "BACKUP_REPLICA_URL="+replica, "BACKUP_SYNC_INTERVAL="+syncInterval)
	t0 := time.Now()
	if out, err := command(coda, env2, "restore", "--latest", "--yes"); err != nil {
		return r, fmt.Errorf("restore --latest: %v: %s", err, out)
	}
	r.restore = time.Since(t0)
	if out, err := command(coda, env2, "maintenance", "off"); err != nil {
		return r, fmt.Errorf("maintenance off: %v: %s", err, out)
	}
	srv2, err := start(coda, env2)
	if err != nil {
		return r, err
	}
	defer srv2.stop()
	for {
		req, _ := http.NewRequest("GET", srv2.base+"/api/ideas?limit=1", nil)
		req.Header.Set("Cookie", cookie)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Since(t0) > 10*time.Minute {
			return r, fmt.Errorf("the restored server did not serve the ideas API within 10 minutes (last: %v)", err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	r.rto = time.Since(t0)

	// Which acknowledged writes did the restore keep?
	db, err := sql.Open("sqlite", "file:"+filepath.Join(fresh, "coda.db")+"?mode=ro")
	if err != nil {
		return r, err
	}
	defer db.Close()
	have := map[string]bool{}
	rows, err := db.Query("SELECT id FROM ideas")
	if err != nil {
		return r, err
	}
	for rows.Next() {
		var id string
		rows.Scan(&id)
		have[id] = true
	}
	rows.Close()
	r.acked = len(acks)
	for _, a := range acks {
		if have[a.id] {
			continue
		}
		r.lost++
		if d := killed.Sub(a.at); d > r.rpo {
			r.rpo = d
		}
	}
	return r, nil
}

// prepare migrates a new database at path and pads it to size bytes.
func prepare(coda, path string, size int64) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	env := append(os.Environ(), "DATA_DIR="+dir, "LOG_LEVEL=warn", "APP_ENV=development")
	if out, err := command(coda, env, "migrate", "up"); err != nil {
		return fmt.Errorf("migrate up: %v: %s", err, out)
	}
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=synchronous(OFF)")
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := db.Exec("CREATE TABLE bench_padding (id INTEGER PRIMARY KEY, data BLOB NOT NULL)"); err != nil {
		return err
	}
	const row = 3500 // bytes of random data per row: about one row per page
	for {
		var n int64
		if err := db.QueryRow("SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()").Scan(&n); err != nil {
			return err
		}
		if n >= size {
			break
		}
		rowsLeft := min((size-n)/row+1, 20000)
		if _, err := db.Exec("WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < ?) INSERT INTO bench_padding (data) SELECT randomblob(?) FROM c", rowsLeft, row); err != nil {
			return err
		}
	}
	_, err = db.Exec("PRAGMA wal_checkpoint(TRUNCATE)")
	return err
}

// waitCaughtUp waits until the replica holds a snapshot and the server
// reports it has every transaction.
func waitCaughtUp(base, replica string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		_, newest, err := backup.Bounds(context.Background(), backup.ReplicaOptions{URL: replica})
		if err == nil && !newest.IsZero() {
			resp, err := http.Get(base + "/metrics")
			if err == nil {
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if strings.Contains(string(b), "\nbackup_replication_lag_seconds 0\n") {
					return nil
				}
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("the replica did not catch up within %s", limit)
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
	for t0 := time.Now(); time.Since(t0) < 5*time.Minute; time.Sleep(5 * time.Millisecond) {
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

func command(coda string, env []string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, coda, args...)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func signIn(path string, env []string, base, email string) (string, error) {
	out, err := command(path, env, "admin", "login-link", email)
	if err != nil {
		return "", fmt.Errorf("admin login-link: %v: %s", err, out)
	}
	link := strings.TrimSpace(out)
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

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func parseSize(s string) (int64, error) {
	s = strings.ToUpper(strings.TrimSpace(s))
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		m      int64
	}{{"GB", 1 << 30}, {"MB", 1 << 20}, {"KB", 1 << 10}} {
		if strings.HasSuffix(s, u.suffix) {
			mult, s = u.m, strings.TrimSuffix(s, u.suffix)
			break
		}
	}
	n, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("-size %q: give a size such as 100MB or 1GB", s)
	}
	return int64(n * float64(mult)), nil
}

func median(d []time.Duration) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	if len(s) == 0 {
		return 0
	}
	return s[len(s)/2]
}

func minOf(d []time.Duration) time.Duration {
	m := time.Duration(0)
	for i, x := range d {
		if i == 0 || x < m {
			m = x
		}
	}
	return m
}

func maxOf(d []time.Duration) time.Duration {
	m := time.Duration(0)
	for _, x := range d {
		m = max(m, x)
	}
	return m
}

func cores() int {
	out, err := exec.Command("nproc").Output()
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(strings.TrimSpace(string(out)))
	return n
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "bench/backup:", err)
	os.Exit(1)
}
