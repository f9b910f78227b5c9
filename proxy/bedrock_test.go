package proxy

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/claude-secure/claude-secure/internal/fakeapi"
	"github.com/claude-secure/claude-secure/internal/fakebedrock"
	"github.com/claude-secure/claude-secure/mask"
)

// newFakeBedrock starts a fake Bedrock that checks every request's
// signature; at the end no original may have reached it, and every
// request must have been signed (or carried the API key).
func newFakeBedrock(t *testing.T, o fakebedrock.Options) *fakebedrock.Server {
	o.Keep = true
	fb := fakebedrock.New(o)
	t.Cleanup(func() {
		for _, o := range originals {
			if fb.Saw(o) {
				t.Errorf("an original (%d bytes) reached Bedrock", len(o))
			}
		}
		for i, r := range fb.Requests() {
			if !r.Signed && !r.Bearer {
				t.Errorf("request %d reached Bedrock unauthenticated: %s", i, r.AuthError)
			}
		}
		fb.Close()
	})
	return fb
}

func bedrockProxy(t *testing.T, fb *fakebedrock.Server, o BedrockOptions) *Proxy {
	t.Helper()
	o.Region = fb.Region()
	prov, err := Bedrock(o)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := startProxy(t, fb.URL, func(opts *Options) { opts.Provider = prov })
	return p
}

func bedrockBody(text string) []byte {
	b, _ := json.Marshal(map[string]any{
		"anthropic_version": fakebedrock.AnthropicVersion, "max_tokens": 100,
		"messages": []any{map[string]any{"role": "user", "content": text}},
	})
	return b
}

// Claude Code in Bedrock mode (its own authentication skipped) sends
// unsigned requests; each leaves masked and signed, the model's ID as the
// client wrote it, and the answer comes back restored.
func TestBedrockRequestsAreMaskedAndSigned(t *testing.T) {
	static := credentials.NewStaticCredentialsProvider(fakebedrock.DefaultAccessKeyID, fakebedrock.DefaultSecretAccessKey, "")
	fb := newFakeBedrock(t, fakebedrock.Options{})
	p := bedrockProxy(t, fb, BedrockOptions{Credentials: static})

	// a versioned model ID with its ':' raw, and the headers Claude Code
	// sends (some of which the way out drops or sets again)
	resp := post(t, p.BaseURL()+"/model/us.anthropic.claude-sonnet-4-5-20250929-v1:0/invoke", bedrockBody(clientText),
		"Accept-Encoding", "gzip, deflate, br, zstd", "X-Stainless-Retry-Count", "0", "Anthropic-Beta", "claude-code-20250219")
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("invoke: status %d", resp.StatusCode)
	}
	if !strings.Contains(string(body), "i-0f3a9c2b7d1e4a605") || !strings.Contains(string(body), "210987654321") {
		t.Error("the answer does not carry the originals back")
	}
	// the inference profiles, which Claude Code lists first
	req, _ := http.NewRequest(http.MethodGet, p.BaseURL()+"/inference-profiles?type=SYSTEM_DEFINED", nil)
	r2, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r2.Body.Close()
	if r2.StatusCode != http.StatusOK {
		t.Errorf("inference profiles: status %d", r2.StatusCode)
	}
	// an application inference profile's ARN, escaped, reaches Bedrock as
	// it is: the account in it is Bedrock's own customer's
	arn := "arn:aws:bedrock:us-east-1:310987654321:application-inference-profile/a1b2c3d4e5f6"
	resp = post(t, p.BaseURL()+"/model/"+strings.NewReplacer(":", "%3A", "/", "%2F").Replace(arn)+"/invoke", bedrockBody("hello"))
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("invoke with a profile ARN: status %d", resp.StatusCode)
	}
	reqs := fb.Requests()
	if len(reqs) != 3 {
		t.Fatalf("Bedrock got %d requests, want 3", len(reqs))
	}
	if reqs[0].Model != "us.anthropic.claude-sonnet-4-5-20250929-v1:0" || reqs[2].Model != arn {
		t.Errorf("Bedrock was asked for models %q and %q", reqs[0].Model, reqs[2].Model)
	}
	for i, r := range reqs {
		if r.Header.Get("X-Api-Key") != "" {
			t.Errorf("request %d carried the client's API key to Bedrock", i)
		}
	}
}

// A body changed after signing would be refused by Bedrock: the signature
// covers the masked body, the one that leaves.
func TestBedrockSignsTheMaskedBody(t *testing.T) {
	static := credentials.NewStaticCredentialsProvider(fakebedrock.DefaultAccessKeyID, fakebedrock.DefaultSecretAccessKey, "")
	fb := newFakeBedrock(t, fakebedrock.Options{})
	p := bedrockProxy(t, fb, BedrockOptions{Credentials: static})
	var gzipped bytes.Buffer
	zw := gzip.NewWriter(&gzipped)
	zw.Write(bedrockBody(clientText))
	zw.Close()
	resp := post(t, p.BaseURL()+"/model/us.anthropic.claude-sonnet-4-5-20250929-v1:0/invoke", gzipped.Bytes(), "Content-Encoding", "gzip")
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if n := fb.Refused.Load(); n != 0 {
		t.Errorf("Bedrock refused %d requests", n)
	}
}

// A Bedrock API key goes out as the bearer token; a wrong one is
// Bedrock's refusal, passed back.
func TestBedrockAPIKey(t *testing.T) {
	fb := newFakeBedrock(t, fakebedrock.Options{APIKey: "ABSKQmVkcm9ja0FQSUtleS1mb3ItdGVzdHM="})
	p := bedrockProxy(t, fb, BedrockOptions{BearerToken: "ABSKQmVkcm9ja0FQSUtleS1mb3ItdGVzdHM="})
	resp := post(t, p.BaseURL()+"/model/us.anthropic.claude-sonnet-4-5-20250929-v1:0/invoke", bedrockBody(clientText))
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if r := fb.Requests(); len(r) != 1 || !r[0].Bearer {
		t.Error("the API key did not reach Bedrock as the bearer token")
	}
}

// Only the Messages calls take a body; anything else with one is refused
// before it leaves, as on the Anthropic API.
func TestBedrockRefusesOtherBodies(t *testing.T) {
	static := credentials.NewStaticCredentialsProvider(fakebedrock.DefaultAccessKeyID, fakebedrock.DefaultSecretAccessKey, "")
	fb := newFakeBedrock(t, fakebedrock.Options{})
	p := bedrockProxy(t, fb, BedrockOptions{Credentials: static})
	for _, path := range []string{"/model/us.anthropic.claude-sonnet-4-5-20250929-v1:0/converse", "/guardrail/g1/version/1/apply", "/model//invoke"} {
		resp := post(t, p.BaseURL()+path, bedrockBody(clientText))
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("%s: status %d, want 403", path, resp.StatusCode)
		}
	}
	if n := fb.Hits.Load(); n != 0 {
		t.Errorf("%d requests reached Bedrock", n)
	}
}

// A streamed answer comes back frame by frame, restored; an upstream
// exception passes through, and a damaged frame ends the stream with an
// exception of the proxy's own, never a half-restored frame.
func TestBedrockStreamIsRestored(t *testing.T) {
	static := credentials.NewStaticCredentialsProvider(fakebedrock.DefaultAccessKeyID, fakebedrock.DefaultSecretAccessKey, "")
	fb := newFakeBedrock(t, fakebedrock.Options{})
	p := bedrockProxy(t, fb, BedrockOptions{Credentials: static})
	streamURL := p.BaseURL() + "/model/us.anthropic.claude-sonnet-4-5-20250929-v1:0/invoke-with-response-stream"

	resp := post(t, streamURL, bedrockBody(clientText))
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != http.StatusOK || ct != "application/vnd.amazon.eventstream" {
		t.Fatalf("status %d, content type %q", resp.StatusCode, ct)
	}
	text, toolJSON, err := fakebedrock.Streamed(raw)
	if err != nil {
		t.Fatalf("the stream does not read back: %v", err)
	}
	if text != fakeapi.Answer("i-0f3a9c2b7d1e4a605", "210987654321") || toolJSON != fakeapi.ToolInput("i-0f3a9c2b7d1e4a605", "210987654321") {
		t.Error("the streamed answer is not restored")
	}

	fb.SetFault(fakebedrock.Throttle)
	resp = post(t, streamURL, bedrockBody(clientText))
	raw, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	var se *fakebedrock.StreamError
	if _, err := fakebedrock.Events(bytes.NewReader(raw)); !errors.As(err, &se) || se.Type != "throttlingException" {
		t.Errorf("a throttled stream ends with %v, want Bedrock's throttlingException", err)
	}

	fb.SetFault(fakebedrock.BadCRC)
	resp = post(t, streamURL, bedrockBody(clientText))
	raw, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if _, err := fakebedrock.Events(bytes.NewReader(raw)); !errors.As(err, &se) || se.Type != "internalServerException" || !strings.Contains(se.Message, "claude-secure") {
		t.Errorf("a damaged stream ends with %v, want the proxy's own exception", err)
	}
}

// BenchmarkBedrockTimeToFirstByte: a streamed answer from Bedrock, time
// from sending the request to the first byte of the answer: straight to
// the (fake) Bedrock, signed by the client as the AWS SDK signs, and
// through the proxy, which masks and signs.
func BenchmarkBedrockTimeToFirstByte(b *testing.B) {
	fb := fakebedrock.New(fakebedrock.Options{})
	defer fb.Close()
	static := credentials.NewStaticCredentialsProvider(fakebedrock.DefaultAccessKeyID, fakebedrock.DefaultSecretAccessKey, "")
	prov, err := Bedrock(BedrockOptions{Region: fb.Region(), Credentials: static})
	if err != nil {
		b.Fatal(err)
	}
	e, _ := mask.New([]byte("bench-seed"), mask.NewMemoryMappings(), nil)
	up, _ := url.Parse(fb.URL)
	p, err := New(Options{Upstream: up, Engine: e, Provider: prov})
	if err != nil {
		b.Fatal(err)
	}
	p.Start()
	defer p.Shutdown(context.Background())
	body := bedrockBody("Summarise the incident on i-0f3a9c2b7d1e4a605 in account 210987654321.")
	const path = "/model/us.anthropic.claude-sonnet-4-5-20250929-v1:0/invoke-with-response-stream"
	signer := v4.NewSigner()
	sum := sha256.Sum256(body)
	hash := hex.EncodeToString(sum[:])
	for _, c := range []struct {
		name string
		req  func() *http.Request
	}{
		{"direct", func() *http.Request {
			r, _ := http.NewRequest(http.MethodPost, fb.URL+path, bytes.NewReader(body))
			r.Header.Set("Content-Type", "application/json")
			creds, _ := static.Retrieve(context.Background())
			signer.SignHTTP(context.Background(), creds, r, hash, "bedrock", fb.Region(), time.Now())
			return r
		}},
		{"proxy", func() *http.Request {
			r, _ := http.NewRequest(http.MethodPost, p.BaseURL()+path, bytes.NewReader(body))
			r.Header.Set("Content-Type", "application/json")
			return r
		}},
	} {
		b.Run(c.name, func(b *testing.B) {
			var ds []time.Duration
			for b.Loop() {
				start := time.Now()
				resp, err := client.Do(c.req())
				if err != nil {
					b.Fatal(err)
				}
				if _, err := io.ReadFull(resp.Body, make([]byte, 1)); err != nil || resp.StatusCode != http.StatusOK {
					b.Fatalf("status %d: %v", resp.StatusCode, err)
				}
				ds = append(ds, time.Since(start))
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			p50(b, ds)
		})
	}
}

// A Messages body to Bedrock has the Messages API's limit (32 MiB), not
// the batches' one.
func TestBedrockBodyLimit(t *testing.T) {
	static := credentials.NewStaticCredentialsProvider(fakebedrock.DefaultAccessKeyID, fakebedrock.DefaultSecretAccessKey, "")
	fb := newFakeBedrock(t, fakebedrock.Options{})
	p := bedrockProxy(t, fb, BedrockOptions{Credentials: static})
	resp := post(t, p.BaseURL()+"/model/us.anthropic.claude-sonnet-4-5-20250929-v1:0/invoke", bedrockBody(strings.Repeat("a", 33<<20)))
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("a 33 MiB body: status %d, want 413", resp.StatusCode)
	}
	if n := fb.Hits.Load(); n != 0 {
		t.Errorf("%d requests reached Bedrock", n)
	}
}

// What a path carries is read for values to mask as on the Anthropic API;
// only a Bedrock ARN naming the model is left out on the invoke calls (its
// account and a profile's ID), never a model ID that holds a value, and
// never on another call.
func TestBedrockPathIsChecked(t *testing.T) {
	static := credentials.NewStaticCredentialsProvider(fakebedrock.DefaultAccessKeyID, fakebedrock.DefaultSecretAccessKey, "")
	fb := newFakeBedrock(t, fakebedrock.Options{})
	p := bedrockProxy(t, fb, BedrockOptions{Credentials: static})
	esc := strings.NewReplacer(":", "%3A", "/", "%2F").Replace
	for i, c := range []struct{ method, path string }{
		{http.MethodPost, "/model/i-0f3a9c2b7d1e4a605/invoke"},
		{http.MethodPost, "/model/" + esc("arn:aws:bedrock:us-east-1:310987654321:application-inference-profile/acme-orders-archive") + "/invoke"},
		{http.MethodPost, "/model/" + esc("arn:aws:bedrock:us-east-1::foundation-model/x.i-0f3a9c2b7d1e4a605") + "/invoke-with-response-stream"},
		{http.MethodGet, "/model/10.20.30.40/anything"},
		{http.MethodDelete, "/model/" + esc("arn:aws:bedrock:us-east-1:310987654321:application-inference-profile/abc123") + "/x"},
	} {
		var body io.Reader
		if c.method == http.MethodPost {
			body = bytes.NewReader(bedrockBody("hello"))
		}
		req, _ := http.NewRequest(c.method, p.BaseURL()+c.path, body)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("path %d: status %d, want 400 (the path holds a value to mask)", i, resp.StatusCode)
		}
	}
	if n := fb.Hits.Load(); n != 0 {
		t.Errorf("%d requests reached Bedrock", n)
	}
}

// Bedrock's own request headers (a guardrail, a trace, a service tier)
// reach it, read for values to mask like every other header.
func TestBedrockHeadersReachIt(t *testing.T) {
	static := credentials.NewStaticCredentialsProvider(fakebedrock.DefaultAccessKeyID, fakebedrock.DefaultSecretAccessKey, "")
	fb := newFakeBedrock(t, fakebedrock.Options{})
	p := bedrockProxy(t, fb, BedrockOptions{Credentials: static})
	url := p.BaseURL() + "/model/us.anthropic.claude-sonnet-4-5-20250929-v1:0/invoke"
	resp := post(t, url, bedrockBody("hello"), "X-Amzn-Bedrock-GuardrailIdentifier", "gr-abc123", "X-Amzn-Bedrock-GuardrailVersion", "1",
		"X-Amzn-Bedrock-Service-Tier", "priority")
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	h := fb.Requests()[0].Header
	if h.Get("X-Amzn-Bedrock-GuardrailIdentifier") != "gr-abc123" || h.Get("X-Amzn-Bedrock-Service-Tier") != "priority" {
		t.Error("the guardrail or the service tier did not reach Bedrock")
	}
	resp = post(t, url, bedrockBody("hello"), "X-Amzn-Bedrock-Trace", "i-0f3a9c2b7d1e4a605")
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || fb.Hits.Load() != 1 {
		t.Errorf("a header holding a value to mask: status %d, %d requests reached Bedrock", resp.StatusCode, fb.Hits.Load())
	}
}
