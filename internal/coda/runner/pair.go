package runner

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// Config is what pairing leaves on disk: enough to connect again.
type Config struct {
	Server     string `json:"server"`     // Coda's URL, e.g. https://coda.example.com
	RelayURL   string `json:"relay_url"`  // the runner endpoint, wss://…/devmode/relay/runner
	RunnerID   string `json:"runner_id"`  // this runner's ID on the server
	Credential string `json:"credential"` // the JWT; a secret
}

// DefaultConfigPath is where the credential lives: the user's config
// directory (~/.config/coda-runner on Linux, ~/Library/Application
// Support/coda-runner on macOS).
func DefaultConfigPath() (string, error) {
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("find the config directory: %w", err)
	}
	return filepath.Join(dir, "coda-runner", "credential.json"), nil
}

// Save writes c to path, readable only by the user (0600, directory 0700).
func (c Config) Save(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("save credential: %w", err)
	}
	b, _ := json.MarshalIndent(c, "", "  ")
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("save credential: %w", err)
	}
	if err := os.Chmod(tmp, 0o600); err != nil {
		return fmt.Errorf("save credential: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("save credential: %w", err)
	}
	return nil
}

// LoadConfig reads a saved Config; os.ErrNotExist if not paired.
func LoadConfig(path string) (Config, error) {
	var c Config
	b, err := os.ReadFile(path)
	if err != nil {
		return c, err
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("read %s: %w", path, err)
	}
	return c, nil
}

// PairOptions configures Pair.
type PairOptions struct {
	Server  string // Coda's URL
	Name    string // this machine's name; the host name when empty
	Version string
	Out     io.Writer // where the code and URL are printed
	Client  *http.Client
	// OpenBrowser, if set, is offered the approval URL.
	OpenBrowser func(url string)
}

// startResponse is the device authorization response (RFC 8628 §3.2).
type startResponse struct {
	DeviceCode              string `json:"device_code"`
	UserCode                string `json:"user_code"`
	VerificationURI         string `json:"verification_uri"`
	VerificationURIComplete string `json:"verification_uri_complete"`
	ExpiresIn               int    `json:"expires_in"`
	Interval                int    `json:"interval"`
}

type tokenResponse struct {
	Credential string `json:"credential"`
	RunnerID   string `json:"runner_id"`
	RelayURL   string `json:"relay_url"`
}

type errorResponse struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// Pair runs the device authorization flow: it asks the server for codes,
// prints the user code and the URL to approve it, and polls at the
// server's interval (slowing down when told) until the user approves,
// denies, or the code expires.
func Pair(ctx context.Context, o PairOptions) (Config, error) {
	if o.Client == nil {
		o.Client = &http.Client{Timeout: 30 * time.Second}
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
	if o.Name == "" {
		o.Name, _ = os.Hostname()
	}
	server := strings.TrimRight(o.Server, "/")
	u, err := url.Parse(server)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return Config{}, fmt.Errorf("--server must be Coda's address, such as https://coda.example.com")
	}
	var st startResponse
	body := map[string]string{"name": o.Name, "os": runtime.GOOS, "arch": runtime.GOARCH, "version": o.Version}
	if code, err := postJSON(ctx, o.Client, o.Version, server+"/api/devmode/pair/start", body, &st); err != nil {
		return Config{}, err
	} else if code != "" {
		return Config{}, fmt.Errorf("the server refused to start pairing: %s", code)
	}
	fmt.Fprintf(o.Out, "To pair this machine with Coda, open\n\n    %s\n\nand check that it shows the code\n\n    %s\n\nThe code expires in %d minutes. Waiting for approval…\n",
		st.VerificationURIComplete, st.UserCode, max(st.ExpiresIn/60, 1))
	if o.OpenBrowser != nil {
		o.OpenBrowser(st.VerificationURIComplete)
	}
	interval := time.Duration(max(st.Interval, 1)) * time.Second
	deadline := time.Now().Add(time.Duration(st.ExpiresIn) * time.Second)
	for {
		select {
		case <-ctx.Done():
			return Config{}, ctx.Err()
		case <-time.After(interval):
		}
		var tok tokenResponse
		code, err := postJSON(ctx, o.Client, o.Version, server+"/api/devmode/pair/token", map[string]string{"device_code": st.DeviceCode}, &tok)
		switch {
		case err != nil:
			// A network blip: keep polling until the code expires.
			if time.Now().After(deadline) {
				return Config{}, err
			}
		case code == "":
			fmt.Fprintln(o.Out, "Approved. This machine is paired.")
			return Config{Server: server, RelayURL: tok.RelayURL, RunnerID: tok.RunnerID, Credential: tok.Credential}, nil
		case code == "authorization_pending":
		case code == "slow_down":
			interval += 5 * time.Second
		case code == "access_denied":
			return Config{}, errors.New("pairing was denied in the browser")
		case code == "expired_token":
			return Config{}, errors.New("the code expired before it was approved; run `coda-runner pair` again")
		default:
			return Config{}, fmt.Errorf("pairing failed: %s", code)
		}
	}
}

// postJSON posts body and decodes a 200 answer into out; for an error
// answer it returns the error code.
func postJSON(ctx context.Context, c *http.Client, version, u string, body, out any) (string, error) {
	b, _ := json.Marshal(body)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(b))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", userAgent(version))
	resp, err := c.Do(req)
	if err != nil {
		return "", fmt.Errorf("cannot reach %s: %w", u, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", err
	}
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(data, out); err != nil {
			return "", fmt.Errorf("unexpected answer from %s: %w", u, err)
		}
		return "", nil
	}
	var e errorResponse
	if json.Unmarshal(data, &e) == nil && e.Error.Code != "" {
		return e.Error.Code, nil
	}
	return "", fmt.Errorf("%s answered %s", u, resp.Status)
}
