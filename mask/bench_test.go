package mask

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
)

func benchBody(b *testing.B) []byte {
	body, err := os.ReadFile("testdata/request-1mb.json")
	if err != nil {
		b.Fatal(err)
	}
	return body
}

// BenchmarkMaskRequest1MB masks a committed ~1 MB Claude Code request body,
// the proxy's hot path. After the first iteration every pseudonym comes
// from memory, as in a session where Claude Code resends the conversation.
func BenchmarkMaskRequest1MB(b *testing.B) {
	body := benchBody(b)
	e, _ := testEngine(b, nil)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	var dst []byte
	for b.Loop() {
		var err error
		if dst, _, err = e.AppendMaskRequest(dst[:0], body, BodyMessages, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMaskTextCleanSource masks Go source with no identifiers in it
// (net/http from GOROOT): the precision path, where almost nothing matches.
func BenchmarkMaskTextCleanSource(b *testing.B) {
	src := goSources(b, "net/http")
	e, _ := testEngine(b, nil)
	b.SetBytes(int64(len(src)))
	for b.Loop() {
		if _, err := e.MaskBytes(src, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMaskStream1MB runs the body through the streaming text masker
// (what `claude-secure mask` does), 256 KB at a time.
func BenchmarkMaskStream1MB(b *testing.B) {
	body := benchBody(b)
	e, _ := testEngine(b, nil)
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		s := e.NewMasker(nil)
		if err := s.Copy(io.Discard, bytes.NewReader(body)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkUnmaskStream1MB unmasks the masked body as it would stream back.
func BenchmarkUnmaskStream1MB(b *testing.B) {
	body := benchBody(b)
	e, _ := testEngine(b, nil)
	masked, err := e.MaskBytes(body, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(masked)))
	for b.Loop() {
		s := e.NewUnmasker(e.RestoreAll(), nil)
		if err := s.Copy(io.Discard, bytes.NewReader(masked)); err != nil {
			b.Fatal(err)
		}
	}
}

// naivePatterns is the baseline: one regexp alternation over patterns like
// the detectors', the way a first attempt at this tool is usually written.
var naivePatterns = regexp.MustCompile(strings.Join([]string{
	`\b(?:i|ami|vol|snap|sg|subnet|vpc|eni|igw|nat|rtb|acl|pcx|tgw|vpce|lt|fs)-[0-9a-f]{8,17}\b`,
	`\barn:aws[a-z-]*:[a-z0-9-]+:[a-z0-9-]*:\d{12}:[^\s"]+`,
	`\b(?:AKIA|ASIA|AROA|AIDA|AIPA|ANPA|ANVA|APKA|ABIA|ACCA|AGPA|ASCA)[A-Z2-7]{16}\b`,
	`\b(?:account|Account|OwnerId|AccountId|account_id)["':= ]+\d{12}\b`,
	`\b(?:\d{1,3}\.){3}\d{1,3}(?:/\d{1,2})?\b`,
	`\b[0-9a-fA-F]{1,4}(?::[0-9a-fA-F]{0,4}){2,7}\b`,
	`\bip-\d+-\d+-\d+-\d+\b`,
	`[a-z0-9.-]+\.(?:rds|cache|redshift|elb|eks|execute-api)\.[a-z0-9.-]*amazonaws\.com`,
	`s3://[a-z0-9.-]{3,63}`,
	`(?i)(?:aws_secret_access_key|SecretAccessKey|aws_session_token)["':= ]+[A-Za-z0-9/+=]{16,}`,
	`-----BEGIN [A-Z ]*PRIVATE KEY-----`,
	`\b(?:sk-ant-|ghp_|xox[bap]-|sk_live_|AIza)[A-Za-z0-9_-]{10,}`,
}, "|"))

// BenchmarkNaiveRegexpBaseline measures the baseline on the same body.
func BenchmarkNaiveRegexpBaseline(b *testing.B) {
	body := benchBody(b)
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		naivePatterns.FindAllIndex(body, -1)
	}
}

func goSources(b testing.TB, pkg string) []byte {
	dir := filepath.Join(runtime.GOROOT(), "src", pkg)
	files, _ := filepath.Glob(filepath.Join(dir, "*.go"))
	var buf bytes.Buffer
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		buf.Write(data)
	}
	if buf.Len() == 0 {
		b.Skip("Go sources not found under GOROOT")
	}
	return buf.Bytes()
}
