// Package fakebedrock is a stand-in for Amazon Bedrock Runtime on loopback,
// for tests: the Anthropic models' InvokeModel and
// InvokeModelWithResponseStream calls, CountTokens, and the inference
// profiles list, each authenticated as AWS does it (Signature Version 4,
// checked against the request as it arrived, or a Bedrock API key as a
// bearer token). Its model answers as fakeapi's does, by quoting the
// instance ID and account ID it was sent (fakeapi.Answer, fakeapi.ToolInput),
// in one JSON body or as an AWS event stream of the same Anthropic events.
// It records what it received, and whether each request was correctly
// signed, so tests can check that no original reached it and that every
// request was signed.
package fakebedrock

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/claude-secure/claude-secure/internal/fakeapi"
)

const (
	// Service is the SigV4 signing name of Bedrock and Bedrock Runtime.
	Service = "bedrock"
	// DefaultRegion is the region when Options names none.
	DefaultRegion = "us-east-1"
	// AnthropicVersion is the anthropic_version a Bedrock body carries.
	AnthropicVersion = "bedrock-2023-05-31"

	// DefaultAccessKeyID and DefaultSecretAccessKey are the credentials
	// accepted when Options gives neither credentials nor an API key.
	DefaultAccessKeyID     = "AKIAFAKEBEDROCKTESTS"
	DefaultSecretAccessKey = "fakebedrock/secret/access/key/for/tests/0"
)

// Options says how the fake behaves.
type Options struct {
	// Region is the region requests must be signed for (DefaultRegion if
	// empty).
	Region string
	// AccessKeyID, SecretAccessKey and SessionToken are the credentials a
	// SigV4 request must be signed with. With a SessionToken, a request
	// must carry it (signed) in X-Amz-Security-Token; without one, a
	// request that carries a token is refused.
	AccessKeyID, SecretAccessKey, SessionToken string
	// APIKey, if set, is accepted as "Authorization: Bearer <APIKey>" (a
	// Bedrock API key, as AWS_BEARER_TOKEN_BEDROCK holds).
	APIKey string
	// Keep says whether to keep every request (tests) or only count them.
	Keep bool
	// Fault breaks the streamed answers (see SetFault).
	Fault Fault
	// Script, when set, gives the events of a streamed answer to a request
	// body (the Anthropic events, each a JSON object), in place of the
	// answer quoting an instance and an account.
	Script func(body []byte) []any
}

// Fault is a way for a streamed answer to go wrong.
type Fault int32

const (
	// NoFault: every stream is whole.
	NoFault Fault = iota
	// Throttle: the stream stops after its third text delta (part of the
	// instance ID sent) with an exception frame, :exception-type
	// throttlingException and a JSON {"message": …} payload.
	Throttle
	// BadCRC: the frame of the second text delta has a wrong message CRC;
	// the frames after it are sound.
	BadCRC
)

// Server is a fake Bedrock Runtime.
type Server struct {
	*httptest.Server
	// Deltas is how many extra text deltas a streamed answer carries after
	// the quoting ones.
	Deltas int

	// Hits counts every request, Refused those whose authentication failed.
	Hits, Refused atomic.Int64

	opts  Options
	fault atomic.Int32
	pace  atomic.Int64
	now   func() time.Time
	mu    sync.Mutex
	reqs  []Request
}

// Request is what the fake received.
type Request struct {
	// Method and Path are the method and the request target as they came
	// over the wire (Path escaped as sent, with its query).
	Method, Path string
	// Model is the model ID from the path, unescaped ("" for other calls).
	Model  string
	Header http.Header
	Body   []byte
	// Inner is the InvokeModel body a CountTokens request carries
	// (base64 in its JSON), decoded; nil for other requests.
	Inner []byte
	// Signed: the request carried a SigV4 signature that verified.
	// Bearer: it carried the accepted API key. AuthError: why it was
	// refused ("" if it was not).
	Signed, Bearer bool
	AuthError      string
}

// New starts a fake Bedrock Runtime on 127.0.0.1.
func New(opts Options) *Server {
	if opts.Region == "" {
		opts.Region = DefaultRegion
	}
	if opts.AccessKeyID == "" && opts.APIKey == "" {
		opts.AccessKeyID, opts.SecretAccessKey = DefaultAccessKeyID, DefaultSecretAccessKey
	}
	s := &Server{opts: opts, now: time.Now}
	s.fault.Store(int32(opts.Fault))
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// Region is the region requests must be signed for.
func (s *Server) Region() string { return s.opts.Region }

// SetFault sets how the streams answered from now on go wrong.
func (s *Server) SetFault(f Fault) { s.fault.Store(int32(f)) }

// SetPace sets how long to sleep between streamed frames (0: none).
func (s *Server) SetPace(d time.Duration) { s.pace.Store(int64(d)) }

// Requests returns what was received so far (with Keep).
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.reqs...)
}

// Saw reports whether any request carried v in its path (as sent or
// unescaped), its headers, its body or the body inside a CountTokens
// request.
func (s *Server) Saw(v string) bool {
	for _, r := range s.Requests() {
		if strings.Contains(r.Path, v) || strings.Contains(string(r.Body), v) || strings.Contains(string(r.Inner), v) {
			return true
		}
		if p, err := url.PathUnescape(r.Path); err == nil && strings.Contains(p, v) {
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
		awsError(w, http.StatusBadRequest, "SerializationException", "could not read the request body")
		return
	}
	path, _ := splitTarget(r.RequestURI)
	model, op := route(r.Method, path)
	rec := Request{Method: r.Method, Path: r.RequestURI, Model: model, Header: r.Header.Clone(), Body: body}
	if op == opCountTokens {
		rec.Inner = innerBody(body)
	}

	aerr := s.authenticate(r, body, &rec)
	if aerr != nil {
		s.Refused.Add(1)
		rec.AuthError = aerr.Error()
	}
	if s.opts.Keep {
		s.mu.Lock()
		s.reqs = append(s.reqs, rec)
		s.mu.Unlock()
	}
	if aerr != nil {
		writeAuthError(w, aerr)
		return
	}

	w.Header().Set("X-Amzn-Requestid", fmt.Sprintf("fake-%08d", s.Hits.Load()))
	switch op {
	case opInvoke, opStream:
		if verr := validate(body); verr != "" {
			awsError(w, http.StatusBadRequest, "ValidationException", verr)
			return
		}
		inst := instanceRe.FindString(string(body))
		acct := accountRe.FindString(string(body))
		if op == opStream {
			s.stream(w, model, inst, acct, body)
			return
		}
		w.Header().Set("X-Amzn-Bedrock-Input-Token-Count", "10")
		w.Header().Set("X-Amzn-Bedrock-Output-Token-Count", "20")
		w.Header().Set("X-Amzn-Bedrock-Invocation-Latency", "100")
		writeJSON(w, http.StatusOK, message(model, inst, acct))
	case opCountTokens:
		if rec.Inner == nil {
			var q struct {
				Input struct {
					Converse json.RawMessage `json:"converse"`
				} `json:"input"`
			}
			if json.Unmarshal(body, &q) != nil || q.Input.Converse == nil {
				awsError(w, http.StatusBadRequest, "ValidationException", "The input must hold either invokeModel with a base64 body or converse.")
				return
			}
			writeJSON(w, http.StatusOK, map[string]any{"inputTokens": len(q.Input.Converse) / 4})
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"inputTokens": len(rec.Inner) / 4})
	case opProfiles:
		writeJSON(w, http.StatusOK, map[string]any{"inferenceProfileSummaries": s.profiles()})
	case opProfile:
		for _, p := range s.profiles() {
			if p["inferenceProfileId"] == model || p["inferenceProfileArn"] == model {
				writeJSON(w, http.StatusOK, p)
				return
			}
		}
		awsError(w, http.StatusNotFound, "ResourceNotFoundException", "Inference profile "+model+" not found.")
	default:
		awsError(w, http.StatusNotFound, "UnknownOperationException", "No operation matches "+r.Method+" "+path+".")
	}
}

type operation int

const (
	opNone operation = iota
	opInvoke
	opStream
	opCountTokens
	opProfiles
	opProfile
)

// route finds the call in a raw (escaped) path: the model ID is one
// segment, so an ARN's "/" arrives as %2F and the split is made before
// unescaping.
func route(method, rawPath string) (model string, op operation) {
	segs := strings.Split(strings.TrimPrefix(rawPath, "/"), "/")
	switch {
	case method == http.MethodPost && len(segs) == 3 && segs[0] == "model":
		id, err := url.PathUnescape(segs[1])
		if err != nil || id == "" {
			return "", opNone
		}
		switch segs[2] {
		case "invoke":
			return id, opInvoke
		case "invoke-with-response-stream":
			return id, opStream
		case "count-tokens":
			return id, opCountTokens
		}
	case method == http.MethodGet && len(segs) == 1 && segs[0] == "inference-profiles":
		return "", opProfiles
	case method == http.MethodGet && len(segs) == 2 && segs[0] == "inference-profiles":
		id, err := url.PathUnescape(segs[1])
		if err == nil {
			return id, opProfile
		}
	}
	return "", opNone
}

// authenticate checks r's SigV4 signature or API key and notes the result
// in rec.
func (s *Server) authenticate(r *http.Request, body []byte, rec *Request) *authError {
	h := r.Header.Get("Authorization")
	switch {
	case h == "":
		return &authError{status: http.StatusForbidden, typ: "MissingAuthenticationTokenException", msg: "Missing Authentication Token"}
	case strings.HasPrefix(h, "Bearer "):
		if s.opts.APIKey == "" || strings.TrimPrefix(h, "Bearer ") != s.opts.APIKey {
			return &authError{status: http.StatusForbidden, typ: "AccessDeniedException", msg: "Authentication failed: Please make sure your API Key is valid.", key: "Message"}
		}
		rec.Bearer = true
		return nil
	}
	if err := s.verifySigV4(r, body, s.now()); err != nil {
		return err
	}
	rec.Signed = true
	return nil
}

// validate checks a Bedrock Anthropic body as Bedrock does; "" if it is
// well formed.
func validate(body []byte) string {
	var req map[string]json.RawMessage
	if err := json.Unmarshal(body, &req); err != nil {
		return "Malformed input request: the body is not a JSON object, please reformat your input and try again."
	}
	for _, k := range []string{"model", "stream"} {
		if _, ok := req[k]; ok {
			return fmt.Sprintf("Malformed input request: #: extraneous key [%s] is not permitted, please reformat your input and try again.", k)
		}
	}
	v, ok := req["anthropic_version"]
	if !ok {
		return "Malformed input request: #: required key [anthropic_version] not found, please reformat your input and try again."
	}
	var ver string
	if json.Unmarshal(v, &ver) != nil || ver != AnthropicVersion {
		return "Invalid API version: " + string(v)
	}
	return ""
}

// innerBody is the InvokeModel body a CountTokens request carries, or nil.
func innerBody(body []byte) []byte {
	var q struct {
		Input struct {
			InvokeModel *struct {
				Body []byte `json:"body"` // base64 in JSON
			} `json:"invokeModel"`
		} `json:"input"`
	}
	if json.Unmarshal(body, &q) != nil || q.Input.InvokeModel == nil || q.Input.InvokeModel.Body == nil {
		return nil
	}
	return q.Input.InvokeModel.Body
}

// ProfileAccount is the account in the inference profiles' ARNs.
const ProfileAccount = "111122223333"

// Profiles are the inference profiles the fake lists.
var Profiles = []string{
	"us.anthropic.claude-sonnet-4-5-20250929-v1:0",
	"us.anthropic.claude-haiku-4-5-20251001-v1:0",
}

func (s *Server) profiles() []map[string]any {
	var out []map[string]any
	for _, id := range Profiles {
		base := strings.TrimPrefix(id, "us.")
		out = append(out, map[string]any{
			"inferenceProfileId":   id,
			"inferenceProfileName": "US " + base,
			"inferenceProfileArn":  fmt.Sprintf("arn:aws:bedrock:%s:%s:inference-profile/%s", s.opts.Region, ProfileAccount, id),
			"description":          "Routes requests to " + base + " in US regions.",
			"models": []any{
				map[string]any{"modelArn": fmt.Sprintf("arn:aws:bedrock:%s::foundation-model/%s", s.opts.Region, base)},
			},
			"status":    "ACTIVE",
			"type":      "SYSTEM_DEFINED",
			"createdAt": "2025-09-29T00:00:00Z",
			"updatedAt": "2025-09-29T00:00:00Z",
		})
	}
	return out
}

// message is the model's whole answer, as InvokeModel returns it.
func message(model, inst, acct string) map[string]any {
	return fakeapi.Message("msg_bdrk_fake", modelName(model), inst, acct)
}

// modelName is the Anthropic model name in a Bedrock model ID
// ("us.anthropic.claude-sonnet-4-5-20250929-v1:0" → "claude-sonnet-4-5-20250929").
func modelName(id string) string {
	if i := strings.LastIndex(id, "anthropic."); i >= 0 {
		id = id[i+len("anthropic."):]
	}
	if i := strings.LastIndex(id, "-v"); i >= 0 {
		id = id[:i]
	}
	return id
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// awsError answers in the shape of an AWS JSON error.
func awsError(w http.ResponseWriter, status int, typ, msg string) {
	writeAuthError(w, &authError{status: status, typ: typ, msg: msg})
}

func writeAuthError(w http.ResponseWriter, e *authError) {
	typ := e.typ
	if typ == invalidSignature || typ == "IncompleteSignatureException" || typ == "MissingAuthenticationTokenException" || typ == "UnrecognizedClientException" {
		typ += ":http://internal.amazon.com/coral/com.amazon.coral.service/"
	}
	w.Header().Set("X-Amzn-Errortype", typ)
	key := e.key
	if key == "" {
		key = "message"
	}
	writeJSON(w, e.status, map[string]string{key: e.msg})
}
