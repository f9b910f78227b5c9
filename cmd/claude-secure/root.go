package main

import (
	"context"
	"github.com/claude-secure/claude-secure/mask/store"

	"github.com/spf13/cobra"
)

// Main runs claude-secure with args and returns the exit code. Commands
// get ctx from cmd.Context(); signals are not part of it (run and serve
// handle the ones they need themselves).
func Main(ctx context.Context, args []string, e *env) exitCode {
	f := &factory{env: e}
	root := newCmdRoot(f)
	root.SetArgs(args)
	root.SetIn(e.In)
	root.SetOut(e.Out)
	root.SetErr(e.Err)
	cmd, err := root.ExecuteContextC(ctx)
	help := "claude-secure --help"
	if cmd != nil && cmd != root {
		help = cmd.CommandPath() + " --help" // the command's own help, with its accepted values
	}
	return report(e.Err, err, help)
}

func newCmdRoot(f *factory) *cobra.Command {
	root := &cobra.Command{
		Use:   "claude-secure",
		Short: "Use Claude Code on real AWS work without sending your identifiers",
		Long: `claude-secure masks AWS identifiers and secrets (instance IDs, ARNs, account IDs,
keys, IP addresses, bucket names, …) into stable, same-shaped pseudonyms before text
leaves your machine, and restores the originals on the way back.

Mappings live in an encrypted store whose key sits in the OS keyring.`,
		Example: `  claude-secure run                                  # Claude Code behind the masking proxy
  claude-secure mask < incident.log > safe.log       # a masked copy, safe to paste anywhere
  claude-secure scan --staged                        # in a pre-commit hook: exit 1 if a commit adds an identifier`,
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	root.PersistentFlags().StringVar(&f.configPath, "config", "", "configuration file (default: config.toml in the state directory)")
	root.PersistentFlags().StringVar(&f.storeURL, "store", "", "a shared store in Redis: redis://, rediss://, redis-sentinel:// or rediss-sentinel:// URL (default: $"+store.StoreEnv+", else the encrypted file in the state directory)")
	root.AddCommand(
		newCmdMask(f, nil),
		newCmdUnmask(f, nil),
		newCmdScan(f, nil),
		newCmdRules(f),
		newCmdStore(f),
		newCmdRun(f, nil),
		newCmdServe(f),
		newCmdProxy(f),
		newCmdToken(f),
		newCmdInit(f),
		newCmdDoctor(f),
		newCmdVersion(f),
	)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &usageError{err} })
	return root
}
