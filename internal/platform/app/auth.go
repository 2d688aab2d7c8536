package app

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/relaywork/suite/internal/platform/audit"
	"github.com/relaywork/suite/internal/platform/auth"
	"github.com/relaywork/suite/internal/platform/config"
	"github.com/relaywork/suite/internal/platform/mail"
	"github.com/relaywork/suite/internal/platform/store"
)

// newAuth builds the sign-in service with the methods that are configured:
// a provider when its client ID and secret are set, email when
// EMAIL_SERVER is set (in development it defaults to stream: links go to
// the log).
func newAuth(p Product, c *config.Config, db *store.DB, log *slogLogger, baseURL string) (*auth.Service, error) {
	server := c.EmailServer
	if server == "" && !c.Production() {
		server = "stream"
	}
	var sender mail.Sender
	if server != "" {
		from := c.EmailFrom
		if from == "" {
			from = p.Title + " <no-reply@localhost>"
		}
		s, err := mail.New(server, from, log)
		if err != nil {
			return nil, usagef("%s: %v", p.Name, err)
		}
		sender = s
	}
	var providers []auth.Provider
	if c.GoogleClientID != "" {
		providers = append(providers, auth.Google(c.GoogleClientID, c.GoogleClientSecret))
	}
	if c.LinkedInClientID != "" {
		providers = append(providers, auth.LinkedIn(c.LinkedInClientID, c.LinkedInClientSecret))
	}
	if c.OIDCClientID != "" {
		providers = append(providers, auth.Generic(c.OIDCIssuer, c.OIDCClientID, c.OIDCClientSecret, c.OIDCName))
	}
	return auth.New(auth.Options{
		DB:             db,
		Audit:          audit.New(db, nil),
		Logger:         log,
		Mail:           sender,
		Product:        p.Title,
		PublicURL:      baseURL,
		Secret:         []byte(c.AuthSecret),
		PreviousSecret: []byte(c.AuthSecretPrevious),
		Providers:      providers,
	}), nil
}

// withAuth loads settings, opens the store and runs fn with the sign-in
// service, for the operator commands.
func withAuth(ctx context.Context, p Product, env Env, fn func(*auth.Service) error) error {
	c, err := loadConfig(p, env, true)
	if err != nil {
		return err
	}
	log := newLogger(c, env.Stderr)
	if err := migrateOnStart(ctx, p, c, log); err != nil {
		return err
	}
	db, err := openStore(ctx, p, c, log)
	if err != nil {
		return err
	}
	defer db.Close()
	svc, err := newAuth(p, c, db, log, publicOrLocal(c.PublicURL, c.Addr()))
	if err != nil {
		return err
	}
	return fn(svc)
}

func sessionsCmd(ctx context.Context, p Product, env Env, args []string) error {
	usage := usagef("usage: %s sessions revoke --all | --user EMAIL", p.Name)
	if len(args) == 0 || args[0] != "revoke" {
		return usage
	}
	fs := flag.NewFlagSet("sessions revoke", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	all := fs.Bool("all", false, "sign every user out of every device")
	user := fs.String("user", "", "sign this user out of every device")
	if err := fs.Parse(args[1:]); err != nil || fs.NArg() > 0 || *all == (*user != "") {
		return usage
	}
	return withAuth(ctx, p, env, func(s *auth.Service) error {
		if *all {
			n, err := s.RevokeAll(ctx)
			if err != nil {
				return err
			}
			s.Audit(ctx, auth.AuditEntry{Actor: "cli", Action: "sessions_revoked", Resource: "session", Metadata: map[string]any{"count": n, "scope": "all"}})
			fmt.Fprintf(env.Stdout, "revoked %d session(s); every user must sign in again\n", n)
			return nil
		}
		u, err := s.UserByEmail(ctx, *user)
		if err != nil {
			return usagef("%s: no user with the address %s", p.Name, *user)
		}
		n, err := s.RevokeUser(ctx, u.ID)
		if err != nil {
			return err
		}
		s.Audit(ctx, auth.AuditEntry{Actor: "cli", Action: "sessions_revoked", Resource: "user", ResourceID: u.ID, Metadata: map[string]any{"count": n, "scope": "user"}})
		fmt.Fprintf(env.Stdout, "revoked %d session(s) of %s\n", n, u.Email)
		return nil
	})
}

func adminCmd(ctx context.Context, p Product, env Env, args []string) error {
	usage := usagef("usage: %s admin login-link EMAIL [--role admin]", p.Name)
	if len(args) < 2 || args[0] != "login-link" {
		return usage
	}
	email := args[1]
	fs := flag.NewFlagSet("admin login-link", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	role := fs.String("role", "", "make the user an operator (admin) or a plain user (user)")
	if err := fs.Parse(args[2:]); err != nil || fs.NArg() > 0 {
		return usage
	}
	if *role != "" && *role != auth.RoleAdmin && *role != auth.RoleUser {
		return usagef("%s: --role must be admin or user", p.Name)
	}
	return withAuth(ctx, p, env, func(s *auth.Service) error {
		link, err := s.LoginLink(ctx, email, *role)
		if err != nil {
			return usagef("%s: %v", p.Name, err)
		}
		fmt.Fprintln(env.Stdout, link)
		return nil
	})
}
