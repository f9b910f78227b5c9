package mask

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"regexp"
	"strings"
	"testing"
)

var jsonStringRE = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)

// outsideStrings blanks every string literal, leaving the bytes between.
func outsideStrings(b []byte) []byte { return jsonStringRE.ReplaceAll(b, []byte(`""`)) }

func maskRequest(t testing.TB, e *Engine, body []byte) []byte {
	t.Helper()
	out, _, err := e.MaskRequest(body, BodyMessages, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !json.Valid(out) {
		t.Fatal("masked body is not valid JSON")
	}
	if !bytes.Equal(outsideStrings(out), outsideStrings(body)) {
		t.Fatal("bytes outside string values changed")
	}
	return out
}

func TestMaskRequestClaudeCodeBody(t *testing.T) {
	body, err := os.ReadFile("testdata/request.json")
	if err != nil {
		t.Fatal(err)
	}
	e, _ := testEngine(t, nil)
	out := maskRequest(t, e, body)

	var in, got map[string]any
	if err := json.Unmarshal(body, &in); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	// structural fields and thinking blocks are untouched
	if got["model"] != in["model"] {
		t.Error("model changed")
	}
	inMsgs, gotMsgs := in["messages"].([]any), got["messages"].([]any)
	thinking := 0
	for i := range inMsgs {
		im, gm := inMsgs[i].(map[string]any), gotMsgs[i].(map[string]any)
		if im["role"] != gm["role"] {
			t.Errorf("message %d: role changed", i)
		}
		blocks, ok := im["content"].([]any)
		if !ok {
			continue
		}
		for j, b := range blocks {
			ib, gb := b.(map[string]any), gm["content"].([]any)[j].(map[string]any)
			switch ib["type"] {
			case "thinking", "redacted_thinking":
				thinking++
				ij, _ := json.Marshal(ib)
				gj, _ := json.Marshal(gb)
				if !bytes.Equal(ij, gj) {
					t.Errorf("message %d block %d: %s block changed", i, j, ib["type"])
				}
				// drop it so the secret check below ignores its text
				gm["content"].([]any)[j] = nil
			case "tool_use":
				if ib["id"] != gb["id"] || ib["name"] != gb["name"] {
					t.Errorf("message %d block %d: tool_use id or name changed", i, j)
				}
			}
		}
	}
	if thinking < 2 {
		t.Fatalf("fixture has %d thinking blocks, want at least 2", thinking)
	}
	// thinking blocks must also pass byte-identical in the raw body
	for _, sig := range []string{`"signature": "EqQBCkgIBxABGAIiQL7f3x9TQ2w1c2l0ZS1mYWtl`, `"thinking": "The user wants me to look at i-0c1d2e3f4a5b6c7d8 in 150987654324;`} {
		if !bytes.Contains(out, []byte(sig)) {
			t.Error("thinking block bytes changed")
		}
	}
	rest, _ := json.Marshal(got)
	for _, f := range loadFixtures(t) {
		switch f.name {
		case "prose.md", "describe-instances.json", "iam-policy.json": // the fixtures inside request.json
		default:
			continue
		}
		for i, s := range f.secrets {
			if bytes.Contains(body, []byte(s)) && bytes.Contains(rest, []byte(s)) {
				t.Errorf("secret %d of %s reached the masked body", i+1, f.name)
			}
		}
	}
	// an MCP tool input's own keys are context: {"bucket": "…"}
	if bytes.Contains(out, []byte(`"bucket": "acme-incident-notes"`)) {
		t.Error("tool input bucket not masked")
	}
	if !bytes.Contains(out, []byte(`"name": "mcp__aws__describe_bucket"`)) {
		t.Error("tool name changed")
	}
}

func TestMaskRequestFailClosedOnNewFields(t *testing.T) {
	e, _ := testEngine(t, nil)
	body := []byte(`{"model":"claude-x","future_field":{"deep":["account 210987654321"]},"messages":[` +
		`{"role":"system","content":"host 10.1.2.3"},` +
		`{"role":"system","content":[{"type":"text","text":"i-0f3a9c2b7d1e4a605"}]},` +
		`{"role":"user","content":[{"type":"document","source":{"type":"base64","media_type":"application/pdf","data":"10.9.8.7"},"title":"vpc-0d4e5f6a"},` +
		`{"type":"document","source":{"data":"host 10.6.5.4","type":"text","media_type":"text/plain"}}]}]}`)
	out := maskRequest(t, e, body)
	for _, s := range []string{"210987654321", "10.1.2.3", "i-0f3a9c2b7d1e4a605", "vpc-0d4e5f6a", "10.6.5.4"} {
		if bytes.Contains(out, []byte(s)) {
			t.Errorf("a value in a %d-byte field reached the masked body", len(s))
		}
	}
	// base64 data is structural (it is not text)
	if !bytes.Contains(out, []byte(`"data":"10.9.8.7"`)) {
		t.Error("source data was rewritten")
	}
	if !bytes.Contains(out, []byte(`"model":"claude-x"`)) {
		t.Error("model was rewritten")
	}
}

func TestMaskRequestEscapes(t *testing.T) {
	e, _ := testEngine(t, nil)
	body := []byte(`{"messages":[{"role":"user","content":"a\nAKIAQ3EGUWTX3KMNPZRX\tb\u00a0i-0f3a9c2b7d1e4a605\"10.1.2.3\" \\u00e9 \\\\vpc-0d4e5f6a"}]}`)
	out := maskRequest(t, e, body)
	for _, s := range []string{"AKIAQ3EGUWTX3KMNPZRX", "i-0f3a9c2b7d1e4a605", "10.1.2.3", "vpc-0d4e5f6a"} {
		if bytes.Contains(out, []byte(s)) {
			t.Errorf("identifier after an escape (%d bytes) not masked", len(s))
		}
	}
	var v any
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatal(err)
	}
}

func TestMaskRequestThinkingTypeLast(t *testing.T) {
	e, _ := testEngine(t, nil)
	body := []byte(`{"messages":[{"role":"assistant","content":[{"thinking":"i-0f3a9c2b7d1e4a605","signature":"abc","type":"thinking"}]}]}`)
	out := maskRequest(t, e, body)
	if !bytes.Equal(out, body) {
		t.Error("thinking block with its type last was rewritten")
	}
}

func TestMaskRequestBatch(t *testing.T) {
	e, _ := testEngine(t, nil)
	body := []byte(`{"requests":[{"custom_id":"req-1","params":{"model":"m","messages":[{"role":"user","content":"vpc-0d4e5f6a"}]}}]}`)
	out, _, err := e.MaskRequest(body, BodyBatch, nil)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(out, []byte("vpc-0d4e5f6a")) || !bytes.Contains(out, []byte(`"custom_id":"req-1"`)) {
		t.Error("batch: custom_id must stay and content must be masked")
	}
}

// Structural fields are not masked (the API reads them: ids, names, the
// model, a batch request's custom_id), so one that holds a value to mask,
// even escaped, refuses the whole request; opaque fields (signatures,
// thinking, base64 data) pass as they are.
func TestStructuralFieldsHoldingValuesAreRefused(t *testing.T) {
	e, m := testEngine(t, nil)
	for i, b := range []string{
		`{"requests":[{"custom_id":"vpc-0d4e5f6a","params":{"model":"m","messages":[]}}]}`,
		`{"requests":[{"custom_id":"vpc-0\u00644e5f6a","params":{"model":"m","messages":[]}}]}`,
		`{"model":"m","messages":[{"role":"assistant","content":[{"type":"tool_use","id":"toolu_01","name":"i-0f3a9c2b7d1e4a605","input":{}}]}]}`,
		`{"model":"m","messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"acct-210987654321","content":"ok"}]}]}`,
		`{"model":"10.20.30.40","messages":[]}`,
		// keys the schema does not name, wherever they stand
		`{"model":"m","AKIAQ3EGUWTX3KMNPZRX":1,"messages":[]}`,
		`{"model":"m","messages":[{"role":"user","content":"hi","AKIAQ3EGUWTX3KMNPZRX":1}]}`,
		`{"model":"m","tool_choice":{"type":"auto","AKIAQ3EGUWTX3KMNPZRX":true},"messages":[]}`,
		// fields opaque only in a thinking block or a search result
		`{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"hi","signature":"AKIAQ3EGUWTX3KMNPZRX"}]}]}`,
		`{"model":"m","messages":[{"role":"assistant","content":[{"type":"tool_use","id":"toolu_01","name":"f","input":{},"encrypted_content":"i-0f3a9c2b7d1e4a605"}]}]}`,
		// a text document sent base64: its text, and its data as sent
		`{"model":"m","messages":[{"role":"user","content":[{"type":"document","source":{"type":"base64","media_type":"text/plain","data":"aW5zdGFuY2UgaS0wZjNhOWMyYjdkMWU0YTYwNQ=="}}]}]}`,
		`{"model":"m","messages":[{"role":"user","content":[{"type":"document","source":{"type":"base64","media_type":"text/plain","data":"AKIAQ3EGUWTX3KMNPZRX"}}]}]}`,
	} {
		kind := BodyMessages
		if strings.HasPrefix(b, `{"requests"`) {
			kind = BodyBatch
		}
		if _, _, err := e.MaskRequest([]byte(b), kind, nil); !errors.Is(err, ErrStructural) {
			t.Errorf("body %d: got %v, want ErrStructural", i, err)
		}
	}
	if m.Len() != 0 {
		t.Error("mappings were recorded for a body that was refused")
	}
	// a value this same body teaches the store (a bucket in an s3:// URL)
	// counts in its structural fields
	same := `{"requests":[{"custom_id":"acme-orders-archive","params":{"model":"m","messages":[{"role":"user","content":"s3://acme-orders-archive/x"}]}}]}`
	if _, _, err := e.MaskRequest([]byte(same), BodyBatch, nil); !errors.Is(err, ErrStructural) {
		t.Errorf("a value learned from the same body: got %v, want ErrStructural", err)
	}
	// thinking and search results pass whole only where the model wrote
	// them; keys are read as the upstream reads them
	for i, b := range []string{
		`{"model":"m","messages":[{"role":"user","content":[{"type":"thinking","thinking":"AKIAQ3EGUWTX3KMNPZRX","signature":"x"}]}]}`,
		`{"model":"m","system":[{"type":"redacted_thinking","data":"AKIAQ3EGUWTX3KMNPZRX"}],"messages":[]}`,
		`{"model":"m","messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":[{"type":"web_search_result","encrypted_content":"AKIAQ3EGUWTX3KMNPZRX"}]}]}]}`,
		`{"model":"m","messages":[{"role":"user","content":[{"type":"document","source":{"type":"base64","media_typ\u0065":"text/plain","data":"QUtJQVEzRUdVV1RYM0tNTlBaUlg="}}]}]}`,
		`{"model":"m","messages":[{"role":"user","content":[{"type":"document","source":{"type":"base64","data":"QUtJQVEzRUdVV1RYM0tNTlBaUlg="}}]}]}`,
		`{"model":"m","messages":[{"role":"user","content":[{"type":"image","source":{"type":"base64","media_type":"image/png","data":{"x":"AKIAQ3EGUWTX3KMNPZRX"}}}]}]}`,
	} {
		out, _, err := e.MaskRequest([]byte(b), BodyMessages, nil)
		if err == nil && bytes.Contains(out, []byte("AKIAQ3EGUWTX3KMNPZRX")) {
			t.Errorf("opaque-looking body %d: the value went out", i)
		}
	}
	// a web search result's encrypted content is the API's own
	search := []byte(`{"model":"m","messages":[{"role":"assistant","content":[{"type":"web_search_tool_result","tool_use_id":"srvtoolu_01","content":[{"type":"web_search_result","url":"https://example.com","title":"t","encrypted_content":"i-0f3a9c2b7d1e4a605"}]}]}]}`)
	if _, _, err := e.MaskRequest(search, BodyMessages, nil); err != nil {
		t.Errorf("a search result's encrypted content: %v", err)
	}
	opaque := []byte(`{"model":"m","messages":[{"role":"assistant","content":[{"type":"thinking","thinking":"i-0f3a9c2b7d1e4a605","signature":"AKIAQ3EGUWTX3KMNPZRX"},{"type":"redacted_thinking","data":"10.20.30.40"},{"type":"text","text":"hi"}]},{"role":"user","content":[{"type":"image","source":{"type":"base64","media_type":"image/png","data":"AKIAQ3EGUWTX3KMNPZRX"}}]}]}`)
	out, _, err := e.MaskRequest(opaque, BodyMessages, nil)
	if err != nil || !bytes.Equal(out, opaque) {
		t.Errorf("opaque fields: %v, unchanged %v", err, bytes.Equal(out, opaque))
	}
}

// A name the store learned elsewhere (a Lambda function called WebFetch)
// may also be a tool's name: tool names count only for what a detector
// finds, so the program that names its tool so is not refused from then
// on; in other structural fields a learned value still refuses.
func TestLearnedValueAsToolNameIsNotRefused(t *testing.T) {
	e, _ := testEngine(t, nil)
	if _, err := e.MaskBytes([]byte("arn:aws:lambda:us-east-1:210987654321:function:WebFetch"), nil); err != nil {
		t.Fatal(err)
	}
	tools := []byte(`{"model":"m","tools":[{"name":"WebFetch","description":"fetch","input_schema":{"type":"object"}}],"tool_choice":{"type":"tool","name":"WebFetch"},"messages":[{"role":"assistant","content":[{"type":"tool_use","id":"toolu_01","name":"WebFetch","input":{}}]}]}`)
	if _, _, err := e.MaskRequest(tools, BodyMessages, nil); err != nil {
		t.Errorf("tool names that are a learned value: %v", err)
	}
	for _, b := range []string{
		`{"requests":[{"custom_id":"WebFetch","params":{"model":"m","messages":[]}}]}`,
		// a "name" outside a tool call is not a tool's name
		`{"requests":[{"custom_id":"r","params":{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"y","name":"WebFetch"}]}]}}]}`,
	} {
		if _, _, err := e.MaskRequest([]byte(b), BodyBatch, nil); !errors.Is(err, ErrStructural) {
			t.Errorf("a learned value outside a tool's name: got %v, want ErrStructural", err)
		}
	}
}

func TestMaskRequestRejectsInvalidJSON(t *testing.T) {
	e, m := testEngine(t, nil)
	for i, b := range []string{``, `{`, `{"a":}`, `{"a":"i-0f3a9c2b7d1e4a605"`, `[1,]`, `{"a":"x"} trailing`, `{"a":tru}`, `"unterminated`} {
		_, _, err := e.MaskRequest([]byte(b), BodyMessages, nil)
		if !errors.Is(err, ErrInvalidJSON) {
			t.Errorf("body %d: got %v, want ErrInvalidJSON", i, err)
		}
		if err != nil && strings.Contains(err.Error(), "i-0f3a") {
			t.Errorf("body %d: error quotes the input", i)
		}
	}
	if m.Len() != 0 {
		t.Error("mappings were recorded for a body that was refused")
	}
}

// TestMaskRequestMatchesTextMasking: the same JSON masked as an API body and
// as text agree on every pseudonym (outside the exempt fields).
func TestMaskRequestMatchesTextMasking(t *testing.T) {
	e, _ := testEngine(t, nil)
	body := []byte(`{"messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":"{\"OwnerId\": \"210987654321\", \"BucketName\": \"acme-x-logs\", \"Tags\": [{\"Key\": \"Name\", \"Value\": \"web 1\"}]}"}]}]}`)
	a := maskRequest(t, e, body)
	b, err := e.MaskBytes(body, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Errorf("API-body and text masking disagree at byte %d", firstDiff(a, b))
	}
	for _, s := range []string{"210987654321", "acme-x-logs", "web 1"} {
		if bytes.Contains(a, []byte(s)) {
			t.Errorf("context value (%d bytes) not masked inside an escaped tool result", len(s))
		}
	}
}

// Blocks nested in blocks deeper than any request the API takes are
// refused: working out each block's type reads the whole block, so depth
// would cost the square of the body's size.
func TestDeeplyNestedBlocksAreRefused(t *testing.T) {
	e, _ := testEngine(t, nil)
	inner := `"hi"`
	for range maxBlockDepth + 1 {
		inner = `[{"content":` + inner + `,"type":"tool_result","tool_use_id":"t"}]`
	}
	body := `{"model":"m","messages":[{"role":"user","content":` + inner + `}]}`
	if _, _, err := e.MaskRequest([]byte(body), BodyMessages, nil); !errors.Is(err, ErrTooDeep) {
		t.Errorf("got %v, want ErrTooDeep", err)
	}
}
