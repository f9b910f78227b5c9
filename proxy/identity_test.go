package proxy

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fixture is realistic AWS material from mask/testdata with the secrets
// it holds.
type fixture struct {
	name    string
	text    string
	secrets []string
}

func fixtures(t *testing.T) []fixture {
	t.Helper()
	files, _ := filepath.Glob("../mask/testdata/fixtures/*.secrets")
	if len(files) == 0 {
		t.Fatal("no fixtures")
	}
	var out []fixture
	for _, sf := range files {
		text, err := os.ReadFile(strings.TrimSuffix(sf, ".secrets"))
		if err != nil {
			t.Fatal(err)
		}
		sec, _ := os.ReadFile(sf)
		f := fixture{name: filepath.Base(strings.TrimSuffix(sf, ".secrets")), text: string(text)}
		for _, l := range strings.Split(strings.TrimSpace(string(sec)), "\n") {
			if l = strings.TrimSpace(l); l != "" {
				f.secrets = append(f.secrets, l)
			}
		}
		out = append(out, f)
	}
	return out
}

// position puts text where Claude Code puts text in a request body, and
// reads it back from a body of the same shape.
type position struct {
	name string
	put  func(text string) any // the message content
	get  func(t *testing.T, content json.RawMessage) string
}

var positions = []position{
	{"user turn", func(x string) any { return x }, func(t *testing.T, c json.RawMessage) string {
		var s string
		mustJSON(t, c, &s)
		return s
	}},
	{"tool_result", func(x string) any {
		return []any{map[string]any{"type": "tool_result", "tool_use_id": "toolu_01", "content": x}}
	}, func(t *testing.T, c json.RawMessage) string {
		var b []struct{ Content string }
		mustJSON(t, c, &b)
		return b[0].Content
	}},
	{"tool_use input", func(x string) any {
		return []any{map[string]any{"type": "tool_use", "id": "toolu_01", "name": "Bash", "input": map[string]any{"command": x}}}
	}, func(t *testing.T, c json.RawMessage) string {
		var b []struct{ Input struct{ Command string } }
		mustJSON(t, c, &b)
		return b[0].Input.Command
	}},
	{"JSON file in a tool input", func(x string) any {
		file, _ := json.Marshal(map[string]string{"notes": x})
		return []any{map[string]any{"type": "tool_use", "id": "toolu_01", "name": "Write", "input": map[string]any{"file_path": "/tmp/notes.json", "content": string(file)}}}
	}, func(t *testing.T, c json.RawMessage) string {
		var b []struct{ Input struct{ Content string } }
		mustJSON(t, c, &b)
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
	var last []byte
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		last = body
		var req struct {
			Messages []struct{ Content json.RawMessage }
		}
		json.Unmarshal(body, &req)
		// the model quotes back, as text, what it received at the position
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"type": "message", "role": "assistant", "model": "m",
			"content": []any{map[string]any{"type": "text", "text": string(req.Messages[0].Content)}}})
	})
	p, e := startProxy(t, up.URL)
	for _, f := range fixtures(t) {
		// the CLI's masking of the text, once the store knows its values
		e.MaskBytes([]byte(f.text), nil)
		cli, err := e.MaskBytes([]byte(f.text), nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, pos := range positions {
			body, _ := json.Marshal(map[string]any{"model": "m", "max_tokens": 10,
				"messages": []any{map[string]any{"role": "user", "content": pos.put(f.text)}}})
			resp := post(t, p.BaseURL()+"/v1/messages", body)
			answer, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("%s in %s: status %d", f.name, pos.name, resp.StatusCode)
			}
			seen := decodedTexts(last)
			for i, s := range f.secrets {
				if strings.Contains(seen, s) {
					t.Errorf("%s in %s: secret %d reached the upstream", f.name, pos.name, i+1)
				}
			}
			var req struct {
				Messages []struct{ Content json.RawMessage }
			}
			mustJSON(t, last, &req)
			if got := pos.get(t, req.Messages[0].Content); got != string(cli) {
				t.Errorf("%s in %s: the proxy and mask disagree", f.name, pos.name)
			}
			// restored by identity, every pseudonym the request made
			var msg struct{ Content []struct{ Text string } }
			mustJSON(t, answer, &msg)
			if got := pos.get(t, []byte(msg.Content[0].Text)); got != f.text {
				t.Errorf("%s in %s: the answer quoting the masked text back was not restored", f.name, pos.name)
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

func TestDuplicateKeysAreRefused(t *testing.T) {
	up := newFakeAPI(t)
	p, _ := startProxy(t, up.URL)
	body := []byte(`{"model":"m","max_tokens":10,"messages":[{"role":"assistant","content":[{"type":"thinking","type":"text","text":"i-0f3a9c2b7d1e4a605","signature":"s"}]}]}`)
	resp := post(t, p.BaseURL()+"/v1/messages", body)
	out, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || !bytes.Contains(out, []byte("invalid_request_error")) {
		t.Errorf("status %d, want 400 invalid_request_error", resp.StatusCode)
	}
	if up.Hits.Load() != 0 {
		t.Error("a body with a duplicate key was forwarded")
	}
}

// A batch's results restore what masking its creation produced, and
// nothing for a batch this proxy never saw created.
func TestBatchResultsRestoreTheirBatchOnly(t *testing.T) {
	var results string
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		switch {
		case r.Method == http.MethodPost:
			var req struct {
				Requests []struct{ Params json.RawMessage }
			}
			json.Unmarshal(body, &req)
			results = string(req.Requests[0].Params)
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"id":"msgbatch_a","type":"message_batch"}`))
		default:
			w.Header().Set("Content-Type", "application/binary")
			io.WriteString(w, results+"\n")
		}
	})
	p, e := startProxy(t, up.URL, func(o *Options) { o.Batches = &memBatches{} })
	batch, _ := json.Marshal(map[string]any{"requests": []any{map[string]any{"custom_id": "r",
		"params": map[string]any{"model": "m", "max_tokens": 10, "messages": []any{map[string]any{"role": "user", "content": clientText}}}}}})
	resp := post(t, p.BaseURL()+"/v1/messages/batches", batch)
	resp.Body.Close()
	get := func(id string) string {
		resp, err := http.Get(p.BaseURL() + "/v1/messages/batches/" + id + "/results")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	if !strings.Contains(get("msgbatch_a"), clientText) {
		t.Error("the batch's results were not restored")
	}
	if got := get("msgbatch_other"); strings.Contains(decodedTexts([]byte(got)), "i-0f3a9c2b7d1e4a605") {
		t.Error("results of a batch this proxy did not create restored someone's originals")
	}
	// a new session proxy (another process) finds the batch's restore set
	// in the store
	p2, err := New(Options{Upstream: p.opts.Upstream, Engine: e, Batches: p.opts.Batches})
	if err != nil {
		t.Fatal(err)
	}
	p2.Start()
	defer p2.Shutdown(t.Context())
	resp2, err := http.Get(p2.BaseURL() + "/v1/messages/batches/msgbatch_a/results")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp2.Body)
	resp2.Body.Close()
	if !strings.Contains(string(b), clientText) {
		t.Error("a batch's restore set did not outlive the proxy that created it")
	}
}

// memBatches is a BatchStore in memory (the encrypted store is one on disk).
type memBatches struct {
	sets map[string][]string
}

func (m *memBatches) SaveBatch(id string, ps []string) error {
	if m.sets == nil {
		m.sets = map[string][]string{}
	}
	m.sets[id] = ps
	return nil
}

func (m *memBatches) LoadBatch(id string) ([]string, bool, error) {
	ps, ok := m.sets[id]
	return ps, ok, nil
}
