package fakeapi

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// made-up values
const (
	docAccount = "385720164937"
	docBucket  = "wrenfield-cold-archive"
)

func documentsBody(t *testing.T, stream bool) []byte {
	t.Helper()
	written, _ := json.Marshal(map[string]any{"OwnerId": docAccount})
	observed, _ := json.Marshal(map[string]any{"BucketName": docBucket})
	b, err := json.Marshal(map[string]any{"model": "claude-fake", "max_tokens": 10, "stream": stream, "messages": []any{
		map[string]any{"role": "assistant", "content": []any{map[string]any{"type": "tool_use", "id": "t1", "name": DocumentTool,
			"input": map[string]any{"file_path": "/tmp/a.json", "content": string(written)}}}},
		map[string]any{"role": "user", "content": []any{
			map[string]any{"type": "tool_result", "tool_use_id": "t1", "content": []any{map[string]any{"type": "text", "text": string(observed)}}},
			map[string]any{"type": "text", "text": "Check account " + docAccount + "."},
		}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The document model reads the documents out of the conversation and
// writes them back, the same streamed (cut inside every value) or not.
func TestDocumentModel(t *testing.T) {
	s := NewDocuments(true)
	defer s.Close()
	c, err := ReadConversation(documentsBody(t, false))
	if err != nil {
		t.Fatal(err)
	}
	if c.FilePath != "/tmp/a.json" || !strings.Contains(c.Written, docAccount) || !strings.Contains(c.Observed, docBucket) || !strings.HasPrefix(c.UserText, "Check") {
		t.Fatal("the conversation was not read")
	}
	doc, err := EchoDocument(c.Written, c.Observed)
	if err != nil {
		t.Fatal(err)
	}
	wantInput := EchoInput(c.FilePath, doc)
	for _, stream := range []bool{false, true} {
		resp, err := http.Post(s.URL+"/v1/messages", "application/json", bytes.NewReader(documentsBody(t, stream)))
		if err != nil {
			t.Fatal(err)
		}
		out, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		var text, input string
		if stream {
			if text, input, err = Streamed(out); err != nil {
				t.Fatal(err)
			}
			if n := strings.Count(string(out), "input_json_delta"); n < 10 {
				t.Fatalf("the tool input came in %d pieces", n)
			}
		} else {
			var m struct {
				Content []struct {
					Text  string          `json:"text"`
					Input json.RawMessage `json:"input"`
				} `json:"content"`
			}
			if err := json.Unmarshal(out, &m); err != nil || len(m.Content) != 2 {
				t.Fatalf("not the message: %v", err)
			}
			text, input = m.Content[0].Text, string(m.Content[1].Input)
		}
		if text != c.UserText || input != wantInput {
			t.Fatalf("stream=%v: the answer is not the user text and the documents", stream)
		}
	}
	if !s.SawDecoded(docBucket) || s.SawDecoded("not-sent-at-all") {
		t.Fatal("SawDecoded")
	}
}

func TestCutSplitsEveryValue(t *testing.T) {
	doc, _ := EchoDocument(`{"OwnerId":"`+docAccount+`"}`, `{"BucketName":"`+docBucket+`"}`)
	input := EchoInput("/tmp/a.json", doc)
	vals := []string{docAccount, docBucket}
	pieces := Cut(input, 13, vals)
	if strings.Join(pieces, "") != input {
		t.Fatal("the pieces do not join to the input")
	}
	cuts, at := map[int]bool{}, 0
	for _, p := range pieces {
		at += len(p)
		cuts[at] = true
	}
	for _, v := range vals {
		i := strings.Index(input, v)
		if i < 0 {
			t.Fatal("a value is not in the input")
		}
		if !cuts[i-1] || !cuts[i+len(v)/2] {
			t.Errorf("a value (%d bytes) is not cut in its middle and inside the escape before it", len(v))
		}
	}
}

// Texts finds a value behind escapes that hide it from the raw bytes:
// a JSON document in a string in a string, \u escapes, event data.
func TestTextsDecodesEveryLevel(t *testing.T) {
	inner, _ := json.Marshal(map[string]string{"OwnerId": docAccount})
	mid, _ := json.Marshal(map[string]string{"content": string(inner)})
	outer, _ := json.Marshal(map[string]string{"partial_json": string(mid)})
	// the value's third digit (5) as \u0035 in the innermost document
	hidden := []byte(strings.ReplaceAll(string(outer), docAccount, docAccount[:2]+`\\\\u0035`+docAccount[3:]))
	for name, b := range map[string][]byte{
		"three levels":      outer,
		"unicode escapes":   hidden,
		"event stream data": append(append([]byte("event: x\ndata: "), hidden...), '\n'),
	} {
		found := false
		for _, x := range Texts(b) {
			found = found || strings.Contains(x, docAccount)
		}
		if !found {
			t.Errorf("%s: the value was not found", name)
		}
	}
	if bytes.Contains(hidden, []byte(docAccount)) {
		t.Fatal("the escaped body should not hold the value as is")
	}
}

func TestDiffJSONNamesNoValue(t *testing.T) {
	var want, got any
	json.Unmarshal([]byte(`{"Policy": "{\"Principal\": \"`+docAccount+`\"}", "BucketName": "`+docBucket+`"}`), &want)
	json.Unmarshal([]byte(`{"Policy": "{\"Principal\": \"999999999999\"}", "BucketName": "`+docBucket+`x"}`), &got)
	d := DiffJSON("doc", want, got)
	for _, x := range d {
		if strings.Contains(x, docAccount) || strings.Contains(x, docBucket) || strings.Contains(x, "999999999999") {
			t.Fatal("a difference names a value")
		}
	}
	if len(d) != 2 || !strings.HasPrefix(d[0], "doc.BucketName:") || !strings.HasPrefix(d[1], "doc.Policy>.Principal:") {
		t.Fatalf("differences: %q", d) // checked above: they name no value
	}
	if d := DiffJSON("doc", want, want); len(d) != 0 {
		t.Fatalf("equal values differ: %q", d)
	}
}
