package claudesecure_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/claude-secure/claude-secure/claudesecure"
	"github.com/claude-secure/claude-secure/mask"
)

// The official Go SDK, masking in-process. A stand-in for the API on
// 127.0.0.1 answers by quoting the question back; it gets the pseudonyms,
// and the program gets its own values again.
func Example() {
	sent := make(chan string, 1) // what the API got
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Messages []struct {
				Content []struct{ Text string } `json:"content"`
			} `json:"messages"`
		}
		body, _ := io.ReadAll(r.Body)
		json.Unmarshal(body, &req)
		text := req.Messages[0].Content[0].Text
		sent <- text
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{
			"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
			"content":     []any{map[string]any{"type": "text", "text": "You asked: " + text}},
			"stop_reason": "end_turn", "usage": map[string]any{"input_tokens": 1, "output_tokens": 1},
		})
	}))
	defer api.Close()

	// a program with the claude-secure command's store would use
	// claudesecure.Open(ctx, nil) instead
	engine, err := mask.New([]byte("example seed"), mask.NewMemoryMappings(), nil)
	if err != nil {
		log.Fatal(err)
	}
	t, err := claudesecure.NewTransport(nil, claudesecure.WithEngine(engine))
	if err != nil {
		log.Fatal(err)
	}
	defer t.Close()
	client := anthropic.NewClient(
		option.WithHTTPClient(&http.Client{Transport: t}),
		option.WithBaseURL(api.URL), option.WithAPIKey("sk-ant-example"))

	const instance = "i-0f3a9c2b7d1e4a605"
	question := "Why does " + instance + " fail its health checks?"
	msg, err := client.Messages.New(context.Background(), anthropic.MessageNewParams{
		Model:     "claude-sonnet-4-5",
		MaxTokens: 100,
		Messages:  []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock(question))},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("the API saw the instance ID:", strings.Contains(<-sent, instance))
	fmt.Println("the answer quotes the question:", msg.Content[0].Text == "You asked: "+question)
	// Output:
	// the API saw the instance ID: false
	// the answer quotes the question: true
}
