// Package billingtest gives tests a Stripe to talk to: stripe-mock (the
// real Stripe API's wire format, canned fixtures, no state) and, in front of
// it, a small stand-in that answers GET /v1/subscriptions/{id} with the
// status a test sets, so tests can drive state changes that stripe-mock
// cannot remember. It also builds webhook events signed exactly as Stripe
// signs them (stripe-go's webhook.GenerateTestSignedPayload).
package billingtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v85/webhook"
)

// StripeMockURL returns stripe-mock's HTTP address: TEST_STRIPE_URL when
// set, else a stripe-mock started for this test from PATH or ~/go/bin
// (stopped at cleanup). Without either the test is skipped, except with
// CI=true, where it fails.
func StripeMockURL(t testing.TB) string {
	t.Helper()
	if u := os.Getenv("TEST_STRIPE_URL"); u != "" {
		return strings.TrimRight(u, "/")
	}
	bin, err := exec.LookPath("stripe-mock")
	if err != nil {
		home, _ := os.UserHomeDir()
		if p := filepath.Join(home, "go", "bin", "stripe-mock"); fileExists(p) {
			bin, err = p, nil
		}
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("stripe-mock is needed: set TEST_STRIPE_URL or install it (go install github.com/stripe/stripe-mock@latest; scripts/services.sh does)")
		}
		t.Skip("stripe-mock not found: set TEST_STRIPE_URL or run scripts/services.sh")
	}
	for attempt := 0; attempt < 5; attempt++ {
		hp, sp := freePort(t), freePort(t)
		ctx, cancel := context.WithCancel(context.Background())
		cmd := exec.CommandContext(ctx, bin, "-http-addr", "127.0.0.1:"+hp, "-https-addr", "127.0.0.1:"+sp)
		cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
		if err := cmd.Start(); err != nil {
			cancel()
			t.Fatalf("start stripe-mock: %v", err)
		}
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		u := "http://127.0.0.1:" + hp
		if waitUp(u, exited) {
			t.Cleanup(func() { cancel(); <-exited })
			return u
		}
		cancel()
		<-exited // port taken meanwhile: try others
	}
	t.Fatal("stripe-mock did not start")
	return ""
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

func freePort(t testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, p, _ := net.SplitHostPort(l.Addr().String())
	return p
}

// waitUp polls stripe-mock until it answers (or the process exits), for
// at most 30 s.
func waitUp(u string, exited <-chan struct{}) bool {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return false
		default:
		}
		req, _ := http.NewRequest("GET", u+"/v1/customers/cus_ping", nil)
		req.SetBasicAuth("sk_test_ping", "")
		if res, err := http.DefaultClient.Do(req); err == nil {
			res.Body.Close()
			return true
		}
		select {
		case <-exited:
			return false
		case <-time.After(50 * time.Millisecond):
		}
	}
	return false
}

// Stand is a Stripe stand-in: it forwards everything to stripe-mock but
// answers GET /v1/subscriptions/{id} for the subscriptions a test set,
// with stripe-mock's own subscription fixture carrying the test's values.
type Stand struct {
	URL  string
	mock string

	mu       sync.Mutex
	subs     map[string]Sub
	down     bool
	calls    map[string]int
	checkout url.Values // the last Checkout session's parameters
	// Pages, if set, serves every path outside /v1/ (a browser test's
	// stand-in for the Checkout page).
	Pages http.Handler
	// CheckoutBase, if set, replaces https://checkout.stripe.com in the
	// URLs of Checkout sessions, so a browser offline can follow them.
	CheckoutBase string
}

// Sub is what the stand-in says about one subscription.
type Sub struct {
	Status      string
	Customer    string
	CommunityID string // metadata.community_id
	PeriodEnd   time.Time
	AmountCents int64 // per month; 0: 5000
}

// NewStand starts a stand-in in front of stripe-mock at mockURL.
func NewStand(t testing.TB, mockURL string) *Stand {
	t.Helper()
	s := &Stand{mock: mockURL, subs: map[string]Sub{}, calls: map[string]int{}}
	target, _ := url.Parse(mockURL)
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.ModifyResponse = func(res *http.Response) error {
		if res.Request.Method != http.MethodPost || res.Request.URL.Path != "/v1/checkout/sessions" || s.CheckoutBase == "" {
			return nil
		}
		b, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err != nil {
			return err
		}
		var obj map[string]any
		if json.Unmarshal(b, &obj) == nil {
			if u, ok := obj["url"].(string); ok {
				obj["url"] = strings.Replace(u, "https://checkout.stripe.com", s.CheckoutBase, 1)
			}
			b, _ = json.Marshal(obj)
		}
		res.Body = io.NopCloser(bytes.NewReader(b))
		res.ContentLength = int64(len(b))
		res.Header.Set("Content-Length", fmt.Sprint(len(b)))
		return nil
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		down := s.down
		s.calls[r.Method+" "+r.URL.Path]++
		s.mu.Unlock()
		if !strings.HasPrefix(r.URL.Path, "/v1/") && s.Pages != nil {
			s.Pages.ServeHTTP(w, r)
			return
		}
		if r.Method == http.MethodPost && r.URL.Path == "/v1/checkout/sessions" {
			b, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(b))
			form, _ := url.ParseQuery(string(b))
			s.mu.Lock()
			s.checkout = form
			s.mu.Unlock()
		}
		if down {
			http.Error(w, `{"error":{"type":"api_error","message":"stand-in is down"}}`, http.StatusServiceUnavailable)
			return
		}
		if id, ok := strings.CutPrefix(r.URL.Path, "/v1/subscriptions/"); ok && r.Method == http.MethodGet && !strings.Contains(id, "/") {
			s.mu.Lock()
			sub, known := s.subs[id]
			s.mu.Unlock()
			if known {
				s.serveSub(w, r, id, sub)
				return
			}
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	return s
}

// Set makes GET /v1/subscriptions/{id} answer sub. A zero PeriodEnd is
// fixed here, 30 days on, and not at each answer: two reads a second
// boundary apart must not see the subscription change.
func (s *Stand) Set(id string, sub Sub) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sub.PeriodEnd.IsZero() {
		sub.PeriodEnd = time.Now().Add(30 * 24 * time.Hour).Truncate(time.Second)
	}
	s.subs[id] = sub
}

// LastCheckout returns the parameters of the last Checkout session
// created (success_url, client_reference_id, line_items[0][price], …).
func (s *Stand) LastCheckout() url.Values {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.checkout
}

// Down makes every request fail with 503 (a Stripe outage).
func (s *Stand) Down(down bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down = down
}

// Calls returns how many requests "METHOD /path" received.
func (s *Stand) Calls(key string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[key]
}

func (s *Stand) serveSub(w http.ResponseWriter, r *http.Request, id string, sub Sub) {
	req, _ := http.NewRequestWithContext(r.Context(), http.MethodGet, s.mock+"/v1/subscriptions/"+url.PathEscape(id), nil)
	req.Header.Set("Authorization", r.Header.Get("Authorization"))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer res.Body.Close()
	var obj map[string]any
	if err := json.NewDecoder(res.Body).Decode(&obj); err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	end := sub.PeriodEnd
	if end.IsZero() {
		end = time.Now().Add(30 * 24 * time.Hour)
	}
	amount := sub.AmountCents
	if amount == 0 {
		amount = 5000
	}
	obj["id"], obj["status"], obj["customer"] = id, sub.Status, sub.Customer
	obj["metadata"] = map[string]string{"community_id": sub.CommunityID}
	obj["cancel_at_period_end"], obj["cancel_at"] = false, nil
	if items, ok := obj["items"].(map[string]any); ok {
		if data, ok := items["data"].([]any); ok {
			for _, it := range data {
				if m, ok := it.(map[string]any); ok {
					m["current_period_end"] = end.Unix()
					m["subscription"] = id
					if p, ok := m["price"].(map[string]any); ok {
						p["unit_amount"], p["unit_amount_decimal"] = amount, fmt.Sprint(amount)
					}
				}
			}
		}
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(obj)
}

// Event returns a Stripe event's JSON: id, type and the data object.
func Event(id, typ string, object map[string]any) []byte {
	b, _ := json.Marshal(map[string]any{
		"id": id, "object": "event", "type": typ, "api_version": "2025-01-27.acacia",
		"created": time.Now().Unix(), "livemode": false, "pending_webhooks": 1,
		"data": map[string]any{"object": object},
	})
	return b
}

// SubscriptionEvent is a customer.subscription.* event for sub.
func SubscriptionEvent(id, typ, subID, customer, status string) []byte {
	return Event(id, typ, map[string]any{"id": subID, "object": "subscription", "customer": customer, "status": status})
}

// CheckoutEvent is checkout.session.completed for a community.
func CheckoutEvent(id, communityID, subID, customer string) []byte {
	return Event(id, "checkout.session.completed", map[string]any{"id": "cs_test_" + id, "object": "checkout.session", "mode": "subscription",
		"client_reference_id": communityID, "subscription": subID, "customer": customer})
}

// InvoiceEvent is an invoice.* event in the current API shape (the
// subscription under parent.subscription_details).
func InvoiceEvent(id, typ, subID, customer string) []byte {
	return Event(id, typ, map[string]any{"id": "in_" + id, "object": "invoice", "customer": customer,
		"parent": map[string]any{"type": "subscription_details", "subscription_details": map[string]any{"subscription": subID}}})
}

// Sign returns the Stripe-Signature header for payload, signed now.
func Sign(payload []byte, secret string) string {
	return SignAt(payload, secret, time.Now())
}

// SignAt returns the Stripe-Signature header for payload signed at t.
func SignAt(payload []byte, secret string, t time.Time) string {
	return webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: payload, Secret: secret, Timestamp: t}).Header
}

// Post sends a signed event to a webhook endpoint and returns the status
// and body.
func Post(t testing.TB, endpoint string, payload []byte, header string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, endpoint, bytes.NewReader(payload))
	req.Header.Set("Content-Type", "application/json")
	if header != "" {
		req.Header.Set("Stripe-Signature", header)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("post webhook: %v", err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}
