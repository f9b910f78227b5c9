package mask

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// bodyPositions are the places Claude Code puts text in a request body:
// each builds a body holding x and reads x's masked form back out of the
// masked body.
var bodyPositions = []struct {
	name string
	body func(x string) []byte
	read func(t testing.TB, body []byte) string
}{
	{"system", func(x string) []byte {
		return mustJSON(map[string]any{"system": x, "messages": []any{}})
	}, func(t testing.TB, b []byte) string {
		var v struct{ System string }
		mustUnmarshal(t, b, &v)
		return v.System
	}},
	{"system block", func(x string) []byte {
		return mustJSON(map[string]any{"system": []any{map[string]any{"type": "text", "text": x}}, "messages": []any{}})
	}, func(t testing.TB, b []byte) string {
		var v struct{ System []struct{ Text string } }
		mustUnmarshal(t, b, &v)
		return v.System[0].Text
	}},
	{"user turn", func(x string) []byte {
		return mustJSON(map[string]any{"messages": []any{map[string]any{"role": "user", "content": x}}})
	}, func(t testing.TB, b []byte) string {
		var v struct{ Messages []struct{ Content string } }
		mustUnmarshal(t, b, &v)
		return v.Messages[0].Content
	}},
	{"tool_result", func(x string) []byte {
		return mustJSON(map[string]any{"messages": []any{map[string]any{"role": "user", "content": []any{
			map[string]any{"type": "tool_result", "tool_use_id": "toolu_01", "content": x}}}}})
	}, func(t testing.TB, b []byte) string {
		var v struct {
			Messages []struct{ Content []struct{ Content string } }
		}
		mustUnmarshal(t, b, &v)
		return v.Messages[0].Content[0].Content
	}},
	{"tool_use input", func(x string) []byte {
		return mustJSON(map[string]any{"messages": []any{map[string]any{"role": "assistant", "content": []any{
			map[string]any{"type": "tool_use", "id": "toolu_01", "name": "Bash", "input": map[string]any{"command": x}}}}}})
	}, func(t testing.TB, b []byte) string {
		var v struct {
			Messages []struct {
				Content []struct{ Input struct{ Command string } }
			}
		}
		mustUnmarshal(t, b, &v)
		return v.Messages[0].Content[0].Input.Command
	}},
	{"JSON file in a tool input", func(x string) []byte {
		file := mustJSON(map[string]any{"notes": x})
		return mustJSON(map[string]any{"messages": []any{map[string]any{"role": "assistant", "content": []any{
			map[string]any{"type": "tool_use", "id": "toolu_01", "name": "Write", "input": map[string]any{"file_path": "/tmp/notes.json", "content": string(file)}}}}}})
	}, func(t testing.TB, b []byte) string {
		var v struct {
			Messages []struct {
				Content []struct{ Input struct{ Content string } }
			}
		}
		mustUnmarshal(t, b, &v)
		var f struct{ Notes string }
		mustUnmarshal(t, []byte(v.Messages[0].Content[0].Input.Content), &f)
		return f.Notes
	}},
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func mustUnmarshal(t testing.TB, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("masked body does not parse: %v", err)
	}
}

// agree checks that text x, in every position of a body, is masked
// exactly as `claude-secure mask` masks it, once the store knows its
// values (the steady state of a conversation resent every turn).
func agree(t testing.TB, e *Engine, x string) {
	t.Helper()
	for range 2 { // learn what x holds, in every position
		if _, err := e.MaskBytes([]byte(x), nil); err != nil {
			t.Skip("no pseudonym fits this input:", err)
		}
		for _, p := range bodyPositions {
			if _, _, err := e.MaskRequest(p.body(x), BodyMessages, nil); err != nil {
				t.Skip("no pseudonym fits this input:", err)
			}
		}
	}
	want, err := e.MaskBytes([]byte(x), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range bodyPositions {
		out, _, err := e.MaskRequest(p.body(x), BodyMessages, nil)
		if err != nil {
			t.Fatalf("%s: %v", p.name, err)
		}
		if got := p.read(t, out); got != string(want) {
			t.Errorf("%s: the proxy and mask disagree at byte %d of %d", p.name, firstDiff([]byte(got), want), len(want))
		}
	}
}

// TestFixturesInEveryPosition: realistic AWS material in every position
// of a body is masked as mask masks it, and none of its secrets is sent.
func TestFixturesInEveryPosition(t *testing.T) {
	for _, f := range loadFixtures(t) {
		t.Run(f.name, func(t *testing.T) {
			e, _ := testEngine(t, nil)
			agree(t, e, string(f.text))
			for _, p := range bodyPositions {
				out, _, err := e.MaskRequest(p.body(string(f.text)), BodyMessages, nil)
				if err != nil {
					t.Fatal(err)
				}
				for i, s := range f.secrets {
					if bytes.Contains(decoded(out), []byte(s)) {
						t.Errorf("%s: secret %d was sent", p.name, i+1)
					}
				}
			}
		})
	}
}

// FuzzProxyAgreesWithMask: arbitrary text in every string position of a
// request body is masked exactly as `claude-secure mask` masks it.
func FuzzProxyAgreesWithMask(f *testing.F) {
	fuzzSeeds(f)
	f.Add([]byte("[p]\naws_access_key_id = AKIAZ4XQ7NB2LK5MWEJD\naws_secret_access_key = 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\n"))
	f.Add([]byte(`{"UserData": "export DB_PASSWORD=Zx9Lk2MnOp\n", "KeyName": "deploy-2024"}`))
	f.Fuzz(func(t *testing.T, x []byte) {
		s := strings.ToValidUTF8(string(x), "\uFFFD")
		e, _ := testEngine(t, nil)
		agree(t, e, s)
	})
}

func ExampleEngine_MaskRequest() {
	e, _ := New([]byte("example seed, 32 bytes long....."), NewMemoryMappings(), nil)
	body := []byte(`{"messages":[{"role":"user","content":"[p]\naws_secret_access_key = q8Vf3Lr9Tz0Wm2Yx7Kc5Hn1Bd4Gs6Jp8Qe0Ru3Ia\n"}]}`)
	out, restore, _ := e.MaskRequest(body, BodyMessages, nil)
	fmt.Println(bytes.Contains(out, []byte("q8Vf3Lr9Tz0Wm2Yx7Kc5Hn1Bd4Gs6Jp8Qe0Ru3Ia")), restore.Len())
	// Output: false 1
}
