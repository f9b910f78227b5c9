package main

import (
	"io"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// TestEveryCommandHasExamples walks the command tree: every command has an
// Example that shows the command itself, indented by two spaces like
// cobra's usage lines.
func TestEveryCommandHasExamples(t *testing.T) {
	f := &factory{env: &env{In: strings.NewReader(""), Out: io.Discard, Err: io.Discard, Getenv: func(string) string { return "" }}}
	var walk func(c *cobra.Command)
	n := 0
	walk = func(c *cobra.Command) {
		n++
		path := c.CommandPath()
		switch {
		case strings.TrimSpace(c.Example) == "":
			t.Errorf("%s: no Example", path)
		case !strings.Contains(c.Example, path):
			t.Errorf("%s: no example runs %q", path, path)
		}
		for _, line := range strings.Split(c.Example, "\n") {
			if line != "" && (!strings.HasPrefix(line, "  ") || strings.HasSuffix(line, " ")) {
				t.Errorf("%s: example line %q is not indented by two spaces, or ends in a space", path, line)
			}
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(newCmdRoot(f))
	if n < 15 {
		t.Errorf("walked %d commands: the tree is not the whole one", n)
	}
}
