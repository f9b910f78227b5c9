package proxy

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// Batch results are JSONL, restored a line at a time as JSON: a thinking
// block in a result stays byte-identical to what the model signed.
func TestBatchResultsKeepThinkingByteIdentical(t *testing.T) {
	var seen string
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		switch r.Method {
		case http.MethodPost:
			var req struct {
				Requests []struct {
					Params struct {
						Messages []struct{ Content string }
					}
				}
			}
			json.Unmarshal(body, &req)
			seen = req.Requests[0].Params.Messages[0].Content
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"id":"msgbatch_t","type":"message_batch"}`)
		default:
			line, _ := json.Marshal(map[string]any{"custom_id": "r", "result": map[string]any{"type": "succeeded", "message": map[string]any{
				"content": []any{
					map[string]any{"type": "thinking", "thinking": "The user asks about " + seen, "signature": "EqQBCkgIBxABGAIiQL7f3x9T"},
					map[string]any{"type": "text", "text": "About " + seen},
				}}}})
			w.Header().Set("Content-Type", "application/binary")
			w.Write(append(line, '\n'))
			// a line that is not JSON is restored as text
			io.WriteString(w, "not JSON: about "+seen+"\r\n")
		}
	})
	p, _ := startProxy(t, up.URL)
	batch, _ := json.Marshal(map[string]any{"requests": []any{map[string]any{"custom_id": "r",
		"params": map[string]any{"model": "m", "max_tokens": 10, "messages": []any{map[string]any{"role": "user", "content": clientText}}}}}})
	post(t, p.BaseURL()+"/v1/messages/batches", batch).Body.Close()
	resp, err := http.Get(p.BaseURL() + "/v1/messages/batches/msgbatch_t/results")
	if err != nil {
		t.Fatal(err)
	}
	all, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	b, rest, _ := strings.Cut(string(all), "\n")
	if rest != "not JSON: about "+clientText+"\r\n" {
		t.Errorf("a results line that is not JSON was not restored as text, with its line end")
	}
	var res struct {
		Result struct {
			Message struct {
				Content []struct{ Type, Thinking, Text string }
			}
		}
	}
	if err := json.Unmarshal([]byte(b), &res); err != nil {
		t.Fatal(err)
	}
	c := res.Result.Message.Content
	if c[1].Text != "About "+clientText {
		t.Fatalf("the text block was not restored")
	}
	if c[0].Thinking != "The user asks about "+seen {
		t.Errorf("a thinking block in batch results was rewritten; sent back in the next turn its signature no longer verifies")
	}
}

func TestBatchResultsUnmasked(t *testing.T) {
	var pseudo string
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		if r.Method == http.MethodPost {
			var b struct {
				Requests []struct {
					Params struct {
						Messages []struct{ Content string } `json:"messages"`
					} `json:"params"`
				} `json:"requests"`
			}
			json.Unmarshal(body, &b)
			pseudo = b.Requests[0].Params.Messages[0].Content
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"id":"msgbatch_1","type":"message_batch"}`))
			return
		}
		w.Header().Set("Content-Type", "application/binary")
		for i := 0; i < 3; i++ {
			line, _ := json.Marshal(map[string]any{"custom_id": "r", "result": map[string]any{"type": "succeeded", "message": map[string]any{"content": []any{map[string]any{"type": "text", "text": pseudo}}}}})
			w.Write(append(line, '\n'))
		}
	})
	p, _ := startProxy(t, up.URL)
	batch, _ := json.Marshal(map[string]any{"requests": []any{map[string]any{"custom_id": "r", "params": map[string]any{"model": "m", "max_tokens": 10, "messages": []any{map[string]any{"role": "user", "content": clientText}}}}}})
	resp := post(t, p.BaseURL()+"/v1/messages/batches", batch)
	resp.Body.Close()
	resp, err := http.Get(p.BaseURL() + "/v1/messages/batches/msgbatch_1/results")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if bytes.Count(body, []byte(clientText)) != 3 {
		t.Error("batch results not unmasked")
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
