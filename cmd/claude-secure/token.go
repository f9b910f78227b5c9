package main

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/claude-secure/claude-secure/gateway"
	"github.com/spf13/cobra"
)

func (f *factory) tokens() (*gateway.Tokens, error) {
	dir, err := f.stateDir()
	if err != nil {
		return nil, err
	}
	return gateway.OpenTokens(filepath.Join(dir, "tokens.json")), nil
}

func newCmdToken(f *factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Manage the tokens clients use to reach 'claude-secure serve'",
		Long: `Manage gateway tokens. A token is printed once, when it is created; only its
SHA-256 hash is kept (tokens.json in the state directory). A running gateway
notices new and revoked tokens on the next request.

Roles: user may call the API; viewer may read /metrics and /stats; admin both.`,
		Example: `  claude-secure token create alice
  claude-secure token list
  claude-secure token revoke alice`,
	}
	var role string
	create := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a token and print it (once)",
		Example: `  claude-secure token create alice
  claude-secure token create grafana --role viewer`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := gateway.ParseRole(role)
			if err != nil {
				return &usageError{err}
			}
			t, err := f.tokens()
			if err != nil {
				return err
			}
			secret, err := t.Create(args[0], r)
			if err != nil {
				return err
			}
			fmt.Fprintln(f.Out, secret)
			fmt.Fprintf(f.Err, "claude-secure: created token %q (role %s); it is shown only this once\n", args[0], r)
			return nil
		},
	}
	create.Flags().StringVar(&role, "role", "user", "user, viewer or admin")
	var asJSON bool
	list := &cobra.Command{
		Use:   "list",
		Short: "List tokens (names, roles, creation times; never the tokens)",
		Args:  cobra.NoArgs,
		Example: `  claude-secure token list
  claude-secure token list --json | jq -r '.[].name'`,
		RunE: func(cmd *cobra.Command, args []string) error {
			t, err := f.tokens()
			if err != nil {
				return err
			}
			toks, err := t.List()
			if err != nil {
				return err
			}
			if asJSON {
				type row struct {
					Name    string    `json:"name"`
					Role    string    `json:"role"`
					Created time.Time `json:"created"`
				}
				rows := []row{}
				for _, k := range toks {
					rows = append(rows, row{k.Name, string(k.Role), k.Created})
				}
				enc := json.NewEncoder(f.Out)
				enc.SetIndent("", "  ")
				return enc.Encode(rows)
			}
			if len(toks) == 0 {
				fmt.Fprintln(f.Err, "claude-secure: no tokens; create one with 'claude-secure token create NAME'")
				return nil
			}
			tw := tabwriter.NewWriter(f.Out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tROLE\tCREATED")
			for _, k := range toks {
				fmt.Fprintf(tw, "%s\t%s\t%s\n", k.Name, k.Role, k.Created.Format(time.RFC3339))
			}
			return tw.Flush()
		},
	}
	list.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	revoke := &cobra.Command{
		Use:   "revoke NAME",
		Short: "Revoke a token; a running gateway refuses it from the next request on",
		Args:  cobra.ExactArgs(1),
		Example: `  claude-secure token revoke alice
  claude-secure token revoke alice && claude-secure token list   # and see who is left`,
		ValidArgsFunction: func(cmd *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
			if len(args) > 0 {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			var names []string
			if t, err := f.tokens(); err == nil {
				toks, _ := t.List()
				for _, k := range toks {
					names = append(names, k.Name+"\t"+string(k.Role))
				}
			}
			return names, cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			t, err := f.tokens()
			if err != nil {
				return err
			}
			if err := t.Revoke(args[0]); err != nil {
				return err
			}
			fmt.Fprintf(f.Err, "claude-secure: revoked token %q\n", args[0])
			return nil
		},
	}
	cmd.AddCommand(create, list, revoke)
	return cmd
}
