package fakebedrock

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"
	"github.com/claude-secure/claude-secure/internal/fakeapi"
)

const (
	inst = "i-0123456789abcdef0"
	acct = "123456789012"
)

func newServer(t *testing.T, o Options) *Server {
	t.Helper()
	o.AccessKeyID, o.SecretAccessKey, o.Keep = testKey, testSecret, true
	s := New(o)
	t.Cleanup(s.Close)
	return s
}

func stream(t *testing.T, s *Server) *http.Response {
	t.Helper()
	resp, err := http.DefaultClient.Do(signedRequest(t, s, http.MethodPost, "/model/"+model+"/invoke-with-response-stream", []byte(streamBody), testCreds, time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != 200 {
		out, _ := io.ReadAll(resp.Body)
		t.Fatalf("%d %q", resp.StatusCode, out)
	}
	return resp
}

// A signed streaming call is answered with an AWS event stream: every frame
// a chunk event whose payload carries, in base64, one of the Anthropic
// events fakeapi streams, quoting what the request said.
func TestStream(t *testing.T) {
	s := newServer(t, Options{})
	resp := stream(t, s)
	if ct := resp.Header.Get("Content-Type"); ct != "application/vnd.amazon.eventstream" {
		t.Errorf("content type %q", ct)
	}
	dec := eventstream.NewDecoder()
	var got []map[string]any
	br := bufio.NewReader(resp.Body)
	for {
		m, err := dec.Decode(br, nil)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		for name, want := range map[string]string{":event-type": "chunk", ":content-type": "application/json", ":message-type": "event"} {
			if v := m.Headers.Get(name); v == nil || v.String() != want {
				t.Errorf("header %s = %v, want %s", name, v, want)
			}
		}
		var c struct{ Bytes, P string }
		if err := json.Unmarshal(m.Payload, &c); err != nil || c.P == "" || strings.Trim(c.P, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") != "" {
			t.Fatalf("payload %q: %v", m.Payload, err)
		}
		raw, err := base64.StdEncoding.DecodeString(c.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		var e map[string]any
		if err := json.Unmarshal(raw, &e); err != nil {
			t.Fatal(err)
		}
		got = append(got, e)
	}
	types := func(evs []map[string]any) []string {
		var out []string
		for _, e := range evs {
			out = append(out, e["type"].(string))
		}
		return out
	}
	// the same events, in the same order, as fakeapi streams
	if want := types(sseEvents(t, fakeapi.New(false))); !reflect.DeepEqual(types(got), want) {
		t.Errorf("events %v\nwant %v", types(got), want)
	}
	if m := got[0]["message"].(map[string]any); m["model"] != "claude-sonnet-4-5-20250929" {
		t.Errorf("message_start names model %v", m["model"])
	}
	if _, ok := got[len(got)-1]["amazon-bedrock-invocationMetrics"]; !ok {
		t.Errorf("message_stop without invocation metrics: %v", got[len(got)-1])
	}
	var text, tool strings.Builder
	for _, e := range got {
		if d, ok := e["delta"].(map[string]any); ok {
			if s, ok := d["text"].(string); ok {
				text.WriteString(s)
			}
			if s, ok := d["partial_json"].(string); ok {
				tool.WriteString(s)
			}
		}
	}
	if text.String() != fakeapi.Answer(inst, acct) || tool.String() != fakeapi.ToolInput(inst, acct) {
		t.Errorf("text %q, tool input %q", text.String(), tool.String())
	}
	if !s.Saw(inst) || s.Saw("i-0fedcba9876543210") || s.Hits.Load() != 1 || !s.Requests()[0].Signed {
		t.Errorf("recorded %+v", s.Requests())
	}
}

// sseEvents are the events fakeapi streams for the same question.
func sseEvents(t *testing.T, api *fakeapi.Server) []map[string]any {
	t.Helper()
	defer api.Close()
	resp, err := http.Post(api.URL+"/v1/messages", "application/json", strings.NewReader(`{"stream":true,"messages":[{"role":"user","content":"`+inst+` `+acct+`"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out []map[string]any
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			var e map[string]any
			if err := json.Unmarshal([]byte(data), &e); err != nil {
				t.Fatal(err)
			}
			out = append(out, e)
		}
	}
	return out
}

// Streamed and Events read the stream back as a client would.
func TestStreamed(t *testing.T) {
	s := newServer(t, Options{})
	s.Deltas = 3
	all, _ := io.ReadAll(stream(t, s).Body)
	text, tool, err := Streamed(all)
	if err != nil || text != fakeapi.Answer(inst, acct)+" Check 0 passed. Check 1 passed. Check 2 passed." || tool != fakeapi.ToolInput(inst, acct) {
		t.Errorf("%q %q %v", text, tool, err)
	}
}

// With Throttle a stream stops, part-way through the answer, with a
// throttlingException frame; with BadCRC one frame mid-stream fails its
// checksum.
func TestFaults(t *testing.T) {
	s := newServer(t, Options{Fault: Throttle})
	all, _ := io.ReadAll(stream(t, s).Body)
	evs, err := Events(bytes.NewReader(all))
	var se *StreamError
	if !errors.As(err, &se) || se.Type != "throttlingException" || se.Message != ThrottleMessage {
		t.Fatalf("err %v", err)
	}
	if len(evs) != 5 { // message_start, content_block_start, three text deltas
		t.Errorf("%d events before the exception", len(evs))
	}
	// the exception frame itself, as the SDK decodes it
	dec := eventstream.NewDecoder()
	r := bytes.NewReader(all)
	var last eventstream.Message
	for {
		m, err := dec.Decode(r, nil)
		if err != nil {
			break
		}
		last = m
	}
	if last.Headers.Get(":message-type").String() != "exception" || last.Headers.Get(":exception-type").String() != "throttlingException" ||
		string(last.Payload) != `{"message":"`+ThrottleMessage+`"}` {
		t.Errorf("last frame %v %s", last.Headers, last.Payload)
	}

	s.SetFault(BadCRC)
	all, _ = io.ReadAll(stream(t, s).Body)
	evs, err = Events(bytes.NewReader(all))
	if !errors.As(err, new(eventstream.ChecksumError)) || len(evs) != 3 {
		t.Errorf("%d events, then %v", len(evs), err)
	}
	// every other frame is whole: the rest of the stream decodes
	r = bytes.NewReader(all)
	n, bad := 0, 0
	for {
		_, err := dec.Decode(r, nil)
		if errors.Is(err, io.EOF) {
			break
		}
		if errors.As(err, new(eventstream.ChecksumError)) {
			bad++
		} else if err != nil {
			t.Fatal(err)
		}
		n++
	}
	if want := len(events(model, inst, acct, 0)); bad != 1 || n != want {
		t.Errorf("%d frames, %d bad; want %d, 1", n, bad, want)
	}

	s.SetFault(NoFault)
	all, _ = io.ReadAll(stream(t, s).Body)
	if _, _, err := Streamed(all); err != nil {
		t.Error(err)
	}
}

// The other calls: a whole message, the token count (of the body inside),
// the inference profiles; unknown calls and bad bodies are refused as AWS
// refuses them.
func TestCalls(t *testing.T) {
	s := newServer(t, Options{})
	call := func(method, path, body string) (int, string, http.Header) {
		resp, out := do(t, signedRequest(t, s, method, path, []byte(body), testCreds, time.Now()))
		return resp.StatusCode, out, resp.Header
	}
	status, out, _ := call(http.MethodPost, "/model/"+model+"/invoke", streamBody)
	var msg struct {
		Model   string
		Content []struct {
			Type, Text string
			Input      json.RawMessage
		}
	}
	if err := json.Unmarshal([]byte(out), &msg); status != 200 || err != nil || len(msg.Content) != 2 ||
		msg.Content[0].Text != fakeapi.Answer(inst, acct) || !sameJSON(string(msg.Content[1].Input), fakeapi.ToolInput(inst, acct)) {
		t.Errorf("invoke: %d %q", status, out)
	}

	inner := `{"anthropic_version":"bedrock-2023-05-31","messages":[{"role":"user","content":"` + inst + `"}]}`
	status, out, _ = call(http.MethodPost, "/model/"+model+"/count-tokens",
		`{"input":{"invokeModel":{"body":"`+base64.StdEncoding.EncodeToString([]byte(inner))+`"}}}`)
	var n struct{ InputTokens int }
	if err := json.Unmarshal([]byte(out), &n); status != 200 || err != nil || n.InputTokens != len(inner)/4 {
		t.Errorf("count tokens: %d %q", status, out)
	}
	if reqs := s.Requests(); string(reqs[len(reqs)-1].Inner) != inner || strings.Contains(string(reqs[len(reqs)-1].Body), inst) {
		t.Errorf("count tokens recorded %+v", reqs[len(reqs)-1])
	}

	status, out, _ = call(http.MethodGet, "/inference-profiles?typeEquals=SYSTEM_DEFINED", "")
	if status != 200 || !strings.Contains(out, `"inferenceProfileId":"`+model+`"`) {
		t.Errorf("inference profiles: %d %q", status, out)
	}
	status, out, _ = call(http.MethodGet, "/inference-profiles/"+strings.ReplaceAll(model, ":", "%3A"), "")
	if status != 200 || !strings.Contains(out, `"inferenceProfileId":"`+model+`"`) {
		t.Errorf("an inference profile: %d %q", status, out)
	}

	for _, c := range []struct{ body, want string }{
		{`{"anthropic_version":"bedrock-2023-05-31","model":"claude","messages":[]}`, "extraneous key [model]"},
		{`{"anthropic_version":"bedrock-2023-05-31","stream":true,"messages":[]}`, "extraneous key [stream]"},
		{`{"messages":[]}`, "required key [anthropic_version]"},
		{`{"anthropic_version":"2023-06-01","messages":[]}`, "Invalid API version"},
		{`not json`, "Malformed input request"},
	} {
		status, out, h := call(http.MethodPost, "/model/"+model+"/invoke-with-response-stream", c.body)
		if status != 400 || h.Get("X-Amzn-Errortype") != "ValidationException" || !strings.Contains(out, c.want) {
			t.Errorf("%s: %d %s %q", c.body, status, h.Get("X-Amzn-Errortype"), out)
		}
	}
	for _, c := range []struct{ method, path string }{
		{http.MethodPost, "/v1/messages"}, {http.MethodGet, "/model/" + model + "/invoke"}, {http.MethodPost, "/model/" + model + "/converse-x"},
	} {
		status, out, h := call(c.method, c.path, "{}")
		if status != 404 || h.Get("X-Amzn-Errortype") != "UnknownOperationException" || !strings.Contains(out, `"message"`) {
			t.Errorf("%s %s: %d %q", c.method, c.path, status, out)
		}
	}
	for _, r := range s.Requests() {
		if !r.Signed {
			t.Errorf("not signed: %+v", r)
		}
	}
}

// A Bedrock API key is accepted as a bearer token; another key, or a key
// where none is accepted, is refused.
func TestBearer(t *testing.T) {
	s := New(Options{APIKey: "ABSKZmFrZWJlZHJvY2trZXk=", Keep: true})
	defer s.Close()
	call := func(s *Server, key string) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, s.URL+"/model/"+model+"/invoke", strings.NewReader(streamBody))
		req.Header.Set("Authorization", "Bearer "+key)
		resp, out := do(t, req)
		return resp.StatusCode, out
	}
	if status, out := call(s, "ABSKZmFrZWJlZHJvY2trZXk="); status != 200 || !strings.Contains(out, jsonText(fakeapi.Answer(inst, acct))) {
		t.Errorf("the key: %d %q", status, out)
	}
	if status, out := call(s, "ABSKb3RoZXJrZXk="); status != 403 || out != `{"Message":"Authentication failed: Please make sure your API Key is valid."}`+"\n" {
		t.Errorf("another key: %d %q", status, out)
	}
	// SigV4 is refused when only a key is accepted
	resp, _ := do(t, signedRequest(t, s, http.MethodPost, "/model/"+model+"/invoke", []byte(streamBody), testCreds, time.Now()))
	if resp.StatusCode != 403 || !strings.HasPrefix(resp.Header.Get("X-Amzn-Errortype"), "UnrecognizedClientException") {
		t.Errorf("SigV4 where only a key is accepted: %d %s", resp.StatusCode, resp.Header.Get("X-Amzn-Errortype"))
	}
	reqs := s.Requests()
	if len(reqs) != 3 || !reqs[0].Bearer || reqs[0].Signed || reqs[1].Bearer || reqs[1].AuthError == "" || reqs[2].Signed {
		t.Errorf("recorded %+v", reqs)
	}

	// with credentials only, a bearer key is refused
	c := newServer(t, Options{})
	if status, _ := call(c, "ABSKZmFrZWJlZHJvY2trZXk="); status != 403 {
		t.Errorf("a key where none is accepted: %d", status)
	}
}

func jsonText(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func sameJSON(a, b string) bool {
	var x, y any
	return json.Unmarshal([]byte(a), &x) == nil && json.Unmarshal([]byte(b), &y) == nil && reflect.DeepEqual(x, y)
}

// Without credentials or a key in Options the default credentials are
// accepted; without Keep requests are only counted.
func TestDefaults(t *testing.T) {
	s := New(Options{})
	defer s.Close()
	if s.Region() != DefaultRegion {
		t.Errorf("region %q", s.Region())
	}
	creds := aws.Credentials{AccessKeyID: DefaultAccessKeyID, SecretAccessKey: DefaultSecretAccessKey}
	if resp, out := do(t, signedRequest(t, s, http.MethodPost, "/model/"+model+"/invoke", []byte(streamBody), creds, time.Now())); resp.StatusCode != 200 {
		t.Errorf("default credentials: %d %q", resp.StatusCode, out)
	}
	if resp, _ := do(t, signedRequest(t, s, http.MethodPost, "/model/"+model+"/invoke", []byte(streamBody), testCreds, time.Now())); resp.StatusCode != 403 {
		t.Errorf("other credentials: %d", resp.StatusCode)
	}
	if s.Hits.Load() != 2 || s.Refused.Load() != 1 || len(s.Requests()) != 0 {
		t.Errorf("%d hits, %d refused, %d kept", s.Hits.Load(), s.Refused.Load(), len(s.Requests()))
	}
}
