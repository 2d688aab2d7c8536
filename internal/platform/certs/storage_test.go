package certs_test

import (
	"context"
	"errors"
	"io/fs"
	"reflect"
	"testing"
	"time"

	"github.com/relaywork/suite/internal/platform/certs"
	"github.com/relaywork/suite/internal/platform/store"
	"github.com/relaywork/suite/internal/platform/store/storetest"
)

// TestSQLStorage checks the CertMagic storage contract on both back ends:
// values, directories, listing, stat, and locks that exclude a second
// instance until released or stale.
func TestSQLStorage(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
		clock := func() time.Time { return now }
		a := certs.NewSQLStorage(db, clock)
		b := certs.NewSQLStorage(db, clock)

		if _, err := a.Load(ctx, "certificates/x/x.crt"); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("load missing: got %v, want fs.ErrNotExist", err)
		}
		for _, kv := range [][2]string{
			{"certificates/acme/coach.example/coach.example.crt", "CRT"},
			{"certificates/acme/coach.example/coach.example.key", "KEY"},
			{"certificates/acme/other.example/other.example.crt", "CRT2"},
			{"certificates/acme_100%/x_y.crt", "ODD"},
			{"ocsp/coach.example", "OCSP"},
		} {
			if err := a.Store(ctx, kv[0], []byte(kv[1])); err != nil {
				t.Fatal(err)
			}
		}
		if err := a.Store(ctx, "ocsp/coach.example", []byte("OCSP2")); err != nil {
			t.Fatal(err)
		}
		if v, err := b.Load(ctx, "ocsp/coach.example"); err != nil || string(v) != "OCSP2" {
			t.Fatalf("load after overwrite from another instance: got %q, %v", v, err)
		}
		if !b.Exists(ctx, "certificates/acme") || !b.Exists(ctx, "ocsp/coach.example") || b.Exists(ctx, "certificates/acm") {
			t.Fatal("Exists: wrong for a directory, a value or a partial name")
		}
		got, err := b.List(ctx, "certificates/acme", false)
		if want := []string{"certificates/acme/coach.example", "certificates/acme/other.example"}; err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("list: got %v, %v, want %v", got, err, want)
		}
		got, err = b.List(ctx, "certificates", true)
		if err != nil || len(got) != 4 {
			t.Fatalf("recursive list: got %v, %v", got, err)
		}
		// LIKE wildcards in a key are literal.
		if got, _ := b.List(ctx, "certificates/acme_100%", true); len(got) != 1 {
			t.Fatalf("list with %% and _ in the name: got %v", got)
		}
		st, err := b.Stat(ctx, "certificates/acme/coach.example/coach.example.key")
		if err != nil || !st.IsTerminal || st.Size != 3 || !st.Modified.Equal(now) {
			t.Fatalf("stat value: got %+v, %v", st, err)
		}
		if st, err := b.Stat(ctx, "certificates/acme/coach.example"); err != nil || st.IsTerminal {
			t.Fatalf("stat directory: got %+v, %v", st, err)
		}
		if err := b.Delete(ctx, "certificates/acme/coach.example"); err != nil {
			t.Fatal(err)
		}
		if a.Exists(ctx, "certificates/acme/coach.example/coach.example.crt") || !a.Exists(ctx, "certificates/acme/other.example") {
			t.Fatal("deleting a directory: removed too little or too much")
		}
		if err := b.Delete(ctx, "nothing/here"); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("delete missing: got %v", err)
		}

		// Locks: the second instance waits until the first releases.
		if err := a.Lock(ctx, "issue_cert_coach.example"); err != nil {
			t.Fatal(err)
		}
		if ok, err := b.TryLock(ctx, "issue_cert_coach.example"); err != nil || ok {
			t.Fatalf("second instance took a held lock: %v, %v", ok, err)
		}
		if err := b.RenewLockLease(ctx, "issue_cert_coach.example", time.Minute); err == nil {
			t.Fatal("an instance renewed a lock it does not hold")
		}
		if err := a.RenewLockLease(ctx, "issue_cert_coach.example", time.Minute); err != nil {
			t.Fatal(err)
		}
		short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		err = b.Lock(short, "issue_cert_coach.example")
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("blocked Lock: got %v, want the context's deadline", err)
		}
		if err := a.Unlock(ctx, "issue_cert_coach.example"); err != nil {
			t.Fatal(err)
		}
		if ok, err := b.TryLock(ctx, "issue_cert_coach.example"); err != nil || !ok {
			t.Fatalf("free lock: %v, %v", ok, err)
		}
		// A holder that died stops renewing: after the lease, the lock is taken over.
		now = now.Add(3 * time.Minute)
		if ok, err := a.TryLock(ctx, "issue_cert_coach.example"); err != nil || !ok {
			t.Fatalf("stale lock not taken over: %v, %v", ok, err)
		}
	})
}
