package voyager

import (
	"context"
	"errors"
	"fmt"

	"github.com/relaywork/suite/internal/platform/app"
	"github.com/relaywork/suite/internal/voyager/community"
)

// communitiesCommand is `voyager communities validate [DIR]`.
func communitiesCommand() app.Command {
	return app.Command{
		Name:    "communities",
		Usage:   "communities validate [DIR]",
		Summary: "check every community JSON file (default COMMUNITIES_DIR or ./communities) and report each problem with its fix",
		Run: func(ctx context.Context, env app.Env, args []string) error {
			if len(args) == 0 || args[0] != "validate" || len(args) > 2 {
				return app.Usagef("usage: voyager communities validate [DIR]")
			}
			dir := ""
			if len(args) == 2 {
				dir = args[1]
			} else if env.Getenv != nil {
				dir = env.Getenv("COMMUNITIES_DIR")
			}
			if dir == "" {
				dir = "./communities"
			}
			return Validate(dir, env.Stdout)
		},
	}
}

// Validate checks dir and writes a report to w; it returns an error (exit
// 1) when any file has a problem.
func Validate(dir string, w interface{ Write([]byte) (int, error) }) error {
	set, err := community.LoadDir(dir)
	var ps community.Problems
	if errors.As(err, &ps) {
		for _, p := range ps {
			fmt.Fprintln(w, p.String())
		}
		return app.Usagef("%d problem(s) in %s", len(ps), dir)
	}
	if err != nil {
		return err
	}
	for _, c := range set.All() {
		fmt.Fprintf(w, "ok  %-20s %-8s %s\n", c.ID, c.Visibility, c.Name)
	}
	fmt.Fprintf(w, "%d communities valid in %s\n", len(set.All()), dir)
	return nil
}
