package e2e

// Scenarios where the model acts on what it saw: the fake upstream reads
// the pseudonyms out of the requests it receives and answers with tool
// calls (Write, Edit, Bash, Read) that carry them; Claude Code runs the
// tools locally through `claude-secure run`, so the files and commands on
// disk must hold the originals, while no request ever carries one.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/claude-secure/claude-secure/internal/fakeapi"
	"github.com/claude-secure/claude-secure/internal/fakebedrock"
	"github.com/claude-secure/claude-secure/internal/fakevertex"
)

// All values below are made up.

// describe-instances output, as `aws ec2 describe-instances` prints it.
const instancesJSON = `{
    "Reservations": [
        {
            "OwnerId": "518273645091",
            "ReservationId": "r-0e4c6a8b2d1f3a579",
            "Instances": [
                {
                    "InstanceId": "i-07c4e2a9b1d3f5861",
                    "InstanceType": "t3.medium",
                    "KeyName": "orbital-deploy-key",
                    "PrivateIpAddress": "10.42.17.93",
                    "SubnetId": "subnet-0d9e8f7a6b5c4d3e2",
                    "SecurityGroups": [
                        {
                            "GroupName": "orbital-web-sg",
                            "GroupId": "sg-0a1b2c3d4e5f60718"
                        }
                    ],
                    "IamInstanceProfile": {
                        "Arn": "arn:aws:iam::518273645091:instance-profile/orbital-web-profile",
                        "Id": "AIPAZ7QK3M4XWN2B5VRTE"
                    },
                    "Tags": [
                        {
                            "Key": "Name",
                            "Value": "orbital-web-prod-3"
                        }
                    ]
                }
            ]
        }
    ]
}
`

var instancesOriginals = []original{
	{"518273645091", "the OwnerId account"},
	{"r-0e4c6a8b2d1f3a579", "the reservation ID"},
	{"i-07c4e2a9b1d3f5861", "the instance ID"},
	{"orbital-deploy-key", "the KeyName"},
	{"10.42.17.93", "the PrivateIpAddress"},
	{"subnet-0d9e8f7a6b5c4d3e2", "the SubnetId"},
	{"orbital-web-sg", "the GroupName"},
	{"sg-0a1b2c3d4e5f60718", "the GroupId"},
	{"orbital-web-profile", "the instance profile name in the Arn"},
	{"AIPAZ7QK3M4XWN2B5VRTE", "the instance profile Id"},
	{"orbital-web-prod-3", "the Name tag value"},
}

const terraformTF = `resource "aws_s3_bucket" "exports" {
  bucket = "orbital-exports-eu1"
}

resource "aws_instance" "worker" {
  ami                  = "ami-0c3d5e7f9a1b2c4d6"
  instance_type        = "t3.small"
  key_name             = "orbital-batch-key"
  iam_instance_profile = "orbital-batch-profile"
  subnet_id            = "subnet-07a9c1e3b5d7f9a2c"

  tags = {
    Name = "orbital-batch-worker"
  }
}

resource "aws_iam_role_policy_attachment" "worker" {
  role       = "orbital-batch-role"
  policy_arn = "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"
}
`

var terraformOriginals = []original{
	{"orbital-exports-eu1", "the bucket"},
	{"ami-0c3d5e7f9a1b2c4d6", "the AMI"},
	{"orbital-batch-key", "the key_name"},
	{"orbital-batch-profile", "the iam_instance_profile"},
	{"subnet-07a9c1e3b5d7f9a2c", "the subnet_id"},
	{"orbital-batch-worker", "the Name tag"},
	{"orbital-batch-role", "the role"},
}

// A Terraform file with two instances; the edit gives the api instance the
// key pair, profile and subnet of the batch instance.
const editTF = `resource "aws_instance" "batch" {
  ami                  = "ami-0f1e2d3c4b5a69788"
  instance_type        = "c6i.large"
  key_name             = "lumen-batch-key"
  iam_instance_profile = "lumen-batch-profile"
  subnet_id            = "subnet-0b2d4f6a8c1e3a5b7"
  private_ip           = "10.61.4.25"

  tags = {
    Name = "lumen-batch-1"
  }
}

resource "aws_instance" "api" {
  ami                  = "ami-0f1e2d3c4b5a69788"
  instance_type        = "t3.large"
  key_name             = "lumen-api-key"
  iam_instance_profile = "lumen-api-profile"

  tags = {
    Name = "lumen-api-1"
  }
}
`

const (
	editOld = `  key_name             = "lumen-api-key"
  iam_instance_profile = "lumen-api-profile"
`
	editNew = `  key_name             = "lumen-batch-key"
  iam_instance_profile = "lumen-batch-profile"
  subnet_id            = "subnet-0b2d4f6a8c1e3a5b7"
`
)

var editOriginals = []original{
	{"ami-0f1e2d3c4b5a69788", "the AMI"},
	{"lumen-batch-key", "the batch key_name"},
	{"lumen-batch-profile", "the batch iam_instance_profile"},
	{"subnet-0b2d4f6a8c1e3a5b7", "the batch subnet_id"},
	{"10.61.4.25", "the batch private_ip"},
	{"lumen-batch-1", "the batch Name tag"},
	{"lumen-api-key", "the api key_name"},
	{"lumen-api-profile", "the api iam_instance_profile"},
	{"lumen-api-1", "the api Name tag"},
}

const (
	bashPrompt = `Write to out.txt the AWS CLI commands that tag instance i-0b5d7f9e1a3c2e486 with {"Key": "Name", "Value": "orbital-api-canary"} and find it again by that tag.`
	bashOut    = `aws ec2 create-tags --resources i-0b5d7f9e1a3c2e486 --tags '[{"Key":"Name","Value":"orbital-api-canary"}]'
aws ec2 describe-instances --filters Name=tag:Name,Values=orbital-api-canary --query 'Reservations[].Instances[].InstanceId'
`
)

var bashOriginals = []original{
	{"i-0b5d7f9e1a3c2e486", "the instance ID"},
	{"orbital-api-canary", "the Name tag value"},
}

const (
	credentialsINI = `[default]
aws_access_key_id = AKIA4XQZ7N2LBV6MRT3K
aws_secret_access_key = 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
aws_session_token = IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQDx7Kp2mNq9vR4sT6uW8yZ1bC3dF5gH7jK9mN2pQ4rS6tAiB3vX5yZ7aC9dE1fG3hJ5kL7mN9pQ1rS3tU5vW7xY9zA==
region = eu-west-1
`
	dotEnv = `DB_PASSWORD=Tq7#mZ2vLx9pWc4
DATABASE_URL=postgres://app:Rk8vN3qZ5wXy@db.internal:5432/app
STRIPE_KEY=sk_live_51Hx7QpL2mN9vR4sT6uW8yZ1bC3dF5gH7jK9mN2pQ4rS6tA
`
)

// The AWS CLI's cache of assumed-role credentials: JSON on one line.
const cliCacheJSON = `{"Credentials": {"AccessKeyId": "ASIAZ4XQ7N2LBV6MRT3K", "SecretAccessKey": "w9Vx2LmN4pR7sT1uW9yZ3bC6dF0gH5jK8mN2pQ4r", "SessionToken": "FwoGZXIvYXdzEJr//////////wEaDH7kp2mNq9vR4sT6uW8yZ1bC3dF5gH7jK9mN2pQ4rS6tAiB3vX5yZ7aC9dE1fG3hJ5kL7mN9pQ1rS3tU5vW7xY9zA", "Expiration": "2026-12-01T12:00:00+00:00"}}`

var secretOriginals = []original{
	{"AKIA4XQZ7N2LBV6MRT3K", "aws_access_key_id"},
	{"q8Vx2LmN4pR7sT1uW9yZ3bC6dF0gH5jK8mN2pQ4r", "aws_secret_access_key"},
	{"IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQDx7Kp2mNq9vR4sT6uW8yZ1bC3dF5gH7jK9mN2pQ4rS6tAiB3vX5yZ7aC9dE1fG3hJ5kL7mN9pQ1rS3tU5vW7xY9zA==", "aws_session_token"},
	{"Tq7#mZ2vLx9pWc4", "DB_PASSWORD"},
	{"Rk8vN3qZ5wXy", "the DATABASE_URL password"},
	{"sk_live_51Hx7QpL2mN9vR4sT6uW8yZ1bC3dF5gH7jK9mN2pQ4rS6tA", "STRIPE_KEY"},
	{"ASIAZ4XQ7N2LBV6MRT3K", "the cached AccessKeyId"},
	{"w9Vx2LmN4pR7sT1uW9yZ3bC6dF0gH5jK8mN2pQ4r", "the cached SecretAccessKey"},
	{"FwoGZXIvYXdzEJr//////////wEaDH7kp2mNq9vR4sT6uW8yZ1bC3dF5gH7jK9mN2pQ4rS6tAiB3vX5yZ7aC9dE1fG3hJ5kL7mN9pQ1rS3tU5vW7xY9zA", "the cached SessionToken"},
}

// A CloudFormation template with a Name tag, and a JSON list of accounts,
// pretty-printed: their context is on the line before the value.
const (
	cfnYAML = `Resources:
  Web:
    Type: AWS::EC2::Instance
    Properties:
      KeyName: orbital-cfn-key
      Tags:
        - Key: Name
          Value: orbital-cfn-web
`
	accountsJSON = `{
    "AccountIds": [
        "629384756102",
        "730495867213"
    ]
}
`
)

var numberedOriginals = []original{
	{"orbital-cfn-key", "the KeyName"},
	{"orbital-cfn-web", "the Name tag value"},
	{"629384756102", "the first account"},
	{"730495867213", "the second account"},
}

// original is a made-up value a scenario must keep from the upstream, and
// what it is, for messages, which never show the value.
type original struct{ value, kind string }

func (o original) String() string { return fmt.Sprintf("%s (%d bytes)", o.kind, len(o.value)) }

// identityOriginals is every original of these scenarios, longest first
// (redact hides them all).
func identityOriginals() []string {
	var all []string
	for _, l := range [][]original{instancesOriginals, terraformOriginals, editOriginals, bashOriginals, secretOriginals, numberedOriginals} {
		for _, o := range l {
			all = append(all, o.value)
		}
	}
	sort.SliceStable(all, func(i, j int) bool { return len(all[i]) > len(all[j]) })
	return all
}

// turn is one answer of the scripted model: the request it answers, and
// either a tool call or a final text.
type turn func(c *call) reply

type reply struct {
	thinking string // the signed thinking block's text
	tool     string // a tool call's name, or "" for a final text
	input    map[string]any
	text     string
}

// call is one request of the main conversation as the fake API received it.
type call struct {
	api   *scriptAPI
	n     int // assistant messages so far: the index of the turn answering it
	body  []byte
	texts []string // every string value in it, decoded at every level
	msgs  []struct {
		Role    string          `json:"role"`
		Content json.RawMessage `json:"content"`
	}
}

// sentTurn is what the fake API answered in a turn.
type sentTurn struct {
	thinking, signature, toolID string
}

// scriptAPI plays the Messages API with a script of turns. It learns the
// pseudonyms of the scenario's originals from what it receives and never
// sends an original itself.
type scriptAPI struct {
	t         *testing.T
	originals []original // values that must never reach it, longest first
	turns     []turn

	mu       sync.Mutex
	requests int
	answered int // turns answered
	sent     []sentTurn
	thinkOK  int               // requests in which every earlier thinking block came back intact
	pseudo   map[string]string // original → pseudonym, as received
	results  map[string]string // tool_use id → tool_result text
}

func newScriptAPI(t *testing.T, originals []original, turns ...turn) *scriptAPI {
	o := append([]original(nil), originals...)
	sort.SliceStable(o, func(i, j int) bool { return len(o[i].value) > len(o[j].value) })
	return &scriptAPI{t: t, originals: o, turns: turns, pseudo: map[string]string{}, results: map[string]string{}}
}

func (f *scriptAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests++
	n := f.requests
	texts := decodedTexts(body)
	for _, o := range f.originals {
		if strings.Contains(r.URL.String(), o.value) || bytes.Contains(body, []byte(o.value)) {
			f.t.Errorf("request %d (%s): %v reached the upstream in the raw body", n, r.URL.Path, o)
			continue
		}
		for _, s := range texts {
			if strings.Contains(s, o.value) {
				f.t.Errorf("request %d (%s): %v reached the upstream behind JSON escapes", n, r.URL.Path, o)
				break
			}
		}
		for k, vs := range r.Header {
			for _, v := range vs {
				if strings.Contains(v, o.value) {
					f.t.Errorf("request %d: %v reached the upstream in header %s", n, o, k)
				}
			}
		}
	}
	if dump := os.Getenv("E2E_DUMP"); dump != "" {
		os.WriteFile(filepath.Join(dump, fmt.Sprintf("%s-%02d.json", f.t.Name(), n)), body, 0o644)
	}
	if r.Method != http.MethodPost || !strings.HasPrefix(r.URL.Path, "/v1/messages") {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte("{}"))
		return
	}
	if strings.HasSuffix(r.URL.Path, "/count_tokens") {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"input_tokens":100}`))
		return
	}
	c := &call{api: f, body: body, texts: texts}
	var req struct {
		Tools    []json.RawMessage `json:"tools"`
		Messages json.RawMessage   `json:"messages"`
	}
	if err := json.Unmarshal(body, &req); err != nil || json.Unmarshal(req.Messages, &c.msgs) != nil {
		f.t.Errorf("request %d is not a Messages API request", n)
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	if len(req.Tools) == 0 {
		// a side request (a title, a summary): not part of the script
		f.t.Logf("request %d: a side request without tools", n)
		f.stream(w, "msg_side", reply{text: "OK"})
		return
	}
	for _, m := range c.msgs {
		if m.Role == "assistant" {
			c.n++
		}
	}
	f.checkThinking(c)
	f.collectResults(c)
	if c.n >= len(f.turns) {
		f.t.Errorf("request %d: turn %d is past the end of the script", n, c.n)
		f.stream(w, "msg_extra", reply{text: "Done."})
		return
	}
	rep := f.turns[c.n](c)
	f.answered = c.n + 1
	f.stream(w, fmt.Sprintf("msg_turn%d", c.n), rep)
}

// checkThinking verifies that each signed thinking block sent so far comes
// back in this request, in its assistant message, byte-identical.
func (f *scriptAPI) checkThinking(c *call) {
	if c.n == 0 {
		return
	}
	j, ok := 0, 0
	for _, m := range c.msgs {
		if m.Role != "assistant" || j >= len(f.sent) {
			continue
		}
		var blocks []map[string]any
		json.Unmarshal(m.Content, &blocks)
		for _, b := range blocks {
			if b["type"] == "thinking" && b["thinking"] == f.sent[j].thinking && b["signature"] == f.sent[j].signature {
				th, _ := json.Marshal(f.sent[j].thinking)
				if bytes.Contains(c.body, append([]byte(`"thinking":`), th...)) &&
					bytes.Contains(c.body, []byte(`"signature":"`+f.sent[j].signature+`"`)) {
					ok++
				}
			}
		}
		j++
	}
	if ok == len(f.sent) && j == len(f.sent) {
		f.thinkOK++
	} else {
		f.t.Errorf("turn %d: %d of %d signed thinking blocks came back byte-identical", c.n, ok, len(f.sent))
	}
}

// collectResults records the text of the tool results in the request.
func (f *scriptAPI) collectResults(c *call) {
	for _, m := range c.msgs {
		if m.Role != "user" {
			continue
		}
		var blocks []struct {
			Type      string          `json:"type"`
			ToolUseID string          `json:"tool_use_id"`
			Content   json.RawMessage `json:"content"`
			IsError   bool            `json:"is_error"`
		}
		if json.Unmarshal(m.Content, &blocks) != nil {
			continue
		}
		for _, b := range blocks {
			if b.Type != "tool_result" {
				continue
			}
			var s string
			if json.Unmarshal(b.Content, &s) != nil {
				var parts []struct{ Type, Text string }
				json.Unmarshal(b.Content, &parts)
				for _, p := range parts {
					s += p.Text
				}
			}
			if b.IsError {
				s = "<error>" + s
			}
			f.results[b.ToolUseID] = s
		}
	}
}

// result is the text of the tool result of turn i's tool call.
func (c *call) result(i int) string {
	if i >= len(c.api.sent) {
		return ""
	}
	return c.api.results[c.api.sent[i].toolID]
}

// learn finds in what this request carries the pseudonym of each original
// in tmpl: tmpl becomes a pattern, its other text literal (a line may start
// with the Read tool's line number) and each original a capture. When
// nothing reads like the whole of tmpl, it says which lines do not.
func (c *call) learn(tmpl string) {
	f := c.api
	tmpl = strings.TrimRight(tmpl, "\n")
	if c.match(tmpl) {
		return
	}
	for _, line := range strings.Split(tmpl, "\n") {
		if !c.match(line) {
			f.t.Errorf("turn %d: nothing in the request reads like line %q of the scenario", c.n, redact(line))
		}
	}
}

var lineNumber = `\n(?:[ ]*[0-9]+(?:\t|→))?`

// match learns the pseudonyms of the originals in tmpl from every place
// the request holds text that reads like it, and reports whether there was
// one. An original with two pseudonyms is an error.
func (c *call) match(tmpl string) bool {
	f := c.api
	var pat strings.Builder
	var caps []original
	literal := func(s string) {
		for i, l := range strings.Split(s, "\n") {
			if i > 0 {
				pat.WriteString(lineNumber)
			}
			pat.WriteString(regexp.QuoteMeta(l))
		}
	}
	for rest := tmpl; rest != ""; {
		at, o, ok := f.next(rest)
		literal(rest[:at])
		if !ok {
			break
		}
		pat.WriteString(`(\S+?)`)
		caps = append(caps, o)
		rest = rest[at+len(o.value):]
	}
	if len(caps) == 0 {
		return true
	}
	re := regexp.MustCompile(pat.String() + `(?:\n|$)`)
	found := false
	for _, s := range c.texts {
		for _, m := range re.FindAllStringSubmatch(s, -1) {
			found = true
			for k, o := range caps {
				p := m[k+1]
				if p == o.value {
					continue // reported as a leak already
				}
				if q, ok := f.pseudo[o.value]; ok && q != p {
					f.t.Errorf("turn %d: %v has two pseudonyms (%d and %d bytes)", c.n, o, len(q), len(p))
					continue
				}
				f.pseudo[o.value] = p
			}
		}
	}
	return found
}

// fill writes tmpl with each original replaced by its pseudonym, as the
// model would write it. An original whose pseudonym was never seen is an
// error, and never sent.
func (c *call) fill(tmpl string) string {
	f := c.api
	var b strings.Builder
	for tmpl != "" {
		at, o, ok := f.next(tmpl)
		b.WriteString(tmpl[:at])
		if !ok {
			break
		}
		p, ok := f.pseudo[o.value]
		if !ok {
			f.t.Errorf("turn %d: the pseudonym of %v never reached the fake API", c.n, o)
			p = strings.Repeat("x", len(o.value))
		}
		b.WriteString(p)
		tmpl = tmpl[at+len(o.value):]
	}
	return b.String()
}

// next finds the first original in s (the longest of those starting
// there); at is len(s) when there is none.
func (f *scriptAPI) next(s string) (at int, o original, ok bool) {
	at = len(s)
	for _, x := range f.originals {
		if i := strings.Index(s, x.value); i >= 0 && (i < at || i == at && len(x.value) > len(o.value)) {
			at, o, ok = i, x, true
		}
	}
	return at, o, ok
}

// stream answers with a signed thinking block and a tool call or a text,
// the tool input and the text cut inside pseudonyms and escapes.
func (f *scriptAPI) stream(w http.ResponseWriter, id string, rep reply) {
	events := []any{start(id)}
	idx := 0
	if rep.thinking != "" {
		sig := fmt.Sprintf("EqQBCkgIBxABGAIiQ%sZmFrZS1zaWduYXR1cmUtZm9yLWlkZW50aXR5LXRlc3Rz", strings.Repeat("Q", len(f.sent)+1))
		toolID := ""
		if rep.tool != "" {
			toolID = fmt.Sprintf("toolu_01E2eIdentity%04dTurn", len(f.sent))
		}
		f.sent = append(f.sent, sentTurn{thinking: rep.thinking, signature: sig, toolID: toolID})
		events = append(events,
			map[string]any{"type": "content_block_start", "index": 0, "content_block": map[string]any{"type": "thinking", "thinking": "", "signature": ""}},
			map[string]any{"type": "content_block_delta", "index": 0, "delta": map[string]any{"type": "thinking_delta", "thinking": rep.thinking}},
			map[string]any{"type": "content_block_delta", "index": 0, "delta": map[string]any{"type": "signature_delta", "signature": sig}},
			map[string]any{"type": "content_block_stop", "index": 0})
		idx = 1
	}
	stop := "end_turn"
	if rep.tool != "" {
		stop = "tool_use"
		input, _ := json.Marshal(rep.input)
		events = append(events, map[string]any{"type": "content_block_start", "index": idx, "content_block": map[string]any{
			"type": "tool_use", "id": f.sent[len(f.sent)-1].toolID, "name": rep.tool, "input": map[string]any{}}})
		for _, p := range f.cut(string(input)) {
			events = append(events, map[string]any{"type": "content_block_delta", "index": idx, "delta": map[string]any{"type": "input_json_delta", "partial_json": p}})
		}
	} else {
		events = append(events, map[string]any{"type": "content_block_start", "index": idx, "content_block": map[string]any{"type": "text", "text": ""}})
		for _, p := range f.cut(rep.text) {
			events = append(events, map[string]any{"type": "content_block_delta", "index": idx, "delta": map[string]any{"type": "text_delta", "text": p}})
		}
	}
	events = append(events,
		map[string]any{"type": "content_block_stop", "index": idx},
		map[string]any{"type": "message_delta", "delta": map[string]any{"stop_reason": stop, "stop_sequence": nil}, "usage": map[string]any{"output_tokens": 40}},
		map[string]any{"type": "message_stop"})
	sse(w, events...)
}

// cut splits s in the middle of every pseudonym in it, byte by byte
// around the first, and right after its first backslash (inside an escape).
func (f *scriptAPI) cut(s string) []string {
	at := map[int]bool{}
	first := true
	for _, o := range f.originals {
		p, ok := f.pseudo[o.value]
		if !ok {
			continue
		}
		i := strings.Index(s, p)
		if i < 0 {
			continue
		}
		at[i+len(p)/2] = true
		if first {
			at[i+1], at[i+2], at[i+3] = true, true, true
			first = false
		}
	}
	if i := strings.IndexByte(s, '\\'); i >= 0 {
		at[i+1] = true
	}
	return fakeapi.SplitAt(s, at)
}

// decodedTexts is every string value in a JSON body, and in JSON held by
// those strings, with escapes decoded at every level; and the raw body with
// its escapes decoded, in case it is not JSON.
func decodedTexts(body []byte) []string {
	var out []string
	raw := string(body)
	for k := 0; k < 3; k++ {
		u := unescapeJSON(raw)
		if u == raw {
			break
		}
		out = append(out, u)
		raw = u
	}
	var v any
	if json.Unmarshal(body, &v) == nil {
		stringsIn(v, &out, 0)
	}
	return out
}

func stringsIn(v any, out *[]string, depth int) {
	if depth > 6 {
		return
	}
	switch x := v.(type) {
	case string:
		*out = append(*out, x)
		var inner any
		if t := strings.TrimSpace(x); (strings.HasPrefix(t, "{") || strings.HasPrefix(t, "[") || strings.HasPrefix(t, `"`)) &&
			json.Unmarshal([]byte(t), &inner) == nil {
			stringsIn(inner, out, depth+1)
		}
		if u := unescapeJSON(x); u != x {
			stringsIn(u, out, depth+1)
		}
	case []any:
		for _, e := range x {
			stringsIn(e, out, depth)
		}
	case map[string]any:
		for k, e := range x {
			*out = append(*out, k)
			stringsIn(e, out, depth)
		}
	}
}

var escapeRE = regexp.MustCompile(`\\(u[0-9a-fA-F]{4}|["\\/bfnrt])`)

// unescapeJSON decodes the JSON string escapes in s, wherever they are.
func unescapeJSON(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	return escapeRE.ReplaceAllStringFunc(s, func(e string) string {
		switch e[1] {
		case 'u':
			n, _ := strconv.ParseUint(e[2:], 16, 32)
			return string(rune(n))
		case 'b':
			return "\b"
		case 'f':
			return "\f"
		case 'n':
			return "\n"
		case 'r':
			return "\r"
		case 't':
			return "\t"
		}
		return e[1:]
	})
}

// runIdentity runs `claude -p prompt` through `claude-secure run` against
// the scripted API, and checks what every scenario shares: the script ran
// to its end, every signed thinking block came back intact, and the final
// answer Claude Code printed is want, in originals.
func runIdentity(t *testing.T, sc *claudeScenario, api *scriptAPI, prompt, want string, extra ...string) {
	t.Helper()
	env := []string{
		"ANTHROPIC_API_KEY=sk-ant-e2e-not-a-real-key",
		"ANTHROPIC_BASE_URL=",
		"CLAUDE_SECURE_HOME=" + sc.state,
		"CLAUDE_SECURE_KEY=AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
	}
	var upstream string
	switch sc.mode {
	case "bedrock":
		fb := fakebedrock.New(fakebedrock.Options{Keep: true, Script: api.bedrockScript(t)})
		t.Cleanup(func() {
			for i, r := range fb.Requests() {
				if !r.Signed {
					t.Errorf("request %d reached Bedrock without a valid signature: %s", i, r.AuthError)
				}
			}
			fb.Close()
		})
		upstream = fb.URL
		env = append(env, "CLAUDE_CODE_USE_BEDROCK=1", "AWS_REGION="+fb.Region(), "AWS_EC2_METADATA_DISABLED=true",
			"AWS_ACCESS_KEY_ID="+fakebedrock.DefaultAccessKeyID, "AWS_SECRET_ACCESS_KEY="+fakebedrock.DefaultSecretAccessKey,
			"AWS_CONFIG_FILE="+filepath.Join(sc.home, "no-aws-config"), "AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(sc.home, "no-aws-credentials"),
			"CLAUDE_CODE_MAX_RETRIES=0")
	case "vertex":
		fv := fakevertex.New(fakevertex.Options{Keep: true, Script: api.bedrockScript(t)})
		t.Cleanup(func() {
			for i, r := range fv.Requests() {
				if !r.Authorized {
					t.Errorf("request %d reached Vertex AI without a token it issued: %s", i, r.AuthError)
				}
			}
			fv.Close()
		})
		key := filepath.Join(sc.home, "service-account.json")
		if err := fv.WriteServiceAccount(key); err != nil {
			t.Fatal(err)
		}
		upstream = fv.Base()
		env = append(env, "CLAUDE_CODE_USE_VERTEX=1", "CLOUD_ML_REGION=us-east5", "GOOGLE_APPLICATION_CREDENTIALS="+key,
			"ANTHROPIC_VERTEX_PROJECT_ID=", "ANTHROPIC_VERTEX_BASE_URL=", "CLAUDE_CODE_MAX_RETRIES=0")
	default:
		srv := httptest.NewServer(api)
		t.Cleanup(srv.Close)
		upstream = srv.URL
	}
	args := []string{filepath.Join(sc.bin, "claude-secure"), "run", "--upstream", upstream}
	if sc.network {
		args = append(args, "--network")
	}
	args = append(append(args, "--",
		"claude", "-p", prompt, "--allowedTools", "Read,Write,Edit,Bash", "--output-format", "text"), extra...)
	stdout, stderr := sc.run(t, env, args...)
	api.mu.Lock()
	defer api.mu.Unlock()
	if api.answered != len(api.turns) {
		t.Errorf("the script stopped at turn %d of %d", api.answered, len(api.turns))
	}
	if api.thinkOK != len(api.turns)-1 {
		t.Errorf("signed thinking blocks came back intact in %d of %d requests", api.thinkOK, len(api.turns)-1)
	}
	if !strings.Contains(stdout, want) {
		t.Errorf("Claude Code's answer is not the model's, unmasked: %q", redact(stdout))
	}
	t.Logf("%d requests reached the fake upstream; summary: %s", api.requests, lastLine(stderr))
}

// bedrockScript plays the script for a fake Bedrock or Vertex AI: each
// streamed call's body (a Messages body without its model) goes to the
// scripted API as a Messages API call, and the events it streams back
// become the provider's answer.
func (f *scriptAPI) bedrockScript(t *testing.T) func(body []byte) []any {
	return func(body []byte) []any {
		req := httptest.NewRequest(http.MethodPost, "/v1/messages", bytes.NewReader(body))
		rec := httptest.NewRecorder()
		f.ServeHTTP(rec, req)
		var events []any
		for _, block := range strings.Split(rec.Body.String(), "\n\n") {
			for _, line := range strings.Split(block, "\n") {
				if data, ok := strings.CutPrefix(line, "data: "); ok {
					var e any
					if err := json.Unmarshal([]byte(data), &e); err != nil {
						t.Errorf("the scripted API streamed an event that is not JSON")
					}
					events = append(events, e)
				}
			}
		}
		return events
	}
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// checkFile compares a file on disk with what it should hold, byte for
// byte, saying only where they first differ.
func checkFile(t *testing.T, path, want string) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil {
		t.Errorf("%s: %v", filepath.Base(path), err)
		return
	}
	if string(got) == want {
		return
	}
	i := 0
	for i < len(got) && i < len(want) && got[i] == want[i] {
		i++
	}
	line := strings.Count(want[:i], "\n") + 1
	t.Errorf("%s differs from the originals: %d bytes, want %d; first difference at byte %d (line %d)",
		filepath.Base(path), len(got), len(want), i, line)
}

// stripLineNumbers turns the Read tool's numbered lines back into the file.
var numberedLine = regexp.MustCompile(`^\s*[0-9]+(?:→|\t)(.*)$`)

func stripLineNumbers(s string) string {
	var lines []string
	for _, l := range strings.Split(s, "\n") {
		if m := numberedLine.FindStringSubmatch(l); m != nil {
			lines = append(lines, m[1])
		}
	}
	return strings.Join(lines, "\n")
}

// a. The model reads describe-instances output from a file and writes it
// unchanged to a new file: the copy must be the original, byte for byte.
// On the Anthropic API, and with Claude Code in Bedrock and Vertex mode.
func TestIdentityWriteInstancesJSON(t *testing.T) {
	for _, mode := range []string{"anthropic", "bedrock", "vertex", "network", "network-bedrock", "network-vertex"} {
		t.Run(mode, func(t *testing.T) {
			sc := newClaudeEnv(t)
			var ok bool
			if mode, ok = strings.CutPrefix(mode, "network"); ok {
				// Claude Code at its default endpoints, through HTTPS_PROXY
				sc.network = true
				mode = strings.TrimPrefix(mode, "-")
			}
			if mode != "anthropic" && mode != "" {
				sc.mode = mode
			}
			src, dst := filepath.Join(sc.work, "instances.json"), filepath.Join(sc.work, "copy.json")
			write(t, src, instancesJSON)
			api := newScriptAPI(t, instancesOriginals,
				func(c *call) reply {
					return reply{thinking: "I will read instances.json first.", tool: "Read", input: map[string]any{"file_path": src}}
				},
				func(c *call) reply {
					c.learn(instancesJSON)
					content := stripLineNumbers(c.result(0))
					if content != c.fill(instancesJSON) {
						t.Errorf("the Read result is not the file with pseudonyms (%d bytes after stripping line numbers)", len(content))
					}
					return reply{thinking: c.fill("Copying the reservation of account 518273645091 with instance i-07c4e2a9b1d3f5861."),
						tool: "Write", input: map[string]any{"file_path": dst, "content": content}}
				},
				func(c *call) reply {
					checkCreated(t, c.result(1))
					return reply{thinking: "The copy is written.", text: c.fill(instancesFinal)}
				})
			runIdentity(t, sc, api, "Copy the instance description in instances.json to copy.json, unchanged.", instancesFinal)
			checkFile(t, dst, instancesJSON)
		})
	}
}

// a, from the prompt: the describe-instances output is in the prompt, and
// the model writes it to a file.
func TestIdentityWriteInstancesJSONFromPrompt(t *testing.T) {
	sc := newClaudeEnv(t)
	dst := filepath.Join(sc.work, "instances.json")
	api := newScriptAPI(t, instancesOriginals,
		func(c *call) reply {
			c.learn(instancesJSON)
			return reply{thinking: c.fill("Saving the reservation of account 518273645091 with instance i-07c4e2a9b1d3f5861."),
				tool: "Write", input: map[string]any{"file_path": dst, "content": c.fill(instancesJSON)}}
		},
		func(c *call) reply {
			checkCreated(t, c.result(0))
			return reply{thinking: "Saved.", text: c.fill(instancesFinal)}
		})
	runIdentity(t, sc, api, "Save this describe-instances output as instances.json, unchanged:\n\n"+instancesJSON, instancesFinal)
	checkFile(t, dst, instancesJSON)
}

const instancesFinal = `Saved: "InstanceId": "i-07c4e2a9b1d3f5861", "KeyName": "orbital-deploy-key", "OwnerId": "518273645091", ` +
	`"PrivateIpAddress": "10.42.17.93", "GroupName": "orbital-web-sg", {"Key": "Name", "Value": "orbital-web-prod-3"}, ` +
	`"Arn": "arn:aws:iam::518273645091:instance-profile/orbital-web-profile".`

// checkCreated checks the Write tool's result.
func checkCreated(t *testing.T, result string) {
	t.Helper()
	if !strings.Contains(result, "created") || strings.HasPrefix(result, "<error>") {
		t.Errorf("the Write tool failed: %q", redact(result))
	}
}

// b. The model writes the Terraform it was given in the prompt to a file:
// the file must be the original, byte for byte.
func TestIdentityWriteTerraform(t *testing.T) {
	sc := newClaudeEnv(t)
	dst := filepath.Join(sc.work, "main.tf")
	api := newScriptAPI(t, terraformOriginals,
		func(c *call) reply {
			c.learn(terraformTF)
			return reply{thinking: c.fill(`The user wants bucket = "orbital-exports-eu1" saved as given.`),
				tool: "Write", input: map[string]any{"file_path": dst, "content": c.fill(terraformTF)}}
		},
		func(c *call) reply {
			checkCreated(t, c.result(0))
			return reply{thinking: "Saved.", text: c.fill(terraformFinal)}
		})
	runIdentity(t, sc, api, "Save this Terraform configuration as main.tf:\n\n"+terraformTF, terraformFinal)
	checkFile(t, dst, terraformTF)
}

const terraformFinal = `Saved main.tf: bucket = "orbital-exports-eu1", key_name = "orbital-batch-key", role = "orbital-batch-role".`

// c. The model reads a Terraform file and edits it with old_string and
// new_string made of the pseudonyms it read: Claude Code must find the
// old string in the file, and the file must hold the originals with the
// edit applied.
func TestIdentityReadEdit(t *testing.T) {
	sc := newClaudeEnv(t)
	path := filepath.Join(sc.work, "network.tf")
	write(t, path, editTF)
	api := newScriptAPI(t, editOriginals,
		func(c *call) reply {
			return reply{thinking: "I need to see network.tf.", tool: "Read", input: map[string]any{"file_path": path}}
		},
		func(c *call) reply {
			c.learn(editTF)
			if got := stripLineNumbers(c.result(0)); got != c.fill(editTF) {
				t.Errorf("the Read result is not the file with pseudonyms (%d bytes after stripping line numbers)", len(got))
			}
			return reply{thinking: c.fill(`The api instance should use key_name = "lumen-batch-key".`), tool: "Edit", input: map[string]any{
				"file_path": path, "old_string": c.fill(editOld), "new_string": c.fill(editNew), "replace_all": false}}
		},
		func(c *call) reply {
			if r := c.result(1); !strings.Contains(r, "updated") || strings.HasPrefix(r, "<error>") {
				t.Errorf("the Edit tool failed: %q", redact(r))
			}
			return reply{thinking: "Edited.", text: c.fill(editFinal)}
		})
	runIdentity(t, sc, api, "In network.tf, give the api instance the key pair, instance profile and subnet of the batch instance.", editFinal)
	checkFile(t, path, strings.Replace(editTF, editOld, editNew, 1))
}

const editFinal = `The api instance now has key_name = "lumen-batch-key" and iam_instance_profile = "lumen-batch-profile".`

// d. The model runs a Bash command whose command line carries an instance
// ID and a Name tag, in --resources, in a --tags JSON list and in a
// --filters argument; the command writes its own lines into out.txt.
func TestIdentityBashCommandLine(t *testing.T) {
	sc := newClaudeEnv(t)
	api := newScriptAPI(t, bashOriginals,
		func(c *call) reply {
			c.learn(bashPrompt)
			return reply{thinking: c.fill("Tag i-0b5d7f9e1a3c2e486 and filter on it."), tool: "Bash", input: map[string]any{
				"command":     c.fill("cat > out.txt <<'EOF'\n" + bashOut + "EOF\ncat out.txt"),
				"description": "Write the tagging commands to out.txt"}}
		},
		func(c *call) reply {
			if r := c.result(0); !strings.Contains(r, strings.TrimSuffix(c.fill(bashOut), "\n")) || strings.HasPrefix(r, "<error>") {
				t.Errorf("the Bash tool's output is not the commands with pseudonyms: %q", redact(r))
			}
			return reply{thinking: "Written.", text: c.fill(bashFinal)}
		})
	runIdentity(t, sc, api, bashPrompt, bashFinal)
	checkFile(t, filepath.Join(sc.work, "out.txt"), bashOut)
}

const bashFinal = `Wrote out.txt with: aws ec2 create-tags --resources i-0b5d7f9e1a3c2e486 --tags '[{"Key":"Name","Value":"orbital-api-canary"}]'`

// e. The model reads ~/.aws/credentials, .env and the AWS CLI's
// credential cache with Read, and all again with Bash: no secret may reach
// the upstream, raw or behind escapes, and the answer quoting them comes
// back with the originals.
func TestIdentitySecretsStayLocal(t *testing.T) {
	sc := newClaudeEnv(t)
	creds, env := filepath.Join(sc.home, ".aws", "credentials"), filepath.Join(sc.work, ".env")
	cache := filepath.Join(sc.home, ".aws", "cli", "cache", "deploy-role.json")
	write(t, creds, credentialsINI)
	write(t, env, dotEnv)
	write(t, cache, cliCacheJSON)
	api := newScriptAPI(t, secretOriginals,
		func(c *call) reply {
			return reply{thinking: "Look at the AWS profile first.", tool: "Read", input: map[string]any{"file_path": creds}}
		},
		func(c *call) reply {
			c.learn(credentialsINI)
			return reply{thinking: c.fill("The key is AKIA4XQZ7N2LBV6MRT3K; now the database settings."), tool: "Read", input: map[string]any{"file_path": env}}
		},
		func(c *call) reply {
			c.learn(dotEnv)
			return reply{thinking: "And the cached role credentials.", tool: "Read", input: map[string]any{"file_path": cache}}
		},
		func(c *call) reply {
			c.learn(cliCacheJSON)
			return reply{thinking: "Check them all with cat as well.", tool: "Bash", input: map[string]any{
				"command": "cat ~/.aws/credentials .env ~/.aws/cli/cache/*.json", "description": "Show the credentials files"}}
		},
		func(c *call) reply {
			if r := c.result(3); !strings.Contains(r, c.fill("DB_PASSWORD=Tq7#mZ2vLx9pWc4")) || !strings.Contains(r, c.fill(cliCacheJSON)) {
				t.Errorf("the Bash tool's output is not the files with pseudonyms: %q", redact(r))
			}
			return reply{thinking: "Summarize.", text: c.fill(secretsFinal)}
		})
	runIdentity(t, sc, api, "Which AWS profile and database credentials does this project use?", secretsFinal)
}

const secretsFinal = `The default profile has aws_access_key_id = AKIA4XQZ7N2LBV6MRT3K and aws_secret_access_key = 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; ` +
	`the app uses DB_PASSWORD=Tq7#mZ2vLx9pWc4 and DATABASE_URL=postgres://app:Rk8vN3qZ5wXy@db.internal:5432/app; ` +
	`the cached role has "AccessKeyId": "ASIAZ4XQ7N2LBV6MRT3K", "SecretAccessKey": "w9Vx2LmN4pR7sT1uW9yZ3bC6dF0gH5jK8mN2pQ4r".`

// The Read tool's line numbers, where an identifier's context is on the
// line before it: a Name tag in a CloudFormation template, and accounts in
// a pretty-printed JSON list.
func TestIdentityReadNumberedContexts(t *testing.T) {
	sc := newClaudeEnv(t)
	tmpl, accounts := filepath.Join(sc.work, "template.yaml"), filepath.Join(sc.work, "accounts.json")
	write(t, tmpl, cfnYAML)
	write(t, accounts, accountsJSON)
	api := newScriptAPI(t, numberedOriginals,
		func(c *call) reply {
			return reply{thinking: "Read the template.", tool: "Read", input: map[string]any{"file_path": tmpl}}
		},
		func(c *call) reply {
			c.learn(cfnYAML)
			return reply{thinking: "Now the accounts.", tool: "Read", input: map[string]any{"file_path": accounts}}
		},
		func(c *call) reply {
			c.learn(accountsJSON)
			return reply{thinking: "Answer.", text: c.fill(numberedFinal)}
		})
	runIdentity(t, sc, api, "Which key pair does template.yaml use, and which accounts are in accounts.json?", numberedFinal)
}

const numberedFinal = `The stack uses KeyName: orbital-cfn-key, with tags [{"Key": "Name", "Value": "orbital-cfn-web"}], for account 629384756102 and account 730495867213.`

// The leak check itself: a value is found behind JSON escapes, in JSON
// held by a string, and in a body that is not JSON at all.
func TestDecodedTextsFindHiddenValues(t *testing.T) {
	const v = "Tq7#mZ2vLx9pWc4"
	inner, _ := json.Marshal(map[string]string{"text": "DB_PASSWORD=" + v})
	outer, _ := json.Marshal(map[string]string{"content": string(inner)})
	bodies := map[string]string{
		"a \\u escape":             `{"content":"DB_PASSWORD=\u0054q7#mZ2vLx9pWc4"}`,
		"a \\n before it":          `{"content":"x\nTq7#mZ2vLx9pWc4"}`,
		"an escaped escape":        `{"content":"{\"a\":\"\\u0054q7#mZ2vLx9pWc4\"}"}`,
		"JSON in a string":         string(outer),
		"JSON in numbered lines":   `{"content":"1\t{\"k\": \"\\u0054q7#mZ2vLx9pWc4\"}"}`,
		"a body that is not JSON":  `not json \u0054q7#mZ2vLx9pWc4`,
		"an escaped solidus":       `{"content":"Tq7#mZ2vLx9pWc4\/"}`,
		"a surrogate-free unicode": `{"content":"\u0054\u0071\u0037#mZ2vLx9pWc4"}`,
	}
	for name, body := range bodies {
		found := false
		for _, s := range decodedTexts([]byte(body)) {
			if strings.Contains(s, v) {
				found = true
			}
		}
		if !found {
			t.Errorf("%s: the value was not found", name)
		}
	}
}
