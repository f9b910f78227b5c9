package mask

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// decoded returns a text as every level of it reads (a masked body's view),
// so a value hidden behind an escape cannot pass a "not in the output" check.
func decoded(b []byte) []byte {
	var v view
	v.build(b, viewState{}, true)
	return append(v.d, append([]byte{'\n'}, b...)...)
}

func userBody(text string) []byte {
	b, _ := json.Marshal(map[string]any{"messages": []any{map[string]any{"role": "user", "content": text}}})
	return b
}

func maskBody(t testing.TB, e *Engine, body []byte) ([]byte, *Restore) {
	t.Helper()
	out, r, err := e.MaskRequest(body, BodyMessages, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !json.Valid(out) {
		t.Fatal("masked body is not valid JSON")
	}
	return out, r
}

// The repro of the issue: a credentials file in a JSON string. Each line
// starts after an escape; the proxy must hide what mask hides.
func TestCredentialsFileInsideAJSONString(t *testing.T) {
	file := "[p]\naws_access_key_id = AKIAZ4XQ7NB2LK5MWEJD\naws_secret_access_key = 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\nDB_PASSWORD=Zx9Lk2MnOpQr\npassword: hunter2hunter2\n"
	secrets := []string{"AKIAZ4XQ7NB2LK5MWEJD", "q8Vf3Lr9Tz0Wm2Yx7Kc5Hn1Bd4Gs6Jp8Qe0Ru3Ia", "Zx9Lk2MnOpQr", "hunter2hunter2"}
	e, _ := testEngine(t, nil)
	cli, err := e.MaskBytes([]byte(file), nil)
	if err != nil {
		t.Fatal(err)
	}
	// the Read tool's line numbers, and the file inside a tool input
	// inside the body: escaped twice
	numbered := ""
	for i, l := range strings.SplitAfter(file, "\n") {
		if l != "" {
			numbered += strings.Repeat(" ", 5) + string(rune('1'+i)) + "\u2192" + l
		}
	}
	input, _ := json.Marshal(map[string]string{"file_path": "/home/u/.aws/credentials", "content": file})
	for name, body := range map[string][]byte{
		"the command line, on the body": userBody(file),
		"user turn":                     userBody(file),
		"read tool result":              userBody(numbered),
		"tool input holding JSON":       userBody(string(input)),
	} {
		var out []byte
		if name == "the command line, on the body" {
			out, err = e.MaskBytes(body, nil)
			if err != nil {
				t.Fatal(err)
			}
		} else {
			out, _ = maskBody(t, e, body)
		}
		for i, s := range secrets {
			if bytes.Contains(decoded(out), []byte(s)) || bytes.Contains(cli, []byte(s)) {
				t.Errorf("%s: secret %d was sent", name, i+1)
			}
		}
	}
}

// Escapes and shapes real clients produce (Go's encoder, Python's, hand
// written ones) hide nothing.
func TestEscapesOfRealClients(t *testing.T) {
	e, _ := testEngine(t, nil)
	body := []byte(`{"messages":[{"role":"user","content":"\u003cownerId\u003e210987654321\u003c/ownerId\u003e a\u002610.20.30.40 x\u00a010.9.8.7 role\/Deploy arn:aws:iam::210987654321:role\/DeployRole s3:\/\/acme-orders-archive \u0041KIAQ3EGUWTX3KMNPZRX"}]}`)
	out, _ := maskBody(t, e, body)
	for i, s := range []string{"210987654321", "10.20.30.40", "10.9.8.7", "DeployRole", "acme-orders-archive", "KIAQ3EGUWTX3KMNPZRX"} {
		if bytes.Contains(decoded(out), []byte(s)) {
			t.Errorf("value %d passed behind an escape", i+1)
		}
	}
	if !bytes.Contains(out, []byte(`\u003cownerId\u003e`)) || !bytes.Contains(out, []byte(`\u0041KIA`)) {
		t.Error("escapes outside the replaced letters were not kept as they were")
	}
}

func TestDuplicateKeysRefused(t *testing.T) {
	e, m := testEngine(t, nil)
	for i, b := range []string{
		`{"messages":[{"role":"assistant","content":[{"type":"thinking","type":"text","text":"i-0f3a9c2b7d1e4a605","signature":"x"}]}]}`,
		`{"messages":[{"role":"user","content":"a","content":"i-0f3a9c2b7d1e4a605"}]}`,
		`{"model":"m","model":"n","messages":[]}`,
		`{"messages":[{"role":"user","content":[{"type":"text","t\u0065xt":"x","text":"y"}]}]}`,
	} {
		if _, _, err := e.MaskRequest([]byte(b), BodyMessages, nil); !errors.Is(err, ErrDuplicateKey) {
			t.Errorf("body %d: got %v, want ErrDuplicateKey", i, err)
		}
	}
	if m.Len() != 0 {
		t.Error("mappings were recorded for a refused body")
	}
}

// Object keys and numbers in a tool input are content: masked on the way
// out, restored on the way back.
func TestToolInputKeysAndNumbers(t *testing.T) {
	e, _ := testEngine(t, nil)
	body := []byte(`{"messages":[{"role":"assistant","content":[{"type":"tool_use","id":"toolu_1","name":"record","input":{"i-0f3a9c2b7d1e4a605":{"OwnerId":210987654321,"Port":443}}}]}]}`)
	out, r := maskBody(t, e, body)
	for i, s := range []string{"i-0f3a9c2b7d1e4a605", "210987654321"} {
		if bytes.Contains(out, []byte(s)) {
			t.Errorf("value %d of a tool input's key or number was sent", i+1)
		}
	}
	if !bytes.Contains(out, []byte(`"Port":443`)) || !bytes.Contains(out, []byte(`"name":"record"`)) {
		t.Error("a number or structural field that is no identifier changed")
	}
	// the answer quotes them back as the model would
	var msg map[string]any
	json.Unmarshal(out, &msg)
	in := msg["messages"].([]any)[0].(map[string]any)["content"].([]any)[0].(map[string]any)["input"]
	resp, _ := json.Marshal(map[string]any{"type": "message", "role": "assistant", "content": []any{
		map[string]any{"type": "tool_use", "id": "toolu_2", "name": "record", "input": in}}})
	back, err := e.UnmaskJSON(resp, BodyResponse, r, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(back, []byte(`"i-0f3a9c2b7d1e4a605":{"OwnerId":210987654321`)) {
		t.Errorf("a tool input's key and number were not restored")
	}
}

// Once masked, never sent: a value found in context is masked later where
// it stands bare; within one body, also before the place it was found.
func TestLearnedValuesAreMaskedBare(t *testing.T) {
	e, _ := testEngine(t, nil)
	if _, err := e.MaskBytes([]byte("aws s3 cp out.log s3://hooli-checkout-qa-a92d/x\n"), nil); err != nil {
		t.Fatal(err)
	}
	for _, text := range []string{
		"Logs go to hooli-checkout-qa-a92d.",
		"2024-05-02 08:15:03          0 hooli-checkout-qa-a92d",
		"`hooli-checkout-qa-a92d` | prod |",
	} {
		out, err := e.MaskBytes([]byte(text), nil)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(out, []byte("hooli-checkout-qa-a92d")) {
			t.Errorf("a learned bucket written bare was sent (%d-byte text)", len(text))
		}
	}
	// one body: bare first, in context later
	f, _ := testEngine(t, nil)
	out, _ := maskBody(t, f, userBody("the orders table lives in acme-prod-ledger-7. Config: TableName = acme-prod-ledger-7"))
	if bytes.Contains(out, []byte("acme-prod-ledger-7")) {
		t.Error("a value found in context later in the body was sent bare earlier in it")
	}
}

// Ordinary words are not masked bare, even when the store holds them as
// names: a table named orders leaves the word "orders" alone.
func TestOrdinaryWordsAreNotLearned(t *testing.T) {
	e, _ := testEngine(t, nil)
	if _, err := e.MaskBytes([]byte(`{"TableName": "orders", "FunctionName": "Deploy"}`), nil); err != nil {
		t.Fatal(err)
	}
	text := "Ship the orders. Deploy on Monday."
	out, err := e.MaskBytes([]byte(text), nil)
	if err != nil || string(out) != text {
		t.Errorf("ordinary words were masked bare (first change at byte %d)", firstDiff(out, []byte(text)))
	}
	for _, c := range []struct {
		v    string
		want bool
	}{{"orders", true}, {"Deploy", true}, {"PROD", true}, {"Web Tier", true}, {"OrdersTable", false}, {"checkout-db", false}, {"db01", false}, {"210987654321", false}} {
		if got := ordinary(c.v); got != c.want {
			t.Errorf("ordinary(%d-byte value) = %v", len(c.v), got)
		}
	}
}

// A pseudonym is never masked again: masking masked text changes nothing
// and records nothing, whatever context it stands in.
func TestPseudonymsAreNeverMaskedAgain(t *testing.T) {
	e, m := testEngine(t, nil)
	text := `aws s3 ls s3://acme-orders-archive --profile x; {"TableName": "ledger-prod-7", "OwnerId": "210987654321"} i-0f3a9c2b7d1e4a605 10.20.30.40`
	once, err := e.MaskBytes([]byte(text), nil)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(once, []byte("ledger-prod-7")) || bytes.Contains(once, []byte("i-0f3a9c2b7d1e4a605")) {
		t.Fatal("the text was not masked")
	}
	n := m.Len()
	twice, err := e.MaskBytes(once, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(once, twice) || m.Len() != n {
		t.Errorf("masked text was masked again (%d new mappings)", m.Len()-n)
	}
	// also inside a body
	out, r := maskBody(t, e, userBody(string(once)))
	if !bytes.Equal(out, userBody(string(once))) || r.Len() != 0 {
		t.Error("pseudonyms in a body were masked again, or made restorable")
	}
}

// The proxy restores only what its own request masked: someone else's
// masked text, split, escaped or echoed, stays masked.
func TestRestoreOnlyWhatTheRequestMasked(t *testing.T) {
	e, _ := testEngine(t, nil)
	alice, _ := maskBody(t, e, userBody("alice: i-0f3a9c2b7d1e4a605 AKIAQ3EGUWTX3KMNPZRX"))
	var a struct{ Messages []struct{ Content string } }
	json.Unmarshal(alice, &a)
	aliceText := a.Messages[0].Content
	// bob sends alice's pseudonyms along with one original of his own
	bobBody := userBody("bob: vpc-0d4e5f6a " + aliceText)
	_, r := maskBody(t, e, bobBody)
	if r.Len() != 1 {
		t.Fatalf("bob's restore set holds %d pseudonyms, want 1", r.Len())
	}
	answer := "Here: " + aliceText
	back, err := e.UnmaskBytes([]byte(answer), r, nil)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(back, []byte("i-0f3a9c2b7d1e4a605")) || bytes.Contains(back, []byte("AKIAQ3EGUWTX3KMNPZRX")) {
		t.Error("another sender's original was restored")
	}
	// everything the store issued, for the command line's unmask
	all, _ := e.UnmaskBytes([]byte(answer), e.RestoreAll(), nil)
	if !bytes.Contains(all, []byte("i-0f3a9c2b7d1e4a605")) {
		t.Error("unmask of the command line does not restore what the store issued")
	}
}

// Restore by identity: a pseudonym is restored wherever it stands as a
// whole token, in any context, at any escaping depth.
func TestRestoreByIdentity(t *testing.T) {
	e, _ := testEngine(t, nil)
	orig := `{"KeyName": "deploy-key-2024", "GroupName": "web-prod-sg", "Tags": [{"Key": "Name", "Value": "web-prod-1"}], "Bucket": "acme-orders-archive"}`
	masked, r := maskBody(t, e, userBody(orig))
	var m struct{ Messages []struct{ Content string } }
	json.Unmarshal(masked, &m)
	mt := m.Messages[0].Content
	var doc map[string]any
	if err := json.Unmarshal([]byte(mt), &doc); err != nil {
		t.Fatal(err)
	}
	key, group, bucket := doc["KeyName"].(string), doc["GroupName"].(string), doc["Bucket"].(string)
	name := doc["Tags"].([]any)[0].(map[string]any)["Value"].(string)
	for _, o := range []string{"deploy-key-2024", "web-prod-sg", "web-prod-1", "acme-orders-archive"} {
		if strings.Contains(mt, o) {
			t.Fatalf("a %d-byte name was not masked", len(o))
		}
	}
	for _, c := range []struct{ in, want string }{
		{"Use `" + key + "` and " + group + ".", "Use `deploy-key-2024` and web-prod-sg."},
		{"| " + name + " | " + bucket + " |", "| web-prod-1 | acme-orders-archive |"},
		{`aws ec2 create-tags --tags '[{"Key":"Name","Value":"` + name + `"}]'`, `aws ec2 create-tags --tags '[{"Key":"Name","Value":"web-prod-1"}]'`},
	} {
		back, err := e.UnmaskBytes([]byte(c.in), r, nil)
		if err != nil || string(back) != c.want {
			t.Errorf("not restored by identity (%d-byte text)", len(c.in))
		}
		// the same text as a tool input's JSON, streamed as partial_json
		// (a string's content), cut at every byte
		input, _ := json.Marshal(map[string]string{"command": c.in})
		want, _ := json.Marshal(map[string]string{"command": c.want})
		inner, _ := json.Marshal(string(input))
		wantInner, _ := json.Marshal(string(want))
		content := inner[1 : len(inner)-1]
		for cut := 1; cut < len(content); cut += 3 {
			s := e.NewUnmasker(r, nil)
			s.InString()
			a, _ := s.Write(content[:cut])
			got := append([]byte(nil), a...)
			b, _ := s.Write(content[cut:])
			got = append(got, b...)
			f, _ := s.Flush()
			got = append(got, f...)
			if string(got) != string(wantInner[1:len(wantInner)-1]) {
				t.Fatalf("escaped twice and cut at %d: not restored", cut)
			}
		}
	}
}
