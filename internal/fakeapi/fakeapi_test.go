package fakeapi

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// call makes one request to s and returns the status and the body.
func call(t *testing.T, s *Server, method, path, body string) (int, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, s.URL+path, rd)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(out)
}

// A batch is created, read, its results fetched (the model's answer to
// each request), cancelled and deleted; after that it is gone. The
// models list and a model are there too.
func TestBatchesAndModels(t *testing.T) {
	s := New(true)
	defer s.Close()
	status, out := call(t, s, http.MethodPost, "/v1/messages/batches",
		`{"requests":[{"custom_id":"r","params":{"model":"m","max_tokens":1,"messages":[{"role":"user","content":"i-0123456789abcdef0 in 123456789012"}]}}]}`)
	var b struct{ ID, Type string }
	if err := json.Unmarshal([]byte(out), &b); status != 200 || err != nil || b.Type != "message_batch" || b.ID == "" {
		t.Fatalf("create: %d %q", status, out)
	}
	base := "/v1/messages/batches/" + b.ID
	if status, out := call(t, s, http.MethodGet, base, ""); status != 200 || !strings.Contains(out, b.ID) {
		t.Errorf("read: %d %q", status, out)
	}
	if status, out := call(t, s, http.MethodGet, base+"/results", ""); status != 200 || !strings.Contains(out, jsonText(Answer("i-0123456789abcdef0", "123456789012"))) {
		t.Errorf("results: %d %q", status, out)
	}
	if status, _ := call(t, s, http.MethodPost, base+"/cancel", ""); status != 200 {
		t.Errorf("cancel: %d", status)
	}
	if status, out := call(t, s, http.MethodDelete, base, ""); status != 200 || !strings.Contains(out, "message_batch_deleted") {
		t.Errorf("delete: %d %q", status, out)
	}
	for _, c := range []struct{ method, path string }{
		{http.MethodGet, base}, {http.MethodGet, base + "/results"}, {http.MethodPost, base + "/cancel"}, {http.MethodDelete, base},
		{http.MethodGet, "/v1/messages/batches/msgbatch_nobody"},
	} {
		if status, _ := call(t, s, c.method, c.path, ""); status != 404 {
			t.Errorf("%s %s of a batch that is not there: %d, want 404", c.method, c.path, status)
		}
	}
	if status, out := call(t, s, http.MethodGet, "/v1/models", ""); status != 200 || !strings.Contains(out, Model) {
		t.Errorf("models: %d %q", status, out)
	}
	if status, out := call(t, s, http.MethodGet, "/v1/models/claude-sonnet-4-5", ""); status != 200 || !strings.Contains(out, `"id":"claude-sonnet-4-5"`) {
		t.Errorf("a model: %d %q", status, out)
	}
	if n := s.Hits.Load(); n != 12 {
		t.Errorf("%d calls counted, want 12", n)
	}
}

func jsonText(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
