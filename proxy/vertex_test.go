package proxy

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/auth"
	"cloud.google.com/go/auth/credentials"
	"github.com/claude-secure/claude-secure/internal/fakeapi"
	"github.com/claude-secure/claude-secure/internal/fakevertex"
	"github.com/claude-secure/claude-secure/internal/goroutines"
)

// newFakeVertex starts a fake Vertex AI that requires a token it issued;
// at the end no original may have reached it (in the path, only those not
// in allowed), and every request must have carried such a token.
func newFakeVertex(t *testing.T, o fakevertex.Options, allowed ...string) *fakevertex.Server {
	o.Keep = true
	fv := fakevertex.New(o)
	t.Cleanup(func() {
		for i, r := range fv.Requests() {
			for _, o := range originals {
				inPath := strings.Contains(r.Path, o) && !containsString(allowed, o)
				if inPath || strings.Contains(string(r.Body), o) {
					t.Errorf("an original (%d bytes) reached Vertex AI in request %d", len(o), i)
				}
			}
			if !r.Authorized {
				t.Errorf("request %d reached Vertex AI unauthorized: %s", i, r.AuthError)
			}
		}
		fv.Close()
	})
	return fv
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// serviceAccount is the credentials Google's library makes of the fake's
// service account file.
func serviceAccount(t *testing.T, fv *fakevertex.Server, client *http.Client) *auth.Credentials {
	t.Helper()
	path := filepath.Join(t.TempDir(), "sa.json")
	if err := fv.WriteServiceAccount(path); err != nil {
		t.Fatal(err)
	}
	creds, err := credentials.NewCredentialsFromFile(credentials.ServiceAccount, path,
		&credentials.DetectOptions{Scopes: []string{fakevertex.Scope}, Client: client})
	if err != nil {
		t.Fatal(err)
	}
	return creds
}

func vertexProxy(t *testing.T, upstream string, o VertexOptions, opts ...func(*Options)) *Proxy {
	t.Helper()
	prov, err := Vertex(o)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := startProxy(t, upstream, append([]func(*Options){func(opts *Options) { opts.Provider = prov }}, opts...)...)
	return p
}

func vertexBody(text string, extra ...string) []byte {
	m := map[string]any{
		"anthropic_version": fakevertex.AnthropicVersion, "max_tokens": 100,
		"messages": []any{map[string]any{"role": "user", "content": text}},
	}
	for i := 0; i+1 < len(extra); i += 2 {
		m[extra[i]] = extra[i+1]
	}
	b, _ := json.Marshal(m)
	return b
}

func vertexPath(project, region, model, action string) string {
	return "/projects/" + project + "/locations/" + region + "/publishers/anthropic/models/" + model + ":" + action
}

// Claude Code in Vertex mode (its own authentication skipped, its base URL
// the proxy) sends requests without credentials; each leaves masked with
// the user's access token, the project, region and model as the client
// wrote them, and the answer comes back restored: whole, streamed, and
// token counting. The token is fetched once and cached.
func TestVertexRequestsAreMaskedAndAuthorized(t *testing.T) {
	fv := newFakeVertex(t, fakevertex.Options{})
	p := vertexProxy(t, fv.Base(), VertexOptions{Credentials: serviceAccount(t, fv, nil), QuotaProject: "billing-project"})
	model := "claude-sonnet-4-5@20250929"

	// the headers Claude Code sends, and an API key the way out drops
	resp := post(t, p.BaseURL()+vertexPath(fv.Project(), "us-east5", model, "rawPredict"), vertexBody(clientText),
		"Accept-Encoding", "gzip, deflate, br, zstd", "Anthropic-Version", "2023-06-01", "X-Stainless-Retry-Count", "0")
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("rawPredict: status %d", resp.StatusCode)
	}
	if !strings.Contains(string(body), "i-0f3a9c2b7d1e4a605") || !strings.Contains(string(body), "210987654321") {
		t.Error("the answer does not carry the originals back")
	}

	resp = post(t, p.BaseURL()+vertexPath(fv.Project(), "us-east5", model, "streamRawPredict"), vertexBody(clientText, "stream", "true"),
		"Anthropic-Beta", "claude-code-20250219")
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != http.StatusOK || ct != "text/event-stream" {
		t.Fatalf("streamRawPredict: status %d, content type %q", resp.StatusCode, ct)
	}
	text, toolJSON, err := fakeapi.Streamed(raw)
	if err != nil || text != fakeapi.Answer("i-0f3a9c2b7d1e4a605", "210987654321") || toolJSON != fakeapi.ToolInput("i-0f3a9c2b7d1e4a605", "210987654321") {
		t.Errorf("the streamed answer is not restored (%v)", err)
	}

	resp = post(t, p.BaseURL()+vertexPath(fv.Project(), "us-east5", "count-tokens", "rawPredict"), vertexBody(clientText, "model", model))
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("count-tokens: status %d", resp.StatusCode)
	}

	reqs := fv.Requests()
	if len(reqs) != 3 {
		t.Fatalf("Vertex AI got %d requests, want 3", len(reqs))
	}
	for i, r := range reqs {
		if r.Project != fv.Project() || r.Region != "us-east5" {
			t.Errorf("request %d went to project %q, region %q", i, r.Project, r.Region)
		}
		if r.Header.Get("X-Api-Key") != "" {
			t.Errorf("request %d carried the client's API key to Vertex AI", i)
		}
		if got := r.Header.Get("X-Goog-User-Project"); got != "billing-project" {
			t.Errorf("request %d: X-Goog-User-Project %q", i, got)
		}
	}
	if reqs[0].Model != model || reqs[2].Model != "count-tokens" {
		t.Errorf("models %q, %q", reqs[0].Model, reqs[2].Model)
	}
	if n := fv.Grants.Load(); n != 1 {
		t.Errorf("%d tokens fetched for 3 requests, want 1 (cached)", n)
	}
}

// The project ID in the path is the user's own and reaches Google as it
// is, even when the store holds it as an original (here a bucket's name);
// in the body it is masked as everywhere.
func TestVertexProjectReachesGoogle(t *testing.T) {
	const project = "acme-orders-archive"
	fv := newFakeVertex(t, fakevertex.Options{Project: project}, project)
	p := vertexProxy(t, fv.Base(), VertexOptions{Credentials: serviceAccount(t, fv, nil), Project: project})
	path := vertexPath(project, "global", "claude-opus-4-5@20251101", "rawPredict")
	// the first request teaches the store the bucket's name
	for i := 0; i < 2; i++ {
		resp := post(t, p.BaseURL()+path, vertexBody(clientText))
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("request %d: status %d", i, resp.StatusCode)
		}
	}
	if r := fv.Requests(); len(r) != 2 || r[1].Project != project {
		t.Error("the project did not reach Vertex AI as it is")
	}
	// another project, or a model, holding a value to mask is refused
	for i, path := range []string{
		vertexPath("i-0f3a9c2b7d1e4a605", "global", "claude-opus-4-5@20251101", "rawPredict"),
		vertexPath(project, "global", "AKIAQ3EGUWTX3KMNPZRX", "streamRawPredict"),
	} {
		resp := post(t, p.BaseURL()+path, vertexBody("hello"))
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("path %d: status %d, want 400", i, resp.StatusCode)
		}
	}
	if n := len(fv.Requests()); n != 2 {
		t.Errorf("%d requests reached Vertex AI, want 2", n)
	}
}

// In a session too, no call without a body leaves with the user's token,
// and the client's own X-Goog- headers (another project to bill) go.
func TestVertexSessionSendsOnlyItsCalls(t *testing.T) {
	fv := newFakeVertex(t, fakevertex.Options{})
	p := vertexProxy(t, fv.Base(), VertexOptions{Credentials: serviceAccount(t, fv, nil), Project: fv.Project()})
	req, _ := http.NewRequest(http.MethodDelete, p.BaseURL()+"/projects/"+fv.Project()+"/locations/us-east5/endpoints/1234", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("a DELETE without a body: status %d, want 403", resp.StatusCode)
	}
	resp = post(t, p.BaseURL()+vertexPath(fv.Project(), "global", "claude-opus-4-5@20251101", "rawPredict"), vertexBody("hello"),
		"X-Goog-User-Project", "someone-elses-project", "X-Goog-Request-Params", "x")
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	r := fv.Requests()
	if len(r) != 1 {
		t.Fatalf("%d requests reached Vertex AI, want 1", len(r))
	}
	for k := range r[0].Header {
		if strings.HasPrefix(k, "X-Goog-") {
			t.Errorf("the client's %s reached Vertex AI", k)
		}
	}
}

// Only the Messages calls take a body; anything else with one is refused
// before it leaves, and a gateway forwards no call without a body.
func TestVertexRefusesOtherCalls(t *testing.T) {
	fv := newFakeVertex(t, fakevertex.Options{})
	p := vertexProxy(t, fv.Base(), VertexOptions{Credentials: serviceAccount(t, fv, nil)}, func(o *Options) { o.PerCaller = true })
	for _, path := range []string{
		"/projects/p/locations/us-east5/publishers/google/models/gemini-2.5-pro:generateContent",
		vertexPath("p", "us-east5", "claude-sonnet-4-5", "predict"),
		vertexPath("p", "us-east5", "claude-sonnet-4-5", "rawPredict") + "/more",
		vertexPath("p", "Not_A_Region", "claude-sonnet-4-5", "rawPredict"),
		vertexPath("..", "us-east5", "claude-sonnet-4-5", "rawPredict"),
		"/projects/p/locations/us-east5/publishers/anthropic/models/:rawPredict",
		"/v1/messages",
	} {
		resp := post(t, p.BaseURL()+path, vertexBody(clientText))
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("POST %s: status %d, want 403", path, resp.StatusCode)
		}
	}
	req, _ := http.NewRequest(http.MethodGet, p.BaseURL()+"/projects/p/locations/us-east5/publishers/anthropic/models/claude-sonnet-4-5", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("GET through a gateway: status %d, want 403", resp.StatusCode)
	}
	if n := fv.Hits.Load(); n != 0 {
		t.Errorf("%d requests reached Vertex AI", n)
	}
}

// Credentials that get no token: the request is refused before it leaves,
// saying why by the token endpoint's status and error code only.
func TestVertexWithoutToken(t *testing.T) {
	fv := newFakeVertex(t, fakevertex.Options{})
	other := fakevertex.New(fakevertex.Options{}) // another key, same token URI below
	defer other.Close()
	sa := map[string]any{}
	json.Unmarshal(other.ServiceAccount(), &sa)
	sa["token_uri"] = fv.TokenURI()
	b, _ := json.Marshal(sa)
	creds, err := credentials.NewCredentialsFromJSON(credentials.ServiceAccount, b, &credentials.DetectOptions{Scopes: []string{fakevertex.Scope}})
	if err != nil {
		t.Fatal(err)
	}
	p := vertexProxy(t, fv.Base(), VertexOptions{Credentials: creds})
	resp := post(t, p.BaseURL()+vertexPath(fv.Project(), "us-east5", "claude-sonnet-4-5", "rawPredict"), vertexBody(clientText))
	out, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var e struct {
		Type  string
		Error struct{ Type, Message string }
	}
	json.Unmarshal(out, &e)
	if resp.StatusCode != http.StatusBadGateway || e.Type != "error" ||
		!strings.Contains(e.Error.Message, "nothing was sent: no Google access token: the token endpoint answered 400 (invalid_grant)") {
		t.Errorf("status %d: %s", resp.StatusCode, out)
	}
	if strings.Contains(string(out), "Signature") {
		t.Error("the token endpoint's own words were repeated")
	}
	if n := fv.Hits.Load(); n != 0 {
		t.Errorf("%d requests reached Vertex AI", n)
	}
	if err := CheckVertexCredentials(context.Background(), creds); err == nil || err.Error() != "the token endpoint answered 400 (invalid_grant)" {
		t.Errorf("CheckVertexCredentials: %v", err)
	}
}

// An expired token is replaced before a request carries it: the library
// refreshes, the proxy asks it for every request.
func TestVertexTokenIsRefreshed(t *testing.T) {
	fv := newFakeVertex(t, fakevertex.Options{ExpiresIn: time.Second})
	p := vertexProxy(t, fv.Base(), VertexOptions{Credentials: serviceAccount(t, fv, nil)})
	for i := 0; i < 2; i++ {
		if i > 0 {
			time.Sleep(1200 * time.Millisecond)
		}
		resp := post(t, p.BaseURL()+vertexPath(fv.Project(), "us-east5", "claude-sonnet-4-5", "rawPredict"), vertexBody("hello"))
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("request %d: status %d", i, resp.StatusCode)
		}
	}
	if n := fv.Grants.Load(); n != 2 {
		t.Errorf("%d tokens fetched, want a fresh one for each request", n)
	}
}

// Regional: each request goes to the endpoint of the region its path
// names (Claude Code addresses some models outside CLOUD_ML_REGION), over
// TLS, with the upstream's path.
func TestVertexRegionalEndpoints(t *testing.T) {
	fv := newFakeVertex(t, fakevertex.Options{TLS: true})
	roots := x509.NewCertPool()
	roots.AddCert(fv.Certificate())
	addr := fv.Listener.Addr().String()
	tr := NewTransport()
	tr.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}
	// httptest's certificate names example.com: every host is it here
	tr.TLSClientConfig = &tls.Config{RootCAs: roots, ServerName: "example.com"}
	creds := serviceAccount(t, fv, fv.Client())
	up, _ := VertexEndpoint("us-east5")
	p := vertexProxy(t, up, VertexOptions{Credentials: creds, Regional: true}, func(o *Options) { o.Transport = tr })
	for _, region := range []string{"us-east5", "europe-west1", "global", "eu"} {
		resp := post(t, p.BaseURL()+vertexPath(fv.Project(), region, "claude-sonnet-4-5", "rawPredict"), vertexBody("hello"))
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s: status %d", region, resp.StatusCode)
		}
	}
	var hosts []string
	for _, r := range fv.Requests() {
		if !strings.HasPrefix(r.Path, "/v1/projects/") {
			t.Errorf("path %s", r.Path)
		}
		hosts = append(hosts, r.Host)
	}
	want := "us-east5-aiplatform.googleapis.com europe-west1-aiplatform.googleapis.com aiplatform.googleapis.com aiplatform.eu.rep.googleapis.com"
	if strings.Join(hosts, " ") != want {
		t.Errorf("hosts %v", hosts)
	}
}

func TestVertexEndpoint(t *testing.T) {
	for region, want := range map[string]string{
		"us-east5":                "https://us-east5-aiplatform.googleapis.com/v1",
		"northamerica-northeast1": "https://northamerica-northeast1-aiplatform.googleapis.com/v1",
		"global":                  "https://aiplatform.googleapis.com/v1",
		"us":                      "https://aiplatform.us.rep.googleapis.com/v1",
		"":                        "",
		"us-east5.evil.example":   "",
		"US-EAST5":                "",
		"europe-west1/x":          "",
	} {
		if got, ok := VertexEndpoint(region); got != want || ok != (want != "") {
			t.Errorf("VertexEndpoint(%q) = %q, %v", region, got, ok)
		}
	}
	if _, err := Vertex(VertexOptions{}); err == nil {
		t.Error("Vertex without credentials")
	}
}

// A request queued behind another's token fetch (the library fetches one
// at a time) ends when its client goes away, and the fetch goes on for
// the request before it.
func TestVertexTokenWaitEndsWithTheClient(t *testing.T) {
	gate := make(chan struct{})
	var open sync.Once
	release := func() { open.Do(func() { close(gate) }) }
	fv := newFakeVertex(t, fakevertex.Options{TokenGate: gate})
	// Registered after the fake's own clean-up, so it runs before it: a
	// failing test does not leave the token endpoint held.
	t.Cleanup(release)
	records := make(chan Record, 4)
	p := vertexProxy(t, fv.Base(), VertexOptions{Credentials: serviceAccount(t, fv, nil), Project: fv.Project()},
		func(o *Options) { o.Observe = func(r Record) { records <- r } })
	url := p.BaseURL() + vertexPath(fv.Project(), "global", "claude-opus-4-5@20251101", "rawPredict")
	first := make(chan int, 1)
	go func() {
		resp := post(t, url, vertexBody("hello"))
		resp.Body.Close()
		first <- resp.StatusCode
	}()
	if !goroutines.Eventually(func() bool { return len(goroutines.In("(*vertexProvider).token(")) >= 1 }) {
		t.Fatal("the first request does not wait for its token")
	}
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(vertexBody("hello")))
	req.Header.Set("Content-Type", "application/json")
	go func() {
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	if !goroutines.Eventually(func() bool { return len(goroutines.In("(*vertexProvider).token(")) >= 2 }) {
		t.Fatal("the second request does not wait for a token")
	}
	cancel()
	select {
	case rec := <-records:
		if rec.Status != 499 || rec.Refusal != "client_gone" {
			t.Errorf("the second request ended with %d %q, want 499 client_gone", rec.Status, rec.Refusal)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the second request still waits after its client went away")
	}
	release()
	if code := <-first; code != http.StatusOK {
		t.Errorf("the first request: status %d", code)
	}
}
