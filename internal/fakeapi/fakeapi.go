// Package fakeapi is a stand-in for the Anthropic Messages API on loopback,
// for tests and load runs: a "model" that answers by quoting the instance
// ID and account ID it was sent, streamed (text and a tool call, with the
// identifiers split across deltas) or in one JSON body; message batches
// (created, read, cancelled, deleted, their results); and the models list.
// It records what it received so tests can check that no original ever
// reached it.
package fakeapi

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Server is a fake Messages API.
type Server struct {
	*httptest.Server
	// Deltas is how many extra text deltas a streamed answer carries after
	// the quoting ones (load runs make answers longer with it).
	Deltas int

	Hits    atomic.Int64
	pace    atomic.Int64
	mu      sync.Mutex
	reqs    []Request
	keep    bool
	batches map[string]string // id → JSONL results
	// documents: Messages requests are answered by the document model
	// (see NewDocuments)
	documents bool
}

// Request is what the fake API received.
type Request struct {
	Method, Path string
	Header       http.Header
	Body         []byte
}

// New starts a fake API on 127.0.0.1. keep says whether to keep every
// request (tests) or only count them (load runs).
func New(keep bool) *Server {
	s := &Server{keep: keep}
	s.Server = newHTTPServer(s)
	return s
}

func newHTTPServer(s *Server) *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(s.serve))
}

// SetPace sets how long to sleep between streamed events (0: none).
func (s *Server) SetPace(d time.Duration) { s.pace.Store(int64(d)) }

// Requests returns what was received so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.reqs...)
}

// Saw reports whether any request carried v in its URL, headers or body.
func (s *Server) Saw(v string) bool {
	for _, r := range s.Requests() {
		if strings.Contains(r.Path, v) || strings.Contains(string(r.Body), v) {
			return true
		}
		for _, hv := range r.Header {
			for _, x := range hv {
				if strings.Contains(x, v) {
					return true
				}
			}
		}
	}
	return false
}

var (
	instanceRe = regexp.MustCompile(`i-[0-9a-f]{17}`)
	accountRe  = regexp.MustCompile(`\b[0-9]{12}\b`)
)

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.Hits.Add(1)
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, "read failed", http.StatusBadRequest)
		return
	}
	if s.keep {
		s.mu.Lock()
		s.reqs = append(s.reqs, Request{Method: r.Method, Path: r.URL.RequestURI(), Header: r.Header.Clone(), Body: body})
		s.mu.Unlock()
	}
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/v1/messages/count_tokens":
		writeJSON(w, http.StatusOK, map[string]any{"input_tokens": len(body) / 4})
	case r.Method == http.MethodPost && r.URL.Path == "/v1/messages":
		var req struct {
			Stream bool `json:"stream"`
		}
		if err := json.Unmarshal(body, &req); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]any{"type": "error", "error": map[string]string{"type": "invalid_request_error", "message": "bad JSON"}})
			return
		}
		if s.documents {
			s.documentAnswer(w, body, req.Stream)
			return
		}
		inst := instanceRe.FindString(string(body))
		acct := accountRe.FindString(string(body))
		if req.Stream {
			s.stream(w, inst, acct)
		} else {
			writeJSON(w, http.StatusOK, message(inst, acct))
		}
	case r.Method == http.MethodPost && r.URL.Path == "/v1/messages/batches":
		// the batch's answers are made now from the requests as received
		var req struct {
			Requests []struct {
				CustomID string          `json:"custom_id"`
				Params   json.RawMessage `json:"params"`
			} `json:"requests"`
		}
		if err := json.Unmarshal(body, &req); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]any{"type": "error", "error": map[string]string{"type": "invalid_request_error", "message": "bad JSON"}})
			return
		}
		var results strings.Builder
		for _, q := range req.Requests {
			line, _ := json.Marshal(map[string]any{"custom_id": q.CustomID, "result": map[string]any{"type": "succeeded",
				"message": message(instanceRe.FindString(string(q.Params)), accountRe.FindString(string(q.Params)))}})
			results.Write(line)
			results.WriteByte('\n')
		}
		s.mu.Lock()
		if s.batches == nil {
			s.batches = map[string]string{}
		}
		id := fmt.Sprintf("msgbatch_fake%d", len(s.batches)+1)
		s.batches[id] = results.String()
		s.mu.Unlock()
		writeJSON(w, http.StatusOK, s.batch(id))
	case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/v1/messages/batches/") && strings.HasSuffix(r.URL.Path, "/results"):
		id := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/v1/messages/batches/"), "/results")
		s.mu.Lock()
		res, ok := s.batches[id]
		s.mu.Unlock()
		if !ok {
			writeJSON(w, http.StatusNotFound, map[string]any{"type": "error", "error": map[string]string{"type": "not_found_error", "message": "no such batch"}})
			return
		}
		w.Header().Set("Content-Type", "application/binary")
		io.WriteString(w, res)
	case strings.HasPrefix(r.URL.Path, "/v1/messages/batches/"):
		// a batch's own calls: read, cancel (it has ended already), delete
		id, sub, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/v1/messages/batches/"), "/")
		s.mu.Lock()
		_, ok := s.batches[id]
		if ok && r.Method == http.MethodDelete && sub == "" {
			delete(s.batches, id)
		}
		s.mu.Unlock()
		switch {
		case !ok:
			writeJSON(w, http.StatusNotFound, map[string]any{"type": "error", "error": map[string]string{"type": "not_found_error", "message": "no such batch"}})
		case r.Method == http.MethodGet && sub == "", r.Method == http.MethodPost && sub == "cancel":
			writeJSON(w, http.StatusOK, s.batch(id))
		case r.Method == http.MethodDelete && sub == "":
			writeJSON(w, http.StatusOK, map[string]any{"id": id, "type": "message_batch_deleted"})
		default:
			writeJSON(w, http.StatusNotFound, map[string]any{"type": "error", "error": map[string]string{"type": "not_found_error", "message": "no such endpoint"}})
		}
	case r.Method == http.MethodGet && r.URL.Path == "/v1/models":
		writeJSON(w, http.StatusOK, map[string]any{"data": []any{model(Model)}, "has_more": false, "first_id": Model, "last_id": Model})
	case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/v1/models/"):
		writeJSON(w, http.StatusOK, model(strings.TrimPrefix(r.URL.Path, "/v1/models/")))
	default:
		writeJSON(w, http.StatusNotFound, map[string]any{"type": "error", "error": map[string]string{"type": "not_found_error", "message": "no such endpoint"}})
	}
}

// batch is a message batch as the API describes it; every batch has ended.
func (s *Server) batch(id string) map[string]any {
	return map[string]any{"id": id, "type": "message_batch", "processing_status": "ended",
		"results_url": s.URL + "/v1/messages/batches/" + id + "/results"}
}

// Model is the one model the models list names.
const Model = "claude-fake"

func model(id string) map[string]any {
	return map[string]any{"type": "model", "id": id, "display_name": id, "created_at": "2025-01-01T00:00:00Z"}
}

// Answer is the text the model says about an instance and an account.
func Answer(inst, acct string) string {
	return fmt.Sprintf("Instance %s in account %s is healthy.", inst, acct)
}

// ToolInput is the input of the tool call the model makes.
func ToolInput(inst, acct string) string {
	return fmt.Sprintf(`{"instance_id": "%s", "account": "%s"}`, inst, acct)
}

// Message is the model's whole answer about an instance and an account,
// as a Messages API message with the given id and model: the Answer text,
// then a tool call with ToolInput.
func Message(id, model, inst, acct string) map[string]any {
	m := messageStart(id, model)
	m["content"] = []any{
		map[string]any{"type": "text", "text": Answer(inst, acct)},
		map[string]any{"type": "tool_use", "id": "toolu_fake", "name": "describe_instance", "input": json.RawMessage(ToolInput(inst, acct))},
	}
	m["stop_reason"] = "tool_use"
	m["usage"] = map[string]any{"input_tokens": 10, "output_tokens": 20}
	return m
}

func message(inst, acct string) map[string]any { return Message("msg_fake", Model, inst, acct) }

// messageStart is the message as message_start carries it.
func messageStart(id, model string) map[string]any {
	return map[string]any{
		"id": id, "type": "message", "role": "assistant", "model": model,
		"content": []any{}, "stop_reason": nil, "stop_sequence": nil,
		"usage": map[string]any{"input_tokens": 10, "output_tokens": 1},
	}
}

// Events are the streaming events of Message: every identifier cut into
// pieces across text deltas (seven bytes each) and tool-input deltas (five
// bytes each), and extra text deltas after the quoting ones.
func Events(id, model, inst, acct string, extra int) []map[string]any {
	var ev []map[string]any
	add := func(e map[string]any) { ev = append(ev, e) }
	add(map[string]any{"type": "message_start", "message": messageStart(id, model)})
	add(map[string]any{"type": "content_block_start", "index": 0, "content_block": map[string]any{"type": "text", "text": ""}})
	for _, piece := range chunks(Answer(inst, acct), 7) {
		add(map[string]any{"type": "content_block_delta", "index": 0, "delta": map[string]any{"type": "text_delta", "text": piece}})
	}
	for i := 0; i < extra; i++ {
		add(map[string]any{"type": "content_block_delta", "index": 0, "delta": map[string]any{"type": "text_delta", "text": fmt.Sprintf(" Check %d passed.", i)}})
	}
	add(map[string]any{"type": "content_block_stop", "index": 0})
	add(map[string]any{"type": "content_block_start", "index": 1, "content_block": map[string]any{"type": "tool_use", "id": "toolu_fake", "name": "describe_instance", "input": map[string]any{}}})
	for _, piece := range chunks(ToolInput(inst, acct), 5) {
		add(map[string]any{"type": "content_block_delta", "index": 1, "delta": map[string]any{"type": "input_json_delta", "partial_json": piece}})
	}
	add(map[string]any{"type": "content_block_stop", "index": 1})
	add(map[string]any{"type": "message_delta", "delta": map[string]any{"stop_reason": "tool_use", "stop_sequence": nil}, "usage": map[string]any{"output_tokens": 20}})
	add(map[string]any{"type": "message_stop"})
	return ev
}

// sender starts an event stream on w and returns what sends one event.
func (s *Server) sender(w http.ResponseWriter) func(typ string, data any) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	fl, _ := w.(http.Flusher)
	return func(typ string, data any) {
		b, _ := json.Marshal(data)
		fmt.Fprintf(w, "event: %s\ndata: %s\n\n", typ, b)
		if fl != nil {
			fl.Flush()
		}
		if d := time.Duration(s.pace.Load()); d > 0 {
			time.Sleep(d)
		}
	}
}

func (s *Server) stream(w http.ResponseWriter, inst, acct string) {
	send := s.sender(w)
	for _, e := range Events("msg_fake", Model, inst, acct, s.Deltas) {
		send(e["type"].(string), e)
	}
}

// Streamed joins the text deltas and the tool-input deltas of an event
// stream as a client would see them; an event whose data is not JSON is an
// error.
func Streamed(sse []byte) (text, toolJSON string, err error) {
	var t, j strings.Builder
	for _, line := range strings.Split(string(sse), "\n") {
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok {
			continue
		}
		var e struct {
			Delta struct {
				Type        string `json:"type"`
				Text        string `json:"text"`
				PartialJSON string `json:"partial_json"`
			} `json:"delta"`
		}
		if err := json.Unmarshal([]byte(data), &e); err != nil {
			return "", "", fmt.Errorf("an event's data is not JSON (%d bytes)", len(data))
		}
		switch e.Delta.Type {
		case "text_delta":
			t.WriteString(e.Delta.Text)
		case "input_json_delta":
			j.WriteString(e.Delta.PartialJSON)
		}
	}
	return t.String(), j.String(), nil
}

func chunks(s string, n int) []string {
	var out []string
	for len(s) > n {
		out = append(out, s[:n])
		s = s[n:]
	}
	return append(out, s)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
