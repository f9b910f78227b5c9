package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"

	"cloud.google.com/go/auth/credentials"
	"github.com/claude-secure/claude-secure/proxy"
)

// cloudPlatformScope is the OAuth scope Vertex AI's calls need.
const cloudPlatformScope = "https://www.googleapis.com/auth/cloud-platform"

// vertexTarget authenticates with the user's own Google credentials,
// found as Google's libraries find Application Default Credentials (the
// key file GOOGLE_APPLICATION_CREDENTIALS names, the file gcloud auth
// application-default login writes, the metadata server), and forwards to
// the Vertex AI endpoint of CLOUD_ML_REGION, as Claude Code would; each
// request goes to its own region's endpoint (Claude Code may address a
// model in another). --upstream or ANTHROPIC_VERTEX_BASE_URL replace the
// endpoint, as a base URL Claude Code would append its paths to.
//
// Claude Code with its authentication skipped cannot find the project in
// the credentials: when ANTHROPIC_VERTEX_PROJECT_ID is not set, the child
// gets the credentials' project (or GOOGLE_CLOUD_PROJECT).
//
// A gateway (child false) needs no project: its clients name theirs.
func (f *factory) vertexTarget(ctx context.Context, upstreamFlag string, child bool) (*target, error) {
	region := strings.TrimSpace(f.Getenv("CLOUD_ML_REGION"))
	if region == "" {
		return nil, withHint(errors.New("no Google Cloud region for Vertex AI"), "set CLOUD_ML_REGION (Claude Code reads it too), e.g. us-east5 or global")
	}
	endpoint, ok := proxy.VertexEndpoint(region)
	if !ok {
		return nil, usagef("CLOUD_ML_REGION must name a Vertex AI region, such as us-east5, europe-west1 or global")
	}
	// the library's debug log (GOOGLE_SDK_GO_LOGGING_LEVEL) prints tokens:
	// it goes nowhere
	creds, err := credentials.DetectDefault(&credentials.DetectOptions{Scopes: []string{cloudPlatformScope},
		Logger: slog.New(slog.DiscardHandler)})
	if err == nil {
		err = proxy.CheckVertexCredentials(ctx, creds)
	}
	if err != nil {
		return nil, withHint(fmt.Errorf("no Google credentials for Vertex AI: %w", err),
			"run gcloud auth application-default login, or set GOOGLE_APPLICATION_CREDENTIALS to a service account's key file")
	}
	var env []string
	project := f.Getenv("ANTHROPIC_VERTEX_PROJECT_ID")
	if project == "" {
		project, _ = creds.ProjectID(ctx)
		if child && project == "" {
			return nil, withHint(errors.New("no Google Cloud project for Vertex AI"), "set ANTHROPIC_VERTEX_PROJECT_ID (Claude Code needs it too)")
		}
		if child {
			env = append(env, "ANTHROPIC_VERTEX_PROJECT_ID="+project)
		}
	}
	quota, _ := creds.QuotaProjectID(ctx)
	raw, from := upstreamFlag, "--upstream"
	if raw == "" {
		raw, from = f.Getenv("ANTHROPIC_VERTEX_BASE_URL"), "ANTHROPIC_VERTEX_BASE_URL"
	}
	regional := raw == ""
	if regional {
		raw = endpoint
	}
	up, err := url.Parse(raw)
	if err != nil || (up.Scheme != "http" && up.Scheme != "https") || up.Host == "" {
		return nil, usagef("%s must be an http or https URL", from)
	}
	p, err := proxy.Vertex(proxy.VertexOptions{Credentials: creds, QuotaProject: quota, Regional: regional, Project: project})
	if err != nil {
		return nil, err
	}
	return &target{provider: p, upstream: up, baseVar: "ANTHROPIC_VERTEX_BASE_URL", skipAuth: "CLAUDE_CODE_SKIP_VERTEX_AUTH", env: env}, nil
}
