package main

import (
	"bufio"
	"context"
	"database/sql"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/relaywork/suite/internal/platform/store/storetest"
)

// TestMain lets the test binary act as the coda binary when re-executed,
// so a test can start real separate processes.
func TestMain(m *testing.M) {
	if args := os.Getenv("CODA_TEST_AS_BINARY"); args != "" {
		ctx, stop := context.WithCancel(context.Background())
		go func() {
			sig := make(chan os.Signal, 1)
			signalNotify(sig)
			<-sig
			stop()
		}()
		if err := run(ctx, strings.Fields(args), os.Getenv, os.Stdout, os.Stderr); err != nil {
			os.Stderr.WriteString(err.Error() + "\n")
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestTwoInstancesMigrateTogether starts two coda processes at once on one
// fresh PostgreSQL database: both must come up, and every migration must be
// applied exactly once.
func TestTwoInstancesMigrateTogether(t *testing.T) {
	t.Parallel()
	dbURL := storetest.NewPostgresDB(t)
	var cmds []*exec.Cmd
	ready := make(chan error, 2)
	for i := 0; i < 2; i++ {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(),
			"CODA_TEST_AS_BINARY=serve", "DATABASE_URL="+dbURL, "PORT=0", "DATA_DIR="+t.TempDir(), "APP_ENV=test")
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, cmd)
		go func() {
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				if strings.Contains(sc.Text(), "listening on") {
					ready <- nil
					for sc.Scan() {
					}
					return
				}
			}
			ready <- &startError{stderr: &stderr}
		}()
	}
	t.Cleanup(func() {
		for _, c := range cmds {
			_ = c.Process.Kill()
		}
	})
	for i := 0; i < 2; i++ {
		select {
		case err := <-ready:
			if err != nil {
				t.Fatalf("an instance failed to start: %v", err)
			}
		case <-time.After(60 * time.Second):
			t.Fatal("instances did not start within 60s")
		}
	}
	for _, c := range cmds {
		_ = c.Process.Signal(syscall.SIGTERM)
	}
	for _, c := range cmds {
		if err := c.Wait(); err != nil {
			t.Errorf("instance exited with %v", err)
		}
	}
	db, err := sql.Open("pgx", dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var dup int
	if err := db.QueryRow(`SELECT count(*) FROM (SELECT version_id FROM goose_db_version WHERE version_id > 0 GROUP BY version_id HAVING count(*) > 1) d`).Scan(&dup); err != nil {
		t.Fatal(err)
	}
	var applied int
	_ = db.QueryRow(`SELECT count(*) FROM goose_db_version WHERE version_id > 0`).Scan(&applied)
	if dup != 0 || applied == 0 {
		t.Fatalf("got %d migrations applied twice and %d applied, want 0 and >0", dup, applied)
	}
}

type startError struct{ stderr *strings.Builder }

func (e *startError) Error() string { return "exited before listening: " + e.stderr.String() }
