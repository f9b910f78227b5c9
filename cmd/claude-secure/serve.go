package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/claude-secure/claude-secure/gateway"
	"github.com/spf13/cobra"
)

type serveOptions struct {
	f              *factory
	listen         string
	upstream       string
	provider       string
	tlsCert        string
	tlsKey         string
	insecureListen bool
	noAuth         bool
	rate           float64
	hourly         int
	grace          time.Duration
	logFile        string
	maxBodyMiB     int64
}

func newCmdServe(f *factory) *cobra.Command {
	opts := &serveOptions{f: f}
	cmd := &cobra.Command{
		Use:   "serve [flags]",
		Short: "Run a masking gateway for Anthropic SDKs, scripts and teams",
		Long: `Run a long-lived masking gateway. Point any Anthropic SDK at it
(base_url=http://HOST:8787) with a gateway token; every request is masked before
it leaves and every answer, streamed or not, is unmasked on its way back.

Clients authenticate with a token from 'claude-secure token create': in the
x-claude-secure-token header, or as the SDK's API key or auth token. The token
never goes upstream. A client without Anthropic credentials of its own gets
the gateway's ANTHROPIC_API_KEY, if the gateway has one.

Off loopback, tokens are always required and TLS is required unless
--insecure-listen is given. GET /healthz and /readyz need no token; /metrics
(Prometheus) and /stats need a viewer or admin token.

With a shared store (--store or CLAUDE_SECURE_STORE), the tokens and the rate
limits live in that Redis too, so several replicas behind a load balancer
act as one gateway: a token created or revoked on any host holds on every
replica from its next request, and a token's limits count its requests to
all of them. If Redis cannot be reached, requests are refused with a 503.

SIGTERM or SIGINT: stop accepting, let requests in flight (streams included)
finish for up to --shutdown-grace, then exit.`,
		Example: `  claude-secure token create alice --role user
  claude-secure serve
  claude-secure serve --listen 0.0.0.0:8787 --tls-cert cert.pem --tls-key key.pem`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return runServe(cmd.Context(), opts) },
	}
	fl := cmd.Flags()
	fl.StringVar(&opts.listen, "listen", "127.0.0.1:8787", "address to listen on")
	fl.StringVar(&opts.upstream, "upstream", "", "where requests go (default: the provider's: $ANTHROPIC_BASE_URL, else https://api.anthropic.com; for bedrock $ANTHROPIC_BEDROCK_BASE_URL, for vertex $ANTHROPIC_VERTEX_BASE_URL, else the region's endpoint)")
	fl.StringVar(&opts.provider, "provider", "anthropic", "the model provider behind the gateway: anthropic, bedrock or vertex (requests authenticated with the gateway's own AWS or Google credentials)")
	fl.StringVar(&opts.tlsCert, "tls-cert", "", "TLS certificate file (PEM)")
	fl.StringVar(&opts.tlsKey, "tls-key", "", "TLS private key file (PEM)")
	fl.BoolVar(&opts.insecureListen, "insecure-listen", false, "allow listening off loopback without TLS")
	fl.BoolVar(&opts.noAuth, "no-auth", false, "serve without tokens (loopback addresses only)")
	fl.Float64Var(&opts.rate, "rate", gateway.DefaultLimits.PerSecond, "requests per second per token (0: no limit)")
	fl.IntVar(&opts.hourly, "rate-hourly", gateway.DefaultLimits.PerHour, "requests per hour per token (0: no limit)")
	fl.DurationVar(&opts.grace, "shutdown-grace", 30*time.Second, "how long requests in flight may finish after SIGTERM")
	fl.StringVar(&opts.logFile, "log-file", "", "append JSON logs to this file instead of stderr")
	fl.Int64Var(&opts.maxBodyMiB, "max-body", 256, "largest request body accepted, in MiB")
	return cmd
}

func runServe(ctx context.Context, opts *serveOptions) error {
	f := opts.f
	if (opts.tlsCert == "") != (opts.tlsKey == "") {
		return usagef("--tls-cert and --tls-key go together")
	}
	if opts.rate < 0 || opts.hourly < 0 {
		return usagef("--rate and --rate-hourly cannot be negative")
	}
	if opts.maxBodyMiB < 1 || opts.maxBodyMiB > 4096 {
		return usagef("--max-body must be between 1 and 4096 MiB")
	}
	if err := gateway.ListenPolicy(opts.listen, !opts.noAuth, opts.tlsCert != "", opts.insecureListen); err != nil {
		var hint string
		if opts.noAuth {
			hint = "create tokens with 'claude-secure token create NAME' and drop --no-auth"
		} else {
			hint = "give --tls-cert and --tls-key (or put a TLS proxy in front and pass --insecure-listen)"
		}
		return &usageError{withHint(err, hint)}
	}
	t, err := f.serveTarget(ctx, opts.provider, opts.upstream)
	if err != nil {
		return err
	}
	up := t.upstream
	sess, err := f.session()
	if err != nil {
		return err
	}
	dir, err := f.stateDir()
	if err != nil {
		return err
	}
	var logw io.Writer = f.Err
	if opts.logFile != "" {
		lf, err := os.OpenFile(opts.logFile, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
		if err != nil {
			return fmt.Errorf("failed to open the log file: %w", err)
		}
		defer lf.Close()
		logw = lf
	}
	log := slog.New(slog.NewJSONHandler(logw, nil))
	shared, err := f.sharedRedis()
	if err != nil {
		return err
	}
	if shared != nil {
		defer shared.Close()
	}
	var tokens gateway.TokenStore
	if !opts.noAuth {
		if shared != nil {
			t := gateway.NewRedisTokens(shared)
			t.Replicas = f.sharedReplicas()
			tokens = t
		} else {
			tokens = gateway.OpenTokens(filepath.Join(dir, "tokens.json"))
		}
		n, err := tokens.Count()
		if err != nil {
			return f.sharedError(err)
		}
		if n == 0 {
			log.Warn("no tokens yet: every request will be refused until one is created with 'claude-secure token create NAME'")
		}
	} else {
		log.Warn("authentication is off (--no-auth): any local process can use this gateway")
	}
	gw, err := gateway.New(gateway.Config{
		Upstream:       up,
		Provider:       t.provider,
		Engine:         sess.engine,
		AllowPaths:     sess.allowPaths,
		MaxBody:        opts.maxBodyMiB << 20,
		Tokens:         tokens,
		Limits:         gateway.Limits{PerSecond: opts.rate, PerHour: opts.hourly},
		Shared:         shared,
		Log:            log,
		UpstreamAPIKey: f.Getenv("ANTHROPIC_API_KEY"),
		Ready:          sess.store.Check,
		Batches:        sess.store,
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", opts.listen)
	if err != nil {
		return fmt.Errorf("failed to listen on %s: %w", opts.listen, err)
	}
	if gateway.IsSelf(up, ln.Addr()) {
		ln.Close()
		return withHint(fmt.Errorf("the upstream %s is this gateway itself", up.Host),
			"ANTHROPIC_BASE_URL in this shell points at the gateway; pass --upstream https://api.anthropic.com")
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, os.Interrupt)
	defer stop()
	log.Info("listening", "addr", ln.Addr().String(), "provider", t.provider.Name(), "upstream", up.Host, "tls", opts.tlsCert != "",
		"auth", !opts.noAuth, "rate_per_s", opts.rate, "rate_per_hour", opts.hourly, "state_dir", dir, "shared_state", shared != nil)
	err = gw.Run(ctx, ln, opts.tlsCert, opts.tlsKey, opts.grace)
	if err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("gateway stopped: %w", err)
	}
	st := gw.Stats()
	log.Info("stopped", "requests", st.Requests, "refused", st.Refused, "errors", st.Errors)
	return nil
}
