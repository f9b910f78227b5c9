package claudesecure_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/bedrock"
	"github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/claude-secure/claude-secure/claudesecure"
	"github.com/claude-secure/claude-secure/internal/fakeapi"
	"github.com/claude-secure/claude-secure/internal/fakebedrock"
	"github.com/claude-secure/claude-secure/internal/fixtures"
	"github.com/claude-secure/claude-secure/internal/goroutines"
	"github.com/claude-secure/claude-secure/mask"
)

const (
	origInstance = "i-0f3a9c2b7d1e4a605"
	origAccount  = "210987654321"
)

func prompt() string {
	return "Why is instance " + origInstance + " in account " + origAccount + " failing its health checks?"
}

// fixture is realistic AWS material from mask/testdata with the secrets
// it holds.
type fixture = fixtures.Fixture

func loadFixtures(t testing.TB) []fixture { return fixtures.Load(t, "../mask/testdata/fixtures") }

func newEngine(t testing.TB) *mask.Engine {
	t.Helper()
	e, err := mask.New([]byte("claudesecure-test-seed"), mask.NewMemoryMappings(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func newTransport(t testing.TB, opts ...claudesecure.Option) *claudesecure.Transport {
	t.Helper()
	tr, err := claudesecure.NewTransport(nil, append([]claudesecure.Option{claudesecure.WithEngine(newEngine(t))}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	return tr
}

func sdkClient(tr http.RoundTripper, baseURL string, opts ...option.RequestOption) anthropic.Client {
	return anthropic.NewClient(append([]option.RequestOption{
		option.WithHTTPClient(&http.Client{Transport: tr}),
		option.WithBaseURL(baseURL), option.WithAPIKey("sk-ant-test-key"), option.WithMaxRetries(0),
	}, opts...)...)
}

// streamed sends p as a streamed message and returns the message its
// events make.
func streamed(t *testing.T, client anthropic.Client, p anthropic.MessageNewParams) *anthropic.Message {
	t.Helper()
	s := client.Messages.NewStreaming(context.Background(), p)
	var msg anthropic.Message
	for s.Next() {
		if err := msg.Accumulate(s.Current()); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	return &msg
}

// checkAnswer checks a message as fakeapi's model answers: its text and
// its tool call quote the instance and the account, restored.
func checkAnswer(t *testing.T, msg *anthropic.Message) {
	t.Helper()
	if len(msg.Content) != 2 {
		t.Fatalf("%d content blocks, want 2", len(msg.Content))
	}
	if msg.Content[0].Text != fakeapi.Answer(origInstance, origAccount) {
		t.Error("the text is not the model's answer with the originals restored")
	}
	var in map[string]string
	if err := json.Unmarshal(msg.Content[1].Input, &in); err != nil {
		t.Fatalf("tool input is not JSON: %v", err)
	}
	if in["instance_id"] != origInstance || in["account"] != origAccount {
		t.Error("the tool input does not carry the originals")
	}
}

// The Go SDK sends a message holding an instance, an account and every
// fixture's secrets: the upstream sees none of them, and its answer, which
// quotes the pseudonyms it got, comes back with the originals.
func TestSDKMessageIsMaskedAndItsAnswerRestored(t *testing.T) {
	api := fakeapi.New(true)
	defer api.Close()
	client := sdkClient(newTransport(t), api.URL)
	fx := loadFixtures(t)
	blocks := []anthropic.ContentBlockParamUnion{anthropic.NewTextBlock(prompt())}
	for _, f := range fx {
		blocks = append(blocks, anthropic.NewTextBlock(f.Text))
	}
	msg, err := client.Messages.New(context.Background(), anthropic.MessageNewParams{
		Model:     fakeapi.Model,
		MaxTokens: 200,
		System:    []anthropic.TextBlockParam{{Text: "You run health checks for account " + origAccount + "."}},
		Messages:  []anthropic.MessageParam{anthropic.NewUserMessage(blocks...)},
	})
	if err != nil {
		t.Fatal(err)
	}
	checkAnswer(t, msg)
	if api.Hits.Load() != 1 {
		t.Fatalf("the upstream got %d requests, want 1", api.Hits.Load())
	}
	for i, o := range []string{origInstance, origAccount} {
		if api.Saw(o) {
			t.Errorf("original %d reached the upstream", i)
		}
	}
	for _, f := range fx {
		for i, s := range f.Secrets {
			if api.Saw(s) {
				t.Errorf("%s: secret %d reached the upstream", f.Name, i)
			}
		}
	}
	// the client's own credential goes upstream as it sent it
	if r := api.Requests()[0]; r.Header.Get("Authorization") != "Bearer sk-ant-test-key" && r.Header.Get("X-Api-Key") != "sk-ant-test-key" {
		t.Error("the client's API key did not reach the upstream")
	}
}

// A streamed answer with a tool call: the pseudonyms the model quotes are
// cut across text deltas and input_json_delta pieces, and both come back
// whole and restored; the next turn, sending the tool result full of
// originals, is masked too.
func TestSDKStreamWithToolsIsRestored(t *testing.T) {
	api := fakeapi.New(true)
	defer api.Close()
	client := sdkClient(newTransport(t), api.URL)
	params := anthropic.MessageNewParams{
		Model:     fakeapi.Model,
		MaxTokens: 200,
		Messages:  []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock(prompt()))},
		Tools: []anthropic.ToolUnionParam{{OfTool: &anthropic.ToolParam{
			Name:        "describe_instance",
			InputSchema: anthropic.ToolInputSchemaParam{Properties: map[string]any{"instance_id": map[string]any{"type": "string"}}},
		}}},
	}
	stream := func(p anthropic.MessageNewParams) *anthropic.Message { return streamed(t, client, p) }
	msg := stream(params)
	checkAnswer(t, msg)

	next := params
	next.Messages = append(append([]anthropic.MessageParam{}, params.Messages...), msg.ToParam(),
		anthropic.NewUserMessage(anthropic.NewToolResultBlock(msg.Content[1].ID,
			`{"InstanceId": "`+origInstance+`", "OwnerId": "`+origAccount+`", "State": "running"}`, false)))
	checkAnswer(t, stream(next))
	if api.Hits.Load() != 2 {
		t.Fatalf("the upstream got %d requests, want 2", api.Hits.Load())
	}
	for i, o := range []string{origInstance, origAccount} {
		if api.Saw(o) {
			t.Errorf("original %d reached the upstream", i)
		}
	}
}

// A stream reaches the caller event by event: the upstream holds its
// second event back until the caller has read the first through the
// transport, which a transport that waited for the whole answer never
// delivers.
func TestStreamFlowsEventByEvent(t *testing.T) {
	firstRead := make(chan struct{})
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/event-stream")
		send := func(e map[string]any) {
			b, _ := json.Marshal(e)
			io.WriteString(w, "event: "+e["type"].(string)+"\ndata: "+string(b)+"\n\n")
			w.(http.Flusher).Flush()
		}
		events := fakeapi.Events("msg_fake", fakeapi.Model, "i-00000000000000001", "111111111111", 0)
		send(events[0])
		select {
		case <-firstRead:
		case <-time.After(10 * time.Second):
			return // the test fails on its own: it never saw the first event
		}
		for _, e := range events[1:] {
			send(e)
		}
	}))
	defer api.Close()
	client := sdkClient(newTransport(t), api.URL)
	s := client.Messages.NewStreaming(context.Background(), anthropic.MessageNewParams{
		Model: fakeapi.Model, MaxTokens: 10,
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hello"))},
	})
	defer s.Close()
	got := make(chan bool, 1)
	go func() { got <- s.Next() }()
	select {
	case ok := <-got:
		if !ok || s.Current().Type != "message_start" {
			t.Fatalf("the first event is not message_start: %v", s.Err())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the first event did not arrive before the rest of the stream")
	}
	close(firstRead)
	n := 1
	for s.Next() {
		n++
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	if want := len(fakeapi.Events("msg_fake", fakeapi.Model, "i-00000000000000001", "111111111111", 0)); n != want {
		t.Errorf("%d events, want %d", n, want)
	}
}

// The SDK's Bedrock client signs its request with its own (made-up) keys
// before the transport sees it; the transport drops that signature and,
// once the body is masked, signs with the credentials it was given. The
// fake checks every SigV4 signature as AWS does; it never sees an
// original, nor the client's key, and the answers, streamed (an AWS event
// stream) and plain, come back with the originals.
func TestSDKBedrockRequestIsMaskedAndSignedAgain(t *testing.T) {
	fb := fakebedrock.New(fakebedrock.Options{Keep: true})
	defer fb.Close()
	tr := newTransport(t, claudesecure.WithBedrock(fb.Region(),
		credentials.NewStaticCredentialsProvider(fakebedrock.DefaultAccessKeyID, fakebedrock.DefaultSecretAccessKey, "")),
		claudesecure.WithBedrockEndpoint(fb.URL))
	clientKey := "AKIAQ3EGUWTXC2KMNPZR"
	client := anthropic.NewClient(
		bedrock.WithConfig(aws.Config{Region: fb.Region(), Credentials: credentials.NewStaticCredentialsProvider(clientKey, "Zx9Lk2MnOpQrStUvWxYz0123456789AbCdEfGhIj", "")}),
		option.WithHTTPClient(&http.Client{Transport: tr}),
		option.WithBaseURL(fb.URL), option.WithMaxRetries(0),
		option.WithHeader("anthropic-version", fakebedrock.AnthropicVersion))
	params := anthropic.MessageNewParams{
		Model:     "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
		MaxTokens: 200,
		Messages:  []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock(prompt()))},
	}
	ctx := context.Background()
	t.Run("streaming", func(t *testing.T) {
		checkAnswer(t, streamed(t, client, params))
	})
	t.Run("plain", func(t *testing.T) {
		msg, err := client.Messages.New(ctx, params)
		if err != nil {
			t.Fatal(err)
		}
		checkAnswer(t, msg)
	})
	reqs := fb.Requests()
	if len(reqs) != 2 {
		t.Fatalf("Bedrock got %d requests, want 2", len(reqs))
	}
	for i, r := range reqs {
		if !r.Signed {
			t.Errorf("request %d is not correctly signed: %s", i, r.AuthError)
		}
		for k, vs := range r.Header {
			for _, v := range vs {
				if strings.Contains(v, clientKey) {
					t.Errorf("request %d carried the client's key in %s", i, k)
				}
			}
		}
	}
	for i, o := range []string{origInstance, origAccount} {
		if fb.Saw(o) {
			t.Errorf("original %d reached Bedrock", i)
		}
	}
	// the credentials go nowhere else: another host, or the region's
	// endpoint over http, gets nothing
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Error("a request signed with the AWS credentials reached another host")
	}))
	defer other.Close()
	for _, u := range []string{other.URL, "http://bedrock-runtime." + fb.Region() + ".amazonaws.com"} {
		req, _ := http.NewRequest(http.MethodPost, u+"/model/m/invoke", strings.NewReader(`{"messages":[]}`))
		if resp, err := tr.RoundTrip(req); err == nil {
			resp.Body.Close()
			t.Errorf("a Bedrock request to %s was sent", u)
		}
	}
}

// A body of unknown length (ContentLength 0 on a client's request: net/http
// sends it chunked) is a body: masked on the Messages API, refused
// elsewhere, never sent as it is.
func TestBodyOfUnknownLengthIsMasked(t *testing.T) {
	api := fakeapi.New(true)
	defer api.Close()
	tr := newTransport(t)
	body, _ := json.Marshal(map[string]any{"model": fakeapi.Model, "max_tokens": 100,
		"messages": []any{map[string]any{"role": "user", "content": prompt()}}})
	// the SDK with a body reader of its own
	client := sdkClient(tr, api.URL)
	msg, err := client.Messages.New(context.Background(), anthropic.MessageNewParams{},
		option.WithRequestBody("application/json", strings.NewReader(string(body))))
	if err != nil {
		t.Fatal(err)
	}
	checkAnswer(t, msg)
	// a reader net/http cannot measure, to a path that is not masked
	req, _ := http.NewRequest(http.MethodPost, api.URL+"/v1/files", io.MultiReader(bytes.NewReader(body)))
	req.Header.Set("Content-Type", "application/json")
	if req.ContentLength != 0 {
		t.Fatal("the request's length is known")
	}
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("a body of unknown length to /v1/files: status %d, want 403", resp.StatusCode)
	}
	// an empty reader is no body
	req, _ = http.NewRequest(http.MethodGet, api.URL+"/v1/models", io.MultiReader())
	resp, err = tr.RoundTrip(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("a request with an empty body reader: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	for i, o := range []string{origInstance, origAccount} {
		if api.Saw(o) {
			t.Errorf("original %d reached the upstream", i)
		}
	}
}

// Trailers are not forwarded: they would carry values around the masking.
func TestTrailersAreNotForwarded(t *testing.T) {
	var trailer string
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		trailer = r.Trailer.Get("X-Note")
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"type":"message","content":[]}`))
	}))
	defer up.Close()
	tr := newTransport(t)
	body, _ := json.Marshal(map[string]any{"model": "m", "max_tokens": 10, "messages": []any{map[string]any{"role": "user", "content": "hi"}}})
	req, _ := http.NewRequest(http.MethodPost, up.URL+"/v1/messages", io.MultiReader(bytes.NewReader(body)))
	req.Header.Set("Content-Type", "application/json")
	req.TransferEncoding = []string{"chunked"}
	req.Trailer = http.Header{"X-Note": {"instance " + origInstance}}
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if strings.Contains(trailer, origInstance) {
		t.Error("a trailer carried an original upstream")
	}
}

// The request's body is closed, as RoundTrip must, whether it was sent or
// not.
func TestRequestBodyIsClosed(t *testing.T) {
	api := fakeapi.New(true)
	defer api.Close()
	tr := newTransport(t)
	for _, path := range []string{"/v1/messages", "/v1/files"} {
		b := &closeRecorder{Reader: strings.NewReader(`{"model":"m","max_tokens":1,"messages":[{"role":"user","content":"hi"}]}`)}
		req, _ := http.NewRequest(http.MethodPost, api.URL+path, b)
		req.Header.Set("Content-Type", "application/json")
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		deadline := time.Now().Add(5 * time.Second)
		for !b.closed.Load() && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if !b.closed.Load() {
			t.Errorf("%s: the request's body was not closed", path)
		}
	}
}

type closeRecorder struct {
	io.Reader
	closed atomic.Bool
}

func (c *closeRecorder) Close() error { c.closed.Store(true); return nil }

// A request that cannot be masked is not sent: RoundTrip answers it in
// the Anthropic error shape (the SDK reports it as an API error), and the
// upstream gets nothing.
func TestRequestThatCannotBeMaskedIsNotSent(t *testing.T) {
	api := fakeapi.New(true)
	defer api.Close()
	tr := newTransport(t)
	hc := &http.Client{Transport: tr}
	post := func(path, body string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, api.URL+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	refused := func(t *testing.T, resp *http.Response, status int) {
		t.Helper()
		defer resp.Body.Close()
		var e struct {
			Type  string `json:"type"`
			Error struct {
				Type, Message string
			} `json:"error"`
		}
		body, _ := io.ReadAll(resp.Body)
		if err := json.Unmarshal(body, &e); err != nil {
			t.Fatalf("the refusal is not JSON: %v", err)
		}
		if resp.StatusCode != status || e.Type != "error" || !strings.HasPrefix(e.Error.Message, "claude-secure: ") || resp.Header.Get("X-Claude-Secure-Error") == "" {
			t.Errorf("got %d %q, want %d in the Anthropic error shape", resp.StatusCode, e.Type, status)
		}
		if bytes.Contains(body, []byte(origInstance)) || bytes.Contains(body, []byte(origAccount)) {
			t.Error("the refusal repeats an original")
		}
	}
	msgBody := `{"model":"claude-fake","max_tokens":10,"messages":[{"role":"user","content":` + jsonString(prompt()) + `}]}`

	t.Run("body to another endpoint", func(t *testing.T) {
		refused(t, post("/v1/complete", msgBody), http.StatusForbidden)
	})
	t.Run("body that is not JSON", func(t *testing.T) {
		refused(t, post("/v1/messages", `{"messages": [`+jsonString(prompt())), http.StatusBadRequest)
	})
	t.Run("value in the path", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodGet, api.URL+"/v1/models/"+origInstance, nil)
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		refused(t, resp, http.StatusBadRequest)
	})
	t.Run("value in a structural field, through the SDK", func(t *testing.T) {
		client := sdkClient(tr, api.URL)
		_, err := client.Messages.New(context.Background(), anthropic.MessageNewParams{
			Model: anthropic.Model(origInstance), MaxTokens: 10,
			Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock(prompt()))},
		})
		var apiErr *anthropic.Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusBadRequest || !strings.Contains(apiErr.Error(), "claude-secure: ") {
			t.Fatalf("want the proxy's 400 as an API error, got %v", err)
		}
	})
	t.Run("no http URL", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPost, "ftp://127.0.0.1/v1/messages", strings.NewReader(msgBody))
		if resp, err := tr.RoundTrip(req); err == nil {
			resp.Body.Close()
			t.Fatal("a request without an http URL was answered")
		}
	})
	if n := api.Hits.Load(); n != 0 {
		t.Fatalf("the upstream got %d requests, want none", n)
	}
	// a request without a body to a known call still goes out
	client := sdkClient(tr, api.URL)
	models, err := client.Models.List(context.Background(), anthropic.ModelListParams{})
	if err != nil || len(models.Data) != 1 {
		t.Fatalf("the models list did not come through: %v", err)
	}
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// A caller that stops reading a stream and closes its body ends the
// request: the upstream's request is cancelled, and nothing of the
// transport's is left running.
func TestClosingTheBodyEndsTheRequest(t *testing.T) {
	upstreamDone := make(chan struct{})
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer close(upstreamDone)
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/event-stream")
		// bounded, so that a transport that never ends the request fails
		// the test instead of hanging it
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			if _, err := io.WriteString(w, "event: ping\ndata: {\"type\":\"ping\"}\n\n"); err != nil {
				return
			}
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}))
	defer api.Close()
	tr := newTransport(t)
	req, _ := http.NewRequest(http.MethodPost, api.URL+"/v1/messages", strings.NewReader(`{"model":"claude-fake","max_tokens":10,"stream":true,"messages":[{"role":"user","content":"hello"}]}`))
	req.Header.Set("Content-Type", "application/json")
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(resp.Body, make([]byte, 10)); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	select {
	case <-upstreamDone:
	case <-time.After(10 * time.Second):
		t.Fatal("the upstream request went on after the caller closed the body")
	}
	if !goroutines.Eventually(func() bool { return len(goroutines.In("claudesecure.(*Transport).RoundTrip")) == 0 }) {
		t.Fatalf("the transport's goroutine is still running:\n%s", strings.Join(goroutines.In("claudesecure.(*Transport).RoundTrip"), "\n\n"))
	}
}

// A secret in a Basic authorization (a URL's user:password) is seen
// through its base64: the request is not sent.
func TestSecretInBasicAuthorizationIsNotSent(t *testing.T) {
	api := fakeapi.New(true)
	defer api.Close()
	tr := newTransport(t)
	key := "AKIAQ3EGUWTXC2KMNPZR"
	req, _ := http.NewRequest(http.MethodGet, api.URL+"/v1/models", nil)
	req.SetBasicAuth("deploy", key)
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || api.Hits.Load() != 0 {
		t.Errorf("status %d, %d requests upstream; want 400 and none", resp.StatusCode, api.Hits.Load())
	}
}

// An upstream answer that breaks off is an error for the reader, not a
// short answer that looks whole.
func TestAnswerCutOffUpstreamIsAnError(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("Content-Length", "100000")
		w.Write([]byte(strings.Repeat("x", 80)))
		w.(http.Flusher).Flush()
		c, _, _ := w.(http.Hijacker).Hijack()
		c.Close()
	}))
	defer up.Close()
	tr := newTransport(t)
	req, _ := http.NewRequest(http.MethodGet, up.URL+"/v1/models", nil)
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.ReadAll(resp.Body)
	resp.Body.Close()
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("reading an answer the upstream cut off: %v, want io.ErrUnexpectedEOF", err)
	}
}

// A request whose context ends mid-answer: the reader gets the context's
// error and nothing of the transport stays behind, read or not.
func TestContextEndedMidAnswer(t *testing.T) {
	release := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.Write([]byte("event: ping\ndata: {\"type\":\"ping\"}\n\n"))
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer up.Close()
	defer close(release)
	tr := newTransport(t)
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, up.URL+"/v1/models", nil)
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	if _, err := io.ReadAll(resp.Body); !errors.Is(err, context.Canceled) {
		t.Errorf("reading after the context ended: %v, want context.Canceled", err)
	}
	if !goroutines.Eventually(func() bool { return len(goroutines.In("claudesecure.(*Transport).RoundTrip")) == 0 }) {
		t.Errorf("the transport's goroutine is still running, its answer unread:\n%s", strings.Join(goroutines.In("claudesecure.(*Transport).RoundTrip"), "\n\n"))
	}
	resp.Body.Close()
}
