package proxy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"

	"cloud.google.com/go/auth"
	"github.com/claude-secure/claude-secure/mask"
)

// VertexAnthropicVersion is the anthropic_version a Vertex AI request body
// carries (in place of the anthropic-version header and the model field).
const VertexAnthropicVersion = "vertex-2023-10-16"

// VertexOptions configure Google Vertex AI.
type VertexOptions struct {
	// Credentials give the OAuth access token each request carries
	// (Authorization: Bearer). Application Default Credentials, as
	// cloud.google.com/go/auth/credentials.DetectDefault finds them, are
	// an *auth.Credentials; the library caches and refreshes its tokens.
	Credentials auth.TokenProvider
	// QuotaProject, when set, goes out as X-Goog-User-Project, as Google's
	// client libraries send the quota project that user credentials name.
	QuotaProject string
	// Project is the user's own project, which reaches Google as it is in
	// a path; any other project segment is read for values to mask like
	// the rest of the path.
	Project string
	// Regional sends each request to the Vertex AI endpoint of the region
	// its path names (VertexEndpoint), with the upstream's path: Claude Code
	// may address a model in another region than CLOUD_ML_REGION. Without
	// it every request goes to the upstream.
	Regional bool
}

// Vertex is Google Vertex AI's Anthropic models. The client (Claude Code
// with its own authentication skipped, its base URL the proxy) sends
// requests without credentials; each carries the user's access token once
// masked. Paths are those a client appends to its Vertex base URL, which
// ends in /v1 (VertexEndpoint):
//
//	/projects/{project}/locations/{region}/publishers/anthropic/models/{model}:rawPredict
//	/projects/{project}/locations/{region}/publishers/anthropic/models/{model}:streamRawPredict
//	/projects/{project}/locations/{region}/publishers/anthropic/models/count-tokens:rawPredict
func Vertex(o VertexOptions) (Provider, error) {
	if o.Credentials == nil {
		return nil, errors.New("vertex needs credentials")
	}
	return &vertexProvider{o: o}, nil
}

type vertexProvider struct{ o VertexOptions }

func (*vertexProvider) Name() string { return "vertex" }

// vertexRegionRE is the shape of a Vertex AI location: a region
// (us-east5, europe-west1, northamerica-northeast1), the global endpoint,
// or a multi-region.
var vertexRegionRE = regexp.MustCompile(`^(?:[a-z]+(?:-[a-z]+)+[0-9]{1,2}|global|us|eu)$`)

// VertexEndpoint is the base URL of the Vertex AI API for a region, as the
// Anthropic SDKs build it: https://{region}-aiplatform.googleapis.com/v1,
// https://aiplatform.googleapis.com/v1 for global, and the multi-regions'
// own hosts. false: region is not the name of one.
func VertexEndpoint(region string) (string, bool) {
	host, ok := vertexHost(region)
	if !ok {
		return "", false
	}
	return "https://" + host + "/v1", true
}

// VertexHost is the host of the Vertex AI endpoint for region.
func VertexHost(region string) (string, bool) { return vertexHost(region) }

func vertexHost(region string) (string, bool) {
	switch {
	case !vertexRegionRE.MatchString(region):
		return "", false
	case region == "global":
		return "aiplatform.googleapis.com", true
	case region == "us" || region == "eu":
		return "aiplatform." + region + ".rep.googleapis.com", true
	}
	return region + "-aiplatform.googleapis.com", true
}

// vertexModelPath splits
// /projects/{project}/locations/{region}/publishers/anthropic/models/{model}:{action}.
func vertexModelPath(path string) (project, region, model, action string, ok bool) {
	segs := strings.Split(path, "/")
	if len(segs) != 9 || segs[0] != "" || segs[1] != "projects" || segs[3] != "locations" ||
		segs[5] != "publishers" || segs[6] != "anthropic" || segs[7] != "models" {
		return "", "", "", "", false
	}
	project, region = segs[2], segs[4]
	i := strings.LastIndexByte(segs[8], ':')
	if i <= 0 {
		return "", "", "", "", false
	}
	model, action = segs[8][:i], segs[8][i+1:]
	for _, s := range []string{project, model} {
		if s == "" || s == "." || s == ".." {
			return "", "", "", "", false
		}
	}
	if !vertexRegionRE.MatchString(region) {
		return "", "", "", "", false
	}
	return project, region, model, action, true
}

// body: the Messages calls, streamed and not, and token counting (the
// model "count-tokens", a Messages body with its model field) take a
// Messages body.
func (*vertexProvider) body(method, path string) (mask.Body, bool) {
	if method != http.MethodPost {
		return 0, false
	}
	if _, _, model, action, ok := vertexModelPath(path); ok {
		switch {
		case action == "rawPredict", action == "streamRawPredict" && model != "count-tokens":
			return mask.BodyMessages, true
		}
	}
	return 0, false
}

// address: on the Messages calls, the user's own project (Project), which
// Google must see as it is, is left out of what is checked; the region is
// checked by its shape. The model's ID, another project and every other
// path are read like the rest of the request.
func (v *vertexProvider) address(method, path string) string {
	if _, ok := v.body(method, path); !ok {
		return path
	}
	project, _, model, action, ok := vertexModelPath(path)
	if !ok || v.o.Project == "" || project != v.o.Project {
		return path
	}
	return "/projects/-/locations/-/publishers/anthropic/models/" + model + ":" + action
}

// bodyless: Claude Code makes no call without a body to Vertex AI, and a
// gateway forwards none.
func (*vertexProvider) bodyless(string, string) (bodyless, string) {
	return bodylessRefused, ""
}

// strip: whatever the client sent to authenticate, or to bill another
// project (X-Goog-User-Project), is not the provider's: every X-Goog-
// header goes.
func (*vertexProvider) strip(h http.Header) {
	h.Del("Authorization")
	h.Del("X-Api-Key")
	for k := range h {
		if strings.HasPrefix(k, "X-Goog-") {
			delete(h, k)
		}
	}
}

func (v *vertexProvider) authorize(ctx context.Context, r *http.Request, _ []byte) error {
	v.strip(r.Header)
	if v.o.Regional {
		host, ok := vertexHost(pathRegion(r.URL.Path))
		if !ok {
			return errors.New("the request names no Vertex AI region to send it to")
		}
		r.URL.Scheme, r.URL.Host, r.Host = "https", host, host
	}
	tok, err := v.token(ctx)
	if err != nil {
		return fmt.Errorf("no Google access token: %w", tokenError(err))
	}
	if tok == nil || tok.Value == "" {
		return errors.New("no Google access token: the credentials gave an empty one")
	}
	r.Header.Set("Authorization", "Bearer "+tok.Value)
	if v.o.QuotaProject != "" {
		r.Header.Set("X-Goog-User-Project", v.o.QuotaProject)
	}
	return nil
}

// token gets an access token, waiting no longer than ctx: the library
// serializes fetches, so a request may queue behind another's. The fetch
// itself goes on for the requests after it (its token is cached).
func (v *vertexProvider) token(ctx context.Context) (*auth.Token, error) {
	type result struct {
		tok *auth.Token
		err error
	}
	got := make(chan result, 1)
	go func() {
		tok, err := v.o.Credentials.Token(context.WithoutCancel(ctx))
		got <- result{tok, err}
	}()
	select {
	case r := <-got:
		return r.tok, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// pathRegion is the location a Vertex AI path names
// (/projects/{p}/locations/{region}/…), or "".
func pathRegion(path string) string {
	segs := strings.Split(path, "/")
	for i := len(segs) - 2; i >= 2; i-- {
		if segs[i] == "locations" && segs[i-2] == "projects" {
			return segs[i+1]
		}
	}
	return ""
}

// CheckVertexCredentials gets an access token from c once, so that a
// session does not start with credentials that give none.
func CheckVertexCredentials(ctx context.Context, c auth.TokenProvider) error {
	tok, err := c.Token(ctx)
	if err != nil {
		return tokenError(err)
	}
	if tok == nil || tok.Value == "" {
		return errors.New("the credentials gave an empty access token")
	}
	return nil
}

// oauthErrorRE is the shape of an OAuth error code (invalid_grant).
var oauthErrorRE = regexp.MustCompile(`^[a-z_]{1,64}$`)

// tokenError says why a token endpoint refused, by its status and OAuth
// error code only: the answer's body is the endpoint's to word, and is not
// repeated.
func tokenError(err error) error {
	var ae *auth.Error
	if !errors.As(err, &ae) || ae.Response == nil {
		// other credential errors may quote what a credential source
		// returned (a subject token, an answer's body): never repeated
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return err
		}
		return errors.New("the credentials could not give a token")
	}
	msg := fmt.Sprintf("the token endpoint answered %d", ae.Response.StatusCode)
	var body struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(ae.Body, &body) == nil && oauthErrorRE.MatchString(body.Error) {
		msg += " (" + body.Error + ")"
	}
	return errors.New(msg)
}
