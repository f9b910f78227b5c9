package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/claude-secure/claude-secure/mask"
	"github.com/spf13/cobra"
)

func newCmdRules(f *factory) *cobra.Command {
	return &cobra.Command{
		Use:   "rules",
		Short: "List the detectors, with a made-up example each, and which are on",
		Args:  cobra.NoArgs,
		Example: `  claude-secure rules
  claude-secure --config team.toml rules          # with a team's own rules and allowlist`,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := f.config()
			if err != nil {
				return err
			}
			off := map[string]bool{}
			for _, k := range cfg.Disable {
				off[k] = true
			}
			w := tabwriter.NewWriter(f.Out, 2, 4, 2, ' ', 0)
			fmt.Fprintln(w, "KIND\tSTATE\tEXAMPLE\tFINDS")
			for _, r := range mask.Rules() {
				state := "on"
				if off[r.Kind.String()] {
					state = "off"
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", r.Kind, state, r.Example, r.Description)
			}
			for _, r := range cfg.Rules {
				fmt.Fprintf(w, "%s\ton\t\tuser rule: regex from the config file\n", r.Kind)
			}
			for _, l := range cfg.Literals {
				fmt.Fprintf(w, "%s\ton\t\tuser rule: %d literal names from the config file\n", l.Kind, len(l.Values))
			}
			return w.Flush()
		},
	}
}
