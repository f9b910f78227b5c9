package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/claude-secure/claude-secure/internal/doccase"
	"github.com/claude-secure/claude-secure/internal/fakeapi"
)

// The official Go SDK pointed at the gateway, with a gateway token as its
// API key: streamed and plain answers, tool calls and count_tokens come
// back with the originals; the upstream never sees one (checked when the
// test ends) nor the token.
func TestAnthropicGoSDK(t *testing.T) {
	g := newTestGateway(t, func(c *Config) { c.UpstreamAPIKey = "sk-ant-gateway-key" })
	tok := g.token(t, "sdk", RoleUser)
	client := anthropic.NewClient(option.WithBaseURL(g.url), option.WithAPIKey(tok), option.WithMaxRetries(0))
	ctx := context.Background()
	params := anthropic.MessageNewParams{
		Model:     "claude-fake",
		MaxTokens: 200,
		System:    []anthropic.TextBlockParam{{Text: "You run health checks for account " + origAccount + "."}},
		Messages:  []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock(prompt()))},
		Tools: []anthropic.ToolUnionParam{{OfTool: &anthropic.ToolParam{
			Name:        "describe_instance",
			InputSchema: anthropic.ToolInputSchemaParam{Properties: map[string]any{"instance_id": map[string]any{"type": "string"}}},
		}}},
	}
	wantInput := map[string]string{"instance_id": origInstance, "account": origAccount}

	check := func(t *testing.T, msg *anthropic.Message) {
		t.Helper()
		if len(msg.Content) != 2 {
			t.Fatalf("%d content blocks, want 2", len(msg.Content))
		}
		if msg.Content[0].Text != fakeapi.Answer(origInstance, origAccount) {
			t.Fatal("the text is not the model's answer with the originals restored")
		}
		var in map[string]string
		if err := json.Unmarshal(msg.Content[1].Input, &in); err != nil {
			t.Fatalf("tool input is not JSON: %v", err)
		}
		if in["instance_id"] != wantInput["instance_id"] || in["account"] != wantInput["account"] {
			t.Fatal("the tool input does not carry the originals")
		}
	}

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

		// the next turn sends the tool result, full of originals, back
		toolUse := msg.Content[1]
		next := params
		next.Messages = append(append([]anthropic.MessageParam{}, params.Messages...),
			msg.ToParam(),
			anthropic.NewUserMessage(anthropic.NewToolResultBlock(toolUse.ID,
				`{"InstanceId": "`+origInstance+`", "OwnerId": "`+origAccount+`", "State": "running"}`, false)))
		stream = client.Messages.NewStreaming(ctx, next)
		var msg2 anthropic.Message
		for stream.Next() {
			if err := msg2.Accumulate(stream.Current()); err != nil {
				t.Fatal(err)
			}
		}
		if err := stream.Err(); err != nil {
			t.Fatal(err)
		}
		check(t, &msg2)
	})
	t.Run("plain", func(t *testing.T) {
		msg, err := client.Messages.New(ctx, params)
		if err != nil {
			t.Fatal(err)
		}
		check(t, msg)
	})
	t.Run("count_tokens", func(t *testing.T) {
		n, err := client.Messages.CountTokens(ctx, anthropic.MessageCountTokensParams{
			Model:    "claude-fake",
			Messages: params.Messages,
		})
		if err != nil {
			t.Fatal(err)
		}
		if n.InputTokens <= 0 {
			t.Fatalf("input tokens %d", n.InputTokens)
		}
	})
	t.Run("refused without a token", func(t *testing.T) {
		bare := anthropic.NewClient(option.WithBaseURL(g.url), option.WithAPIKey("sk-ant-not-a-gateway-token"), option.WithMaxRetries(0))
		before := g.api.Hits.Load()
		_, err := bare.Messages.New(ctx, params)
		var apiErr *anthropic.Error
		if err == nil || !errors.As(err, &apiErr) || apiErr.StatusCode != 401 {
			t.Fatalf("want a 401 API error, got %v", err)
		}
		if g.api.Hits.Load() != before {
			t.Fatal("the refused request reached the upstream")
		}
	})
	for _, r := range g.api.Requests() {
		if r.Header.Get("X-Api-Key") != "sk-ant-gateway-key" {
			t.Fatal("upstream did not get the gateway's API key in place of the token")
		}
	}
	if g.api.Saw(tok) {
		t.Fatal("the gateway token reached the upstream")
	}
}

// The Go SDK with JSON documents inside JSON strings: a tool_use whose
// input's content is a JSON document, a tool_result that is another (with
// a bucket policy in a string inside it), and a user text. The upstream
// gets none of the originals, at any level of escaping; it writes the
// pseudonyms back in a tool call whose input's content is again a JSON
// document, streamed in pieces cut inside the pseudonyms, and in a JSON
// body; the SDK gets the originals. Another client pasting those
// pseudonyms gets pseudonyms back, never an original.
func TestAnthropicGoSDKJSONDocuments(t *testing.T) {
	g := newTestGatewayTo(t, fakeapi.NewDocuments(true), func(c *Config) { c.UpstreamAPIKey = "sk-ant-gateway-key" })
	owner := g.token(t, "owner", RoleUser)
	other := g.token(t, "other", RoleUser)
	doccase.Run(t, g.url, owner, other, g.api)
	for _, o := range doccase.Originals() {
		if strings.Contains(g.logs.String(), o) {
			t.Errorf("an original (%d bytes) is in the gateway's log", len(o))
		}
	}
}
