package fakebedrock

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

const (
	testKey    = "AKIAFAKEBEDROCK00001"
	testSecret = "fake/secret/key/for/the/fake/bedrock00"
	testToken  = "FwoGZXIvYXdzEfakeSessionToken//forTests=="
	model      = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
	streamBody = `{"anthropic_version":"bedrock-2023-05-31","max_tokens":100,"messages":[{"role":"user","content":"Is i-0123456789abcdef0 in 123456789012 healthy?"}]}`
)

var testCreds = aws.Credentials{AccessKeyID: testKey, SecretAccessKey: testSecret}

// signedRequest is a request to s for path (with its query, escaped as it
// is to be sent) signed as the proxy signs: the SDK's signer, service
// "bedrock", s's region, the SHA-256 of body.
func signedRequest(t *testing.T, s *Server, method, path string, body []byte, creds aws.Credentials, at time.Time, opts ...func(*v4.SignerOptions)) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, s.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	sum := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), Service, s.Region(), at, opts...); err != nil {
		t.Fatal(err)
	}
	return req
}

func do(t *testing.T, req *http.Request) (*http.Response, string) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp, string(out)
}

// Requests signed by the SDK's signer are accepted whether the model ID's
// ":" goes raw or as %3A, with a query, and with a session token; the
// fake saw the path exactly as it was sent.
func TestSDKSignedRequestsAccepted(t *testing.T) {
	for _, c := range []struct {
		name, path string
		creds      aws.Credentials
		token      string
		edit       func(*http.Request) // after signing
	}{
		{"colon raw", "/model/" + model + "/invoke", testCreds, "", nil},
		{"colon escaped", "/model/" + strings.ReplaceAll(model, ":", "%3A") + "/invoke", testCreds, "", nil},
		{"an ARN with its slash escaped", "/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A111122223333%3Ainference-profile%2F" + model + "/invoke", testCreds, "", nil},
		{"stream", "/model/" + model + "/invoke-with-response-stream", testCreds, "", nil},
		{"count tokens", "/model/" + model + "/count-tokens", testCreds, "", nil},
		{"query", "/inference-profiles?typeEquals=SYSTEM_DEFINED&maxResults=10&nextToken=a%2Fb+c", testCreds, "", nil},
		{"query sent in another order, + for a space", "/inference-profiles?typeEquals=SYSTEM_DEFINED&maxResults=10&nextToken=a%2Fb+c", testCreds, "",
			func(r *http.Request) { r.URL.RawQuery = "typeEquals=SYSTEM_DEFINED&nextToken=a%2Fb+c&maxResults=10" }},
		{"session token", "/model/" + model + "/invoke", aws.Credentials{AccessKeyID: testKey, SecretAccessKey: testSecret, SessionToken: testToken}, testToken, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := New(Options{Region: "eu-west-3", AccessKeyID: testKey, SecretAccessKey: testSecret, SessionToken: c.token, Keep: true})
			defer s.Close()
			method, body := http.MethodPost, []byte(streamBody)
			if strings.HasPrefix(c.path, "/inference-profiles") {
				method, body = http.MethodGet, nil
			}
			if strings.HasSuffix(c.path, "/count-tokens") {
				body = []byte(`{"input":{"invokeModel":{"body":"eyJhbnRocm9waWNfdmVyc2lvbiI6ImJlZHJvY2stMjAyMy0wNS0zMSJ9"}}}`)
			}
			req := signedRequest(t, s, method, c.path, body, c.creds, time.Now())
			if c.edit != nil {
				c.edit(req)
			}
			sent := req.URL.RequestURI() // the signer puts the query in canonical order
			resp, out := do(t, req)
			if resp.StatusCode != 200 {
				t.Fatalf("%d %s %q", resp.StatusCode, resp.Header.Get("X-Amzn-Errortype"), out)
			}
			reqs := s.Requests()
			if len(reqs) != 1 || !reqs[0].Signed || reqs[0].AuthError != "" {
				t.Fatalf("recorded %+v", reqs)
			}
			if p, _, _ := strings.Cut(c.path, "?"); reqs[0].Path != sent || !strings.HasPrefix(sent, p+"?") && sent != p {
				t.Errorf("the fake saw %q, %q was sent, from %q", reqs[0].Path, sent, c.path)
			}
			if strings.HasPrefix(c.path, "/model/") && !strings.HasSuffix(reqs[0].Model, model) {
				t.Errorf("model %q", reqs[0].Model)
			}
		})
	}
}

// A request changed after it was signed, or signed wrongly, is refused
// with AWS's error, and recorded as not signed.
func TestBadSignaturesRefused(t *testing.T) {
	path := "/model/" + model + "/invoke"
	sessionCreds := aws.Credentials{AccessKeyID: testKey, SecretAccessKey: testSecret, SessionToken: testToken}
	for _, c := range []struct {
		name  string
		token string // the token the fake accepts
		req   func(t *testing.T, s *Server) *http.Request
		typ   string
	}{
		{"body changed", "", func(t *testing.T, s *Server) *http.Request {
			r := signedRequest(t, s, http.MethodPost, path, []byte(streamBody), testCreds, time.Now())
			changed := strings.Replace(streamBody, "i-0123456789abcdef0", "i-0fedcba9876543210", 1)
			r.Body = io.NopCloser(strings.NewReader(changed))
			return r
		}, invalidSignature},
		{"path changed", "", func(t *testing.T, s *Server) *http.Request {
			r := signedRequest(t, s, http.MethodPost, path, []byte(streamBody), testCreds, time.Now())
			r.URL.Path = strings.Replace(r.URL.Path, "sonnet", "haiku0", 1)
			return r
		}, invalidSignature},
		{"colon escaped after signing", "", func(t *testing.T, s *Server) *http.Request {
			r := signedRequest(t, s, http.MethodPost, path, []byte(streamBody), testCreds, time.Now())
			r.URL.RawPath = strings.ReplaceAll(r.URL.Path, ":", "%3A")
			return r
		}, invalidSignature},
		{"escaped colon signed once (as S3 would)", "", func(t *testing.T, s *Server) *http.Request {
			return signedRequest(t, s, http.MethodPost, strings.ReplaceAll(path, ":", "%3A"), []byte(streamBody), testCreds, time.Now(),
				func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })
		}, invalidSignature},
		{"query changed", "", func(t *testing.T, s *Server) *http.Request {
			r := signedRequest(t, s, http.MethodGet, "/inference-profiles?maxResults=10", nil, testCreds, time.Now())
			r.URL.RawQuery = "maxResults=11"
			return r
		}, invalidSignature},
		{"signed header changed", "", func(t *testing.T, s *Server) *http.Request {
			r := signedRequest(t, s, http.MethodPost, path, []byte(streamBody), testCreds, time.Now())
			r.Header.Set("Content-Type", "text/plain")
			return r
		}, invalidSignature},
		{"wrong secret", "", func(t *testing.T, s *Server) *http.Request {
			return signedRequest(t, s, http.MethodPost, path, []byte(streamBody), aws.Credentials{AccessKeyID: testKey, SecretAccessKey: testSecret + "x"}, time.Now())
		}, invalidSignature},
		{"stale date", "", func(t *testing.T, s *Server) *http.Request {
			return signedRequest(t, s, http.MethodPost, path, []byte(streamBody), testCreds, time.Now().Add(-6*time.Minute))
		}, invalidSignature},
		{"future date", "", func(t *testing.T, s *Server) *http.Request {
			return signedRequest(t, s, http.MethodPost, path, []byte(streamBody), testCreds, time.Now().Add(6*time.Minute))
		}, invalidSignature},
		{"wrong region", "", func(t *testing.T, s *Server) *http.Request {
			r, _ := http.NewRequest(http.MethodPost, s.URL+path, strings.NewReader(streamBody))
			sum := sha256.Sum256([]byte(streamBody))
			_ = v4.NewSigner().SignHTTP(context.Background(), testCreds, r, hex.EncodeToString(sum[:]), Service, "us-west-2", time.Now())
			return r
		}, invalidSignature},
		{"wrong service", "", func(t *testing.T, s *Server) *http.Request {
			r, _ := http.NewRequest(http.MethodPost, s.URL+path, strings.NewReader(streamBody))
			sum := sha256.Sum256([]byte(streamBody))
			_ = v4.NewSigner().SignHTTP(context.Background(), testCreds, r, hex.EncodeToString(sum[:]), "bedrock-runtime", s.Region(), time.Now())
			return r
		}, invalidSignature},
		{"payload hash that is not the body's", "", func(t *testing.T, s *Server) *http.Request {
			r, _ := http.NewRequest(http.MethodPost, s.URL+path, strings.NewReader(streamBody))
			sum := sha256.Sum256([]byte("{}"))
			r.Header.Set("X-Amz-Content-Sha256", hex.EncodeToString(sum[:]))
			_ = v4.NewSigner().SignHTTP(context.Background(), testCreds, r, hex.EncodeToString(sum[:]), Service, s.Region(), time.Now())
			return r
		}, invalidSignature},
		{"unknown access key", "", func(t *testing.T, s *Server) *http.Request {
			return signedRequest(t, s, http.MethodPost, path, []byte(streamBody), aws.Credentials{AccessKeyID: "AKIAOTHERKEY00000000", SecretAccessKey: testSecret}, time.Now())
		}, "UnrecognizedClientException"},
		{"session token missing", testToken, func(t *testing.T, s *Server) *http.Request {
			return signedRequest(t, s, http.MethodPost, path, []byte(streamBody), testCreds, time.Now())
		}, "UnrecognizedClientException"},
		{"session token changed", testToken, func(t *testing.T, s *Server) *http.Request {
			r := signedRequest(t, s, http.MethodPost, path, []byte(streamBody), sessionCreds, time.Now())
			r.Header.Set("X-Amz-Security-Token", testToken+"x")
			return r
		}, "UnrecognizedClientException"},
		{"session token not expected", "", func(t *testing.T, s *Server) *http.Request {
			return signedRequest(t, s, http.MethodPost, path, []byte(streamBody), sessionCreds, time.Now())
		}, "UnrecognizedClientException"},
		{"no authorization", "", func(t *testing.T, s *Server) *http.Request {
			r, _ := http.NewRequest(http.MethodPost, s.URL+path, strings.NewReader(streamBody))
			return r
		}, "MissingAuthenticationTokenException"},
		{"signature cut", "", func(t *testing.T, s *Server) *http.Request {
			r := signedRequest(t, s, http.MethodPost, path, []byte(streamBody), testCreds, time.Now())
			a := r.Header.Get("Authorization")
			r.Header.Set("Authorization", a[:strings.Index(a, ", Signature=")])
			return r
		}, "IncompleteSignatureException"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := New(Options{AccessKeyID: testKey, SecretAccessKey: testSecret, SessionToken: c.token, Keep: true})
			defer s.Close()
			resp, out := do(t, c.req(t, s))
			if resp.StatusCode != http.StatusForbidden {
				t.Fatalf("%d %q, want 403", resp.StatusCode, out)
			}
			typ := resp.Header.Get("X-Amzn-Errortype")
			if !strings.HasPrefix(typ, c.typ+":") {
				t.Errorf("x-amzn-ErrorType %q, want %s", typ, c.typ)
			}
			if c.typ == invalidSignature && strings.Contains(c.name, "changed") && !strings.Contains(out, `"message":"The request signature we calculated does not match the signature you provided.`) {
				t.Errorf("body %q", out)
			}
			reqs := s.Requests()
			if len(reqs) != 1 || reqs[0].Signed || reqs[0].AuthError == "" || s.Refused.Load() != 1 {
				t.Errorf("recorded %+v, %d refused", reqs, s.Refused.Load())
			}
		})
	}
}

// The canonical URI of a non-S3 request encodes the path as it was sent
// once more: a raw ":" becomes %3A, a %3A becomes %253A.
func TestCanonicalURI(t *testing.T) {
	for in, want := range map[string]string{
		"/model/us.anthropic.claude-sonnet-4-5-20250929-v1:0/invoke":                                         "/model/us.anthropic.claude-sonnet-4-5-20250929-v1%3A0/invoke",
		"/model/us.anthropic.claude-sonnet-4-5-20250929-v1%3A0/invoke":                                       "/model/us.anthropic.claude-sonnet-4-5-20250929-v1%253A0/invoke",
		"/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A111122223333%3Aapplication-inference-profile%2Fabc/invoke": "/model/arn%253Aaws%253Abedrock%253Aus-east-1%253A111122223333%253Aapplication-inference-profile%252Fabc/invoke",
		"/":      "/",
		"/a b~c": "/a%20b~c",
	} {
		if got := canonicalURI(in); got != want {
			t.Errorf("canonicalURI(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{
		"":                            "",
		"b=2&a=1&A=0":                 "A=0&a=1&b=2",
		"a-b=1&a=2":                   "a=2&a-b=1",
		"x=a%2Fb&x=a-b":               "x=a%2Fb&x=a-b",
		"next=a+b&t=%7e&e":            "e=&next=a%20b&t=~",
		"Param2=value2&Param1=value1": "Param1=value1&Param2=value2",
	} {
		if got := canonicalQuery(in); got != want {
			t.Errorf("canonicalQuery(%q) = %q, want %q", in, got, want)
		}
	}
}

// The verifier's canonical request, string to sign and key derivation
// give the signatures of AWS's published "get-vanilla" and
// "get-vanilla-query-order-key-case" examples.
func TestPublishedVectors(t *testing.T) {
	empty := sha256.Sum256(nil)
	for target, want := range map[string]string{
		"/":                             "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
		"/?Param2=value2&Param1=value1": "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500",
	} {
		r := &http.Request{Method: http.MethodGet, RequestURI: target, Host: "example.amazonaws.com",
			Header: http.Header{"X-Amz-Date": {"20150830T123600Z"}}}
		creq := canonicalRequest(r, []string{"host", "x-amz-date"}, hex.EncodeToString(empty[:]))
		sts := stringToSign("20150830T123600Z", "20150830/us-east-1/service/aws4_request", creq)
		if got := signature("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20150830", "us-east-1", "service", sts); got != want {
			t.Errorf("%s: signature %s, want %s\ncanonical request:\n%s", target, got, want, creq)
		}
	}
}
