package mask

import (
	"fmt"
	"net/netip"
	"regexp"
	"strings"
	"testing"
)

func pseudo(t *testing.T, e *Engine, text string) string {
	t.Helper()
	out, err := e.MaskBytes([]byte(text), nil)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// TestPseudonymShapes: each pseudonym keeps the shape of its original.
func TestPseudonymShapes(t *testing.T) {
	e, _ := testEngine(t, nil)
	cases := []struct {
		in    string
		shape *regexp.Regexp
	}{
		{"i-0f3a9c2b7d1e4a605", regexp.MustCompile(`^i-[0-9a-f]{17}$`)},
		{"vpc-0d4e5f6a", regexp.MustCompile(`^vpc-[0-9a-f]{8}$`)},
		{"eni-attach-0a1b2c3d4e5f67890", regexp.MustCompile(`^eni-attach-[0-9a-f]{17}$`)},
		{"account 210987654321", regexp.MustCompile(`^account [0-9]{12}$`)},
		{"AKIAQ3EGUWTX3KMNPZRX", regexp.MustCompile(`^AKIA[A-Z2-7]{16}$`)},
		{"ASIAQ3EGUWTX3KMNPZRX", regexp.MustCompile(`^ASIA[A-Z2-7]{16}$`)},
		{"10.20.30.40", regexp.MustCompile(`^10\.\d+\.\d+\.\d+$`)},
		{"172.31.45.9", regexp.MustCompile(`^172\.(1[6-9]|2\d|3[01])\.\d+\.\d+$`)},
		{"192.168.7.9", regexp.MustCompile(`^192\.168\.\d+\.\d+$`)},
		{"100.64.3.4", regexp.MustCompile(`^100\.(6[4-9]|[7-9]\d|1[01]\d|12[0-7])\.\d+\.\d+$`)},
		{"s3://acme-prod-logs/x", regexp.MustCompile(`^s3://[a-z]{4}-[a-z]{4}-[a-z]{4}/x$`)},
		{"arn:aws:iam::210987654321:role/Deploy", regexp.MustCompile(`^arn:aws:iam::[0-9]{12}:role/[A-Z][a-z]{5}$`)},
		{"ip-10-0-1-5.ec2.internal", regexp.MustCompile(`^ip-10-\d+-\d+-\d+\.ec2\.internal$`)},
		{"2600:1f18:4b2:ab00::1a", regexp.MustCompile(`^[23][0-9a-f]{3}:[0-9a-f]{4}:[0-9a-f]{3}:[0-9a-f]{4}::[0-9a-f]{2}$`)},
		{"fd12:3456:789a::1", regexp.MustCompile(`^f[cd][0-9a-f]{2}:[0-9a-f]{4}:[0-9a-f]{4}::[0-9a-f]$`)},
	}
	for i, c := range cases {
		got := pseudo(t, e, c.in)
		if got == c.in {
			t.Errorf("case %d: not masked", i)
		}
		if !c.shape.MatchString(got) {
			t.Errorf("case %d: pseudonym has the wrong shape", i)
		}
	}
}

// TestPseudonymsDeterministic: the same original gets the same pseudonym in
// another engine with the same seed, and a different one with another seed.
func TestPseudonymsDeterministic(t *testing.T) {
	text := "i-0f3a9c2b7d1e4a605 account 210987654321 10.20.30.40 s3://acme-prod-logs"
	a := pseudo(t, mustEngine(t, "seed-one"), text)
	b := pseudo(t, mustEngine(t, "seed-one"), text)
	c := pseudo(t, mustEngine(t, "seed-two"), text)
	if a != b {
		t.Error("same seed, different pseudonyms")
	}
	if a == c {
		t.Error("different seeds, same pseudonyms")
	}
}

func mustEngine(t *testing.T, seed string) *Engine {
	e, err := New([]byte(seed), NewMemoryMappings(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// TestPseudonymsBijective: many originals of one shape never share a
// pseudonym, and no pseudonym is a left-alone value.
func TestPseudonymsBijective(t *testing.T) {
	e, _ := testEngine(t, nil)
	p := &e.ps
	seen := map[string]bool{}
	for i := 0; i < 20000; i++ {
		orig := fmt.Sprintf("10.%d.%d.%d", (i>>16)&255, (i>>8)&255, i&255)
		ps, err := p.next(KindIPv4, 0, 0, orig)
		if err != nil {
			t.Fatal(err)
		}
		if seen[ps] {
			t.Fatalf("two private addresses share a pseudonym")
		}
		seen[ps] = true
	}
	seen = map[string]bool{}
	for i := 0; i < 20000; i++ {
		a := [4]byte{byte(1 + i%223), byte(i >> 8), byte(i), byte(i * 7)}
		if classifyIPv4(a) != v4Public {
			continue
		}
		orig := fmt.Sprintf("%d.%d.%d.%d", a[0], a[1], a[2], a[3])
		ps, err := p.next(KindIPv4, 0, 0, orig)
		if err != nil {
			t.Fatal(err)
		}
		pa, _, _ := parseIPv4CIDR(ps)
		if classifyIPv4(pa) != v4Public {
			t.Fatalf("a public address got a non-public pseudonym")
		}
		if seen[ps] {
			t.Fatalf("two public addresses share a pseudonym")
		}
		seen[ps] = true
	}
	seen = map[string]bool{}
	for i := 0; i < 5000; i++ {
		orig := fmt.Sprintf("%012d", 100000000000+i*7919)
		ps, err := p.next(KindAccountID, 0, 0, orig)
		if err != nil {
			t.Fatal(err)
		}
		if seen[ps] || leftAloneAccounts[ps] || len(ps) != 12 {
			t.Fatalf("account pseudonyms collide or are left-alone values")
		}
		seen[ps] = true
	}
}

// TestPseudonymPrefixPreserving: hosts in one subnet stay in one subnet,
// and a CIDR block keeps meaning.
func TestPseudonymPrefixPreserving(t *testing.T) {
	e, _ := testEngine(t, nil)
	out := strings.Fields(pseudo(t, e, "10.20.30.40 10.20.30.99 10.20.0.0/16 10.21.30.40"))
	a, b, cidr, other := out[0], out[1], out[2], out[3]
	pa, pb := netip.MustParseAddr(a), netip.MustParseAddr(b)
	if netip.PrefixFrom(pa, 24).Masked() != netip.PrefixFrom(pb, 24).Masked() {
		t.Error("two hosts of one /24 landed in different /24s")
	}
	block := netip.MustParsePrefix(cidr)
	if block.Bits() != 16 || !block.Contains(pa) || !block.Contains(pb) {
		t.Error("the /16 pseudonym does not contain the pseudonyms of its hosts")
	}
	if block.Contains(netip.MustParseAddr(other)) {
		t.Error("a host outside the /16 landed inside its pseudonym")
	}
	if block.Addr() != block.Masked().Addr() {
		t.Error("the CIDR pseudonym has host bits set")
	}
}

// TestPseudonymStoreConflictWalks: when a pseudonym is already taken by
// another original, the next candidate on the cycle is issued.
func TestPseudonymStoreConflictWalks(t *testing.T) {
	e, m := testEngine(t, nil)
	first, err := e.ps.next(KindEC2Instance, 0, 2, "i-0f3a9c2b7d1e4a605")
	if err != nil {
		t.Fatal(err)
	}
	// another original already holds that pseudonym
	if _, err := m.Issue([]Mapping{{Family: "hex", Kind: "x", Original: "i-ffffffffffffffff0", Pseudonym: first}}, nil); err != nil {
		t.Fatal(err)
	}
	got := pseudo(t, e, "i-0f3a9c2b7d1e4a605")
	if got == first || got == "i-0f3a9c2b7d1e4a605" || !regexp.MustCompile(`^i-[0-9a-f]{17}$`).MatchString(got) {
		t.Error("conflict was not resolved by walking to a new pseudonym of the same shape")
	}
	back, _ := e.UnmaskBytes([]byte(got), e.RestoreAll(), nil)
	if string(back) != "i-0f3a9c2b7d1e4a605" {
		t.Error("walked pseudonym does not unmask")
	}
}

func TestUnmaskRestoresOnlyIssued(t *testing.T) {
	e, _ := testEngine(t, nil)
	masked := pseudo(t, e, "i-0f3a9c2b7d1e4a605")
	text := "i-0123456789abcdef0 " + masked + " " + masked + "0 x" + masked
	back, err := e.UnmaskBytes([]byte(text), e.RestoreAll(), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := "i-0123456789abcdef0 i-0f3a9c2b7d1e4a605 " + masked + "0 x" + masked
	if string(back) != want {
		t.Error("unmask touched something that is not an issued pseudonym at a token boundary")
	}
}

func TestConfigRulesAndAllowlist(t *testing.T) {
	opts := &Options{
		Disable:  []string{"ipv6"},
		Allow:    []string{"10.1.1.1", "acme-public"},
		Rules:    []UserRule{{Kind: "customer-id", Regex: `CUST-[0-9]{8}`}},
		Literals: []LiteralList{{Kind: "codename", Values: []string{"project-falcon"}}},
	}
	e, _ := testEngine(t, opts)
	in := "CUST-12345678 project-falcon 10.1.1.1 10.1.1.2 2600:1f18::1 s3://acme-public s3://acme-private"
	out := pseudo(t, e, in)
	for _, keep := range []string{"10.1.1.1", "2600:1f18::1", "s3://acme-public"} {
		if !strings.Contains(out, keep) {
			t.Errorf("allowed or disabled value (%d bytes) was masked", len(keep))
		}
	}
	for _, gone := range []string{"CUST-12345678", "project-falcon", "10.1.1.2", "acme-private"} {
		if strings.Contains(out, gone) {
			t.Errorf("user rule or detector value (%d bytes) survived", len(gone))
		}
	}
	if !regexp.MustCompile(`CUST-[0-9]{8}`).MatchString(out) {
		t.Error("regex rule pseudonym does not match its own rule")
	}
	back, _ := e.UnmaskBytes([]byte(out), e.RestoreAll(), nil)
	if string(back) != in {
		t.Error("round trip with user rules failed")
	}
}

func TestConfigErrorsNameTheRule(t *testing.T) {
	for _, c := range []struct {
		opts Options
		want string
	}{
		{Options{Disable: []string{"nope"}}, "disable"},
		{Options{Rules: []UserRule{{Kind: "ok-kind", Regex: "("}}}, "rule 1 (ok-kind)"},
		{Options{Rules: []UserRule{{Kind: "Bad Kind", Regex: "x"}}}, "rule 1"},
		{Options{Rules: []UserRule{{Kind: "empty", Regex: "a*"}}}, "rule 1 (empty)"},
		{Options{Literals: []LiteralList{{Kind: "names", Values: []string{"--"}}}}, "literal 1 (names)"},
	} {
		_, err := New([]byte("s"), NewMemoryMappings(), &c.opts)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("config error %v does not name %q", err, c.want)
		}
	}
}
