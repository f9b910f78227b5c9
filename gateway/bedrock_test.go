package gateway

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/bedrock"
	"github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/claude-secure/claude-secure/internal/fakeapi"
	"github.com/claude-secure/claude-secure/internal/fakebedrock"
	"github.com/claude-secure/claude-secure/internal/syncbuf"
	"github.com/claude-secure/claude-secure/mask"
	"github.com/claude-secure/claude-secure/proxy"
)

// The official Go SDK's Bedrock client, pointed at a gateway in front of
// Bedrock with a gateway token in x-claude-secure-token: it signs with its
// own (made-up) AWS keys, the gateway drops that signature and signs with
// its own role's; the answer, streamed and plain, comes back with the
// originals, and Bedrock never sees one, nor the client's keys, nor the
// token.
func TestBedrockGoSDKThroughGateway(t *testing.T) {
	fb := fakebedrock.New(fakebedrock.Options{Keep: true})
	defer fb.Close()
	e, err := mask.New([]byte("gateway-test-seed"), mask.NewMemoryMappings(), nil)
	if err != nil {
		t.Fatal(err)
	}
	prov, err := proxy.Bedrock(proxy.BedrockOptions{Region: fb.Region(),
		Credentials: credentials.NewStaticCredentialsProvider(fakebedrock.DefaultAccessKeyID, fakebedrock.DefaultSecretAccessKey, "")})
	if err != nil {
		t.Fatal(err)
	}
	up, _ := url.Parse(fb.URL)
	logs := &syncbuf.Buffer{}
	tokens := OpenTokens(filepath.Join(t.TempDir(), "tokens.json"))
	s, err := New(Config{Upstream: up, Provider: prov, Engine: e, Tokens: tokens, Log: slog.New(slog.NewJSONHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s)
	defer srv.Close()
	tok, err := tokens.Create("bedrock-sdk", RoleUser)
	if err != nil {
		t.Fatal(err)
	}

	clientKey := "AKIAQ3EGUWTXC2KMNPZR"
	client := anthropic.NewClient(
		bedrock.WithConfig(aws.Config{Region: fb.Region(), Credentials: credentials.NewStaticCredentialsProvider(clientKey, "Zx9Lk2MnOpQrStUvWxYz0123456789AbCdEfGhIj", "")}),
		option.WithBaseURL(srv.URL), option.WithHeader(TokenHeader, tok), option.WithMaxRetries(0),
		// the SDK puts its API version in the body; Bedrock's is this one
		option.WithHeader("anthropic-version", fakebedrock.AnthropicVersion))
	params := anthropic.MessageNewParams{
		Model:     "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
		MaxTokens: 200,
		Messages:  []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock(prompt()))},
	}
	check := func(t *testing.T, msg *anthropic.Message) {
		t.Helper()
		if len(msg.Content) != 2 || msg.Content[0].Text != fakeapi.Answer(origInstance, origAccount) {
			t.Fatal("the text is not the model's answer with the originals restored")
		}
		var in map[string]string
		if err := json.Unmarshal(msg.Content[1].Input, &in); err != nil || in["instance_id"] != origInstance || in["account"] != origAccount {
			t.Fatal("the tool input does not carry the originals")
		}
	}
	ctx := context.Background()
	t.Run("streaming", func(t *testing.T) {
		stream := client.Messages.NewStreaming(ctx, params)
		var msg anthropic.Message
		for stream.Next() {
			if err := msg.Accumulate(stream.Current()); err != nil {
				t.Fatal(err)
			}
		}
		if err := stream.Err(); err != nil {
			t.Fatal(err)
		}
		check(t, &msg)
	})
	t.Run("plain", func(t *testing.T) {
		msg, err := client.Messages.New(ctx, params)
		if err != nil {
			t.Fatal(err)
		}
		check(t, msg)
	})
	reqs := fb.Requests()
	if len(reqs) != 2 {
		t.Fatalf("Bedrock got %d requests, want 2", len(reqs))
	}
	for i, r := range reqs {
		if !r.Signed {
			t.Errorf("request %d reached Bedrock without the gateway's signature: %s", i, r.AuthError)
		}
		for k, vs := range r.Header {
			for _, v := range vs {
				if strings.Contains(v, clientKey) || strings.Contains(v, tok) {
					t.Errorf("request %d carried the client's key or the gateway token in %s", i, k)
				}
			}
		}
	}
	for i, o := range originals {
		if fb.Saw(o) {
			t.Errorf("original %d reached Bedrock", i)
		}
		if strings.Contains(logs.String(), o) {
			t.Errorf("original %d is in the gateway's log", i)
		}
	}
}
