// Package doccase is a conversation whose tool input and tool result hold
// JSON documents inside JSON strings (a bucket policy in a string inside
// one of them: escaped twice in the request body, three times in the
// streamed answer's partial_json), and the checks the SDK
// tests run with it through a gateway: in-process (gateway) and as a
// `claude-secure serve` process (e2e). The upstream is a fake API made by
// fakeapi.NewDocuments, which writes the documents it received back in a
// tool call. Every value here is made up.
package doccase

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/claude-secure/claude-secure/internal/fakeapi"
)

// The originals (made up). None may reach the upstream, at any level of
// escaping; every one must come back to the client that sent it.
const (
	writtenAccount  = "730461928573"
	writtenInstance = "i-07c3e5a9b1d2f4068"
	writtenBucket   = "quillfeather-ledger-exports"
	writtenSecret   = "+K8Y/fWmt+Nbh3LpvrviKNmjFgXc4d+IYyRBEB3i"
	writtenIP       = "10.87.142.19"
	writtenName     = "marlin-settlement-worker"

	observedAccount   = "604172839516"
	observedInstance  = "i-0e58b2d7c9a1f3046"
	observedBucket    = "tidewater-audit-snapshots"
	observedAccessKey = "AKIA5QX7RJ2MZK4WNLTD"
	observedSecret    = "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"
	observedIP        = "172.22.61.205"
	observedName      = "heron-ingest-gateway"
)

// Originals lists every original the case holds.
func Originals() []string {
	return []string{
		writtenAccount, writtenInstance, writtenBucket, writtenSecret, writtenIP, writtenName,
		observedAccount, observedInstance, observedBucket, observedAccessKey, observedSecret, observedIP, observedName,
	}
}

// Case is one conversation: the assistant called write_file with a JSON
// document as the file's content, the tool result is another JSON
// document, and the user then says something.
type Case struct {
	UserText string
	FilePath string
	Written  string // the content the assistant wrote: a JSON document
	Observed string // the tool result: a JSON document
}

// New returns the case with the originals.
func New() Case {
	written, _ := json.MarshalIndent(map[string]any{
		"OwnerId": writtenAccount,
		"Instances": []any{map[string]any{
			"InstanceId":       writtenInstance,
			"PrivateIpAddress": writtenIP,
			"Tags":             []any{map[string]any{"Key": "Name", "Value": writtenName}},
		}},
		"BucketName":      writtenBucket,
		"SecretAccessKey": writtenSecret,
	}, "", "  ")
	policy, _ := json.Marshal(map[string]any{
		"Version": "2012-10-17",
		"Statement": []any{map[string]any{
			"Effect":    "Allow",
			"Principal": map[string]any{"AWS": "arn:aws:iam::" + observedAccount + ":root"},
			"Action":    "s3:GetObject",
			"Resource":  "arn:aws:s3:::" + observedBucket + "/*",
		}},
	})
	observed, _ := json.MarshalIndent(map[string]any{
		"Reservations": []any{map[string]any{
			"OwnerId": observedAccount,
			"Instances": []any{map[string]any{
				"InstanceId":       observedInstance,
				"PrivateIpAddress": observedIP,
				"Tags":             []any{map[string]any{"Key": "Name", "Value": observedName}},
			}},
		}},
		"BucketName":  observedBucket,
		"Policy":      string(policy), // as get-bucket-policy prints it: JSON in a string
		"Credentials": map[string]any{"AccessKeyId": observedAccessKey, "SecretAccessKey": observedSecret},
	}, "", "    ")
	return Case{
		UserText: "The file I had you write for instance " + writtenInstance + " in account " + writtenAccount +
			" does not match what describe-instances says about " + observedInstance + " in account " + observedAccount +
			". Write /tmp/x.json again with both documents.",
		FilePath: "/tmp/x.json",
		Written:  string(written),
		Observed: string(observed),
	}
}

// Params is the Messages request of the case.
func (c Case) Params() anthropic.MessageNewParams {
	return anthropic.MessageNewParams{
		Model:     "claude-fake",
		MaxTokens: 1000,
		Messages: []anthropic.MessageParam{
			anthropic.NewUserMessage(anthropic.NewTextBlock("Write the inventory file.")),
			anthropic.NewAssistantMessage(anthropic.NewToolUseBlock("toolu_write1",
				map[string]string{"file_path": c.FilePath, "content": c.Written}, fakeapi.DocumentTool)),
			anthropic.NewUserMessage(
				anthropic.NewToolResultBlock("toolu_write1", c.Observed, false),
				anthropic.NewTextBlock(c.UserText)),
		},
		Tools: []anthropic.ToolUnionParam{{OfTool: &anthropic.ToolParam{
			Name: fakeapi.DocumentTool,
			InputSchema: anthropic.ToolInputSchemaParam{Properties: map[string]any{
				"file_path": map[string]any{"type": "string"},
				"content":   map[string]any{"type": "string"},
			}},
		}}},
	}
}

// Answer is what the document model answers to c, the text and the tool
// input, as the client must see them.
func (c Case) Answer() (text, input string) {
	doc, err := fakeapi.EchoDocument(c.Written, c.Observed)
	if err != nil {
		panic(err) // the case's own documents are JSON
	}
	return c.UserText, fakeapi.EchoInput(c.FilePath, doc)
}

// CheckAnswer compares a text and a tool input a client got with what it
// must get for c: the text as is; the input parsed as JSON, then its
// "content" parsed as JSON again. It describes each difference by path,
// kind and length, never by value.
func (c Case) CheckAnswer(text string, input []byte) []string {
	wantText, wantInput := c.Answer()
	var out []string
	if text != wantText {
		out = append(out, fmt.Sprintf("text: %d bytes, want %d", len(text), len(wantText)))
	}
	var want, got struct {
		FilePath string `json:"file_path"`
		Content  string `json:"content"`
	}
	_ = json.Unmarshal([]byte(wantInput), &want)
	if err := json.Unmarshal(input, &got); err != nil {
		return append(out, fmt.Sprintf("the tool input (%d bytes) is not a JSON object with string fields: %v", len(input), err))
	}
	if got.FilePath != want.FilePath {
		out = append(out, "input.file_path: a different path")
	}
	var wantDoc, gotDoc any
	_ = json.Unmarshal([]byte(want.Content), &wantDoc)
	if err := json.Unmarshal([]byte(got.Content), &gotDoc); err != nil {
		return append(out, fmt.Sprintf("input.content (%d bytes) is not JSON: %v", len(got.Content), err))
	}
	return append(out, fakeapi.DiffJSON("input.content>", wantDoc, gotDoc)...)
}

// Recorder is an http.RoundTripper that keeps every response body as the
// client read it (the client still reads it as it arrives).
type Recorder struct {
	mu     sync.Mutex
	bodies []*bytes.Buffer
}

// RoundTrip implements http.RoundTripper.
func (r *Recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	buf := &bytes.Buffer{}
	r.mu.Lock()
	r.bodies = append(r.bodies, buf)
	r.mu.Unlock()
	resp.Body = recorded{resp.Body, r, buf}
	return resp, nil
}

type recorded struct {
	io.ReadCloser
	r   *Recorder
	buf *bytes.Buffer
}

func (b recorded) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.r.mu.Lock()
	b.buf.Write(p[:n])
	b.r.mu.Unlock()
	return n, err
}

// Last returns what the client read of the last response body.
func (r *Recorder) Last() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.bodies) == 0 {
		return nil
	}
	return bytes.Clone(r.bodies[len(r.bodies)-1].Bytes())
}

// Client is the official Go SDK pointed at a gateway with token as its API
// key, recording the responses.
func Client(base, token string) (anthropic.Client, *Recorder) {
	rec := &Recorder{}
	return anthropic.NewClient(option.WithBaseURL(base), option.WithAPIKey(token), option.WithMaxRetries(0),
		option.WithHTTPClient(&http.Client{Transport: rec})), rec
}

// Stream sends c streamed and returns the message the SDK accumulated.
func Stream(t *testing.T, client anthropic.Client, c Case) anthropic.Message {
	t.Helper()
	stream := client.Messages.NewStreaming(context.Background(), c.Params())
	var msg anthropic.Message
	for stream.Next() {
		if err := msg.Accumulate(stream.Current()); err != nil {
			t.Fatal(err)
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatalf("stream: %s", describe(err))
	}
	return msg
}

// Plain sends c and returns the message.
func Plain(t *testing.T, client anthropic.Client, c Case) anthropic.Message {
	t.Helper()
	msg, err := client.Messages.New(context.Background(), c.Params())
	if err != nil {
		t.Fatalf("plain: %s", describe(err))
	}
	return *msg
}

// describe describes an SDK error without the body of an API error.
func describe(err error) string {
	var apiErr *anthropic.Error
	if errors.As(err, &apiErr) {
		return fmt.Sprintf("API error, status %d", apiErr.StatusCode)
	}
	return err.Error()
}

// TextAndInput returns the text and the tool input of a message from the
// document model.
func TextAndInput(t *testing.T, msg anthropic.Message) (string, []byte) {
	t.Helper()
	if len(msg.Content) != 2 || msg.Content[0].Type != "text" || msg.Content[1].Type != "tool_use" {
		t.Fatalf("%d content blocks, want a text and a tool_use", len(msg.Content))
	}
	if msg.Content[1].Name != fakeapi.DocumentTool {
		t.Fatal("the tool call is not the document model's")
	}
	return msg.Content[0].Text, msg.Content[1].Input
}

// Received is the conversation the upstream received last.
func Received(t *testing.T, api *fakeapi.Server) Case {
	t.Helper()
	reqs := api.Requests()
	for i := len(reqs) - 1; i >= 0; i-- {
		if reqs[i].Path != "/v1/messages" {
			continue
		}
		c, err := fakeapi.ReadConversation(reqs[i].Body)
		if err != nil {
			t.Fatalf("the upstream's last request: %v", err)
		}
		return Case(c)
	}
	t.Fatal("the upstream received no Messages request")
	return Case{}
}

// CheckMasked compares what the upstream received (got) with what the
// client sent (c): every string that holds an original must hold no
// original (and so differ); every other string stays as it is.
// Strings holding JSON are compared as JSON.
func CheckMasked(c, got Case) []string {
	var out []string
	out = append(out, maskedString("user text", c.UserText, got.UserText)...)
	out = append(out, maskedString("file_path", c.FilePath, got.FilePath)...)
	for _, d := range []struct{ name, sent, got string }{{"tool_use document", c.Written, got.Written}, {"tool_result document", c.Observed, got.Observed}} {
		var s, g any
		_ = json.Unmarshal([]byte(d.sent), &s)
		if err := json.Unmarshal([]byte(d.got), &g); err != nil {
			out = append(out, fmt.Sprintf("%s: the upstream got %d bytes that are not JSON: %v", d.name, len(d.got), err))
			continue
		}
		out = append(out, maskedJSON(d.name, s, g)...)
	}
	return out
}

func maskedJSON(path string, sent, got any) []string {
	switch s := sent.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok || len(g) != len(s) {
			return []string{path + ": not the object sent"}
		}
		var out []string
		for k, v := range s {
			out = append(out, maskedJSON(path+"."+k, v, g[k])...)
		}
		return out
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(s) {
			return []string{path + ": not the array sent"}
		}
		var out []string
		for i := range s {
			out = append(out, maskedJSON(fmt.Sprintf("%s[%d]", path, i), s[i], g[i])...)
		}
		return out
	case string:
		g, ok := got.(string)
		if !ok {
			return []string{path + ": not a string"}
		}
		var sj, gj any
		if json.Unmarshal([]byte(s), &sj) == nil && json.Unmarshal([]byte(g), &gj) == nil && fmt.Sprintf("%T", sj) == fmt.Sprintf("%T", gj) {
			if _, isObj := sj.(map[string]any); isObj {
				return maskedJSON(path+">", sj, gj)
			}
		}
		return maskedString(path, s, g)
	default:
		if fmt.Sprint(sent) != fmt.Sprint(got) {
			return []string{path + ": a different value"}
		}
		return nil
	}
}

func maskedString(path, sent, got string) []string {
	holds := false
	for _, o := range Originals() {
		if strings.Contains(sent, o) {
			holds = true
		}
		if strings.Contains(got, o) {
			return []string{fmt.Sprintf("%s: an original (%d bytes) reached the upstream", path, len(o))}
		}
	}
	switch {
	case !holds && got != sent:
		return []string{fmt.Sprintf("%s: changed on the way (%d bytes, sent %d) though it holds no original", path, len(got), len(sent))}
	case holds && got == sent:
		return []string{path + ": not masked"}
	}
	return nil
}

// Leaked returns, for each original found in b (raw, or decoded at any
// level) or in the text and tool input of an event stream b, its length.
func Leaked(b []byte) []int {
	texts := fakeapi.Texts(b)
	if text, input, err := fakeapi.Streamed(b); err == nil {
		texts = append(texts, text, input)
		texts = append(texts, fakeapi.Texts([]byte(input))...)
	}
	var out []int
	for _, o := range Originals() {
		for _, x := range texts {
			if strings.Contains(x, o) {
				out = append(out, len(o))
				break
			}
		}
	}
	return out
}

// Run runs the case with the Go SDK against a gateway at base, whose
// upstream is api (made by fakeapi.NewDocuments): owner sends the case,
// streamed and not, and must get the originals back; other, another
// client, then pastes the pseudonyms the upstream received and must get
// no original back. At the end, no original may have reached the upstream
// at any level of escaping.
func Run(t *testing.T, base, owner, other string, api *fakeapi.Server) {
	c := New()
	client, _ := Client(base, owner)
	check := func(t *testing.T, msg anthropic.Message) {
		t.Helper()
		text, input := TextAndInput(t, msg)
		for _, d := range c.CheckAnswer(text, input) {
			t.Error("the answer does not carry the originals: " + d)
		}
		for _, d := range CheckMasked(c, Received(t, api)) {
			t.Error("upstream request: " + d)
		}
	}
	t.Run("streamed", func(t *testing.T) { check(t, Stream(t, client, c)) })
	t.Run("plain", func(t *testing.T) { check(t, Plain(t, client, c)) })

	t.Run("pseudonyms pasted by another client", func(t *testing.T) {
		pasted := Received(t, api)
		bad, rec := Client(base, other)
		for _, m := range []struct {
			name string
			send func(*testing.T, anthropic.Client, Case) anthropic.Message
		}{{"streamed", Stream}, {"plain", Plain}} {
			t.Run(m.name, func(t *testing.T) {
				msg := m.send(t, bad, pasted)
				raw, _ := json.Marshal(msg)
				for _, n := range append(Leaked(rec.Last()), Leaked(raw)...) {
					t.Errorf("an original (%d bytes) came back to a client that never sent it", n)
				}
				text, input := TextAndInput(t, msg)
				for _, d := range pasted.CheckAnswer(text, input) {
					t.Error("the pasted pseudonyms did not come back as sent: " + d)
				}
			})
		}
	})

	for _, o := range Originals() {
		if api.SawDecoded(o) {
			t.Errorf("an original (%d bytes) reached the upstream", len(o))
		}
	}
}
