package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/claude-secure/claude-secure/gateway"
	"github.com/claude-secure/claude-secure/mask/store"
	"github.com/redis/go-redis/v9"
	"github.com/spf13/cobra"
)

// sharedRedis connects to the Redis of a shared store (--store), where
// the replicas of a gateway keep their tokens and rate limits; nil without
// a shared store. The caller closes it.
func (f *factory) sharedRedis() (redis.UniversalClient, error) {
	url, err := f.storeLocation()
	if err != nil || url == "" {
		return nil, err
	}
	return store.NewRedisClient(url)
}

// sharedReplicas is how many Redis replicas a write to the shared store's
// Redis waits for.
func (f *factory) sharedReplicas() int {
	url, err := f.storeLocation()
	if err != nil || url == "" {
		return 0
	}
	return store.WriteReplicas(url)
}

// tokens opens where the gateway's tokens are kept: the Redis of a shared
// store, else tokens.json in the state directory. done releases it.
func (f *factory) tokens() (ts gateway.TokenStore, done func(), err error) {
	c, err := f.sharedRedis()
	if err != nil {
		return nil, nil, err
	}
	if c != nil {
		t := gateway.NewRedisTokens(c)
		t.Replicas = f.sharedReplicas()
		return t, func() { c.Close() }, nil
	}
	dir, err := f.stateDir()
	if err != nil {
		return nil, nil, err
	}
	return gateway.OpenTokens(filepath.Join(dir, "tokens.json")), func() {}, nil
}

// sharedError names the Redis that could not be reached, and what to check.
func (f *factory) sharedError(err error) error {
	if !errors.Is(err, gateway.ErrUnavailable) {
		return err
	}
	url, _ := f.storeLocation()
	return withHint(fmt.Errorf("%w (%s)", err, store.RedactURL(url)),
		"check that Redis is running and that the --store URL or CLAUDE_SECURE_STORE names it")
}

func newCmdToken(f *factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Manage the tokens clients use to reach 'claude-secure serve'",
		Long: `Manage gateway tokens. A token is printed once, when it is created; only its
SHA-256 hash is kept: in tokens.json in the state directory or, with a shared
store (--store or CLAUDE_SECURE_STORE), in that Redis, where every replica of a
gateway using it reads them. A running gateway notices new and revoked tokens
on the next request.

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
			t, done, err := f.tokens()
			if err != nil {
				return err
			}
			defer done()
			secret, err := t.Create(args[0], r)
			if err != nil {
				return f.sharedError(err)
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
			t, done, err := f.tokens()
			if err != nil {
				return err
			}
			defer done()
			toks, err := t.List()
			if err != nil {
				return f.sharedError(err)
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
			if t, done, err := f.tokens(); err == nil {
				defer done()
				toks, _ := t.List()
				for _, k := range toks {
					names = append(names, k.Name+"\t"+string(k.Role))
				}
			}
			return names, cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			t, done, err := f.tokens()
			if err != nil {
				return err
			}
			defer done()
			if err := t.Revoke(args[0]); err != nil {
				return f.sharedError(err)
			}
			fmt.Fprintf(f.Err, "claude-secure: revoked token %q\n", args[0])
			return nil
		},
	}
	cmd.AddCommand(create, list, revoke)
	return cmd
}
