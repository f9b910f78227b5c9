package fakeapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
)

// A fake API made by NewDocuments answers a conversation that carries JSON
// documents inside JSON strings: the model echoes the last user text, then
// writes a file whose content is a JSON document holding the document of
// the last tool call (its input's "content") and the document of the last
// tool result, as it received them. Streamed, the tool input is cut in the
// middle of every string value of those documents and just before each,
// inside the escapes around it.

// DocumentTool is the name of the tool the document model calls.
const DocumentTool = "write_file"

// NewDocuments starts a fake API on 127.0.0.1 whose Messages endpoint
// answers as the document model.
func NewDocuments(keep bool) *Server {
	s := &Server{keep: keep, documents: true}
	s.Server = newHTTPServer(s)
	return s
}

// Conversation is what the document model reads in a Messages request.
type Conversation struct {
	UserText string // the last text block (or string content) of a user turn
	FilePath string // "file_path" of the last tool_use input
	Written  string // "content" of the last tool_use input: a JSON document
	Observed string // the text of the last tool_result: a JSON document
}

// ReadConversation reads a Messages request body as the document model does.
func ReadConversation(body []byte) (Conversation, error) {
	var req struct {
		Messages []struct {
			Role    string          `json:"role"`
			Content json.RawMessage `json:"content"`
		} `json:"messages"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return Conversation{}, fmt.Errorf("the body is not JSON: %v", err)
	}
	var c Conversation
	for _, m := range req.Messages {
		blocks, err := contentBlocks(m.Content)
		if err != nil {
			return Conversation{}, err
		}
		for _, b := range blocks {
			switch {
			case b.Type == "text" && m.Role == "user":
				c.UserText = b.Text
			case b.Type == "tool_use":
				var in struct {
					FilePath string `json:"file_path"`
					Content  string `json:"content"`
				}
				if err := json.Unmarshal(b.Input, &in); err != nil {
					return Conversation{}, fmt.Errorf("a tool_use input is not a JSON object with string fields: %v", err)
				}
				c.FilePath, c.Written = in.FilePath, in.Content
			case b.Type == "tool_result":
				inner, err := contentBlocks(b.Content)
				if err != nil {
					return Conversation{}, err
				}
				var text strings.Builder
				for _, x := range inner {
					text.WriteString(x.Text)
				}
				c.Observed = text.String()
			}
		}
	}
	return c, nil
}

type block struct {
	Type    string          `json:"type"`
	Text    string          `json:"text"`
	Input   json.RawMessage `json:"input"`
	Content json.RawMessage `json:"content"`
}

// contentBlocks reads a content field: a string (one text block) or blocks.
func contentBlocks(raw json.RawMessage) ([]block, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return []block{{Type: "text", Text: s}}, nil
	}
	var bs []block
	if err := json.Unmarshal(raw, &bs); err != nil {
		return nil, fmt.Errorf("a content field is neither a string nor blocks: %v", err)
	}
	return bs, nil
}

// EchoDocument is the document the model writes: {"Written": …,
// "Observed": …}, indented, each of the two parsed from its JSON text.
func EchoDocument(written, observed string) (string, error) {
	var w, o any
	if err := json.Unmarshal([]byte(written), &w); err != nil {
		return "", fmt.Errorf("the tool_use document is not JSON: %v", err)
	}
	if err := json.Unmarshal([]byte(observed), &o); err != nil {
		return "", fmt.Errorf("the tool_result document is not JSON: %v", err)
	}
	b, err := json.MarshalIndent(map[string]any{"Written": w, "Observed": o}, "", "  ")
	return string(b), err
}

// EchoInput is the JSON input of the model's tool call.
func EchoInput(filePath, doc string) string {
	b, _ := json.Marshal(map[string]string{"file_path": filePath, "content": doc})
	return string(b)
}

func (s *Server) documentAnswer(w http.ResponseWriter, body []byte, stream bool) {
	bad := func(msg string) {
		writeJSON(w, http.StatusBadRequest, map[string]any{"type": "error", "error": map[string]string{"type": "invalid_request_error", "message": msg}})
	}
	c, err := ReadConversation(body)
	if err != nil {
		bad(err.Error())
		return
	}
	doc, err := EchoDocument(c.Written, c.Observed)
	if err != nil {
		bad(err.Error())
		return
	}
	input := EchoInput(c.FilePath, doc)
	if !stream {
		m := message("", "")
		m["id"] = "msg_doc"
		m["content"] = []any{
			map[string]any{"type": "text", "text": c.UserText},
			map[string]any{"type": "tool_use", "id": "toolu_doc", "name": DocumentTool, "input": json.RawMessage(input)},
		}
		writeJSON(w, http.StatusOK, m)
		return
	}
	// where to cut: inside every string the documents hold
	var vals []string
	for _, d := range []string{c.Written, c.Observed} {
		vals = append(vals, Leaves([]byte(d))...)
	}
	send := s.sender(w)
	m := message("", "")
	m["id"] = "msg_doc"
	m["content"] = []any{}
	m["stop_reason"] = nil
	send("message_start", map[string]any{"type": "message_start", "message": m})
	send("content_block_start", map[string]any{"type": "content_block_start", "index": 0, "content_block": map[string]any{"type": "text", "text": ""}})
	for _, piece := range Cut(c.UserText, 7, vals) {
		send("content_block_delta", map[string]any{"type": "content_block_delta", "index": 0, "delta": map[string]any{"type": "text_delta", "text": piece}})
	}
	send("content_block_stop", map[string]any{"type": "content_block_stop", "index": 0})
	send("content_block_start", map[string]any{"type": "content_block_start", "index": 1, "content_block": map[string]any{"type": "tool_use", "id": "toolu_doc", "name": DocumentTool, "input": map[string]any{}}})
	for _, piece := range Cut(input, 13, vals) {
		send("content_block_delta", map[string]any{"type": "content_block_delta", "index": 1, "delta": map[string]any{"type": "input_json_delta", "partial_json": piece}})
	}
	send("content_block_stop", map[string]any{"type": "content_block_stop", "index": 1})
	send("message_delta", map[string]any{"type": "message_delta", "delta": map[string]any{"stop_reason": "tool_use", "stop_sequence": nil}, "usage": map[string]any{"output_tokens": 20}})
	send("message_stop", map[string]any{"type": "message_stop"})
}

// Cut splits s every n bytes, in the middle of every occurrence of each
// value of vals at least four bytes long, and one byte before it (inside
// the quote or escape that opens it).
func Cut(s string, n int, vals []string) []string {
	at := map[int]bool{}
	for i := n; i < len(s); i += n {
		at[i] = true
	}
	for _, v := range vals {
		if len(v) < 4 {
			continue
		}
		for from := 0; ; {
			i := strings.Index(s[from:], v)
			if i < 0 {
				break
			}
			i += from
			at[i+len(v)/2] = true
			if i > 0 {
				at[i-1] = true
			}
			from = i + 1
		}
	}
	return SplitAt(s, at)
}

// SplitAt splits s at each offset in at that falls inside it, in order.
func SplitAt(s string, at map[int]bool) []string {
	cuts := make([]int, 0, len(at))
	for i := range at {
		if i > 0 && i < len(s) {
			cuts = append(cuts, i)
		}
	}
	sort.Ints(cuts)
	var out []string
	prev := 0
	for _, i := range cuts {
		out = append(out, s[prev:i])
		prev = i
	}
	return append(out, s[prev:])
}

// Leaves returns every string (keys and values) of a JSON text, and of
// every JSON text a string of it holds, at every level. Not JSON: nothing.
func Leaves(b []byte) []string {
	var v any
	if json.Unmarshal(b, &v) != nil {
		return nil
	}
	var out []string
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case string:
			out = append(out, x)
			var inner any
			if json.Unmarshal([]byte(x), &inner) == nil {
				if _, plain := inner.(string); plain || isContainer(inner) {
					walk(inner)
				}
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		case map[string]any:
			for k, e := range x {
				out = append(out, k)
				walk(e)
			}
		}
	}
	walk(v)
	return out
}

func isContainer(v any) bool {
	switch v.(type) {
	case []any, map[string]any:
		return true
	}
	return false
}

// Texts is b as it is, every line of b, and every string Leaves finds in
// b and in each line (the data of an event stream): what a value could
// hide behind, one level of escaping after another.
func Texts(b []byte) []string {
	out := []string{string(b)}
	out = append(out, Leaves(b)...)
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimPrefix(line, "data: ")
		out = append(out, Leaves([]byte(line))...)
	}
	return out
}

// SawDecoded reports whether any request carried v in its URL or headers,
// in its raw body, or in a string of its body decoded at any level.
func (s *Server) SawDecoded(v string) bool {
	if s.Saw(v) {
		return true
	}
	for _, r := range s.Requests() {
		if slices.ContainsFunc(Texts(r.Body), func(t string) bool { return strings.Contains(t, v) }) {
			return true
		}
	}
	return false
}

// DiffJSON compares two parsed JSON values and describes where they differ
// by path, kind and length, never by value. A string that holds a JSON
// object or array on both sides is compared as JSON (path element ">").
func DiffJSON(path string, want, got any) []string {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return []string{fmt.Sprintf("%s: want an object, got %T", path, got)}
		}
		var out []string
		keys := make([]string, 0, len(w))
		for k := range w {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			gv, ok := g[k]
			if !ok {
				out = append(out, fmt.Sprintf("%s.%s: missing", path, k))
				continue
			}
			out = append(out, DiffJSON(path+"."+k, w[k], gv)...)
		}
		for k := range g {
			if _, ok := w[k]; !ok {
				out = append(out, fmt.Sprintf("%s: an unexpected key (%d bytes)", path, len(k)))
			}
		}
		return out
	case []any:
		g, ok := got.([]any)
		if !ok {
			return []string{fmt.Sprintf("%s: want an array, got %T", path, got)}
		}
		if len(g) != len(w) {
			return []string{fmt.Sprintf("%s: %d elements, want %d", path, len(g), len(w))}
		}
		var out []string
		for i := range w {
			out = append(out, DiffJSON(fmt.Sprintf("%s[%d]", path, i), w[i], g[i])...)
		}
		return out
	case string:
		g, ok := got.(string)
		if !ok {
			return []string{fmt.Sprintf("%s: want a string, got %T", path, got)}
		}
		if g == w {
			return nil
		}
		var wj, gj any
		if json.Unmarshal([]byte(w), &wj) == nil && isContainer(wj) {
			if json.Unmarshal([]byte(g), &gj) != nil {
				return []string{fmt.Sprintf("%s: want a string holding JSON, got one (%d bytes) that is not JSON", path, len(g))}
			}
			if d := DiffJSON(path+">", wj, gj); len(d) > 0 {
				return d
			}
			return []string{fmt.Sprintf("%s: the same JSON written differently (%d bytes, want %d)", path, len(g), len(w))}
		}
		return []string{fmt.Sprintf("%s: a different string (%d bytes, want %d)", path, len(g), len(w))}
	default:
		if fmt.Sprint(want) != fmt.Sprint(got) {
			return []string{fmt.Sprintf("%s: a different %T", path, want)}
		}
		return nil
	}
}
