package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/claude-secure/claude-secure/internal/doccase"
	"github.com/claude-secure/claude-secure/internal/fakeapi"
)

const (
	serveInstance = "i-0f3a9c2b7d1e4a605"
	serveAccount  = "210987654321"
	servePrompt   = "Why is instance " + serveInstance + " in account " + serveAccount + " failing its health checks?"
)

// buildClaudeSecure builds the command into dir and returns its path.
func buildClaudeSecure(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "claude-secure")
	build := exec.Command("go", "build", "-o", bin, "../cmd/claude-secure")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

// gatewayProcess is `claude-secure serve` running as its own process.
type gatewayProcess struct {
	cmd    *exec.Cmd
	addr   string
	mu     sync.Mutex
	logs   bytes.Buffer
	exited chan error
}

func (g *gatewayProcess) log() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.logs.String()
}

// serveEnv is the environment of every claude-secure process of a test.
func serveEnv(state string) []string {
	return append(os.Environ(),
		"CLAUDE_SECURE_HOME="+state,
		"CLAUDE_SECURE_KEY=AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
		"DBUS_SESSION_BUS_ADDRESS=unix:path=/nonexistent",
		"ANTHROPIC_API_KEY=sk-ant-gateway-key",
		"ANTHROPIC_BASE_URL=",
	)
}

func createToken(t *testing.T, bin, state, name, role string) string {
	t.Helper()
	cmd := exec.Command(bin, "token", "create", name, "--role", role)
	cmd.Env = serveEnv(state)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("token create: %v", err)
	}
	return strings.TrimSpace(string(out))
}

func startGateway(t *testing.T, bin, state string, args ...string) *gatewayProcess {
	t.Helper()
	return startGatewayEnv(t, bin, state, nil, args...)
}

// startGatewayEnv is startGateway with more environment variables.
func startGatewayEnv(t *testing.T, bin, state string, env []string, args ...string) *gatewayProcess {
	t.Helper()
	g := &gatewayProcess{exited: make(chan error, 1)}
	g.cmd = exec.Command(bin, append([]string{"serve", "--listen", "127.0.0.1:0"}, args...)...)
	g.cmd.Env = append(serveEnv(state), env...)
	stderr, err := g.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := g.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			g.mu.Lock()
			g.logs.Write(sc.Bytes())
			g.logs.WriteByte('\n')
			g.mu.Unlock()
			var l struct{ Msg, Addr string }
			if json.Unmarshal(sc.Bytes(), &l) == nil && l.Msg == "listening" {
				addr <- l.Addr
			}
		}
		g.exited <- g.cmd.Wait()
	}()
	t.Cleanup(func() {
		g.cmd.Process.Kill()
	})
	select {
	case g.addr = <-addr:
	case err := <-g.exited:
		t.Fatalf("serve exited before listening: %v\n%s", err, g.log())
	case <-time.After(20 * time.Second):
		t.Fatalf("serve did not start listening\n%s", g.log())
	}
	return g
}

// A real `claude-secure serve` process: tokens from `token create`, a
// streamed answer restored, metrics for a viewer, and SIGTERM letting the
// stream in flight finish before the process exits 0.
func TestServeProcess(t *testing.T) {
	tmp := t.TempDir()
	bin := buildClaudeSecure(t, tmp)
	state := filepath.Join(tmp, "state")
	api := fakeapi.New(true)
	defer api.Close()
	user := createToken(t, bin, state, "alice", "user")
	viewer := createToken(t, bin, state, "grafana", "viewer")
	g := startGateway(t, bin, state, "--upstream", api.URL)
	base := "http://" + g.addr

	body, _ := json.Marshal(map[string]any{"model": "claude-fake", "max_tokens": 100, "stream": true,
		"messages": []any{map[string]any{"role": "user", "content": servePrompt}}})
	send := func(tok string) (*http.Response, error) {
		req, _ := http.NewRequest(http.MethodPost, base+"/v1/messages", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("x-api-key", tok)
		req.Header.Set("content-type", "application/json")
		return http.DefaultClient.Do(req)
	}
	resp, err := send(user)
	if err != nil {
		t.Fatal(err)
	}
	all, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if text := deltaText(t, all); text != fakeapi.Answer(serveInstance, serveAccount) {
		t.Fatal("the streamed text is not the model's answer with the originals restored")
	}

	// the official Go SDK, with the token as its API key
	client := anthropic.NewClient(option.WithBaseURL(base), option.WithAPIKey(user), option.WithMaxRetries(0))
	stream := client.Messages.NewStreaming(context.Background(), anthropic.MessageNewParams{
		Model: "claude-fake", MaxTokens: 100,
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock(servePrompt))},
	})
	var msg anthropic.Message
	for stream.Next() {
		if err := msg.Accumulate(stream.Current()); err != nil {
			t.Fatal(err)
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatalf("Go SDK stream: %v", err)
	}
	if len(msg.Content) != 2 || msg.Content[0].Text != fakeapi.Answer(serveInstance, serveAccount) ||
		string(msg.Content[1].Input) != fakeapi.ToolInput(serveInstance, serveAccount) {
		t.Fatal("the Go SDK's message does not carry the originals in its text and tool input")
	}

	req, _ := http.NewRequest(http.MethodGet, base+"/metrics", nil)
	req.Header.Set("x-claude-secure-token", viewer)
	mresp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(mresp.Body)
	mresp.Body.Close()
	if mresp.StatusCode != 200 || !strings.Contains(string(metrics), `claude_secure_requests_total{code="200",endpoint="/v1/messages",token="alice"} 2`) {
		t.Fatalf("metrics: status %d", mresp.StatusCode)
	}

	// a slow stream, then SIGTERM in the middle of it
	api.SetPace(25 * time.Millisecond)
	resp, err = send(user)
	if err != nil {
		t.Fatal(err)
	}
	first := make([]byte, 20)
	if _, err := io.ReadFull(resp.Body, first); err != nil {
		t.Fatal(err)
	}
	if err := g.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	refused := false
	for deadline := time.Now().Add(5 * time.Second); !refused && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		c, err := net.DialTimeout("tcp", g.addr, time.Second)
		if refused = err != nil; !refused {
			c.Close()
		}
	}
	if !refused {
		t.Fatal("serve still accepted connections 5 s after SIGTERM")
	}
	rest, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("the stream in flight was cut at SIGTERM: %v", err)
	}
	if text := deltaText(t, append(first, rest...)); text != fakeapi.Answer(serveInstance, serveAccount) {
		t.Fatal("the stream in flight at SIGTERM did not finish whole")
	}
	select {
	case err := <-g.exited:
		if err != nil {
			t.Fatalf("serve exited with %v after SIGTERM", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("serve did not exit after SIGTERM")
	}
	logs := g.log()
	for _, want := range []string{`"msg":"shutting down"`, `"msg":"stopped"`, `"token":"alice"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("serve's log lacks %s", want)
		}
	}
	for _, o := range []string{serveInstance, serveAccount, user, viewer} {
		if strings.Contains(logs, o) {
			t.Errorf("serve's log holds a value (%d bytes) it must not", len(o))
		}
		if api.Saw(o) {
			t.Errorf("a value (%d bytes) reached the upstream", len(o))
		}
	}
}

// The official TypeScript SDK from npm against a real `serve`:
// scripts/e2e.sh installs it and sets ANTHROPIC_TS_SDK_DIR.
func TestTypeScriptSDK(t *testing.T) {
	dir := tsSDKDir(t)
	tmp := t.TempDir()
	bin := buildClaudeSecure(t, tmp)
	state := filepath.Join(tmp, "state")
	api := fakeapi.New(true)
	defer api.Close()
	tok := createToken(t, bin, state, "ts-sdk", "user")
	g := startGateway(t, bin, state, "--upstream", api.URL)

	out := runTSSDK(t, dir, g, tok, "PROMPT="+servePrompt)
	var got struct {
		Streamed, Plain struct {
			Text  string
			Input map[string]string
		}
		StreamedText string
		InputTokens  int
		Refused      int
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("the script's output is not JSON (%d bytes)", len(out))
	}
	want := fakeapi.Answer(serveInstance, serveAccount)
	for name, m := range map[string]struct {
		Text  string
		Input map[string]string
	}{"streamed": got.Streamed, "plain": got.Plain} {
		if m.Text != want {
			t.Errorf("%s: the text is not the model's answer with the originals restored", name)
		}
		if m.Input["instance_id"] != serveInstance || m.Input["account"] != serveAccount {
			t.Errorf("%s: the tool input does not carry the originals", name)
		}
	}
	if got.StreamedText != want {
		t.Error("the text events are not the model's answer with the originals restored")
	}
	if got.InputTokens <= 0 {
		t.Errorf("count_tokens: %d", got.InputTokens)
	}
	if got.Refused != 401 {
		t.Errorf("a client without a gateway token got status %d, want 401", got.Refused)
	}
	if n := len(api.Requests()); n != 3 {
		t.Errorf("upstream got %d requests, want 3 (the refused one never reaches it)", n)
	}
	for _, o := range []string{serveInstance, serveAccount, tok} {
		if api.Saw(o) {
			t.Errorf("a value (%d bytes) reached the upstream", len(o))
		}
	}
}

// The Go SDK against a real `serve` with JSON documents inside JSON
// strings (see doccase): the upstream gets no original at any level of
// escaping, the client that sent them gets them back from a streamed tool
// input cut inside the pseudonyms and from a JSON body, and another
// client pasting the pseudonyms gets none.
func TestServeProcessJSONDocuments(t *testing.T) {
	tmp := t.TempDir()
	bin := buildClaudeSecure(t, tmp)
	state := filepath.Join(tmp, "state")
	api := fakeapi.NewDocuments(true)
	defer api.Close()
	owner := createToken(t, bin, state, "owner", "user")
	other := createToken(t, bin, state, "other", "user")
	g := startGateway(t, bin, state, "--upstream", api.URL)
	doccase.Run(t, "http://"+g.addr, owner, other, api)
	logs := g.log()
	for _, o := range doccase.Originals() {
		if strings.Contains(logs, o) {
			t.Errorf("serve's log holds an original (%d bytes)", len(o))
		}
	}
}

// The TypeScript SDK against a real `serve` with the same documents,
// streamed and not (scripts/e2e.sh sets ANTHROPIC_TS_SDK_DIR).
func TestTypeScriptSDKJSONDocuments(t *testing.T) {
	dir := tsSDKDir(t)
	tmp := t.TempDir()
	bin := buildClaudeSecure(t, tmp)
	state := filepath.Join(tmp, "state")
	api := fakeapi.NewDocuments(true)
	defer api.Close()
	tok := createToken(t, bin, state, "ts-sdk", "user")
	g := startGateway(t, bin, state, "--upstream", api.URL)

	c := doccase.New()
	params, err := json.Marshal(c.Params())
	if err != nil {
		t.Fatal(err)
	}
	out := runTSSDK(t, dir, g, tok, "DOC_PARAMS="+string(params))
	type answer struct {
		Text        string
		Input       json.RawMessage
		PartialJSON string // the input_json_delta events joined, streamed only
	}
	var got struct {
		Streamed     answer
		StreamedText string // the text events joined
		Plain        answer
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("the script's output is not JSON (%d bytes)", len(out))
	}
	for name, a := range map[string]struct {
		text  string
		input []byte
	}{
		"streamed":                   {got.Streamed.Text, got.Streamed.Input},
		"streamed, the text events":  {got.StreamedText, got.Streamed.Input},
		"streamed, the input deltas": {got.Streamed.Text, []byte(got.Streamed.PartialJSON)},
		"plain":                      {got.Plain.Text, got.Plain.Input},
	} {
		for _, d := range c.CheckAnswer(a.text, a.input) {
			t.Errorf("%s: the answer does not carry the originals: %s", name, d)
		}
	}
	for _, d := range doccase.CheckMasked(c, doccase.Received(t, api)) {
		t.Error("upstream request: " + d)
	}
	if n := len(api.Requests()); n != 2 {
		t.Errorf("upstream got %d requests, want 2", n)
	}
	for _, o := range doccase.Originals() {
		if api.SawDecoded(o) {
			t.Errorf("an original (%d bytes) reached the upstream", len(o))
		}
	}
}

// deltaText is the text a streamed answer carries.
func deltaText(t *testing.T, sse []byte) string {
	t.Helper()
	text, _, err := fakeapi.Streamed(sse)
	if err != nil {
		t.Fatal(err)
	}
	return text
}

// tsSDKDir is where scripts/e2e.sh installed the TypeScript SDK; without
// it the test is skipped, saying so.
func tsSDKDir(t *testing.T) string {
	dir := os.Getenv("ANTHROPIC_TS_SDK_DIR")
	if dir == "" {
		t.Skip("ANTHROPIC_TS_SDK_DIR is not set: scripts/e2e.sh installs @anthropic-ai/sdk from npm and runs this test")
	}
	return dir
}

// runTSSDK runs testdata/ts-sdk.cjs with the SDK in dir against the
// gateway g with token tok (and env besides), and returns its output.
func runTSSDK(t *testing.T, dir string, g *gatewayProcess, tok string, env ...string) []byte {
	script, _ := filepath.Abs("testdata/ts-sdk.cjs")
	node := exec.Command("node", script)
	node.Env = append(os.Environ(),
		"NODE_PATH="+filepath.Join(dir, "node_modules"),
		"GATEWAY_URL=http://"+g.addr,
		"GATEWAY_TOKEN="+tok)
	node.Env = append(node.Env, env...)
	var stderr bytes.Buffer
	node.Stderr = &stderr
	out, err := node.Output()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, stderr.String())
	}
	return out
}
