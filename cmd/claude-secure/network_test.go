package main

import (
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/claude-secure/claude-secure/mask"
	"github.com/claude-secure/claude-secure/proxy"
)

func writeConfig(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.toml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// What network mode intercepts, and where each intercepted host goes.
func TestNetworkPlan(t *testing.T) {
	e, err := mask.New([]byte("seed"), mask.NewMemoryMappings(), nil)
	if err != nil {
		t.Fatal(err)
	}
	bedrock, err := proxy.Bedrock(proxy.BedrockOptions{Region: "eu-west-3", BearerToken: "token"})
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{"AWS_REGION": "eu-west-3", "ANTHROPIC_BASE_URL": "https://llm-gateway.example.org/anthropic",
		"AWS_ENDPOINT_URL_BEDROCK_RUNTIME": "https://vpce-0a1b2c3d.bedrock-runtime.eu-west-3.vpce.amazonaws.com/"}
	f := testFactory()
	f.Getenv = func(k string) string { return vars[k] }
	f.configPath = writeConfig(t, `intercept_hosts = ["Models.Example.COM."]`)
	up, _ := url.Parse("https://bedrock-runtime.eu-west-3.amazonaws.com")
	plan, err := f.networkPlan(&target{provider: bedrock, upstream: up}, proxy.Options{Engine: e})
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{"api.anthropic.com", "bedrock-runtime.eu-west-3.amazonaws.com", "bedrock-runtime.us-east-1.amazonaws.com",
		"bedrock-runtime-fips.us-west-2.amazonaws.com", "us-east5-aiplatform.googleapis.com", "aiplatform.googleapis.com",
		"models.example.com", "bedrock-runtime.cn-north-1.amazonaws.com.cn", "bedrock-runtime.us-east-1.api.aws",
		"vpce-0a1b2c3d.bedrock-runtime.eu-west-3.vpce.amazonaws.com"} {
		if !slices.Contains(plan.hosts, h) {
			t.Errorf("%s is not intercepted", h)
		}
	}
	if plan.anthropicUp.String() != vars["ANTHROPIC_BASE_URL"] {
		t.Errorf("api.anthropic.com goes to %s, not where ANTHROPIC_BASE_URL says", plan.anthropicUp)
	}
	// the child does not get it: it goes to api.anthropic.com, intercepted
	for _, h := range []string{"amazonaws.com", "s3.amazonaws.com", "github.com", "googleapis.com", "llm-gateway.example.org"} {
		if slices.Contains(plan.hosts, h) {
			t.Errorf("%s is intercepted", h)
		}
	}
	for host, want := range map[string]string{
		"bedrock-runtime.eu-west-3.amazonaws.com":                    "",
		"bedrock-runtime-fips.eu-west-3.amazonaws.com":               "",
		"bedrock-runtime.eu-west-3.api.aws":                          "",
		"vpce-0a1b2c3d.bedrock-runtime.eu-west-3.vpce.amazonaws.com": "",
		"api.anthropic.com":                                          "",
		"models.example.com":                                         "",
		"bedrock-runtime.us-east-1.amazonaws.com":                    "does not sign Bedrock requests for bedrock-runtime.us-east-1.amazonaws.com",
		"us-east5-aiplatform.googleapis.com":                         "does not send Vertex AI requests to us-east5-aiplatform.googleapis.com",
	} {
		h, prefix, err := plan.route(host)
		if wantPrefix := map[string]string{"bedrock-runtime.eu-west-3.amazonaws.com": ""}[host]; prefix != wantPrefix {
			t.Errorf("%s: the API is under %q, want %q", host, prefix, wantPrefix)
		}
		switch {
		case want == "" && (err != nil || h == nil):
			t.Errorf("%s: no pipeline: %v", host, err)
		case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
			t.Errorf("%s: %v, want an error saying %q", host, err, want)
		}
	}

	// a Bedrock endpoint URL network mode could not intercept is refused
	for _, bad := range []string{"http://bedrock.example.org", "https://10.0.0.5", "https://bedrock.example.org:8443"} {
		vars["AWS_ENDPOINT_URL"] = bad
		if _, err := f.networkPlan(&target{provider: bedrock, upstream: up}, proxy.Options{Engine: e}); err == nil {
			t.Errorf("AWS_ENDPOINT_URL %q was accepted", bad)
		}
	}
	delete(vars, "AWS_ENDPOINT_URL")

	// an intercept host that is not a host name is refused
	for _, bad := range []string{"10.0.0.1", "*.example.com", "https://x.example.com", "x.example.com:443"} {
		f.configPath = writeConfig(t, `intercept_hosts = ["`+bad+`"]`)
		if _, err := f.networkPlan(&target{provider: bedrock, upstream: up}, proxy.Options{Engine: e}); err == nil {
			t.Errorf("intercept_hosts %q was accepted", bad)
		}
	}
}
