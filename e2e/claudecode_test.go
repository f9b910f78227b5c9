// Package e2e drives the real Claude Code CLI through `claude-secure run`
// against a fake Messages API upstream played by this test.
//
// scripts/e2e.sh installs a pinned @anthropic-ai/claude-code from npm and
// runs this test with CLAUDE_CODE_BIN pointing at its native binary.
package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// Originals in the prompt and in the file the tool reads. Made up.
var originals = []string{"i-0f3a9c2b7d1e4a605", "210987654321", "10.20.30.40", "acme-orders-archive", "AKIAQ3EGUWTX3KMNPZRX"}

const (
	thinkingText = "The user wants the instance recorded; I will write it with Bash and read the inventory."
	signature    = "EqQBCkgIBxABGAIiQL7f3x9TQ2w1c2l0ZS1mYWtlLXNpZ25hdHVyZS1mb3ItdGVzdHM="
)

var (
	instanceRE = regexp.MustCompile(`i-[0-9a-f]{17}`)
	accountRE  = regexp.MustCompile(`account ([0-9]{12})`)
)

// fakeAPI plays the Messages API: turn 1 answers with a signed thinking
// block and a Bash tool call whose input carries the pseudonyms, split
// across input_json_delta events in the middle of a pseudonym; turn 2
// checks the tool result and the thinking block and answers with text.
type fakeAPI struct {
	t         *testing.T
	mu        sync.Mutex
	requests  int
	turn2     bool
	thinkOK   bool
	resultOK  bool
	pInstance string
	pAccount  string
	// what credentials reached it
	sawToken, gatewayKey bool
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, vs := range r.Header {
		for _, v := range vs {
			if strings.Contains(v, "cst_") {
				f.sawToken = true
			}
		}
	}
	if r.Header.Get("X-Api-Key") == "sk-ant-gateway-key" {
		f.gatewayKey = true
	}
	for i, o := range originals {
		if strings.Contains(r.URL.String(), o) {
			f.t.Errorf("request %d: original %d reached the upstream in its URL", f.requests+1, i)
		}
	}
	if r.Method != http.MethodPost || !strings.HasPrefix(r.URL.Path, "/v1/messages") {
		f.requests++
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte("{}"))
		return
	}
	if events := f.answer(body); events != nil {
		sse(w, events...)
	}
}

// answer plays one turn of the conversation for a Messages request body:
// the events of the streamed answer (nil for a body that is not one). The
// caller holds f.mu.
func (f *fakeAPI) answer(body []byte) []any {
	f.requests++
	for i, o := range originals {
		if bytes.Contains(body, []byte(o)) {
			f.t.Errorf("request %d: original %d reached the upstream", f.requests, i)
		}
	}
	var req struct {
		Messages []struct {
			Role    string          `json:"role"`
			Content json.RawMessage `json:"content"`
		} `json:"messages"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		f.t.Errorf("request %d is not JSON", f.requests)
		return nil
	}
	all := string(body)
	if !strings.Contains(all, `"tool_result"`) {
		if m := instanceRE.FindString(all); m != "" && f.pInstance == "" {
			f.pInstance = m
		}
		if m := accountRE.FindStringSubmatch(all); m != nil && f.pAccount == "" {
			f.pAccount = m[1]
		}
		return f.turn1()
	}
	f.turn2 = true
	// the signed thinking block comes back byte-identical
	var last []map[string]any
	for _, m := range req.Messages {
		if m.Role == "assistant" {
			json.Unmarshal(m.Content, &last)
		}
	}
	for _, b := range last {
		if b["type"] == "thinking" && b["thinking"] == thinkingText && b["signature"] == signature {
			f.thinkOK = true
		}
	}
	// the tool's output, full of identifiers, came back masked
	f.resultOK = strings.Contains(all, "inventory:") && strings.Contains(all, f.pInstance)
	return f.text(fmt.Sprintf("Recorded %s in account %s.", f.pInstance, f.pAccount))
}

func sse(w http.ResponseWriter, events ...any) {
	w.Header().Set("Content-Type", "text/event-stream")
	for _, e := range events {
		d, _ := json.Marshal(e)
		var head struct{ Type string }
		json.Unmarshal(d, &head)
		fmt.Fprintf(w, "event: %s\ndata: %s\n\n", head.Type, d)
		w.(http.Flusher).Flush()
	}
}

func start(id string) map[string]any {
	return map[string]any{"type": "message_start", "message": map[string]any{
		"id": id, "type": "message", "role": "assistant", "content": []any{}, "model": "claude-sonnet-4-5",
		"stop_reason": nil, "stop_sequence": nil, "usage": map[string]any{"input_tokens": 100, "output_tokens": 1}}}
}

func (f *fakeAPI) turn1() []any {
	input, _ := json.Marshal(map[string]string{
		"command":     fmt.Sprintf("echo 'instance %s account %s' > result.txt && cat inventory.txt", f.pInstance, f.pAccount),
		"description": "Record the instance and read the inventory",
	})
	// cut inside the instance pseudonym, and byte by byte around it
	k := bytes.Index(input, []byte(f.pInstance)) + 5
	pieces := []string{string(input[:k-2]), string(input[k-2 : k-1]), string(input[k-1 : k]), string(input[k:])}
	events := []any{
		start("msg_turn1"),
		map[string]any{"type": "content_block_start", "index": 0, "content_block": map[string]any{"type": "thinking", "thinking": "", "signature": ""}},
		map[string]any{"type": "content_block_delta", "index": 0, "delta": map[string]any{"type": "thinking_delta", "thinking": thinkingText}},
		map[string]any{"type": "content_block_delta", "index": 0, "delta": map[string]any{"type": "signature_delta", "signature": signature}},
		map[string]any{"type": "content_block_stop", "index": 0},
		map[string]any{"type": "content_block_start", "index": 1, "content_block": map[string]any{"type": "tool_use", "id": "toolu_01E2eTestBashCall000001", "name": "Bash", "input": map[string]any{}}},
	}
	for _, p := range pieces {
		events = append(events, map[string]any{"type": "content_block_delta", "index": 1, "delta": map[string]any{"type": "input_json_delta", "partial_json": p}})
	}
	events = append(events,
		map[string]any{"type": "content_block_stop", "index": 1},
		map[string]any{"type": "message_delta", "delta": map[string]any{"stop_reason": "tool_use", "stop_sequence": nil}, "usage": map[string]any{"output_tokens": 40}},
		map[string]any{"type": "message_stop"})
	return events
}

func (f *fakeAPI) text(text string) []any {
	half := len(text) / 2
	return []any{
		start("msg_turn2"),
		map[string]any{"type": "content_block_start", "index": 0, "content_block": map[string]any{"type": "text", "text": ""}},
		map[string]any{"type": "content_block_delta", "index": 0, "delta": map[string]any{"type": "text_delta", "text": text[:half]}},
		map[string]any{"type": "content_block_delta", "index": 0, "delta": map[string]any{"type": "text_delta", "text": text[half:]}},
		map[string]any{"type": "content_block_stop", "index": 0},
		map[string]any{"type": "message_delta", "delta": map[string]any{"stop_reason": "end_turn", "stop_sequence": nil}, "usage": map[string]any{"output_tokens": 12}},
		map[string]any{"type": "message_stop"}}
}

const claudePrompt = "Record instance i-0f3a9c2b7d1e4a605 of account 210987654321 in result.txt, then show inventory.txt."

// claudeScenario is one Claude Code run against the fake API: a work
// directory with an inventory full of originals, a HOME, and the API.
type claudeScenario struct {
	claude, bin, work, home, state string
	// mode: "bedrock" or "vertex" runs Claude Code in that mode, the fake
	// API played by a fake Bedrock that checks every signature, or a fake
	// Vertex AI that checks every token; "" is the Anthropic API
	mode string
	// network runs Claude Code with `run --network`: HTTPS_PROXY and the
	// session CA, its base URL the provider's own
	network bool
	api     *fakeAPI
	url     string // the fake API's address
}

func newClaudeScenario(t *testing.T) *claudeScenario {
	t.Helper()
	sc := newClaudeEnv(t)
	inventory := "inventory: web-1 i-0f3a9c2b7d1e4a605 10.20.30.40 s3://acme-orders-archive key AKIAQ3EGUWTX3KMNPZRX\n"
	os.WriteFile(filepath.Join(sc.work, "inventory.txt"), []byte(inventory), 0o644)
	sc.api = &fakeAPI{t: t}
	srv := httptest.NewServer(sc.api)
	t.Cleanup(srv.Close)
	sc.url = srv.URL
	return sc
}

// newClaudeEnv makes the directories of a Claude Code run (bin with
// claude-secure built and claude linked, work, HOME, claude-secure's
// state), with no fake API yet.
func newClaudeEnv(t *testing.T) *claudeScenario {
	t.Helper()
	claude := os.Getenv("CLAUDE_CODE_BIN")
	if claude == "" {
		t.Skip("CLAUDE_CODE_BIN is not set: scripts/e2e.sh installs Claude Code from npm and runs this test")
	}
	tmp := t.TempDir()
	sc := &claudeScenario{claude: claude, bin: filepath.Join(tmp, "bin"), work: filepath.Join(tmp, "work"),
		home: filepath.Join(tmp, "home"), state: filepath.Join(tmp, "state")}
	buildClaudeSecure(t, sc.bin)
	if err := os.Symlink(claude, filepath.Join(sc.bin, "claude")); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(sc.work, 0o755)
	os.MkdirAll(sc.home, 0o700)
	return sc
}

// run runs argv in the work directory with the scenario's environment
// plus env, and returns its output.
func (sc *claudeScenario) run(t *testing.T, env []string, argv ...string) (stdout, stderr string) {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = sc.work
	cmd.Env = append(append(os.Environ(),
		"HOME="+sc.home,
		"PATH="+sc.bin+string(os.PathListSeparator)+os.Getenv("PATH"),
		"DISABLE_AUTOUPDATER=1", "NO_COLOR=1",
	), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("%s: %v\nstderr:\n%s", filepath.Base(argv[0]), err, redact(errb.String()))
		}
	case <-time.After(3 * time.Minute):
		cmd.Process.Kill()
		t.Fatal("Claude Code did not finish in 3 minutes")
	}
	return out.String(), errb.String()
}

// check verifies the whole round trip from what the fake API saw, the
// file the Bash tool wrote and what Claude Code printed.
func (sc *claudeScenario) check(t *testing.T, stdout string) {
	t.Helper()
	api := sc.api
	api.mu.Lock()
	defer api.mu.Unlock()
	if api.pInstance == "" || api.pAccount == "" {
		t.Fatal("the prompt did not reach the upstream with pseudonyms in it")
	}
	got, err := os.ReadFile(filepath.Join(sc.work, "result.txt"))
	if err != nil || string(got) != "instance i-0f3a9c2b7d1e4a605 account 210987654321\n" {
		t.Errorf("the Bash tool did not act on the originals (result.txt: %d bytes, %v)", len(got), err)
	}
	if !api.turn2 || !api.resultOK {
		t.Error("the tool result did not come back (masked) in a second request")
	}
	if !api.thinkOK {
		t.Error("the signed thinking block did not come back byte-identical")
	}
	if !strings.Contains(stdout, "Recorded i-0f3a9c2b7d1e4a605 in account 210987654321.") {
		t.Errorf("Claude Code's answer was not unmasked: %q", redact(stdout))
	}
}

func TestClaudeCodeThroughRun(t *testing.T) {
	sc := newClaudeScenario(t)
	stdout, stderr := sc.run(t, []string{
		"ANTHROPIC_API_KEY=sk-ant-e2e-not-a-real-key",
		"ANTHROPIC_BASE_URL=",
		"CLAUDE_SECURE_HOME=" + sc.state,
		"CLAUDE_SECURE_KEY=AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
	}, filepath.Join(sc.bin, "claude-secure"), "run", "--upstream", sc.url, "--",
		"claude", "-p", claudePrompt, "--allowedTools", "Bash", "--output-format", "text")
	sc.check(t, stdout)
	if !regexp.MustCompile(`claude-secure ▸ [0-9]+ requests · [1-9][0-9]* identifiers masked .* values restored`).MatchString(stderr) {
		t.Errorf("no summary line on stderr:\n%s", redact(stderr))
	}
	t.Logf("%d requests reached the fake upstream; summary: %s", sc.api.requests, strings.TrimSpace(lastLine(stderr)))
}

// Claude Code pointed at a team's `claude-secure serve`, with a gateway
// token as its API key: the gateway masks, restores, and sends its own
// Anthropic key upstream in place of the token.
func TestClaudeCodeThroughServe(t *testing.T) {
	sc := newClaudeScenario(t)
	cs := filepath.Join(sc.bin, "claude-secure")
	tok := createToken(t, cs, sc.state, "claude-code", "user")
	g := startGateway(t, cs, sc.state, "--upstream", sc.url)
	stdout, _ := sc.run(t, []string{
		"ANTHROPIC_BASE_URL=http://" + g.addr,
		"ANTHROPIC_API_KEY=" + tok,
		"CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1",
	}, filepath.Join(sc.bin, "claude"), "-p", claudePrompt, "--allowedTools", "Bash", "--output-format", "text")
	sc.check(t, stdout)
	sc.api.mu.Lock()
	defer sc.api.mu.Unlock()
	if sc.api.sawToken || !sc.api.gatewayKey {
		t.Errorf("upstream credentials: gateway token seen %v, gateway key used %v", sc.api.sawToken, sc.api.gatewayKey)
	}
	if logs := g.log(); !strings.Contains(logs, `"token":"claude-code"`) || strings.Contains(logs, tok) {
		t.Error("serve's log does not name the token, or holds the token itself")
	}
	t.Logf("%d requests reached the fake upstream through serve", sc.api.requests)
}

// redact keeps the originals, of this file's test and of the identity
// scenarios, out of test output.
func redact(s string) string {
	for _, list := range [][]string{originals, identityOriginals()} {
		for _, o := range list {
			s = strings.ReplaceAll(s, o, "<original>")
		}
	}
	return s
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return redact(lines[len(lines)-1])
}
