package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/claude-secure/claude-secure/internal/fakevertex"
)

// Claude Code in Vertex mode through `claude-secure run`: the same
// conversation as TestClaudeCodeThroughRun (a signed thinking block, a
// Bash call whose input is cut inside a pseudonym, a tool result full of
// originals), played by a fake Vertex AI that requires an access token of
// its own issue on every call. The credentials are a service account's
// key file in GOOGLE_APPLICATION_CREDENTIALS, whose token_uri points at the
// fake; the project comes from the key file, as run passes it on.
func TestClaudeCodeVertexThroughRun(t *testing.T) {
	sc := newClaudeEnv(t)
	inventory := "inventory: web-1 i-0f3a9c2b7d1e4a605 10.20.30.40 s3://acme-orders-archive key AKIAQ3EGUWTX3KMNPZRX\n"
	os.WriteFile(filepath.Join(sc.work, "inventory.txt"), []byte(inventory), 0o644)
	sc.api = &fakeAPI{t: t}
	fv := fakevertex.New(fakevertex.Options{Keep: true, Script: func(body []byte) []any {
		sc.api.mu.Lock()
		defer sc.api.mu.Unlock()
		return sc.api.answer(body)
	}})
	defer fv.Close()
	defer func() {
		if t.Failed() {
			for i, r := range fv.Requests() {
				t.Logf("Vertex AI request %d: %s %s authorized=%v %s", i, r.Method, redact(r.Path), r.Authorized, r.AuthError)
			}
			if b, err := os.ReadFile(filepath.Join(sc.state, "audit.log")); err == nil {
				t.Logf("audit:\n%s", redact(string(b)))
			}
		}
	}()
	gcloud := filepath.Join(sc.home, ".gcloud-scratch")
	os.MkdirAll(gcloud, 0o700)
	key := filepath.Join(gcloud, "service-account.json")
	if err := fv.WriteServiceAccount(key); err != nil {
		t.Fatal(err)
	}

	stdout, stderr := sc.run(t, []string{
		"CLAUDE_CODE_USE_VERTEX=1",
		"CLOUD_ML_REGION=us-east5",
		"GOOGLE_APPLICATION_CREDENTIALS=" + key,
		"ANTHROPIC_VERTEX_PROJECT_ID=",
		"ANTHROPIC_VERTEX_BASE_URL=",
		"CLAUDE_CODE_USE_BEDROCK=",
		"CLAUDE_CODE_MAX_RETRIES=0",
		"ANTHROPIC_API_KEY=",
		"ANTHROPIC_BASE_URL=",
		"CLAUDE_SECURE_HOME=" + sc.state,
		"CLAUDE_SECURE_KEY=AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
	}, filepath.Join(sc.bin, "claude-secure"), "run", "--upstream", fv.Base(), "--",
		"claude", "-p", claudePrompt, "--allowedTools", "Bash", "--output-format", "text")
	sc.check(t, stdout)
	if !strings.Contains(stderr, "→ 127.0.0.1") {
		t.Errorf("the banner does not name the Vertex AI upstream:\n%s", redact(stderr))
	}
	reqs := fv.Requests()
	streams := 0
	for i, r := range reqs {
		if !r.Authorized {
			t.Errorf("request %d (%s %s) reached Vertex AI without a token it issued: %s", i, r.Method, redact(r.Path), r.AuthError)
		}
		if r.Project != fv.Project() || r.Region != "us-east5" {
			t.Errorf("request %d went to project %q, region %q", i, r.Project, r.Region)
		}
		if r.Action == "streamRawPredict" {
			streams++
		}
	}
	if streams < 2 {
		t.Errorf("Vertex AI saw %d streamed calls, want the two turns", streams)
	}
	if n := fv.Grants.Load(); n < 1 || n > 2 {
		t.Errorf("%d tokens issued, want one (fetched at start, then cached)", n)
	}
	for i, o := range originals {
		if fv.Saw(o) {
			t.Errorf("original %d reached Vertex AI", i)
		}
	}
	t.Logf("%d requests reached the fake Vertex AI, all with its tokens (%d issued); summary: %s", len(reqs), fv.Grants.Load(), strings.TrimSpace(lastLine(stderr)))
}
