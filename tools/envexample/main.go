// Command envexample writes .env.example from the settings table in
// internal/platform/config, so the file never drifts from the code.
package main

import (
	"fmt"
	"os"

	"github.com/relaywork/suite/internal/platform/config"
)

func main() {
	if err := os.WriteFile(".env.example", []byte(config.EnvExample()), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "envexample:", err)
		os.Exit(1)
	}
}
