package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/relaywork/suite/internal/platform/store/storetest"
)

// TestKill9LosesNoAcknowledgedIdea: eight writers create ideas as fast as a
// real coda process takes them; the process gets SIGKILL mid-stream; after
// a restart on the same database every idea that was answered 201 is there.
// This holds the group commit (a create is answered only after its batch
// committed) and the SQLite checkpointer (checkpoints off the write path)
// to their promise, on both back ends.
func TestKill9LosesNoAcknowledgedIdea(t *testing.T) {
	t.Parallel()
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			env := []string{"DATA_DIR=" + t.TempDir(), "PORT=0", "APP_ENV=test", "RATE_LIMIT_SCALE=0", "EMAIL_SERVER=stream", "LOG_LEVEL=error"}
			if backend == "postgres" {
				env = append(env, "DATABASE_URL="+storetest.NewPostgresDB(t))
			}
			srv, base := startCoda(t, env)

			// Sign in with a link printed by the operator command.
			var out bytes.Buffer
			getenv := func(k string) string {
				for _, kv := range env {
					if v, ok := strings.CutPrefix(kv, k+"="); ok {
						return v
					}
				}
				return ""
			}
			if err := run(context.Background(), []string{"admin", "login-link", "ada@example.com"}, getenv, &out, io.Discard); err != nil {
				t.Fatalf("login-link: %v", err)
			}
			link, err := url.Parse(strings.TrimSpace(out.String()))
			if err != nil || link.Query().Get("token") == "" {
				t.Fatalf("login-link printed %q", out.String())
			}
			c := signInWithLink(t, base, link.Query().Get("token"))
			c.Timeout = 5 * time.Second

			var mu sync.Mutex
			var acked []string
			stop := make(chan struct{})
			var wg sync.WaitGroup
			for w := 0; w < 8; w++ {
				wg.Add(1)
				go func(w int) {
					defer wg.Done()
					for i := 0; ; i++ {
						select {
						case <-stop:
							return
						default:
						}
						body := fmt.Sprintf(`{"title":"writer %d idea %d","body":"before the kill","tags":["load"]}`, w, i)
						resp, err := c.Post(base+"/api/ideas", "application/json", strings.NewReader(body))
						if err != nil {
							continue // the kill: not acknowledged
						}
						var it struct{ ID string }
						err = json.NewDecoder(resp.Body).Decode(&it)
						resp.Body.Close()
						if resp.StatusCode == http.StatusCreated && err == nil && it.ID != "" {
							mu.Lock()
							acked = append(acked, it.ID)
							mu.Unlock()
						}
					}
				}(w)
			}
			// Kill once a few hundred creates are acknowledged (or after 20 s
			// on a very slow machine), while the writers are still writing.
			deadline := time.Now().Add(20 * time.Second)
			for {
				mu.Lock()
				n := len(acked)
				mu.Unlock()
				if n >= 600 || time.Now().After(deadline) {
					break
				}
				time.Sleep(5 * time.Millisecond)
			}
			if err := srv.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			srv.Wait()
			close(stop)
			wg.Wait()
			if len(acked) < 50 {
				t.Fatalf("only %d creates acknowledged before the kill; the test proves nothing", len(acked))
			}

			_, base = startCoda(t, env)
			var missing []string
			for _, id := range acked {
				resp, err := c.Get(base + "/api/ideas/" + id)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					missing = append(missing, id+": "+resp.Status)
				}
			}
			if len(missing) > 0 {
				t.Fatalf("%d of %d acknowledged ideas lost to kill -9: %v", len(missing), len(acked), missing[:min(len(missing), 5)])
			}
			t.Logf("%s: all %d acknowledged ideas survived kill -9", backend, len(acked))
		})
	}
}

// startCoda starts `coda serve` as a separate process (this test binary,
// see TestMain) and returns it with its base URL.
func startCoda(t *testing.T, env []string) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(append(os.Environ(), "CODA_TEST_AS_BINARY=serve"), env...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		re := regexp.MustCompile(`listening on (http://\S+)`)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				addr <- m[1]
				break
			}
		}
		close(addr)
		io.Copy(io.Discard, out)
	}()
	select {
	case a, ok := <-addr:
		if !ok {
			t.Fatalf("coda exited before listening: %s", stderr.String())
		}
		return cmd, strings.TrimSuffix(a, "/")
	case <-time.After(60 * time.Second):
		t.Fatalf("coda did not start within 60s: %s", stderr.String())
	}
	return nil, ""
}
