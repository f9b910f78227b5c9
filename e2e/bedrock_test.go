package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/claude-secure/claude-secure/internal/fakebedrock"
)

// Claude Code in Bedrock mode through `claude-secure run`: the same
// conversation as TestClaudeCodeThroughRun (a signed thinking block, a
// Bash call whose input is cut inside a pseudonym, a tool result full of
// originals), played by a fake Bedrock that checks every request's SigV4
// signature and answers in AWS event streams. The credentials come from
// the user's AWS profile, as the AWS SDK finds them: static keys in the
// shared credentials file, or a credential_process.
func TestClaudeCodeBedrockThroughRun(t *testing.T) {
	for _, c := range []struct{ name, credentials string }{
		{"static keys", fmt.Sprintf("[e2e]\naws_access_key_id = %s\naws_secret_access_key = %s\n", fakebedrock.DefaultAccessKeyID, fakebedrock.DefaultSecretAccessKey)},
		{"credential_process", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			sc := newClaudeEnv(t)
			inventory := "inventory: web-1 i-0f3a9c2b7d1e4a605 10.20.30.40 s3://acme-orders-archive key AKIAQ3EGUWTX3KMNPZRX\n"
			os.WriteFile(filepath.Join(sc.work, "inventory.txt"), []byte(inventory), 0o644)
			sc.api = &fakeAPI{t: t}
			fb := fakebedrock.New(fakebedrock.Options{Keep: true, Script: func(body []byte) []any {
				sc.api.mu.Lock()
				defer sc.api.mu.Unlock()
				return sc.api.answer(body)
			}})
			defer fb.Close()
			defer func() {
				if t.Failed() {
					for i, r := range fb.Requests() {
						t.Logf("Bedrock request %d: %s %s signed=%v %s", i, r.Method, r.Path, r.Signed, r.AuthError)
					}
					if b, err := os.ReadFile(filepath.Join(sc.state, "audit.log")); err == nil {
						t.Logf("audit:\n%s", redact(string(b)))
					}
				}
			}()

			aws := filepath.Join(sc.home, ".aws-scratch")
			os.MkdirAll(aws, 0o700)
			config := "[profile e2e]\nregion = us-east-1\n"
			if c.credentials == "" {
				helper := filepath.Join(aws, "creds.sh")
				os.WriteFile(helper, []byte(fmt.Sprintf("#!/bin/sh\nprintf '{\"Version\": 1, \"AccessKeyId\": \"%s\", \"SecretAccessKey\": \"%s\"}'\n",
					fakebedrock.DefaultAccessKeyID, fakebedrock.DefaultSecretAccessKey)), 0o700)
				config += "credential_process = " + helper + "\n"
			}
			os.WriteFile(filepath.Join(aws, "config"), []byte(config), 0o600)
			os.WriteFile(filepath.Join(aws, "credentials"), []byte(c.credentials), 0o600)

			stdout, stderr := sc.run(t, []string{
				"CLAUDE_CODE_USE_BEDROCK=1",
				"AWS_REGION=us-east-1",
				"AWS_PROFILE=e2e",
				"AWS_CONFIG_FILE=" + filepath.Join(aws, "config"),
				"AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(aws, "credentials"),
				"AWS_EC2_METADATA_DISABLED=true",
				"CLAUDE_CODE_MAX_RETRIES=0",
				"ANTHROPIC_API_KEY=",
				"ANTHROPIC_BASE_URL=",
				"CLAUDE_SECURE_HOME=" + sc.state,
				"CLAUDE_SECURE_KEY=AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
			}, filepath.Join(sc.bin, "claude-secure"), "run", "--upstream", fb.URL, "--",
				"claude", "-p", claudePrompt, "--allowedTools", "Bash", "--output-format", "text")
			sc.check(t, stdout)
			if !strings.Contains(stderr, "→ 127.0.0.1") {
				t.Errorf("the banner does not name the Bedrock upstream:\n%s", redact(stderr))
			}
			reqs := fb.Requests()
			streams := 0
			for i, r := range reqs {
				if !r.Signed {
					t.Errorf("request %d (%s %s) reached Bedrock without a valid signature: %s", i, r.Method, r.Path, r.AuthError)
				}
				if strings.HasSuffix(r.Path, "/invoke-with-response-stream") {
					streams++
				}
			}
			if streams < 2 {
				t.Errorf("Bedrock saw %d streamed calls, want the two turns", streams)
			}
			for i, o := range originals {
				if fb.Saw(o) {
					t.Errorf("original %d reached Bedrock", i)
				}
			}
			t.Logf("%d requests reached the fake Bedrock, all signed; summary: %s", len(reqs), strings.TrimSpace(lastLine(stderr)))
		})
	}
}

// Claude Code in Bedrock mode against a team's `claude-secure serve
// --provider bedrock`: its own authentication skipped, its gateway token in
// ANTHROPIC_CUSTOM_HEADERS; the gateway masks, signs with its own AWS
// credentials and restores. Bedrock never sees an original nor the token.
func TestClaudeCodeBedrockThroughServe(t *testing.T) {
	sc := newClaudeEnv(t)
	inventory := "inventory: web-1 i-0f3a9c2b7d1e4a605 10.20.30.40 s3://acme-orders-archive key AKIAQ3EGUWTX3KMNPZRX\n"
	os.WriteFile(filepath.Join(sc.work, "inventory.txt"), []byte(inventory), 0o644)
	sc.api = &fakeAPI{t: t}
	fb := fakebedrock.New(fakebedrock.Options{Keep: true, Script: func(body []byte) []any {
		sc.api.mu.Lock()
		defer sc.api.mu.Unlock()
		return sc.api.answer(body)
	}})
	defer fb.Close()
	cs := filepath.Join(sc.bin, "claude-secure")
	tok := createToken(t, cs, sc.state, "claude-code-bedrock", "user")
	aws := []string{"AWS_REGION=" + fb.Region(), "AWS_EC2_METADATA_DISABLED=true",
		"AWS_CONFIG_FILE=" + filepath.Join(sc.home, "no-aws-config"), "AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(sc.home, "no-aws-credentials")}
	g := startGatewayEnv(t, cs, sc.state, append(aws, "AWS_ACCESS_KEY_ID="+fakebedrock.DefaultAccessKeyID,
		"AWS_SECRET_ACCESS_KEY="+fakebedrock.DefaultSecretAccessKey), "--provider", "bedrock", "--upstream", fb.URL)
	stdout, _ := sc.run(t, append(aws,
		"CLAUDE_CODE_USE_BEDROCK=1",
		"ANTHROPIC_BEDROCK_BASE_URL=http://"+g.addr,
		"CLAUDE_CODE_SKIP_BEDROCK_AUTH=1",
		"ANTHROPIC_CUSTOM_HEADERS=x-claude-secure-token: "+tok,
		"CLAUDE_CODE_MAX_RETRIES=0",
		"CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1",
		"ANTHROPIC_API_KEY=",
		"ANTHROPIC_BASE_URL=",
	), filepath.Join(sc.bin, "claude"), "-p", claudePrompt, "--allowedTools", "Bash", "--output-format", "text")
	sc.check(t, stdout)
	for i, r := range fb.Requests() {
		if !r.Signed {
			t.Errorf("request %d (%s) reached Bedrock without the gateway's signature: %s", i, r.Method, r.AuthError)
		}
		for k, vs := range r.Header {
			for _, v := range vs {
				if strings.Contains(v, tok) {
					t.Errorf("request %d carried the gateway token in %s", i, k)
				}
			}
		}
	}
	for i, o := range originals {
		if fb.Saw(o) {
			t.Errorf("original %d reached Bedrock", i)
		}
	}
	if logs := g.log(); !strings.Contains(logs, `"token":"claude-code-bedrock"`) || strings.Contains(logs, tok) {
		t.Error("serve's log does not name the token, or holds the token itself")
	}
}
