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
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests++
	for i, o := range originals {
		if bytes.Contains(body, []byte(o)) || strings.Contains(r.URL.String(), o) {
			f.t.Errorf("request %d: original %d reached the upstream", f.requests, i)
		}
	}
	if r.Method != http.MethodPost || !strings.HasPrefix(r.URL.Path, "/v1/messages") {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte("{}"))
		return
	}
	var req struct {
		Messages []struct {
			Role    string          `json:"role"`
			Content json.RawMessage `json:"content"`
		} `json:"messages"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		f.t.Errorf("request %d is not JSON", f.requests)
		return
	}
	all := string(body)
	if !strings.Contains(all, `"tool_result"`) {
		if m := instanceRE.FindString(all); m != "" && f.pInstance == "" {
			f.pInstance = m
		}
		if m := accountRE.FindStringSubmatch(all); m != nil && f.pAccount == "" {
			f.pAccount = m[1]
		}
		f.turn1(w)
		return
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
	f.text(w, fmt.Sprintf("Recorded %s in account %s.", f.pInstance, f.pAccount))
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

func (f *fakeAPI) turn1(w http.ResponseWriter) {
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
	sse(w, events...)
}

func (f *fakeAPI) text(w http.ResponseWriter, text string) {
	half := len(text) / 2
	sse(w,
		start("msg_turn2"),
		map[string]any{"type": "content_block_start", "index": 0, "content_block": map[string]any{"type": "text", "text": ""}},
		map[string]any{"type": "content_block_delta", "index": 0, "delta": map[string]any{"type": "text_delta", "text": text[:half]}},
		map[string]any{"type": "content_block_delta", "index": 0, "delta": map[string]any{"type": "text_delta", "text": text[half:]}},
		map[string]any{"type": "content_block_stop", "index": 0},
		map[string]any{"type": "message_delta", "delta": map[string]any{"stop_reason": "end_turn", "stop_sequence": nil}, "usage": map[string]any{"output_tokens": 12}},
		map[string]any{"type": "message_stop"})
}

func TestClaudeCodeThroughRun(t *testing.T) {
	claude := os.Getenv("CLAUDE_CODE_BIN")
	if claude == "" {
		t.Skip("CLAUDE_CODE_BIN is not set: scripts/e2e.sh installs Claude Code from npm and runs this test")
	}
	tmp := t.TempDir()
	bin := filepath.Join(tmp, "bin")
	build := exec.Command("go", "build", "-o", filepath.Join(bin, "claude-secure"), "../cmd/claude-secure")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	if err := os.Symlink(claude, filepath.Join(bin, "claude")); err != nil {
		t.Fatal(err)
	}
	work := filepath.Join(tmp, "work")
	os.MkdirAll(work, 0o755)
	inventory := "inventory: web-1 i-0f3a9c2b7d1e4a605 10.20.30.40 s3://acme-orders-archive key AKIAQ3EGUWTX3KMNPZRX\n"
	os.WriteFile(filepath.Join(work, "inventory.txt"), []byte(inventory), 0o644)

	api := &fakeAPI{t: t}
	srv := httptest.NewServer(api)
	defer srv.Close()

	cmd := exec.Command(filepath.Join(bin, "claude-secure"), "run", "--upstream", srv.URL, "--",
		"claude", "-p", "Record instance i-0f3a9c2b7d1e4a605 of account 210987654321 in result.txt, then show inventory.txt.",
		"--allowedTools", "Bash", "--output-format", "text")
	cmd.Dir = work
	home := filepath.Join(tmp, "home")
	os.MkdirAll(home, 0o700)
	cmd.Env = append(os.Environ(),
		"HOME="+home,
		"PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"),
		"ANTHROPIC_API_KEY=sk-ant-e2e-not-a-real-key",
		"ANTHROPIC_BASE_URL=",
		"CLAUDE_SECURE_HOME="+filepath.Join(tmp, "state"),
		"CLAUDE_SECURE_KEY=AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
		"DISABLE_AUTOUPDATER=1", "NO_COLOR=1",
	)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("claude-secure run: %v\nstderr:\n%s", err, redact(stderr.String()))
		}
	case <-time.After(3 * time.Minute):
		cmd.Process.Kill()
		t.Fatal("Claude Code did not finish in 3 minutes")
	}

	api.mu.Lock()
	defer api.mu.Unlock()
	if api.pInstance == "" || api.pAccount == "" {
		t.Fatal("the prompt did not reach the upstream with pseudonyms in it")
	}
	got, err := os.ReadFile(filepath.Join(work, "result.txt"))
	if err != nil || string(got) != "instance i-0f3a9c2b7d1e4a605 account 210987654321\n" {
		t.Errorf("the Bash tool did not act on the originals (result.txt: %d bytes, %v)", len(got), err)
	}
	if !api.turn2 || !api.resultOK {
		t.Error("the tool result did not come back (masked) in a second request")
	}
	if !api.thinkOK {
		t.Error("the signed thinking block did not come back byte-identical")
	}
	if !strings.Contains(stdout.String(), "Recorded i-0f3a9c2b7d1e4a605 in account 210987654321.") {
		t.Errorf("Claude Code's answer was not unmasked: %q", redact(stdout.String()))
	}
	summary := stderr.String()
	if !regexp.MustCompile(`claude-secure ▸ [0-9]+ requests · [1-9][0-9]* identifiers masked .* values restored`).MatchString(summary) {
		t.Errorf("no summary line on stderr:\n%s", redact(summary))
	}
	t.Logf("%d requests reached the fake upstream; summary: %s", api.requests, strings.TrimSpace(lastLine(summary)))
}

// redact keeps the originals out of test output.
func redact(s string) string {
	for _, o := range originals {
		s = strings.ReplaceAll(s, o, "<original>")
	}
	return s
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return redact(lines[len(lines)-1])
}
