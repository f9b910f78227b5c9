package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/claude-secure/claude-secure/mask/store"
	"github.com/claude-secure/claude-secure/proxy"
	"github.com/claude-secure/claude-secure/shellwrap"
	"github.com/spf13/cobra"
)

func newCmdDoctor(f *factory) *cobra.Command {
	var upstream string
	cmd := &cobra.Command{
		Use:   "doctor",
		Short: "Check the key, the store, the upstream, Claude Code and the shell hook",
		Args:  cobra.NoArgs,
		Example: `  claude-secure doctor
  claude-secure doctor --upstream https://gateway.example.com`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return doctorRun(cmd.Context(), f, upstream)
		},
	}
	cmd.Flags().StringVar(&upstream, "upstream", "", "upstream to check (default: as run would use)")
	return cmd
}

type check struct {
	ok     bool
	warn   bool
	name   string
	detail string
}

func doctorRun(ctx context.Context, f *factory, upstream string) error {
	var checks []check
	add := func(c check) { checks = append(checks, c) }
	u := newUI(f.Out, f.Getenv)

	o, err := f.opener()
	if err != nil {
		return err
	}
	// key and store, without creating either
	switch {
	case f.Getenv(store.KeyEnv) != "":
		_, err := store.DecodeKey(f.Getenv(store.KeyEnv))
		add(check{ok: err == nil, name: "key", detail: "from CLAUDE_SECURE_KEY" + errSuffix(err)})
	default:
		_, err := o.Keyring.Get(store.Service, "claude-secure-doctor-probe")
		switch {
		case err == nil || errors.Is(err, store.ErrKeyNotFound):
			add(check{ok: true, name: "keyring", detail: "OS keyring usable (service " + store.Service + ")"})
		default:
			add(check{ok: true, warn: true, name: "keyring", detail: "no usable OS keyring: the key falls back to a 0600 file beside the store"})
		}
	}
	where, made := store.Path(o.Dir), true
	if o.URL != "" {
		where = store.RedactURL(o.URL)
		made, err = store.RedisHolds(ctx, o.URL)
	} else if _, serr := os.Stat(where); errors.Is(serr, os.ErrNotExist) {
		made = false
	}
	switch {
	case err != nil:
		add(check{name: "store", detail: lowerFirst(err.Error())})
	case !made:
		add(check{ok: true, name: "store", detail: "none yet at " + where + " (created on first use)"})
	default:
		s, key, err := o.OpenBackend(ctx)
		if err == nil {
			defer s.Close()
			var info store.Info
			info, err = s.Info()
			if err == nil {
				add(check{ok: true, name: "store", detail: fmt.Sprintf("%s, %d mappings, key in %s", info.Path, info.Mappings, keySourceText(key.Source))})
			}
		}
		if err != nil {
			add(check{name: "store", detail: lowerFirst(err.Error())})
		}
	}
	// upstream: the one run would use (and for Bedrock, the credentials
	// it would sign with); a bad one is a failed check here, not a usage
	// error, so the other checks are still reported
	if t, err := f.runTarget(ctx, upstream); err != nil {
		add(check{name: "upstream", detail: lowerFirst(err.Error())})
	} else {
		up := t.upstream
		switch t.provider.Name() {
		case "bedrock":
			add(check{ok: true, name: "bedrock", detail: f.bedrockIdentity(ctx)})
		case "vertex":
			// the target fetched a token already: the credentials work
			project := f.Getenv("ANTHROPIC_VERTEX_PROJECT_ID")
			for _, kv := range t.env {
				if v, ok := strings.CutPrefix(kv, "ANTHROPIC_VERTEX_PROJECT_ID="); ok {
					project = v
				}
			}
			add(check{ok: true, name: "vertex", detail: "region " + f.Getenv("CLOUD_ML_REGION") + ", project " + project + ", Google credentials issue tokens"})
		}
		hctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		req, _ := http.NewRequestWithContext(hctx, http.MethodHead, up.String(), nil)
		// the same transport the proxy uses: TLS verified, no proxy from the environment
		client := &http.Client{Transport: proxy.NewTransport()}
		resp, err := client.Do(req)
		cancel()
		if err != nil {
			add(check{name: "upstream", detail: up.Host + " unreachable: " + lowerFirst(describe(err))})
		} else {
			resp.Body.Close()
			add(check{ok: true, name: "upstream", detail: fmt.Sprintf("%s answers (HTTP %d)", up.Host, resp.StatusCode)})
		}
	}
	// Claude Code
	if path, err := exec.LookPath("claude"); err != nil {
		add(check{name: "claude code", detail: "claude not found on PATH (npm install -g @anthropic-ai/claude-code)"})
	} else {
		vctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		out, err := exec.CommandContext(vctx, path, "--version").Output()
		cancel()
		v := strings.TrimSpace(string(out))
		if err != nil || v == "" {
			v = "version unknown"
		}
		add(check{ok: true, name: "claude code", detail: path + " (" + v + ")"})
	}
	// shell hook
	if h := f.Getenv(shellwrap.HookEnv); h != "" {
		add(check{ok: true, name: "shell hook", detail: "active (" + h + ")"})
	} else {
		add(check{ok: true, warn: true, name: "shell hook", detail: "not active: " + hookAdvice(f.Getenv("SHELL"))})
	}
	if f.Getenv("CLAUDE_SECURE") == "1" {
		add(check{ok: true, name: "session", detail: "running inside claude-secure run"})
	}

	failed := 0
	for _, c := range checks {
		mark := u.accent.Render("✓")
		switch {
		case !c.ok:
			mark = u.warn.Render("✗")
			failed++
		case c.warn:
			mark = u.warn.Render("!")
		}
		fmt.Fprintf(f.Out, "%s %-12s %s\n", mark, c.name, c.detail)
	}
	if failed > 0 {
		return &silentExit{code: exitError}
	}
	return nil
}

func errSuffix(err error) string {
	if err != nil {
		return ": " + err.Error()
	}
	return ""
}

func describe(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	return err.Error()
}

// hookAdvice says how to turn the shell hook on in the user's own shell
// ($SHELL), or in each shell when it is not one init knows.
func hookAdvice(shell string) string {
	switch filepath.Base(shell) {
	case "bash":
		return `add eval "$(claude-secure init bash)" to ~/.bashrc`
	case "zsh":
		return `add eval "$(claude-secure init zsh)" to ~/.zshrc`
	case "fish":
		return "add claude-secure init fish | source to ~/.config/fish/config.fish"
	case "pwsh", "powershell", "pwsh.exe", "powershell.exe":
		return "add Invoke-Expression (& claude-secure init powershell | Out-String) to your $PROFILE"
	}
	return `add eval "$(claude-secure init zsh)" (or bash, fish, powershell) to your shell rc file`
}
