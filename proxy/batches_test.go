package proxy

import (
	"encoding/json"
	"io"
	"net/http"
	"slices"
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
