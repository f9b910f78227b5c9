package main

import (
	"fmt"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// Set by the release build with -ldflags "-X main.version=… -X main.commit=… -X main.date=…".
var (
	version = ""
	commit  = ""
	date    = ""
)

// versionInfo falls back to the module build information, so that
// `go install` builds report a version too.
func versionInfo() (v, c, d string) {
	v, c, d = version, commit, date
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				if c == "" {
					c = s.Value
				}
			case "vcs.time":
				if d == "" {
					d = s.Value
				}
			}
		}
	}
	if v == "" {
		v = "dev"
	}
	return v, c, d
}

func newCmdVersion(f *factory) *cobra.Command {
	return &cobra.Command{
		Use:     "version",
		Short:   "Print the version",
		Args:    cobra.NoArgs,
		Example: `  claude-secure version`,
		RunE: func(cmd *cobra.Command, args []string) error {
			v, c, d := versionInfo()
			fmt.Fprintf(f.Out, "claude-secure %s", v)
			if c != "" {
				if len(c) > 12 {
					c = c[:12]
				}
				fmt.Fprintf(f.Out, " (%s", c)
				if d != "" {
					fmt.Fprintf(f.Out, ", %s", d)
				}
				fmt.Fprint(f.Out, ")")
			}
			fmt.Fprintln(f.Out)
			return nil
		},
	}
}
