// Command coda runs the Coda server and its operations commands (serve,
// migrate, config check, cron). See `coda help`.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/relaywork/suite/internal/coda"
	"github.com/relaywork/suite/internal/platform/app"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// run is main without the process: the end-to-end tests call it.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	return app.Run(ctx, coda.Product(), app.Env{Args: args, Getenv: getenv, Stdout: stdout, Stderr: stderr})
}
