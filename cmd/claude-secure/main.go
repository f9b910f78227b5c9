// Command claude-secure runs Claude Code and other Anthropic API clients
// behind a masking proxy, and masks or unmasks any text.
package main

import (
	"context"
	"os"
)

func main() {
	os.Exit(int(Main(context.Background(), os.Args[1:], realEnv())))
}
