package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
)

type proxyOptions struct {
	f        *factory
	listen   string
	upstream string
}

func newCmdProxy(f *factory) *cobra.Command {
	opts := &proxyOptions{f: f}
	cmd := &cobra.Command{
		Use:   "proxy [--listen 127.0.0.1:PORT]",
		Short: "Run network mode for a whole desktop session (HTTPS_PROXY)",
		Long: `Run the network-mode proxy of 'run --network' on its own, for every tool of a
desktop session that talks to Anthropic, Amazon Bedrock or Google Vertex AI
over HTTPS, including those that ignore ANTHROPIC_BASE_URL (editor extensions,
desktop apps, scripts with a fixed endpoint).

It prints the variables to export (HTTPS_PROXY with this proxy's credentials,
and the CA for Node, OpenSSL, Python and curl) and keeps them, 0600, in
proxy/env in the state directory, beside the CA's certificate (proxy/ca.pem,
which 'claude-secure proxy ca' prints, for tools that need it installed).
Only the model endpoints and intercept_hosts of the configuration are
decrypted and masked; every other host is tunnelled untouched. The CA is new
at every start, its key in memory only, and it can sign for those names only
(X.509 name constraints). Its files are removed when the proxy stops
(SIGTERM, SIGINT or SIGHUP). proxy/env also unsets the base URL variables
(ANTHROPIC_BASE_URL, ...): tools reach the providers' own endpoints, and the
proxy sends their requests where the variables said in its own environment.`,
		Example: `  claude-secure proxy --listen 127.0.0.1:8790 &
  . ~/.config/claude-secure/proxy/env     # in each shell whose tools go through it
  claude-secure proxy ca > claude-secure-ca.pem`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runProxy(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.listen, "listen", "127.0.0.1:0", "address to listen on (loopback only)")
	cmd.Flags().StringVar(&opts.upstream, "upstream", "", "where intercepted requests of the session's provider go (default as for run)")
	cmd.AddCommand(&cobra.Command{
		Use:   "ca",
		Short: "Print the running proxy's CA certificate",
		Long: `Print the CA certificate of the 'claude-secure proxy' running with this state
directory, to install where a tool needs it. It changes at every start of
the proxy, and can sign only for the hosts the proxy intercepts.`,
		Example: `  claude-secure proxy ca > claude-secure-ca.pem`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			dir, err := f.stateDir()
			if err != nil {
				return err
			}
			b, err := os.ReadFile(filepath.Join(dir, "proxy", "ca.pem"))
			if err == nil && !proxyAlive(filepath.Join(dir, "proxy", "pid")) {
				err = fs.ErrNotExist // a proxy that was killed left it
			}
			if errors.Is(err, fs.ErrNotExist) {
				return withHint(errors.New("no claude-secure proxy is running with this state directory"), "start one: claude-secure proxy --listen 127.0.0.1:8790")
			}
			if err != nil {
				return err
			}
			_, err = f.Out.Write(b)
			return err
		},
	})
	return cmd
}

func runProxy(ctx context.Context, opts *proxyOptions) error {
	f := opts.f
	ps, err := f.proxySession(ctx, opts.upstream)
	if err != nil {
		return err
	}
	defer ps.audit.Close()
	caDir := filepath.Join(ps.dir, "proxy")
	if _, err := os.Stat(filepath.Join(caDir, "env")); err == nil {
		// another proxy's, or one that was killed: its CA is gone with it
		if !proxyAlive(filepath.Join(caDir, "pid")) {
			os.RemoveAll(caDir)
		} else {
			return withHint(errors.New("a claude-secure proxy is already running with this state directory"), "its variables are in "+filepath.Join(caDir, "env"))
		}
	}
	n, nf, err := f.startNetwork(ps, opts.listen, caDir)
	if err != nil {
		return err
	}
	// SIGHUP too: a terminal that closes must not leave the files behind
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, os.Interrupt, syscall.SIGHUP)
	defer stop()
	var env strings.Builder
	// the base URL variables would send a tool around the proxy (an
	// http:// one) or to a host that is not intercepted; the proxy sends
	// api.anthropic.com's requests where ANTHROPIC_BASE_URL said here
	fmt.Fprintf(&env, "unset %s\n", strings.Join(baseURLVars, " "))
	for _, kv := range networkEnv(n.URL(), nf) {
		k, v, _ := strings.Cut(kv, "=")
		fmt.Fprintf(&env, "export %s=%s\n", k, shellQuote(v))
	}
	werr := os.WriteFile(filepath.Join(caDir, "env"), []byte(env.String()), 0o600)
	if werr == nil {
		werr = os.WriteFile(filepath.Join(caDir, "pid"), []byte(fmt.Sprint(os.Getpid())), 0o600)
	}
	if werr != nil {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		stopNetwork(sctx, n, nf)
		return fmt.Errorf("failed to write the proxy's variables: %w", werr)
	}
	fmt.Fprint(f.Out, env.String())
	ui := newUI(f.Err, f.Getenv)
	networkBanner(ui, ps, n, nf)
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	err = stopNetwork(sctx, n, nf)
	ui.summary(n.Stats())
	return err
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// proxyAlive reports whether the process whose ID the file holds runs.
func proxyAlive(pidFile string) bool {
	b, err := os.ReadFile(pidFile)
	if err != nil {
		return false
	}
	var pid int
	if _, err := fmt.Sscan(string(b), &pid); err != nil || pid <= 0 {
		return false
	}
	p, err := os.FindProcess(pid)
	if err != nil {
		return false
	}
	return p.Signal(syscall.Signal(0)) == nil
}
