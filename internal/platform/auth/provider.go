package auth

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// Provider is an OpenID Connect identity provider that is configured.
type Provider struct {
	ID           string // in URLs: /api/auth/signin/{id}, /api/auth/callback/{id}
	Name         string // on the button: "Google", "LinkedIn", OIDC_NAME
	Issuer       string
	ClientID     string
	ClientSecret string
	Scopes       []string // default openid email profile
}

// Provider IDs of the built-in providers. They name the provider in URLs,
// in the accounts table and in a session's Method.
const (
	ProviderGoogle   = "google"
	ProviderLinkedIn = "linkedin"
	ProviderGeneric  = "oidc"
)

// Issuers of the built-in providers.
const (
	googleIssuer   = "https://accounts.google.com"
	linkedInIssuer = "https://www.linkedin.com/oauth"
)

// defaultScopes are asked for when a Provider names none.
var defaultScopes = []string{oidc.ScopeOpenID, "email", "profile"}

// Google is "Sign in with Google" (GOOGLE_CLIENT_ID/SECRET). Google's ID
// tokens carry a boolean email_verified; go-oidc already accepts the
// scheme-less "accounts.google.com" issuer that Google sometimes puts in
// tokens, and only for Google.
func Google(clientID, secret string) Provider {
	return Provider{ID: ProviderGoogle, Name: "Google", Issuer: googleIssuer, ClientID: clientID, ClientSecret: secret,
		Scopes: slices.Clone(defaultScopes)}
}

// LinkedIn is "Sign In with LinkedIn using OpenID Connect"
// (LINKEDIN_CLIENT_ID/SECRET). LinkedIn is off the standard in ways that
// are handled here (see linkedInQuirks), as other libraries found:
//
//   - Its issuer is "https://www.linkedin.com/oauth" since April 2024, both
//     in discovery and in the tokens' iss; before that the two disagreed
//     (discovery at .../oauth, tokens "https://www.linkedin.com"), so a
//     mismatch error after sign-in means LinkedIn changed it again.
//   - Its token endpoint authenticates the client only by client_id and
//     client_secret in the form body (client_secret_post), not Basic.
//   - It does not do PKCE for web apps: a code_verifier in the token request
//     makes it answer invalid_client, so none is sent (the state cookie
//     and the client secret still bind the code to this browser and app).
//   - Its ID tokens carry no nonce claim; one is still sent and checked
//     when present.
//   - Its ID tokens carry email_verified as the string "true", not a JSON
//     boolean (the userinfo endpoint has a boolean); both are accepted.
//
// LinkedIn says its sign-in "does not verify user identities": only the
// email address is taken as proven, and only when email_verified says so.
func LinkedIn(clientID, secret string) Provider {
	return Provider{ID: ProviderLinkedIn, Name: "LinkedIn", Issuer: linkedInIssuer, ClientID: clientID, ClientSecret: secret,
		Scopes: slices.Clone(defaultScopes)}
}

// Generic is any OpenID Connect issuer that publishes discovery
// (Okta, Entra ID, Keycloak, Authentik…); name is shown on the button and
// defaults to "Single sign-on".
func Generic(issuer, clientID, secret, name string) Provider {
	if strings.TrimSpace(name) == "" {
		name = "Single sign-on"
	}
	return Provider{ID: ProviderGeneric, Name: name, Issuer: issuer, ClientID: clientID, ClientSecret: secret,
		Scopes: slices.Clone(defaultScopes)}
}

// Timeouts for talking to a provider. Discovery, the key set and the token
// exchange share one client, so a provider that hangs costs a sign-in at
// most this long and never blocks start-up.
const (
	providerHTTPTimeout = 10 * time.Second
	discoveryTimeout    = 10 * time.Second
)

// quirks are the ways a provider departs from the standard flow.
type quirks struct {
	noPKCE        bool             // never send code_challenge / code_verifier
	nonceOptional bool             // accept ID tokens without a nonce claim
	authStyle     oauth2.AuthStyle // 0: from discovery
}

// linkedInQuirks are LinkedIn's departures; see LinkedIn.
var linkedInQuirks = quirks{noPKCE: true, nonceOptional: true, authStyle: oauth2.AuthStyleInParams}

// oidcProvider is a configured provider plus what discovery found, fetched
// lazily on first use so a server starts while the provider is
// unreachable, cached once it succeeds and retried on the next sign-in
// while it fails.
type oidcProvider struct {
	Provider
	quirks quirks
	client *http.Client

	mu       sync.Mutex
	disc     *oidc.Provider
	verifier *oidc.IDTokenVerifier
	oauth    oauth2.Config // RedirectURL is filled per Service
}

func newOIDCProvider(p Provider) *oidcProvider {
	if len(p.Scopes) == 0 {
		p.Scopes = slices.Clone(defaultScopes)
	}
	if !slices.Contains(p.Scopes, oidc.ScopeOpenID) {
		p.Scopes = append([]string{oidc.ScopeOpenID}, p.Scopes...)
	}
	if p.Name == "" {
		p.Name = p.ID
	}
	op := &oidcProvider{Provider: p, client: &http.Client{Timeout: providerHTTPTimeout}}
	if p.ID == ProviderLinkedIn {
		op.quirks = linkedInQuirks
	}
	return op
}

// discovered returns the provider's discovery document, verifier and
// OAuth 2 configuration, fetching them on first use. now is the clock that
// ID token expiry is checked against.
func (p *oidcProvider) discovered(ctx context.Context, now func() time.Time) (*oidc.IDTokenVerifier, oauth2.Config, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.disc != nil {
		return p.verifier, p.oauth, nil
	}
	ctx, cancel := context.WithTimeout(p.clientContext(ctx), discoveryTimeout)
	defer cancel()
	// The client in ctx is kept by go-oidc for fetching the key set later.
	disc, err := oidc.NewProvider(ctx, p.Issuer)
	if err != nil {
		// go-oidc quotes the whole response body of a failed discovery.
		return nil, oauth2.Config{}, fmt.Errorf("discover %s (%s): %s", p.ID, p.Issuer, clip(err.Error(), 300))
	}
	var meta struct {
		AuthMethods []string `json:"token_endpoint_auth_methods_supported"`
	}
	_ = disc.Claims(&meta)
	ep := disc.Endpoint()
	ep.AuthStyle = p.quirks.authStyle
	if ep.AuthStyle == oauth2.AuthStyleAutoDetect {
		ep.AuthStyle = authStyleFor(meta.AuthMethods)
	}
	p.disc = disc
	p.verifier = disc.Verifier(&oidc.Config{ClientID: p.ClientID, Now: now})
	p.oauth = oauth2.Config{ClientID: p.ClientID, ClientSecret: p.ClientSecret, Endpoint: ep, Scopes: p.Scopes}
	return p.verifier, p.oauth, nil
}

// clientContext returns ctx carrying the provider's HTTP client, which
// both go-oidc and x/oauth2 use.
func (p *oidcProvider) clientContext(ctx context.Context) context.Context {
	return oidc.ClientContext(ctx, p.client)
}

// authStyleFor picks how to send the client secret from what discovery
// advertises: in the form when the provider offers that (it avoids Basic's
// URL-encoding pitfalls and is what some providers require), Basic when
// only that is offered, else let x/oauth2 probe.
func authStyleFor(methods []string) oauth2.AuthStyle {
	switch {
	case slices.Contains(methods, "client_secret_post"):
		return oauth2.AuthStyleInParams
	case slices.Contains(methods, "client_secret_basic"):
		return oauth2.AuthStyleInHeader
	default:
		return oauth2.AuthStyleAutoDetect
	}
}
