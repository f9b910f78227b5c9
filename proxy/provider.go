package proxy

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/claude-secure/claude-secure/mask"
)

// Provider is what differs between the model providers one pipeline
// serves: which paths carry a Messages body, which part of a path only
// addresses the model, and how a masked request is authenticated. How a
// streamed answer is framed follows from its content type (server-sent
// events, or an AWS event stream).
type Provider interface {
	// Name is "anthropic", "bedrock" or "vertex".
	Name() string
	// body names the schema of the request body a path takes; false
	// refuses a body there.
	body(method, path string) (mask.Body, bool)
	// address returns the path with the parts that only address the model
	// left out: what is checked for values to mask. A model's ID (an
	// inference profile's ARN holds the account) must reach the provider as
	// it is.
	address(method, path string) string
	// strip removes what the client sent to authenticate, when the
	// proxy authenticates in its place: it is neither read nor forwarded.
	strip(h http.Header)
	// authorize adds the provider's credentials to a masked request whose
	// body is final.
	authorize(ctx context.Context, r *http.Request, body []byte) error
	// bodyless says who may make a call without a body through a gateway,
	// and for a message batch's calls, which batch.
	bodyless(method, path string) (bodyless, string)
}

// Anthropic is the Anthropic API: the client's own API key passes
// through.
func Anthropic() Provider { return anthropicProvider{} }

type anthropicProvider struct{}

func (anthropicProvider) Name() string { return "anthropic" }

func (anthropicProvider) body(method, path string) (mask.Body, bool) {
	if method == http.MethodPost {
		switch path {
		case "/v1/messages", "/v1/messages/count_tokens":
			return mask.BodyMessages, true
		case "/v1/messages/batches":
			return mask.BodyBatch, true
		}
	}
	return 0, false
}

func (anthropicProvider) address(_, path string) string { return path }

func (anthropicProvider) strip(http.Header) {}

func (anthropicProvider) authorize(context.Context, *http.Request, []byte) error { return nil }

func (anthropicProvider) bodyless(method, path string) (bodyless, string) {
	return bodylessRoute(method, path)
}

// BedrockOptions configure Amazon Bedrock: requests are signed with
// Credentials (SigV4, service "bedrock", Region), or carry BearerToken (a
// Bedrock API key) when it is set.
type BedrockOptions struct {
	Region      string
	Credentials aws.CredentialsProvider
	BearerToken string
}

// Bedrock is Amazon Bedrock's runtime API. The client (Claude Code with
// its own authentication skipped) sends unsigned requests; each is signed
// once masked.
func Bedrock(o BedrockOptions) (Provider, error) {
	if o.Region == "" {
		return nil, errors.New("bedrock needs a region")
	}
	if o.BearerToken == "" && o.Credentials == nil {
		return nil, errors.New("bedrock needs credentials or an API key")
	}
	return &bedrockProvider{o: o, signer: v4.NewSigner()}, nil
}

type bedrockProvider struct {
	o      BedrockOptions
	signer *v4.Signer
}

func (*bedrockProvider) Name() string { return "bedrock" }

// bedrockModelPath splits /model/{id}/{action} into its model and action.
func bedrockModelPath(path string) (model, action string, ok bool) {
	rest, ok := strings.CutPrefix(path, "/model/")
	if !ok {
		return "", "", false
	}
	i := strings.LastIndexByte(rest, '/')
	if i <= 0 {
		return "", "", false
	}
	model, action = rest[:i], rest[i+1:]
	if model == "." || model == ".." || strings.Contains(model, "/") && !strings.HasPrefix(model, "arn:") {
		return "", "", false
	}
	return model, action, true
}

func (*bedrockProvider) body(method, path string) (mask.Body, bool) {
	if method != http.MethodPost {
		return 0, false
	}
	if _, action, ok := bedrockModelPath(path); ok {
		switch action {
		case "invoke", "invoke-with-response-stream":
			return mask.BodyMessages, true
		}
	}
	return 0, false
}

// address leaves out, on the invoke calls only, what a Bedrock ARN naming
// the model holds besides the model's own ID: the account (Bedrock's own
// customer's), the region, and for an inference profile or provisioned
// throughput an ID of lowercase letters and digits. A model's ID (plain,
// or a foundation model's or system profile's inside an ARN) is read like
// the rest of the path, and so is every other path.
func (b *bedrockProvider) address(method, path string) string {
	if _, ok := b.body(method, path); !ok {
		return path
	}
	model, action, ok := bedrockModelPath(path)
	if !ok {
		return path
	}
	m := bedrockARN.FindStringSubmatch(model)
	if m == nil {
		return path
	}
	switch typ, id := m[1], m[2]; {
	case typ == "foundation-model" || typ == "inference-profile":
		return "/model/" + id + "/" + action
	case lowerAlnum(id):
		return "/model/-/" + action
	}
	return path
}

// bedrockARN is the ARN of a Bedrock resource: its type and ID.
var bedrockARN = regexp.MustCompile(`^arn:aws(?:-[a-z]+)*:bedrock:[a-z0-9-]+:(?:[0-9]{12})?:([a-z-]+)/(.+)$`)

func lowerAlnum(s string) bool {
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return s != ""
}

// bodyless: the inference profiles (Claude Code lists them first) are
// anyone's to read; Bedrock has no batches of this API.
func (*bedrockProvider) bodyless(method, path string) (bodyless, string) {
	if method == http.MethodGet && (path == "/inference-profiles" || strings.HasPrefix(path, "/inference-profiles/") &&
		!strings.Contains(path[len("/inference-profiles/"):], "/")) {
		return bodylessAnyone, ""
	}
	return bodylessRefused, ""
}

// emptySHA256 is the hash of an empty payload.
var emptySHA256 = hex.EncodeToString(sha256.New().Sum(nil))

// strip: a client may sign its request itself (an SDK's Bedrock client
// does): its signature, date, token and payload hash go.
func (*bedrockProvider) strip(h http.Header) {
	h.Del("Authorization")
	h.Del("X-Api-Key")
	for k := range h {
		if strings.HasPrefix(k, "X-Amz-") {
			delete(h, k)
		}
	}
}

func (b *bedrockProvider) authorize(ctx context.Context, r *http.Request, body []byte) error {
	b.strip(r.Header)
	if b.o.BearerToken != "" {
		r.Header.Set("Authorization", "Bearer "+b.o.BearerToken)
		return nil
	}
	creds, err := b.o.Credentials.Retrieve(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("gave up waiting for AWS credentials: %w", ctx.Err())
		}
		// the SDK's error may quote what a credential_process printed,
		// secrets included: it is never repeated
		return errors.New("no AWS credentials to sign the request (the credential chain failed)")
	}
	hash := emptySHA256
	if len(body) > 0 {
		sum := sha256.Sum256(body)
		hash = hex.EncodeToString(sum[:])
	}
	r.Header.Set("X-Amz-Content-Sha256", hash)
	// only what must not change on the way is signed (the host, the
	// content type and the x-amz- headers): the client's other headers
	// may still be dropped or set by the transport after signing
	signed := r.Clone(ctx)
	signed.Header = http.Header{}
	for _, k := range []string{"Content-Type", "X-Amz-Content-Sha256"} {
		if v, ok := r.Header[k]; ok {
			signed.Header[k] = v
		}
	}
	if err := b.signer.SignHTTP(ctx, creds, signed, hash, "bedrock", b.o.Region, time.Now()); err != nil {
		return fmt.Errorf("failed to sign the request: %w", err)
	}
	for _, k := range []string{"Authorization", "X-Amz-Date", "X-Amz-Security-Token"} {
		if v := signed.Header.Get(k); v != "" {
			r.Header.Set(k, v)
		}
	}
	// the host as signed (a default port, :443, is left out of both)
	r.Host = signed.Host
	return nil
}
