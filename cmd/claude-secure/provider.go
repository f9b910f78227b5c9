package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/claude-secure/claude-secure/proxy"
)

// target is where a session's proxy forwards and how it authenticates
// there, and what the child is told so that it sends to the proxy.
type target struct {
	provider proxy.Provider
	upstream *url.URL
	// baseVar names the variable that points the child at the proxy;
	// skipAuth the one that tells it to leave authentication to it
	baseVar, skipAuth string
	// env are more NAME=value variables the child gets
	env []string
}

// providers are the CLAUDE_CODE_USE_ variables in the order Claude Code
// reads them: the first one set chooses its provider. The ones without a
// base URL variable are those claude-secure cannot front.
var providers = []struct{ env, name, baseVar string }{
	{"CLAUDE_CODE_USE_BEDROCK", "Amazon Bedrock", "ANTHROPIC_BEDROCK_BASE_URL"},
	{"CLAUDE_CODE_USE_FOUNDRY", "Microsoft Foundry", ""},
	{"CLAUDE_CODE_USE_ANTHROPIC_AWS", "Claude on AWS", ""},
	{"CLAUDE_CODE_USE_ANTHROPIC_GOOGLE_CLOUD", "Claude on Google Cloud", ""},
	{"CLAUDE_CODE_USE_MANTLE", "Amazon Bedrock's Mantle endpoint", ""},
	{"CLAUDE_CODE_USE_VERTEX", "Google Vertex AI", "ANTHROPIC_VERTEX_BASE_URL"},
}

// claudeCodeOn reads a CLAUDE_CODE_USE_ variable as Claude Code does:
// 1, true, yes or on, in any case; anything else is off.
func claudeCodeOn(v string) bool {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "1", "true", "yes", "on":
		return true
	}
	return false
}

// chosenProvider is the index in providers of the one Claude Code will
// use, or -1 for the Anthropic API.
func chosenProvider(getenv func(string) string) int {
	for i, p := range providers {
		if claudeCodeOn(getenv(p.env)) {
			return i
		}
	}
	return -1
}

// providerBaseVar names the variable through which Claude Code finds the
// provider it will use ("" for one claude-secure cannot front).
func providerBaseVar(getenv func(string) string) string {
	if i := chosenProvider(getenv); i >= 0 {
		return providers[i].baseVar
	}
	return "ANTHROPIC_BASE_URL"
}

// without is f with the variable name unset.
func (f *factory) without(name string) *factory {
	e := *f.env
	getenv := f.Getenv
	e.Getenv = func(k string) string {
		if k == name {
			return ""
		}
		return getenv(k)
	}
	return &factory{env: &e, configPath: f.configPath}
}

// runTarget picks the provider run works with: the one Claude Code will
// use. One claude-secure cannot front is refused (Claude Code would send to
// it around the proxy), and so is Mantle whichever is chosen: with Bedrock,
// Claude Code sends some models to it.
func (f *factory) runTarget(ctx context.Context, upstreamFlag string) (*target, error) {
	refuse := func(env, name string) error {
		return withHint(fmt.Errorf("%s is set: Claude Code would send requests to %s directly, around the masking proxy", env, name),
			"unset "+env+" to use the Anthropic API, Amazon Bedrock or Google Vertex AI through claude-secure")
	}
	if claudeCodeOn(f.Getenv("CLAUDE_CODE_USE_MANTLE")) {
		return nil, refuse("CLAUDE_CODE_USE_MANTLE", "Amazon Bedrock's Mantle endpoint")
	}
	i := chosenProvider(f.Getenv)
	if i >= 0 && providers[i].baseVar == "" {
		return nil, refuse(providers[i].env, providers[i].name)
	}
	switch providerBaseVar(f.Getenv) {
	case "ANTHROPIC_BEDROCK_BASE_URL":
		return f.bedrockTarget(ctx, upstreamFlag)
	case "ANTHROPIC_VERTEX_BASE_URL":
		return f.vertexTarget(ctx, upstreamFlag, true)
	}
	up, err := f.upstream(upstreamFlag)
	if err != nil {
		return nil, err
	}
	return &target{provider: proxy.Anthropic(), upstream: up, baseVar: "ANTHROPIC_BASE_URL"}, nil
}

// bedrockTarget signs with the user's own AWS credentials, found as the
// AWS SDK finds them (environment, shared config and credentials files
// with AWS_PROFILE, SSO, credential_process, web identity, container and
// instance roles), or sends AWS_BEARER_TOKEN_BEDROCK (a Bedrock API key).
// The region is AWS_REGION, else the profile's, as Claude Code reads it.
func (f *factory) bedrockTarget(ctx context.Context, upstreamFlag string) (*target, error) {
	// credentials that expire (SSO, a role) are fetched again a minute
	// before they do, so no request is signed with ones about to end
	cfg, err := config.LoadDefaultConfig(ctx, config.WithCredentialsCacheOptions(func(o *aws.CredentialsCacheOptions) {
		o.ExpiryWindow = time.Minute
	}))
	if err != nil {
		// the SDK's errors may quote the files, or what a
		// credential_process printed: secrets are never repeated
		return nil, withHint(errors.New("cannot read the AWS configuration for Bedrock"), "check AWS_PROFILE and the AWS config files; aws configure list shows what the SDK reads")
	}
	region := f.Getenv("AWS_REGION")
	if region == "" {
		region = cfg.Region
	}
	if region == "" {
		return nil, withHint(errors.New("no AWS region for Bedrock"), "set AWS_REGION (Claude Code needs it too) or a region in the profile")
	}
	o := proxy.BedrockOptions{Region: region, BearerToken: f.Getenv("AWS_BEARER_TOKEN_BEDROCK")}
	if o.BearerToken == "" {
		if _, err := cfg.Credentials.Retrieve(ctx); err != nil {
			return nil, withHint(errors.New("no AWS credentials to sign Bedrock requests (the credential chain failed)"),
				"check AWS_PROFILE (for SSO: aws sso login; aws sts get-caller-identity with the same profile shows why), or set AWS_BEARER_TOKEN_BEDROCK")
		}
		o.Credentials = cfg.Credentials
	}
	p, err := proxy.Bedrock(o)
	if err != nil {
		return nil, err
	}
	raw := upstreamFlag
	from := "--upstream"
	if raw == "" {
		raw, from = f.Getenv("ANTHROPIC_BEDROCK_BASE_URL"), "ANTHROPIC_BEDROCK_BASE_URL"
	}
	if raw == "" {
		raw = "https://bedrock-runtime." + region + ".amazonaws.com"
	}
	up, err := url.Parse(raw)
	if err != nil || (up.Scheme != "http" && up.Scheme != "https") || up.Host == "" {
		return nil, usagef("%s must be an http or https URL", from)
	}
	return &target{provider: p, upstream: up, baseVar: "ANTHROPIC_BEDROCK_BASE_URL", skipAuth: "CLAUDE_CODE_SKIP_BEDROCK_AUTH"}, nil
}

// serveTarget is the provider a gateway fronts, named by --provider. The
// gateway authenticates to Bedrock with its own AWS credentials (its role),
// and to Vertex AI with its own Google credentials, found as for run.
func (f *factory) serveTarget(ctx context.Context, provider, upstreamFlag string) (*target, error) {
	switch provider {
	case "anthropic", "":
		up, err := f.upstream(upstreamFlag)
		if err != nil {
			return nil, err
		}
		return &target{provider: proxy.Anthropic(), upstream: up}, nil
	case "bedrock":
		return f.bedrockTarget(ctx, upstreamFlag)
	case "vertex":
		return f.vertexTarget(ctx, upstreamFlag, false)
	}
	return nil, usagef("invalid argument %q for --provider: want one of anthropic, bedrock, vertex", provider)
}

// bedrockIdentity says, for doctor, which region and which credentials
// run would sign Bedrock requests with: where they come from and the
// access key's ID cut short; never a secret.
func (f *factory) bedrockIdentity(ctx context.Context) string {
	region := f.Getenv("AWS_REGION")
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return "cannot read the AWS configuration"
	}
	if region == "" {
		region = cfg.Region
	}
	if f.Getenv("AWS_BEARER_TOKEN_BEDROCK") != "" {
		return "region " + region + ", a Bedrock API key (AWS_BEARER_TOKEN_BEDROCK)"
	}
	creds, err := cfg.Credentials.Retrieve(ctx)
	if err != nil {
		return "region " + region + ", no credentials"
	}
	id := creds.AccessKeyID
	if len(id) > 8 {
		id = id[:4] + "…" + id[len(id)-4:]
	}
	d := fmt.Sprintf("region %s, key %s from %s", region, id, creds.Source)
	if creds.CanExpire {
		d += fmt.Sprintf(", expires %s", creds.Expires.Format(time.RFC3339))
	}
	return d
}
