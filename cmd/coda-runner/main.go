// Command coda-runner is the DevMode runner: it pairs this machine with a
// Coda server, then keeps a connection to the relay and serves the
// terminals its user opens in the browser. See `coda-runner --help`.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"syscall"

	"github.com/relaywork/suite/internal/coda/runner"
	buildversion "github.com/relaywork/suite/internal/platform/version"
)

// version is this build's version (package version: the release tag set at
// link time, else the commit); the runner announces it when it connects and
// the DevMode page shows a banner when a newer runner release exists.
var version = buildversion.String()

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "coda-runner:", err)
		os.Exit(1)
	}
}

const help = `coda-runner: open terminals on this machine from Coda's DevMode page.

Usage:
  coda-runner pair --server URL [--name NAME] [--no-browser]
        Pair this machine with your Coda account. It prints a short code
        (such as WDJB-MJHT) and a link, and opens the link in your browser
        where it can: sign in to Coda there, check the code and approve. The credential is saved in your
        config directory (%s), readable only by you.
  coda-runner [run] [--name NAME]
        Connect to the relay and serve terminals: each terminal opened in
        the browser is your login shell in a new pseudo-terminal on this
        machine. The runner only dials out; it never listens on a port.
        When the connection drops (a network drop, a server restart) it
        reconnects by itself (with backoff) and keeps open shells for 5
        minutes meanwhile, so the browser resumes them.
        Stop it with Ctrl-C.
  coda-runner unpair
        Delete the saved credential. Revoke the runner on the DevMode page
        too, so the credential is refused even if a copy exists.
  coda-runner version
        Print the version.

Options:
  --config PATH   where the credential is kept (default %s)
`

// run is main without the process; tests call it.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cmd := "run"
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	defPath, err := runner.DefaultConfigPath()
	if err != nil {
		defPath = "credential.json"
	}
	if p := getenv("CODA_RUNNER_CONFIG"); p != "" {
		defPath = p
	}
	fl := flag.NewFlagSet("coda-runner "+cmd, flag.ContinueOnError)
	fl.SetOutput(stderr)
	fl.Usage = func() { fmt.Fprintf(stdout, help, defPath, defPath) }
	path := fl.String("config", defPath, "credential file")
	server := fl.String("server", "", "Coda's address, e.g. https://coda.example.com")
	name := fl.String("name", "", "this machine's name as shown in Coda (default: the host name)")
	noBrowser := fl.Bool("no-browser", false, "pair: do not open the approval page in a browser")
	switch cmd {
	case "help", "-h", "--help":
		fl.Usage()
		return nil
	case "version", "--version":
		in := buildversion.Get()
		in.Version = version
		fmt.Fprintf(stdout, "coda-runner %s\n", in.Line())
		return nil
	}
	if err := fl.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fl.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q; see coda-runner --help", fl.Arg(0))
	}
	switch cmd {
	case "pair":
		if *server == "" {
			return errors.New("pair needs --server URL, Coda's address (e.g. https://coda.example.com)")
		}
		po := runner.PairOptions{Server: *server, Name: *name, Version: version, Out: stdout}
		if !*noBrowser {
			po.OpenBrowser = func(u string) { openBrowser(getenv, u) }
		}
		cfg, err := runner.Pair(ctx, po)
		if err != nil {
			return err
		}
		if err := cfg.Save(*path); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "Saved the credential in %s. Start serving terminals with: coda-runner\n", *path)
		return nil
	case "unpair":
		if err := os.Remove(*path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		fmt.Fprintf(stdout, "Removed %s. Revoke the runner on the DevMode page too.\n", *path)
		return nil
	case "run":
		if runtime.GOOS == "windows" {
			return errors.New("serving terminals on Windows is not supported yet (ConPTY support is planned); use Linux or macOS")
		}
		cfg, err := runner.LoadConfig(*path)
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("this machine is not paired; run: coda-runner pair --server URL")
		}
		if err != nil {
			return err
		}
		log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
		fmt.Fprintf(stdout, "coda-runner %s serving terminals for %s (Ctrl-C to stop)\n", version, cfg.Server)
		return runner.Run(ctx, runner.Options{Config: cfg, Name: *name, Version: version, Logger: log})
	default:
		return fmt.Errorf("unknown command %q; see coda-runner --help", cmd)
	}
}

// openBrowser opens u in the desktop's browser where there is one; the
// printed link is enough everywhere else.
func openBrowser(getenv func(string) string, u string) {
	var cmd *exec.Cmd
	switch runtime.GOOS {
	case "darwin":
		cmd = exec.Command("open", u)
	case "linux", "freebsd":
		if getenv("DISPLAY") == "" && getenv("WAYLAND_DISPLAY") == "" {
			return
		}
		cmd = exec.Command("xdg-open", u)
	default:
		return
	}
	if cmd.Start() == nil {
		go cmd.Wait()
	}
}
