package devmode_test

import (
	"context"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/relaywork/suite/internal/coda/devmode"
	"github.com/relaywork/suite/internal/platform/apperr"
	"github.com/relaywork/suite/internal/platform/audit"
	"github.com/relaywork/suite/internal/platform/store"
	"github.com/relaywork/suite/internal/platform/store/storetest"
)

// clock is a test clock moved by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func setup(t *testing.T, db *store.DB) (*devmode.Service, *clock) {
	t.Helper()
	clk := &clock{t: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)}
	svc, err := devmode.New(devmode.Options{DB: db, Secret: []byte("0123456789abcdef0123456789abcdef"), Now: clk.Now, Interval: 5 * time.Second,
		Audit: audit.New(db, clk.Now)})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"ada", "bob"} {
		if _, err := db.Exec(context.Background(), "INSERT INTO users (id, email, created_at) VALUES (?, ?, ?)", id, id+"@example.com", clk.Now()); err != nil {
			t.Fatal(err)
		}
	}
	return svc, clk
}

func code(err error) string {
	if e, ok := apperr.As(err); ok {
		if e.Code != "" {
			return e.Code
		}
		return e.Kind.String()
	}
	if err == nil {
		return ""
	}
	return err.Error()
}

var migrations = os.DirFS("../migrations")

func TestPairing(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		svc, clk := setup(t, db)
		dev := devmode.Device{Name: "ada-laptop", OS: "linux", Arch: "amd64", Version: "v1.0.0"}

		st, err := svc.StartPairing(ctx, dev, "203.0.113.7")
		if err != nil {
			t.Fatal(err)
		}
		if devmode.NormalizeUserCode(st.UserCode) != st.UserCode || st.Interval != 5*time.Second || st.ExpiresIn != 10*time.Minute {
			t.Fatalf("started %+v", st)
		}
		if _, err := svc.PollPairing(ctx, st.DeviceCode); code(err) != devmode.CodePending {
			t.Fatalf("first poll: got %v, want %s", err, devmode.CodePending)
		}
		clk.Add(time.Second)
		if _, err := svc.PollPairing(ctx, st.DeviceCode); code(err) != devmode.CodeSlowDown {
			t.Fatalf("fast poll: got %v, want %s", err, devmode.CodeSlowDown)
		}
		clk.Add(6 * time.Second)
		if _, err := svc.PollPairing(ctx, "not-a-device-code"); code(err) != devmode.CodeInvalidGrant {
			t.Fatalf("unknown device code: got %v", err)
		}
		// The user types the code in lower case without the dash.
		p, err := svc.PairingByCode(ctx, " "+st.UserCode[:4]+st.UserCode[5:]+" ")
		if err != nil || p.Name != "ada-laptop" || p.IP != "203.0.113.7" {
			t.Fatalf("lookup: %+v %v", p, err)
		}
		if _, err := svc.Decide(ctx, "ada", st.UserCode, true, ""); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.Decide(ctx, "bob", st.UserCode, true, ""); code(err) != "conflict" {
			t.Fatalf("second approval: got %v, want conflict", err)
		}
		clk.Add(10 * time.Second)
		cred, err := svc.PollPairing(ctx, st.DeviceCode)
		if err != nil || cred.Token == "" || cred.UserID != "ada" {
			t.Fatalf("poll after approval: %+v %v", cred, err)
		}
		if _, err := svc.PollPairing(ctx, st.DeviceCode); code(err) != devmode.CodeInvalidGrant {
			t.Fatalf("device code reused: got %v, want invalid_grant", err)
		}
		id, err := svc.AuthenticateRunner(ctx, cred.Token)
		if err != nil || id.RunnerID != cred.RunnerID || id.UserID != "ada" {
			t.Fatalf("authenticate: %+v %v", id, err)
		}
		rs, err := svc.Runners(ctx, "ada")
		if err != nil || len(rs) != 1 || rs[0].Name != "ada-laptop" || rs[0].OS != "linux" {
			t.Fatalf("runners: %+v %v", rs, err)
		}
	}, migrations)
}

func TestExpiredAndDeniedPairings(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		svc, clk := setup(t, db)
		old, _ := svc.StartPairing(ctx, devmode.Device{Name: "old"}, "")
		denied, _ := svc.StartPairing(ctx, devmode.Device{Name: "denied"}, "")
		if _, err := svc.Decide(ctx, "ada", denied.UserCode, false, ""); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.PollPairing(ctx, denied.DeviceCode); code(err) != devmode.CodeAccessDenied {
			t.Fatalf("denied: got %v", err)
		}
		clk.Add(10*time.Minute + time.Second)
		if _, err := svc.Decide(ctx, "ada", old.UserCode, true, ""); code(err) != "gone" {
			t.Fatalf("approving an expired pairing: got %v, want gone", err)
		}
		if _, err := svc.PollPairing(ctx, old.DeviceCode); code(err) != devmode.CodeExpiredToken {
			t.Fatalf("polling an expired pairing: got %v", err)
		}
		fresh, _ := svc.StartPairing(ctx, devmode.Device{Name: "fresh"}, "")
		n, err := svc.CleanupPairings(ctx)
		if err != nil || n != 2 {
			t.Fatalf("cleanup deleted %d (%v), want 2 (expired and unapproved)", n, err)
		}
		if _, err := svc.PairingByCode(ctx, fresh.UserCode); err != nil {
			t.Fatalf("cleanup removed a live pairing: %v", err)
		}
	}, migrations)
}

func TestTicketsAndRevoke(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		svc, clk := setup(t, db)
		st, _ := svc.StartPairing(ctx, devmode.Device{Name: "box"}, "")
		if _, err := svc.Decide(ctx, "ada", st.UserCode, true, ""); err != nil {
			t.Fatal(err)
		}
		cred, err := svc.PollPairing(ctx, st.DeviceCode)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := svc.IssueTicket(ctx, "bob", cred.RunnerID); code(err) != "not_found" {
			t.Fatalf("bob's ticket for ada's runner: got %v, want not_found", err)
		}
		tk, err := svc.IssueTicket(ctx, "ada", cred.RunnerID)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := svc.AuthenticateRunner(ctx, tk.Token); err == nil {
			t.Fatal("a ticket was accepted as a runner credential")
		}
		if _, err := svc.RedeemTicket(ctx, cred.Token); err == nil {
			t.Fatal("a runner credential was accepted as a ticket")
		}
		if id, err := svc.RedeemTicket(ctx, tk.Token); err != nil || id.UserID != "ada" || id.RunnerID != cred.RunnerID {
			t.Fatalf("redeem: %+v %v", id, err)
		}
		if _, err := svc.RedeemTicket(ctx, tk.Token); code(err) != "unauthorized" {
			t.Fatalf("reused ticket: got %v, want unauthorized", err)
		}
		late, _ := svc.IssueTicket(ctx, "ada", cred.RunnerID)
		clk.Add(61 * time.Second)
		if _, err := svc.RedeemTicket(ctx, late.Token); code(err) != "unauthorized" {
			t.Fatalf("expired ticket: got %v, want unauthorized", err)
		}

		var revoked []string
		svc.SetOnRevoke(func(id string) { revoked = append(revoked, id) })
		pending, _ := svc.IssueTicket(ctx, "ada", cred.RunnerID)
		if err := svc.Revoke(ctx, "bob", cred.RunnerID, ""); code(err) != "not_found" {
			t.Fatalf("bob revoking ada's runner: got %v", err)
		}
		if err := svc.Revoke(ctx, "ada", cred.RunnerID, ""); err != nil {
			t.Fatal(err)
		}
		if len(revoked) != 1 || revoked[0] != cred.RunnerID {
			t.Fatalf("revoke hook saw %v", revoked)
		}
		if _, err := svc.AuthenticateRunner(ctx, cred.Token); code(err) != "unauthorized" {
			t.Fatalf("revoked credential: got %v, want unauthorized", err)
		}
		if _, err := svc.RedeemTicket(ctx, pending.Token); err == nil {
			t.Fatal("a ticket issued before the revoke still opened a terminal")
		}
		entries, err := audit.New(db, clk.Now).List(ctx, audit.Filter{})
		if err != nil {
			t.Fatal(err)
		}
		var actions []string
		for _, e := range entries {
			actions = append(actions, e.Action)
		}
		for _, want := range []string{"devmode.pair.start", "devmode.pair.approve", "devmode.runner.revoke"} {
			if !slices.Contains(actions, want) {
				t.Fatalf("audit log has %v, want %s", actions, want)
			}
		}
	}, migrations)
}
