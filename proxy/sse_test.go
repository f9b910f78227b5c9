package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/claude-secure/claude-secure/mask"
)

const signature = "EqQBCkgIBxABGAIiQL7f3x9TQ2w1c2l0ZS1mYWtl"

// script is a Messages API event stream whose text and tool input carry
// the pseudonyms the upstream saw, split into deltas at the given cuts.
func script(text, toolJSON string, textCuts, jsonCuts []int) []byte {
	var b bytes.Buffer
	ev := func(name string, data any) {
		d, _ := json.Marshal(data)
		fmt.Fprintf(&b, "event: %s\ndata: %s\n\n", name, d)
	}
	pieces := func(s string, cuts []int) []string {
		var out []string
		prev := 0
		for _, c := range cuts {
			if c > prev && c < len(s) {
				out = append(out, s[prev:c])
				prev = c
			}
		}
		return append(out, s[prev:])
	}
	ev("message_start", map[string]any{"type": "message_start", "message": map[string]any{"id": "msg_1", "type": "message", "role": "assistant", "content": []any{}, "model": "m"}})
	ev("content_block_start", map[string]any{"type": "content_block_start", "index": 0, "content_block": map[string]any{"type": "thinking", "thinking": "", "signature": ""}})
	ev("content_block_delta", map[string]any{"type": "content_block_delta", "index": 0, "delta": map[string]any{"type": "thinking_delta", "thinking": "thinking about " + text}})
	ev("content_block_delta", map[string]any{"type": "content_block_delta", "index": 0, "delta": map[string]any{"type": "signature_delta", "signature": signature}})
	ev("content_block_stop", map[string]any{"type": "content_block_stop", "index": 0})
	b.WriteString(": a comment line\n\n")
	ev("ping", map[string]any{"type": "ping"})
	ev("content_block_start", map[string]any{"type": "content_block_start", "index": 1, "content_block": map[string]any{"type": "text", "text": ""}})
	for _, p := range pieces(text, textCuts) {
		ev("content_block_delta", map[string]any{"type": "content_block_delta", "index": 1, "delta": map[string]any{"type": "text_delta", "text": p}})
	}
	ev("content_block_stop", map[string]any{"type": "content_block_stop", "index": 1})
	ev("content_block_start", map[string]any{"type": "content_block_start", "index": 2, "content_block": map[string]any{"type": "tool_use", "id": "toolu_1", "name": "Bash", "input": map[string]any{}}})
	for _, p := range pieces(toolJSON, jsonCuts) {
		ev("content_block_delta", map[string]any{"type": "content_block_delta", "index": 2, "delta": map[string]any{"type": "input_json_delta", "partial_json": p}})
	}
	ev("content_block_stop", map[string]any{"type": "content_block_stop", "index": 2})
	ev("message_delta", map[string]any{"type": "message_delta", "delta": map[string]any{"stop_reason": "tool_use"}, "usage": map[string]any{"output_tokens": 9}})
	ev("message_stop", map[string]any{"type": "message_stop"})
	return b.Bytes()
}

// writeChunked writes b with a flush after every n bytes.
func writeChunked(w http.ResponseWriter, b []byte, n int) {
	f := w.(http.Flusher)
	for len(b) > 0 {
		k := min(n, len(b))
		w.Write(b[:k])
		f.Flush()
		b = b[k:]
	}
}

type streamed struct {
	text, toolJSON, thinking, signature string
	events                              [][2]string
}

func collect(t *testing.T, r io.Reader) streamed {
	t.Helper()
	var s streamed
	s.events = readEvents(t, r)
	for _, e := range s.events {
		var d struct {
			Type  string `json:"type"`
			Index int    `json:"index"`
			Delta struct {
				Type, Text, PartialJSON, Thinking, Signature string
			} `json:"delta"`
		}
		if err := json.Unmarshal([]byte(e[1]), &d); err != nil {
			t.Fatalf("event %q carries invalid JSON", e[0])
		}
		if e[0] != "" && e[0] != d.Type {
			t.Errorf("event name %q does not match its type %q", e[0], d.Type)
		}
		var raw struct {
			Delta map[string]string `json:"delta"`
		}
		json.Unmarshal([]byte(e[1]), &raw)
		switch d.Delta.Type {
		case "text_delta":
			s.text += raw.Delta["text"]
		case "input_json_delta":
			s.toolJSON += raw.Delta["partial_json"]
		case "thinking_delta":
			s.thinking += raw.Delta["thinking"]
		case "signature_delta":
			s.signature += raw.Delta["signature"]
		}
	}
	return s
}

func toolJSONFor(text string) string {
	b, _ := json.Marshal(map[string]string{"command": "aws ec2 describe-instances --instance-ids " + text})
	return string(b)
}

// TestStreamRestoresPseudonymsSplitAtEveryByte cuts the text and the tool
// input at every byte, and the HTTP body into small flushed pieces.
func TestStreamRestoresPseudonymsSplitAtEveryByte(t *testing.T) {
	var cut, chunk int
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		masked := maskedText(t, body)
		w.Header().Set("Content-Type", "text/event-stream")
		writeChunked(w, script(masked, toolJSONFor(masked), []int{cut, cut + 1}, []int{cut, cut + 3}), chunk)
	})
	p, _ := startProxy(t, up.URL)
	wantJSON := toolJSONFor(clientText)
	for cut = 0; cut <= len(wantJSON); cut++ {
		chunk = 1 + cut%37
		if cut == 5 {
			chunk = 1 // one run with a flush after every byte
		}
		resp := post(t, p.BaseURL()+"/v1/messages", requestBody(clientText))
		if resp.Header.Get("Content-Type") != "text/event-stream" {
			t.Fatalf("content type %q", resp.Header.Get("Content-Type"))
		}
		s := collect(t, resp.Body)
		resp.Body.Close()
		if s.text != clientText {
			t.Fatalf("cut %d: streamed text not restored", cut)
		}
		if s.toolJSON != wantJSON {
			t.Fatalf("cut %d: tool input not restored", cut)
		}
		if strings.Contains(s.thinking, "i-0f3a9c2b7d1e4a605") || !strings.HasPrefix(s.thinking, "thinking about Instance i-") {
			t.Fatalf("cut %d: thinking was rewritten", cut)
		}
		if s.signature != signature {
			t.Fatalf("cut %d: signature changed", cut)
		}
	}
}

// TestStreamPassesThinkingByteIdentical: every event other than text and
// tool-input deltas — thinking, signatures, pings, comments, stops — comes
// through byte for byte, in order.
func TestStreamPassesThinkingByteIdentical(t *testing.T) {
	var sent []byte
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		w.Header().Set("Content-Type", "text/event-stream")
		sent = script("plain words only", `{"command":"ls"}`, []int{3}, []int{4})
		writeChunked(w, sent, 11)
	})
	p, _ := startProxy(t, up.URL)
	resp := post(t, p.BaseURL()+"/v1/messages", requestBody("hello"))
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	rest := got
	for _, ev := range bytes.SplitAfter(sent, []byte("\n\n")) {
		if bytes.Contains(ev, []byte("text_delta")) || bytes.Contains(ev, []byte("input_json_delta")) || len(ev) == 0 {
			continue
		}
		k := bytes.Index(rest, ev)
		if k < 0 {
			t.Fatalf("an event changed or moved: %.60q", ev)
		}
		rest = rest[k+len(ev):]
	}
	s := collect(t, bytes.NewReader(got))
	if s.text != "plain words only" || s.toolJSON != `{"command":"ls"}` {
		t.Error("deltas changed")
	}
}

func firstDiffBytes(a, b []byte) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

func TestStreamMidStreamDisconnect(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		masked := maskedText(t, body)
		w.Header().Set("Content-Type", "text/event-stream")
		full := script(masked, toolJSONFor(masked), nil, nil)
		w.Write(full[:len(full)/2])
		w.(http.Flusher).Flush()
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close()
		}
	})
	p, _ := startProxy(t, up.URL)
	resp := post(t, p.BaseURL()+"/v1/messages", requestBody(clientText))
	s := collect(t, resp.Body)
	resp.Body.Close()
	last := s.events[len(s.events)-1]
	if last[0] != "error" || !strings.Contains(last[1], "claude-secure: ") {
		t.Fatalf("last event %q, want an error event", last[0])
	}
}

func TestConcurrentStreams(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		masked := maskedText(t, body)
		w.Header().Set("Content-Type", "text/event-stream")
		writeChunked(w, script(masked, toolJSONFor(masked), []int{7, 20, 33}, []int{9, 40}), 13)
	})
	p, _ := startProxy(t, up.URL)
	var wg sync.WaitGroup
	errs := make(chan string, 16)
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			text := fmt.Sprintf("%s and 10.1.2.%d", clientText, i)
			req, _ := http.NewRequestWithContext(context.Background(), "POST", p.BaseURL()+"/v1/messages", bytes.NewReader(requestBody(text)))
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				errs <- err.Error()
				return
			}
			defer resp.Body.Close()
			raw, _ := io.ReadAll(resp.Body)
			if s := collect(t, bytes.NewReader(raw)); s.text != text {
				errs <- fmt.Sprintf("stream %d (status %d): text not restored", i, resp.StatusCode)
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

// FuzzSSEUnmasker: any stream, cut anywhere, gives the same output as the
// same stream read whole, and never panics.
func FuzzSSEUnmasker(f *testing.F) {
	e, _ := mask.New([]byte("fuzz"), mask.NewMemoryMappings(), nil)
	masked, _ := e.MaskBytes([]byte(clientText), nil)
	_, restore, _ := e.MaskRequest(requestBody(clientText), mask.BodyMessages, nil)
	f.Add(script(string(masked), toolJSONFor(string(masked)), []int{5, 17}, []int{3, 30}), uint8(7))
	f.Add([]byte("event: x\ndata: not json\n\ndata: {\"type\":\"content_block_delta\",\"index\":1}\r\n\r\n"), uint8(1))
	f.Add([]byte("data: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\"}}\n\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"ab\\\\n\\u00e9\"}}\n\n"), uint8(2))
	f.Fuzz(func(t *testing.T, stream []byte, n uint8) {
		run := func(chunk int) []byte {
			u := newSSEUnmasker(io.NopCloser(&chunkReader{b: stream, n: chunk}), e, &reqInfo{masked: mask.Stats{}, unmasked: mask.Stats{}, restore: restore})
			out, err := io.ReadAll(u)
			if err != nil {
				t.Fatal(err)
			}
			return out
		}
		whole := run(len(stream) + 1)
		if got := run(1 + int(n)%17); !bytes.Equal(got, whole) {
			t.Fatalf("chunked output differs at byte %d", firstDiffBytes(got, whole))
		}
	})
}

type chunkReader struct {
	b []byte
	n int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.b) == 0 {
		return 0, io.EOF
	}
	k := min(c.n, len(c.b), len(p))
	copy(p, c.b[:k])
	c.b = c.b[k:]
	return k, nil
}

// An upstream that cuts the stream in the middle of an event (its data line
// complete, its blank line missing) releases nothing of that event: the
// client's last event is the error.
func TestStreamCutMidEventReleasesNoneOfIt(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		masked := maskedText(t, body)
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[]}}\n\n")
		io.WriteString(w, "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n")
		d, _ := json.Marshal(map[string]any{"type": "content_block_delta", "index": 0, "delta": map[string]any{"type": "text_delta", "text": "cut: " + masked}})
		io.WriteString(w, "event: content_block_delta\ndata: "+string(d)+"\n")
	})
	p, _ := startProxy(t, up.URL)
	resp := post(t, p.BaseURL()+"/v1/messages", requestBody(clientText))
	s := collect(t, resp.Body)
	resp.Body.Close()
	if strings.Contains(s.text, "cut: ") {
		t.Error("the event cut short was released")
	}
	last := s.events[len(s.events)-1]
	if last[0] != "error" || !strings.Contains(last[1], "middle of an event") {
		t.Errorf("last event %q %.80q, want the error", last[0], last[1])
	}
}
