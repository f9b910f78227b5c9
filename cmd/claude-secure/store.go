package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/claude-secure/claude-secure/mask/store"
	"github.com/spf13/cobra"
)

func newCmdStore(f *factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "store",
		Short: "Inspect and manage the encrypted mapping store",
		Args:  cobra.NoArgs,
		Example: `  claude-secure store info
  claude-secure store lookup i-2651f357c7b88c60d`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return usagef("store needs a subcommand: info, rotate-key, reset, lookup or migrate")
		},
	}
	cmd.AddCommand(newCmdStoreInfo(f), newCmdStoreRotate(f), newCmdStoreReset(f), newCmdStoreLookup(f), newCmdStoreMigrate(f))
	return cmd
}

func newCmdStoreInfo(f *factory) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "info",
		Short: "Show the store's location, key source, format, size and mappings per kind",
		Example: `  claude-secure store info
  claude-secure store info --json | jq .mappings`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			s, key, _, err := f.openStore()
			if err != nil {
				return err
			}
			info, err := s.Info()
			if err != nil {
				return storeError(err)
			}
			if asJSON {
				enc := json.NewEncoder(f.Out)
				enc.SetIndent("", "  ")
				return enc.Encode(map[string]any{
					"location": info.Path, "key_source": key.Source, "format": info.Format,
					"size": info.Size, "mappings": info.Mappings, "per_kind": info.PerKind,
				})
			}
			w := tabwriter.NewWriter(f.Out, 2, 4, 2, ' ', 0)
			fmt.Fprintf(w, "location\t%s\n", info.Path)
			fmt.Fprintf(w, "key source\t%s\n", keySourceText(key.Source))
			fmt.Fprintf(w, "format\tversion %d\n", info.Format)
			fmt.Fprintf(w, "size\t%d bytes\n", info.Size)
			fmt.Fprintf(w, "mappings\t%d\n", info.Mappings)
			for _, k := range info.KindsSorted() {
				fmt.Fprintf(w, "  %s\t%d\n", k, info.PerKind[k])
			}
			return w.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON document for machines")
	return cmd
}

func keySourceText(s string) string {
	switch s {
	case store.SourceEnv:
		return "CLAUDE_SECURE_KEY"
	case store.SourceKeyring:
		return "OS keyring (service " + store.Service + ")"
	case store.SourceFile:
		return "key file beside the store"
	}
	return s
}

func newCmdStoreRotate(f *factory) *cobra.Command {
	return &cobra.Command{
		Use:   "rotate-key",
		Short: "Re-encrypt the store under a new key",
		Long: `Re-encrypt the store under a new key and put the key where the old one was.

Pseudonyms do not change. The rotation is one transaction: after a crash the
store opens with the old key or the new one. When the key comes from
CLAUDE_SECURE_KEY, the new key is printed on standard output before the store
changes; put it in CLAUDE_SECURE_KEY afterwards.

A shared store in Redis (--store) stops issuing new pseudonyms for every
replica while it is re-sealed (their requests get 503s), and replicas still on
the old key keep refusing afterwards: restart each with the new key.`,
		Example: `  claude-secure store rotate-key                    # key in the keyring or the key file: replaced there
  key=$(claude-secure store rotate-key) && export CLAUDE_SECURE_KEY="$key"`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			s, key, o, err := f.openStore()
			if err != nil {
				return err
			}
			_, err = o.Rotate(s, key, func(newKey string) error {
				_, err := fmt.Fprintln(f.Out, newKey)
				return err
			})
			if err != nil {
				return storeError(err)
			}
			if key.Source == store.SourceEnv {
				fmt.Fprintln(f.Err, "claude-secure: hint: the store now opens only with the key printed above; set CLAUDE_SECURE_KEY to it")
			} else {
				fmt.Fprintf(f.Err, "claude-secure: store key rotated (%s)\n", keySourceText(key.Source))
			}
			return nil
		},
	}
}

func newCmdStoreReset(f *factory) *cobra.Command {
	var yes bool
	cmd := &cobra.Command{
		Use:   "reset",
		Short: "Delete the store and every mapping in it",
		Long: `Delete the store and every mapping in it. Text masked before cannot be unmasked
afterwards, and new pseudonyms will differ from the old ones. A shared store in
Redis (--store) loses its keys, and only those: every replica using it must be
restarted.`,
		Example: `  claude-secure store reset
  claude-secure store reset --yes                   # in a script: no question`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			dir, err := f.stateDir()
			if err != nil {
				return err
			}
			url, err := f.storeLocation()
			if err != nil {
				return err
			}
			path := store.Path(dir)
			if url != "" {
				path = store.RedactURL(url)
			} else if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
				fmt.Fprintf(f.Err, "claude-secure: no store at %s\n", path)
				return nil
			}
			if !yes {
				if !f.StdinIsTerminal {
					return usagef("reset deletes every mapping; pass --yes to confirm when not at a terminal")
				}
				fmt.Fprintf(f.Err, "Delete %s and every mapping in it? Type 'yes' to confirm: ", path)
				line, _ := bufio.NewReader(f.In).ReadString('\n')
				if strings.TrimSpace(line) != "yes" {
					fmt.Fprintln(f.Err, "claude-secure: reset cancelled")
					return &silentExit{code: exitError}
				}
			}
			if url != "" {
				n, err := store.ResetRedis(cmd.Context(), url)
				if err != nil {
					return storeError(err)
				}
				fmt.Fprintf(f.Err, "claude-secure: deleted the store's %d keys in %s\n", n, path)
				return nil
			}
			if err := store.Reset(dir); err != nil {
				return err
			}
			fmt.Fprintf(f.Err, "claude-secure: deleted %s\n", path)
			return nil
		},
	}
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "do not ask for confirmation")
	return cmd
}

func newCmdStoreLookup(f *factory) *cobra.Command {
	return &cobra.Command{
		Use:   "lookup PSEUDONYM",
		Short: "Print the original behind one pseudonym",
		Args:  cobra.ExactArgs(1),
		Example: `  claude-secure store lookup i-2651f357c7b88c60d
  claude-secure store lookup 10.41.7.9`,
		RunE: func(cmd *cobra.Command, args []string) error {
			s, _, _, err := f.openStore()
			if err != nil {
				return err
			}
			orig, kind, ok, err := s.LookupOne(args[0])
			if err != nil {
				return storeError(err)
			}
			if !ok {
				return errors.New("this store never issued that pseudonym")
			}
			fmt.Fprintln(f.Out, orig)
			fmt.Fprintf(f.Err, "claude-secure: %s\n", kind)
			return nil
		},
	}
}

func newCmdStoreMigrate(f *factory) *cobra.Command {
	var to string
	cmd := &cobra.Command{
		Use:   "migrate --to URL|DIR",
		Short: "Copy the store into Redis, or a Redis store into a local file, keeping every pseudonym",
		Long: `Copy the store (the local file, or the Redis store --store names) to another
place: a Redis URL, or a state directory. The target must hold no store. The
copy has the same seed, every mapping in the order it was issued, and every
message batch's restore set, so no pseudonym changes. The key stays the same
and is put where the target's users will find it (the keyring entry for the
target, or its key file; with CLAUDE_SECURE_KEY, keep that). The source is left
as it is.`,
		Example: `  claude-secure store migrate --to redis://redis.internal:6379/0
  claude-secure --store redis://redis.internal:6379/0 store migrate --to ~/.config/claude-secure`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if to == "" {
				return usagef("migrate needs --to, a Redis URL or a directory")
			}
			s, key, o, err := f.openStore()
			if err != nil {
				return err
			}
			defer s.Close()
			target := store.Opener{Keyring: o.Keyring, Getenv: o.Getenv, Dir: o.Dir}
			if store.IsRedisURL(to) {
				target.URL = to
			} else {
				target.Dir = to
			}
			if target.URL == o.URL && target.Dir == o.Dir {
				return usagef("--to names the store being copied")
			}
			ns, n, err := target.Migrate(cmd.Context(), s, key)
			if err != nil {
				return storeError(err)
			}
			defer ns.Close()
			fmt.Fprintf(f.Err, "claude-secure: copied %d mappings from %s to %s\n", n, s.Location(), ns.Location())
			if key.Source == store.SourceEnv {
				fmt.Fprintln(f.Err, "claude-secure: hint: the copy opens with the key in CLAUDE_SECURE_KEY")
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&to, "to", "", "where to copy the store: a redis://, rediss:// or redis-sentinel:// URL, or a directory")
	return cmd
}
