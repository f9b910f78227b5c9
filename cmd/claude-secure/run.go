package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/claude-secure/claude-secure/mask"
	"github.com/claude-secure/claude-secure/proxy"
	"github.com/claude-secure/claude-secure/shellwrap"
	"github.com/spf13/cobra"
)

type runOptions struct {
	f                 *factory
	upstream          string
	quiet             bool
	allowNonessential bool
	network           bool
	argv              []string
}

func newCmdRun(f *factory, runF func(*runOptions) error) *cobra.Command {
	opts := &runOptions{f: f}
	cmd := &cobra.Command{
		Use:   "run [flags] [--] [CMD [ARGS...]]",
		Short: "Run Claude Code (or CMD) behind the masking proxy",
		Long: `Run CMD (default: claude) with ANTHROPIC_BASE_URL pointing at a masking proxy
inside this process. Every request is masked before it leaves the machine and
every response is unmasked on its way back.

Flags of run come before CMD; everything from CMD on goes to it untouched.
The exit code is CMD's own (128+N when a signal N ended it; 127 when CMD is
not found, 126 when it is not executable). Processes CMD leaves running know
the proxy's address, so they are ended when it exits (SIGTERM, then SIGKILL
after 3 s), before the proxy closes.

With --network, CMD gets HTTPS_PROXY (a forward proxy on loopback, with the
session's credentials in its URL) and trusts a CA made for this session
(NODE_EXTRA_CA_CERTS; SSL_CERT_FILE, REQUESTS_CA_BUNDLE and CURL_CA_BUNDLE
name a bundle of the system's roots with it), and not the base URL
variables: it reaches the provider's own endpoint, whose requests go where
they said. Only the model endpoints
(api.anthropic.com, Bedrock's and Vertex AI's) and intercept_hosts of the
configuration are decrypted and masked; every other host is tunnelled
untouched. The CA can sign for those names only (X.509 name constraints);
its key is in memory only, and its files are removed on exit.`,
		Example: `  claude-secure run
  claude-secure run -- claude --model opus
  claude-secure run --upstream https://gateway.example.com -- python agent.py
  claude-secure run --network -- python agent_with_fixed_endpoint.py`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.argv = args
			if len(opts.argv) == 0 {
				opts.argv = []string{"claude"}
			}
			if runF != nil {
				return runF(opts)
			}
			return runRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().SetInterspersed(false)
	cmd.Flags().StringVar(&opts.upstream, "upstream", "", "where the proxy forwards (default: $ANTHROPIC_BASE_URL, else https://api.anthropic.com; in Bedrock or Vertex mode, $ANTHROPIC_BEDROCK_BASE_URL or $ANTHROPIC_VERTEX_BASE_URL, else the region's endpoint)")
	cmd.Flags().BoolVarP(&opts.quiet, "quiet", "q", false, "print nothing before and after CMD")
	cmd.Flags().BoolVar(&opts.network, "network", false, "network mode: CMD gets HTTPS_PROXY and a session CA instead of a base URL, for tools that ignore ANTHROPIC_BASE_URL")
	cmd.Flags().BoolVar(&opts.allowNonessential, "allow-nonessential-traffic", false, "do not set CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 for CMD")
	return cmd
}

// childEnv is the parent's environment with the proxy in it: the
// target's base URL variable (and ANTHROPIC_BASE_URL, for tools that read
// only that) pointing at it, the target's authentication left to it, and
// the target's other variables.
func childEnv(parent []string, t *target, baseURL string, disableNonessential bool) []string {
	set := []string{"ANTHROPIC_BASE_URL=" + baseURL, "CLAUDE_SECURE=1"}
	if t.baseVar != "ANTHROPIC_BASE_URL" {
		set = append(set, t.baseVar+"="+baseURL)
	}
	if t.skipAuth != "" {
		set = append(set, t.skipAuth+"=1")
	}
	set = append(set, t.env...)
	return mergeEnv(parent, set, nil, disableNonessential)
}

// mergeEnv is parent without the variables named in drop or set, then
// set, then CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 when asked for and
// the parent has no value of its own.
func mergeEnv(parent, set, drop []string, disableNonessential bool) []string {
	env := make([]string, 0, len(parent)+len(set)+1)
	hasNonessential := false
	for _, kv := range parent {
		k, _, _ := strings.Cut(kv, "=")
		if slices.Contains(drop, k) || slices.ContainsFunc(set, func(s string) bool { return strings.HasPrefix(s, k+"=") }) {
			continue
		}
		if k == "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC" {
			hasNonessential = true
		}
		env = append(env, kv)
	}
	env = append(env, set...)
	if disableNonessential && !hasNonessential {
		env = append(env, "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1")
	}
	return env
}

func runRun(ctx context.Context, opts *runOptions) error {
	f := opts.f
	child := shellwrap.Command{Path: opts.argv[0], Args: opts.argv[1:], Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr}

	ui := newUI(f.Err, f.Getenv)
	if opts.network {
		return runNetwork(ctx, opts, ui, child)
	}
	// inside a claude-secure session: a second proxy would mask pseudonyms.
	// The marker counts only if the session's proxy proves it is there.
	upstreamFlag := opts.upstream
	baseVar := providerBaseVar(f.Getenv)
	if f.Getenv("CLAUDE_SECURE") == "1" {
		base := f.Getenv(baseVar)
		err := proxy.VerifySession(ctx, base)
		if err == nil {
			child.Env = os.Environ()
			return childExit(shellwrap.Run(child))
		}
		if !opts.quiet {
			ui.note("CLAUDE_SECURE=1 is set, but " + err.Error() + "; starting a masking proxy")
		}
		if _, _, ok := proxy.SessionSecret(base); ok && upstreamFlag == "" {
			// the address of a session that is gone is no upstream
			if baseVar == "ANTHROPIC_BASE_URL" {
				upstreamFlag = "https://api.anthropic.com"
			} else {
				f = f.without(baseVar)
			}
		}
	}
	// a command that cannot run is said before anything else is
	if _, serr := shellwrap.Find(opts.argv[0]); serr != nil {
		return childExit(serr.Code, serr)
	}
	ps, err := f.proxySession(ctx, upstreamFlag)
	if err != nil {
		return err
	}
	defer ps.audit.Close()
	t := ps.t
	p, err := proxy.New(proxy.Options{
		Upstream:   t.upstream,
		Provider:   t.provider,
		Engine:     ps.engine,
		Audit:      auditLogger(ps.audit),
		AllowPaths: ps.allowPaths,
		Batches:    ps.store,
	})
	if err != nil {
		return err
	}
	p.Start()
	if !opts.quiet {
		ui.banner(p.Addr(), t.upstream.Host, ps.dir, keySourceText(ps.key.Source))
	}
	child.Env = childEnv(os.Environ(), t, p.BaseURL(), !opts.allowNonessential)
	return superviseChild(ctx, opts, ui, child, p.Stats, p.Shutdown)
}

// proxySession is what run, run --network and proxy start from: the
// target (provider and upstream), the session (config, store, engine), and
// audit.log in the state directory, open for appending (one JSON line per
// request), which the caller closes.
type proxySession struct {
	*session
	t     *target
	dir   string
	audit *os.File
}

func (f *factory) proxySession(ctx context.Context, upstreamFlag string) (*proxySession, error) {
	t, err := f.runTarget(ctx, upstreamFlag)
	if err != nil {
		return nil, err
	}
	sess, err := f.session()
	if err != nil {
		return nil, err
	}
	dir, err := f.stateDir()
	if err != nil {
		return nil, err
	}
	audit, err := os.OpenFile(filepath.Join(dir, "audit.log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("failed to open the audit log: %w", err)
	}
	return &proxySession{session: sess, t: t, dir: dir, audit: audit}, nil
}

func auditLogger(audit *os.File) *slog.Logger { return slog.New(slog.NewJSONHandler(audit, nil)) }

// superviseChild runs the child, ends what it left running, then closes
// the proxy (shutdown) and prints the session's summary.
func superviseChild(ctx context.Context, opts *runOptions, ui *ui, child shellwrap.Command, stats func() proxy.Snapshot, shutdown func(context.Context) error) error {
	code, runErr := shellwrap.Run(child)
	// what the child left running knows the proxy's address: once the
	// port is free, anyone could take it and read what they send. So they
	// end before the proxy closes.
	ended, stuck := shellwrap.EndLeftovers(leftoverGrace)
	name := filepath.Base(opts.argv[0])
	if n := ended - stuck; n > 0 && !opts.quiet {
		ui.note(fmt.Sprintf("ended %d %s that %s left running: nothing started in the session outlives its proxy", n, plural(n, "process", "processes"), name))
	}
	if stuck > 0 {
		// said even with --quiet: these still know the proxy's address
		ui.note(fmt.Sprintf("%d %s that %s left running could not be ended (another user's now, or stuck): they may send to this proxy's port after it closes", stuck, plural(stuck, "process", "processes"), name))
	}

	// closing the proxy has its own deadline, whatever became of ctx
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_ = shutdown(sctx)
	if !opts.quiet && runErr == nil {
		ui.summary(stats())
	}
	return childExit(code, runErr)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// leftoverGrace is how long a process the child left running has to end
// on SIGTERM before it is killed.
const leftoverGrace = 3 * time.Second

// upstream is the --upstream flag, else $ANTHROPIC_BASE_URL, else the
// Anthropic API.
func (f *factory) upstream(flag string) (*url.URL, error) {
	upstream, from := flag, "--upstream"
	if upstream == "" {
		upstream, from = f.Getenv("ANTHROPIC_BASE_URL"), "ANTHROPIC_BASE_URL"
	}
	if upstream == "" {
		upstream = "https://api.anthropic.com"
	}
	up, err := url.Parse(upstream)
	if err != nil || (up.Scheme != "http" && up.Scheme != "https") || up.Host == "" {
		return nil, usagef("%s must be an http or https URL", from)
	}
	return up, nil
}

// childExit turns the child's end into ours.
func childExit(code int, err error) error {
	var se *shellwrap.StartError
	if errors.As(err, &se) {
		hint := "check that it is installed and on PATH"
		if se.Code == shellwrap.ExitNotExecutable {
			hint = "check its permissions"
		}
		return &codeError{code: exitCode(se.Code), err: withHint(se, hint)}
	}
	if err != nil {
		return err
	}
	if code != 0 {
		return &silentExit{code: exitCode(code)}
	}
	return nil
}

// sortedCounts renders "ec2-instance 3, ipv4 2" by count.
func sortedCounts(m mask.Stats) (string, int) {
	total := 0
	keys := make([]string, 0, len(m))
	for k, v := range m {
		keys = append(keys, k)
		total += v
	}
	slices.SortFunc(keys, func(a, b string) int {
		if m[a] != m[b] {
			return m[b] - m[a]
		}
		return strings.Compare(a, b)
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, m[k])
	}
	return strings.Join(parts, ", "), total
}
