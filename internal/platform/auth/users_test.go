package auth

import (
	"context"
	"testing"

	"github.com/relaywork/suite/internal/platform/apperr"
	"github.com/relaywork/suite/internal/platform/store"
	"github.com/relaywork/suite/internal/platform/store/storetest"
)

// TestListUsersSetRoleCount covers what the admin console asks of the
// sign-in service: search, paging, role changes and the overview counts.
func TestListUsersSetRoleCount(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s, _ := newTestService(t, db)
		_, ada := signIn(t, s, "ada@example.com")
		signIn(t, s, "grace@example.com")
		signIn(t, s, "grace.kelly@example.org")
		if _, _, err := s.EnsureUser(ctx, NewUser{Email: "linus_t@example.com", Name: "Linus Torvalds"}); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			q    UserQuery
			want int
		}{
			{UserQuery{}, 4},
			{UserQuery{Search: "GRACE"}, 2},
			{UserQuery{Search: "torvalds"}, 1},
			{UserQuery{Search: "_t@"}, 1}, // LIKE wildcards are literal
			{UserQuery{Search: "%"}, 0},
			{UserQuery{Search: "example.org"}, 1},
		} {
			got, total, err := s.ListUsers(ctx, c.q)
			if err != nil || total != c.want || len(got) != c.want {
				t.Errorf("ListUsers(%+v): %d/%d %v, want %d", c.q, len(got), total, err, c.want)
			}
		}
		page, total, err := s.ListUsers(ctx, UserQuery{Limit: 3, Offset: 3})
		if err != nil || total != 4 || len(page) != 1 {
			t.Fatalf("second page: %d of %d, %v", len(page), total, err)
		}
		if err := s.SetRole(ctx, ada.ID, RoleAdmin); err != nil {
			t.Fatal(err)
		}
		admins, _, _ := s.ListUsers(ctx, UserQuery{Role: RoleAdmin})
		if len(admins) != 1 || admins[0].ID != ada.ID {
			t.Fatalf("admins: %+v", admins)
		}
		if err := s.SetRole(ctx, ada.ID, "root"); !apperr.Is(err, apperr.Invalid) {
			t.Fatalf("unknown role: %v", err)
		}
		if err := s.SetRole(ctx, "nobody", RoleUser); !apperr.Is(err, apperr.NotFound) {
			t.Fatalf("unknown user: %v", err)
		}
		c, err := s.Count(ctx)
		if err != nil || c.Users != 4 || c.Admins != 1 || c.Sessions != 3 {
			t.Fatalf("counts %+v %v, want 4 users, 1 admin, 3 sessions", c, err)
		}
	})
}
