package main

import (
	"fmt"

	"github.com/claude-secure/claude-secure/shellwrap"
	"github.com/spf13/cobra"
)

func newCmdInit(f *factory) *cobra.Command {
	return &cobra.Command{
		Use:       "init bash|zsh|fish|powershell",
		Short:     "Print shell code that makes `claude` run behind claude-secure",
		Long:      "Print a shell function so that typing claude runs claude-secure run -- claude.",
		Args:      cobra.ExactArgs(1),
		ValidArgs: shellwrap.Shells,
		Example: `  eval "$(claude-secure init zsh)"                                 # in ~/.zshrc (bash: ~/.bashrc)
  claude-secure init fish | source                                 # in ~/.config/fish/config.fish
  Invoke-Expression (& claude-secure init powershell | Out-String)  # in $PROFILE`,
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := shellwrap.Init(args[0])
			if err != nil {
				return &usageError{err}
			}
			fmt.Fprint(f.Out, s)
			return nil
		},
	}
}
