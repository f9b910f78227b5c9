package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/claude-secure/claude-secure/internal/fixtures"
	"github.com/claude-secure/claude-secure/internal/redistest"
	"github.com/claude-secure/claude-secure/mask"
	"github.com/claude-secure/claude-secure/mask/store"
)

// fixture is realistic AWS material from mask/testdata with the secrets
// it holds.
type fixture = fixtures.Fixture

func loadFixtures(t testing.TB) []fixture { return fixtures.Load(t, "../mask/testdata/fixtures") }

// position puts text where Claude Code puts text in a request body, and
// reads it back from a body of the same shape.
type position struct {
	name string
	put  func(text string) map[string]any // a Messages body with text at the position
	get  func(t *testing.T, body []byte) string
}

// userBody is a Messages body whose first user turn holds content.
func userBody(content any) map[string]any {
	return map[string]any{"model": "m", "max_tokens": 10,
		"messages": []any{map[string]any{"role": "user", "content": content}}}
}

// firstContent decodes the content of a body's first message into v.
func firstContent(t *testing.T, body []byte, v any) {
	var req struct {
		Messages []struct{ Content json.RawMessage }
	}
	mustJSON(t, body, &req)
	if len(req.Messages) == 0 {
		t.Fatal("a body without messages")
	}
	mustJSON(t, req.Messages[0].Content, v)
}

var positions = []position{
	{"system", func(x string) map[string]any {
		b := userBody("Summarise what you were given.")
		b["system"] = x
		return b
	}, func(t *testing.T, body []byte) string {
		var req struct{ System string }
		mustJSON(t, body, &req)
		return req.System
	}},
	{"user turn", func(x string) map[string]any { return userBody(x) }, func(t *testing.T, body []byte) string {
		var s string
		firstContent(t, body, &s)
		return s
	}},
	{"tool_result", func(x string) map[string]any {
		return userBody([]any{map[string]any{"type": "tool_result", "tool_use_id": "toolu_01", "content": x}})
	}, func(t *testing.T, body []byte) string {
		var b []struct{ Content string }
		firstContent(t, body, &b)
		return b[0].Content
	}},
	{"tool_use input", func(x string) map[string]any {
		return userBody([]any{map[string]any{"type": "tool_use", "id": "toolu_01", "name": "Bash", "input": map[string]any{"command": x}}})
	}, func(t *testing.T, body []byte) string {
		var b []struct{ Input struct{ Command string } }
		firstContent(t, body, &b)
		return b[0].Input.Command
	}},
	{"JSON file in a tool input", func(x string) map[string]any {
		file, _ := json.Marshal(map[string]string{"notes": x})
		return userBody([]any{map[string]any{"type": "tool_use", "id": "toolu_01", "name": "Write", "input": map[string]any{"file_path": "/tmp/notes.json", "content": string(file)}}})
	}, func(t *testing.T, body []byte) string {
		var b []struct{ Input struct{ Content string } }
		firstContent(t, body, &b)
		var f struct{ Notes string }
		mustJSON(t, []byte(b[0].Input.Content), &f)
		return f.Notes
	}},
}

func mustJSON(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
}

// decodedTexts returns b and every JSON string in it decoded, at every
// level, so that a value cannot pass a check behind an escape.
func decodedTexts(b []byte) string {
	var out strings.Builder
	out.Write(b)
	var walk func(v any, depth int)
	walk = func(v any, depth int) {
		switch x := v.(type) {
		case string:
			out.WriteString("\n" + x)
			var inner any
			if depth < 6 && json.Unmarshal([]byte(x), &inner) == nil {
				walk(inner, depth+1)
			}
		case []any:
			for _, e := range x {
				walk(e, depth)
			}
		case map[string]any:
			for k, e := range x {
				out.WriteString("\n" + k)
				walk(e, depth)
			}
		}
	}
	var v any
	if json.Unmarshal(b, &v) == nil {
		walk(v, 0)
	}
	return out.String()
}

// The fixtures in every position of a body, through the proxy: no secret
// reaches the upstream, the upstream sees what `claude-secure mask` makes
// of the same text, and the answer quoting it back restores it byte for
// byte.
func TestFixturesInEveryPositionThroughTheProxy(t *testing.T) {
	t.Run("memory", func(t *testing.T) {
		e := memoryEngine(t)
		fixturesInEveryPosition(t, e, e)
	})
	// the proxy and `claude-secure mask` as two processes on one store
	t.Run("file store", func(t *testing.T) {
		dir := t.TempDir()
		fixturesInEveryPosition(t, storeEngine(t, openFileStore(t, dir)), storeEngine(t, openFileStore(t, dir)))
	})
	t.Run("redis store", func(t *testing.T) {
		srv := redistest.Start(t)
		fixturesInEveryPosition(t, storeEngine(t, openRedisStore(t, srv.URL())), storeEngine(t, openRedisStore(t, srv.URL())))
	})
	// network mode: the client at api.anthropic.com through HTTPS_PROXY
	t.Run("network mode", func(t *testing.T) {
		e := memoryEngine(t)
		fixturesThrough(t, e, func(upstream string) func(body []byte) *http.Response {
			n, ca := startNetworkWith(t, upstream, e, nil)
			c := networkClient(n.URL(), ca.Certificate())
			return func(body []byte) *http.Response {
				req, _ := http.NewRequest(http.MethodPost, "https://api.anthropic.com/v1/messages", bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("x-api-key", "sk-test")
				resp, err := c.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				return resp
			}
		})
	})
}

var storeKey = []byte("0123456789abcdef0123456789abcdef")

func openFileStore(t *testing.T, dir string) store.Backend {
	s, err := store.Open(dir, storeKey)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func openRedisStore(t *testing.T, url string) store.Backend {
	s, err := store.OpenRedis(context.Background(), url, storeKey)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func storeEngine(t *testing.T, b store.Backend) *mask.Engine {
	e, err := mask.New(b.Seed(), b, nil)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// fixturesInEveryPosition sends every fixture in every position through a
// session proxy masking with proxyEngine, and compares with what cli
// makes of it.
func fixturesInEveryPosition(t *testing.T, proxyEngine, cli *mask.Engine) {
	fixturesThrough(t, cli, func(upstream string) func(body []byte) *http.Response {
		p, _ := startProxy(t, upstream, func(o *Options) { o.Engine = proxyEngine })
		return func(body []byte) *http.Response { return post(t, p.BaseURL()+"/v1/messages", body) }
	})
}

// fixturesThrough sends every fixture in every position with the sender
// start makes for an upstream, and compares with what cli makes of it.
func fixturesThrough(t *testing.T, cli *mask.Engine, start func(upstream string) func(body []byte) *http.Response) {
	var last []byte
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		last = body
		// the model quotes back, as text, the whole body it received
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"type": "message", "role": "assistant", "model": "m",
			"content": []any{map[string]any{"type": "text", "text": string(body)}}})
	})
	send := start(up.URL)
	for _, f := range loadFixtures(t) {
		// the CLI's masking of the text, once the store knows its values
		cli.MaskBytes([]byte(f.Text), nil)
		cliOut, err := cli.MaskBytes([]byte(f.Text), nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, pos := range positions {
			body, _ := json.Marshal(pos.put(f.Text))
			resp := send(body)
			answer, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("%s in %s: status %d", f.Name, pos.name, resp.StatusCode)
			}
			seen := decodedTexts(last)
			for i, s := range f.Secrets {
				if strings.Contains(seen, s) {
					t.Errorf("%s in %s: secret %d reached the upstream", f.Name, pos.name, i+1)
				}
			}
			if got := pos.get(t, last); got != string(cliOut) {
				t.Errorf("%s in %s: the proxy and mask disagree", f.Name, pos.name)
			}
			// restored by identity, every pseudonym the request made
			var msg struct{ Content []struct{ Text string } }
			mustJSON(t, answer, &msg)
			if got := pos.get(t, []byte(msg.Content[0].Text)); got != f.Text {
				t.Errorf("%s in %s: the answer quoting the masked text back was not restored", f.Name, pos.name)
			}
		}
	}
}

// The proxy decodes nothing its own request did not mask: another
// sender's pseudonyms, pasted in, split or escaped, stay pseudonyms.
func TestProxyRestoresOnlyWhatItsRequestMasked(t *testing.T) {
	var echo string
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		text := maskedText(t, body)
		if echo == "" {
			echo = text // the first request's masked text: someone else's
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"type": "message", "role": "assistant", "model": "m",
			"content": []any{map[string]any{"type": "text", "text": "echo: " + echo + " | " + strings.Join(strings.Fields(echo), "")},
				map[string]any{"type": "tool_use", "id": "toolu_1", "name": "x", "input": map[string]any{"v": echo}}}})
	})
	p, _ := startProxy(t, up.URL)
	resp := post(t, p.BaseURL()+"/v1/messages", requestBody(clientText))
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	// a second client sends the first one's masked text, as if pasted
	resp = post(t, p.BaseURL()+"/v1/messages", requestBody(echo))
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for i, o := range originals {
		if strings.Contains(decodedTexts(answer), o) {
			t.Errorf("original %d of another request was restored", i+1)
		}
	}
}

// A document block with a plain-text source: the API reads source.data as
// the document's text, and the proxy masks it.
func TestTextDocumentSourceIsMaskedThroughTheProxy(t *testing.T) {
	up := newFakeAPI(t)
	p, _ := startProxy(t, up.URL)
	body, _ := json.Marshal(map[string]any{"model": "m", "max_tokens": 10, "messages": []any{map[string]any{"role": "user", "content": []any{
		map[string]any{"type": "document", "source": map[string]any{"type": "text", "media_type": "text/plain", "data": clientText}},
		map[string]any{"type": "text", "text": "Summarize the document."},
	}}}})
	resp := post(t, p.BaseURL()+"/v1/messages", body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || up.Hits.Load() != 1 {
		t.Fatalf("status %d, %d requests upstream: the document was not forwarded", resp.StatusCode, up.Hits.Load())
	}
	// newFakeAPI fails the test if any original reached it
	if strings.Contains(string(up.Requests()[0].Body), "i-0f3a9c2b7d1e4a605") {
		t.Error("the document's text went upstream unmasked")
	}
}

// An original that cannot stand as a JSON number (an account ID starting
// with 0) whose pseudonym the model wrote as one: the response stays JSON,
// the tool input gets the original as a string, and the thinking block is
// not touched.
func TestUnrestorableNumberKeepsThinking(t *testing.T) {
	accounts := []string{"012345678901", "023456789012", "034567890123", "045678901234", "056789012345", "067890123456"}
	var thinking string
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		var p string
		for _, f := range strings.FieldsFunc(string(body), func(c rune) bool { return c < '0' || c > '9' }) {
			if len(f) == 12 && f[0] != '0' {
				p = f
				break
			}
		}
		thinking = "The account is " + p
		resp, _ := json.Marshal(map[string]any{"id": "msg_1", "type": "message", "role": "assistant", "content": []any{
			map[string]any{"type": "thinking", "thinking": thinking, "signature": "EqQBCkgIBxABGAIiQL7f3x9T"},
			map[string]any{"type": "tool_use", "id": "toolu_1", "name": "get_account", "input": json.RawMessage(`{"account_id":` + p + `}`)},
		}})
		w.Header().Set("Content-Type", "application/json")
		w.Write(resp)
	})
	p, _ := startProxy(t, up.URL)
	var text strings.Builder
	for _, a := range accounts {
		text.WriteString(`{"OwnerId": "` + a + `"} `)
	}
	resp := post(t, p.BaseURL()+"/v1/messages", requestBody(text.String()))
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !json.Valid(b) {
		t.Error("the client got a response that is not JSON")
	}
	if !strings.Contains(string(b), thinking) {
		t.Error("the thinking block was rewritten (restored as text)")
	}
	var m struct {
		Content []struct {
			Input struct {
				AccountID any `json:"account_id"`
			}
		}
	}
	if err := json.Unmarshal(b, &m); err != nil || len(m.Content) < 2 {
		t.Fatal("no tool input in the response")
	}
	if a, ok := m.Content[1].Input.AccountID.(string); !ok || !slices.Contains(accounts, a) {
		t.Errorf("the tool input's account was not restored as a string (%T)", m.Content[1].Input.AccountID)
	}
}
