// Package fakevertex is a stand-in for Google Vertex AI on loopback, for
// tests: the Anthropic models' rawPredict and streamRawPredict calls and
// token counting, each requiring an OAuth access token that its own token
// endpoint issued, and that token endpoint (POST /token), which takes the
// JWT-bearer grant a service account's key file makes: an RS256 assertion
// signed with the fake's test key, for its token URI. WriteServiceAccount
// writes such a key file, whose token_uri points at the fake, so Google's
// client libraries find it through GOOGLE_APPLICATION_CREDENTIALS.
//
// Its model answers as fakeapi's does, by quoting the instance ID and
// account ID it was sent (fakeapi.Answer, fakeapi.ToolInput), in one JSON
// body or as server-sent events (Options.Script gives other events). It
// records what it received, and whether each request carried a token it
// issued, so tests can check that no original reached it and that every
// request was authorized.
package fakevertex

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/claude-secure/claude-secure/internal/fakeapi"
)

const (
	// DefaultProject is the project the fake serves when Options names
	// none, and the project_id of its service account.
	DefaultProject = "claude-secure-fake"
	// ClientEmail is the service account the fake issues tokens to.
	ClientEmail = "claude-secure-tests@claude-secure-fake.iam.gserviceaccount.com"
	// AnthropicVersion is the anthropic_version a Vertex AI body carries.
	AnthropicVersion = "vertex-2023-10-16"
	// Scope is the OAuth scope a token must be asked for.
	Scope = "https://www.googleapis.com/auth/cloud-platform"
	// JWTBearer is the grant type of a service account's token request.
	JWTBearer = "urn:ietf:params:oauth:grant-type:jwt-bearer"
)

// Options say how the fake behaves.
type Options struct {
	// Project is the only project whose models may be called
	// (DefaultProject if empty); another is refused with 403.
	Project string
	// Keep says whether to keep every request (tests) or only count them.
	Keep bool
	// Script, when set, gives the events of a streamed answer to a request
	// body (the Anthropic events, each a JSON object), in place of the
	// answer quoting an instance and an account.
	Script func(body []byte) []any
	// ExpiresIn is how long an access token lasts (an hour if 0).
	ExpiresIn time.Duration
	// TLS serves HTTPS (with httptest's certificate) instead of HTTP.
	TLS bool
	// TokenGate, when set, holds every token request until it can receive
	// from it (a slow token endpoint).
	TokenGate <-chan struct{}
}

// Server is a fake Vertex AI with its own OAuth token endpoint.
type Server struct {
	*httptest.Server

	// Hits counts every request to the model endpoints, Refused those
	// without a valid token; Grants counts the tokens issued.
	Hits, Refused, Grants atomic.Int64

	opts   Options
	key    *rsa.PrivateKey
	keyID  string
	mu     sync.Mutex
	reqs   []Request
	tokens map[string]time.Time // issued token → when it expires
}

// Request is what a model endpoint received.
type Request struct {
	// Method and Path are the method and the request target as they came
	// over the wire (escaped as sent, with its query); Host is the Host
	// the client named.
	Method, Path, Host string
	// Project, Region, Model and Action are read from the path ("" when
	// it is not a model's).
	Project, Region, Model, Action string
	Header                         http.Header
	Body                           []byte
	// Authorized: the request carried a token the fake issued, still
	// valid. AuthError: why it was refused ("" if it was not).
	Authorized bool
	AuthError  string
}

// New starts a fake Vertex AI on 127.0.0.1, with a new RSA key for its
// service account.
func New(opts Options) *Server {
	if opts.Project == "" {
		opts.Project = DefaultProject
	}
	if opts.ExpiresIn == 0 {
		opts.ExpiresIn = time.Hour
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	var id [20]byte
	_, _ = rand.Read(id[:])
	s := &Server{opts: opts, key: key, keyID: hex.EncodeToString(id[:]), tokens: map[string]time.Time{}}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	if opts.TLS {
		s.StartTLS()
	} else {
		s.Start()
	}
	return s
}

// Project is the project the fake serves.
func (s *Server) Project() string { return s.opts.Project }

// TokenURI is the address of the token endpoint.
func (s *Server) TokenURI() string { return s.URL + "/token" }

// Base is the Vertex AI base URL of the fake (as
// https://{region}-aiplatform.googleapis.com/v1 is Google's).
func (s *Server) Base() string { return s.URL + "/v1" }

// ServiceAccount is a service account key file, in the format Google
// issues them, for the fake's test key and with its token endpoint.
func (s *Server) ServiceAccount() []byte {
	der, err := x509.MarshalPKCS8PrivateKey(s.key)
	if err != nil {
		panic(err)
	}
	b, _ := json.MarshalIndent(map[string]string{
		"type":                        "service_account",
		"project_id":                  s.opts.Project,
		"private_key_id":              s.keyID,
		"private_key":                 string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"client_email":                ClientEmail,
		"client_id":                   "100000000000000000001",
		"auth_uri":                    "https://accounts.google.com/o/oauth2/auth",
		"token_uri":                   s.TokenURI(),
		"auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
		"client_x509_cert_url":        "https://www.googleapis.com/robot/v1/metadata/x509/" + url.PathEscape(ClientEmail),
		"universe_domain":             "googleapis.com",
	}, "", "  ")
	return append(b, '\n')
}

// WriteServiceAccount writes ServiceAccount to path, readable by its owner
// only.
func (s *Server) WriteServiceAccount(path string) error {
	return os.WriteFile(path, s.ServiceAccount(), 0o600)
}

// Requests returns what the model endpoints received so far (with Keep).
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.reqs...)
}

// Saw reports whether any request to a model endpoint carried v in its
// path (as sent or unescaped), its headers or its body.
func (s *Server) Saw(v string) bool {
	for _, r := range s.Requests() {
		if strings.Contains(r.Path, v) || strings.Contains(string(r.Body), v) {
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

// Revoke makes every token issued so far invalid, as an expiry would.
func (s *Server) Revoke() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.tokens)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/token" {
		s.token(w, r)
		return
	}
	s.Hits.Add(1)
	body, err := io.ReadAll(r.Body)
	if err != nil {
		googleError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "could not read the request body")
		return
	}
	rec := Request{Method: r.Method, Path: r.RequestURI, Host: r.Host, Header: r.Header.Clone(), Body: body}
	route := false
	if p, ok := strings.CutPrefix(r.URL.Path, "/v1"); ok {
		rec.Project, rec.Region, rec.Model, rec.Action, route = modelPath(p)
	}
	authErr := s.authorized(r)
	if authErr != "" {
		s.Refused.Add(1)
		rec.AuthError = authErr
	} else {
		rec.Authorized = true
	}
	if s.opts.Keep {
		s.mu.Lock()
		s.reqs = append(s.reqs, rec)
		s.mu.Unlock()
	}
	if authErr != "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="https://accounts.google.com/"`)
		googleError(w, http.StatusUnauthorized, "UNAUTHENTICATED",
			"Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.")
		return
	}
	if !route || r.Method != http.MethodPost || (rec.Action != "rawPredict" && rec.Action != "streamRawPredict") {
		googleError(w, http.StatusNotFound, "NOT_FOUND", "The requested URL was not found on this server.")
		return
	}
	if rec.Project != s.opts.Project {
		googleError(w, http.StatusForbidden, "PERMISSION_DENIED",
			fmt.Sprintf("Permission 'aiplatform.endpoints.predict' denied on resource '//aiplatform.googleapis.com/projects/%s/locations/%s/publishers/anthropic/models/%s' (or it may not exist).", rec.Project, rec.Region, rec.Model))
		return
	}
	var req map[string]json.RawMessage
	if err := json.Unmarshal(body, &req); err != nil {
		anthropicError(w, http.StatusBadRequest, "invalid_request_error", "the request body is not a JSON object")
		return
	}
	var ver string
	if json.Unmarshal(req["anthropic_version"], &ver) != nil || ver != AnthropicVersion {
		anthropicError(w, http.StatusBadRequest, "invalid_request_error", "anthropic_version: must be "+AnthropicVersion)
		return
	}
	if rec.Model == "count-tokens" {
		if _, ok := req["model"]; !ok {
			anthropicError(w, http.StatusBadRequest, "invalid_request_error", "model: Field required")
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"input_tokens": len(body) / 4})
		return
	}
	if _, ok := req["model"]; ok {
		anthropicError(w, http.StatusBadRequest, "invalid_request_error", "model: the model is named in the path, not the body")
		return
	}
	var stream bool
	_ = json.Unmarshal(req["stream"], &stream)
	if rec.Action == "streamRawPredict" || stream {
		s.stream(w, rec.Model, body)
		return
	}
	writeJSON(w, http.StatusOK, message(rec.Model, instanceRe.FindString(string(body)), accountRe.FindString(string(body))))
}

// modelPath splits
// /projects/{project}/locations/{region}/publishers/anthropic/models/{model}:{action}.
func modelPath(p string) (project, region, model, action string, ok bool) {
	segs := strings.Split(p, "/")
	if len(segs) != 9 || segs[0] != "" || segs[1] != "projects" || segs[3] != "locations" ||
		segs[5] != "publishers" || segs[6] != "anthropic" || segs[7] != "models" {
		return "", "", "", "", false
	}
	model, action, ok = strings.Cut(segs[8], ":")
	if !ok || segs[2] == "" || segs[4] == "" || model == "" {
		return "", "", "", "", false
	}
	return segs[2], segs[4], model, action, true
}

// authorized checks the request's bearer token; "" if it is one the fake
// issued and still valid.
func (s *Server) authorized(r *http.Request) string {
	h := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || tok == "" {
		return "no bearer token"
	}
	s.mu.Lock()
	exp, issued := s.tokens[tok]
	s.mu.Unlock()
	switch {
	case !issued:
		return "a token the fake did not issue (or revoked)"
	case time.Now().After(exp):
		return "an expired token"
	}
	return ""
}

// token is the OAuth token endpoint: it takes a service account's signed
// JWT assertion and issues an access token.
func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	if s.opts.TokenGate != nil {
		<-s.opts.TokenGate
	}
	if r.Method != http.MethodPost {
		oauthError(w, http.StatusMethodNotAllowed, "invalid_request", "POST only")
		return
	}
	if err := r.ParseForm(); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request", "the body is not a form")
		return
	}
	if g := r.PostForm.Get("grant_type"); g != JWTBearer {
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type", "Invalid grant_type.")
		return
	}
	if msg := s.verifyAssertion(r.PostForm.Get("assertion"), time.Now()); msg != "" {
		oauthError(w, http.StatusBadRequest, "invalid_grant", msg)
		return
	}
	var b [24]byte
	_, _ = rand.Read(b[:])
	tok := "ya29.fake-" + base64.RawURLEncoding.EncodeToString(b[:])
	s.mu.Lock()
	s.tokens[tok] = time.Now().Add(s.opts.ExpiresIn)
	s.mu.Unlock()
	s.Grants.Add(1)
	writeJSON(w, http.StatusOK, map[string]any{"access_token": tok, "expires_in": int(s.opts.ExpiresIn / time.Second), "token_type": "Bearer"})
}

// verifyAssertion checks a JWT-bearer assertion as Google does: RS256,
// signed with the service account's key (its kid), issued by the service
// account for the token URI, asking for the cloud-platform scope, valid
// now and for at most an hour. "" if it holds.
func (s *Server) verifyAssertion(jwt string, now time.Time) string {
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return "Invalid JWT: the assertion is not a JWS in compact form."
	}
	var header struct {
		Alg, Kid string
	}
	hb, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil || json.Unmarshal(hb, &header) != nil {
		return "Invalid JWT: the header is not base64url JSON."
	}
	if header.Alg != "RS256" {
		return "Invalid JWT: the algorithm must be RS256."
	}
	if header.Kid != s.keyID {
		return "Invalid JWT Signature: unknown key ID."
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return "Invalid JWT Signature."
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if rsa.VerifyPKCS1v15(&s.key.PublicKey, crypto.SHA256, sum[:], sig) != nil {
		return "Invalid JWT Signature."
	}
	var c struct {
		Iss, Aud, Scope string
		Iat, Exp        int64
	}
	cb, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil || json.Unmarshal(cb, &c) != nil {
		return "Invalid JWT: the claims are not base64url JSON."
	}
	switch {
	case c.Iss != ClientEmail:
		return "Invalid JWT: the issuer is not the service account."
	case c.Aud != s.TokenURI():
		return "Invalid JWT: Failed audience check."
	case !strings.Contains(" "+c.Scope+" ", " "+Scope+" "):
		return "Invalid JWT: the cloud-platform scope is not asked for."
	case c.Iat > now.Add(time.Minute).Unix() || c.Exp <= now.Unix() || c.Exp-c.Iat > 3600:
		return "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe."
	}
	return ""
}

var (
	instanceRe = regexp.MustCompile(`i-[0-9a-f]{17}`)
	accountRe  = regexp.MustCompile(`\b[0-9]{12}\b`)
)

// modelName is the Anthropic model name in a Vertex AI model ID
// ("claude-sonnet-4-5@20250929" → "claude-sonnet-4-5-20250929").
func modelName(id string) string { return strings.ReplaceAll(id, "@", "-") }

// message is the model's whole answer.
func message(model, inst, acct string) map[string]any {
	return fakeapi.Message("msg_vrtx_fake", modelName(model), inst, acct)
}

// events are the Anthropic streaming events of the answer, the ones
// fakeapi streams.
func events(model, inst, acct string) []any {
	var ev []any
	for _, e := range fakeapi.Events("msg_vrtx_fake", modelName(model), inst, acct, 0) {
		ev = append(ev, e)
	}
	return ev
}

// stream answers with server-sent events, as Vertex AI streams the
// Anthropic models' answers.
func (s *Server) stream(w http.ResponseWriter, model string, body []byte) {
	var evs []any
	if s.opts.Script != nil {
		evs = s.opts.Script(body)
	} else {
		evs = events(model, instanceRe.FindString(string(body)), accountRe.FindString(string(body)))
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	fl, _ := w.(http.Flusher)
	for _, e := range evs {
		data, _ := json.Marshal(e)
		var head struct{ Type string }
		_ = json.Unmarshal(data, &head)
		fmt.Fprintf(w, "event: %s\ndata: %s\n\n", head.Type, data)
		if fl != nil {
			fl.Flush()
		}
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// googleError answers in the shape of a Google API error.
func googleError(w http.ResponseWriter, code int, status, msg string) {
	writeJSON(w, code, map[string]any{"error": map[string]any{"code": code, "message": msg, "status": status}})
}

// anthropicError answers as the model does to a request it refuses.
func anthropicError(w http.ResponseWriter, code int, typ, msg string) {
	writeJSON(w, code, map[string]any{"type": "error", "error": map[string]string{"type": typ, "message": msg}})
}

// oauthError answers as Google's token endpoint does.
func oauthError(w http.ResponseWriter, code int, typ, desc string) {
	writeJSON(w, code, map[string]string{"error": typ, "error_description": desc})
}
