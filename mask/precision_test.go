package mask

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// TestPrecisionGoSources: real source nobody wrote for us comes through
// unchanged apart from real addresses.
func TestPrecisionGoSources(t *testing.T) {
	sc := scanner{}
	files := 0
	for _, pkg := range []string{"net/http", "net/url", "encoding/json", "fmt", "strings", "os/exec"} {
		matches, _ := filepath.Glob(filepath.Join(runtime.GOROOT(), "src", pkg, "*.go"))
		for _, f := range matches {
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			files++
			spans, d := scanView(&sc, src)
			for _, sp := range spans {
				if sp.Kind != KindIPv4 && sp.Kind != KindIPv6 {
					line := bytes.Count(d[:sp.Start], []byte("\n")) + 1
					t.Errorf("%s/%s:%d: %s found in ordinary source", pkg, filepath.Base(f), line, sp.Kind)
				}
			}
		}
	}
	if files < 50 {
		t.Fatalf("only %d Go source files found under GOROOT", files)
	}
}

// TestPrecisionOrdinaryText: words and numbers that look a bit like
// identifiers stay as they are.
func TestPrecisionOrdinaryText(t *testing.T) {
	e, _ := testEngine(t, nil)
	text := `Thanks for the feedback on the dynamodb migration. See RFC 7230 section 3.1.1.5 and
v10.15.7.2 of the agent (release 2.15.40, build 1.2.3.4). Order 210987654321 shipped;
commit 3f1c2b9a8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a, request 123e4567-e89b-12d3-a456-426614174000,
sha256 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855. The bucket list is long,
the nat-gateway is fine, multi-tenant set-up, x86_64, 2024-05-02T08:15:03Z, 0x7fffffff, id-12.
Example key AKIAIOSFODNN7EXAMPLE and account 123456789012 are from the AWS docs.
Loopback 127.0.0.1, metadata 169.254.169.254, any 0.0.0.0/0, mask 255.255.255.0, doc 192.0.2.1, ::1, fe80::1.
`
	out, err := e.MaskBytes([]byte(text), nil)
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != text {
		t.Errorf("ordinary text changed at byte %d", firstDiff(out, []byte(text)))
	}
}
