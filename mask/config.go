package mask

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"regexp"
	"sort"

	"github.com/BurntSushi/toml"
)

// Config is the user's configuration file (config.toml in the state
// directory):
//
//	disable = ["ipv6"]                 # detectors switched off, by kind
//	allow   = ["public-assets-bucket"] # values never masked
//
//	[[rule]]                           # extra detectors
//	kind  = "customer-id"
//	regex = 'CUST-[0-9]{8}'
//
//	[[literal]]                        # names always masked
//	kind   = "codename"
//	values = ["project-falcon"]
type Config struct {
	// AllowPaths are API paths (besides the Messages API) whose request
	// bodies the proxy may forward, with every string masked.
	AllowPaths []string      `toml:"allow_paths"`
	Disable    []string      `toml:"disable"`
	Allow      []string      `toml:"allow"`
	Rules      []RuleConfig  `toml:"rule"`
	Literal    []LiteralList `toml:"literal"`
}

// RuleConfig is one user regex rule.
type RuleConfig struct {
	Kind  string `toml:"kind"`
	Regex string `toml:"regex"`
}

// LiteralList is a list of names that are always masked.
type LiteralList struct {
	Kind   string   `toml:"kind"`
	Values []string `toml:"values"`
}

// ConfigError names the rule that is wrong.
type ConfigError struct {
	Where string // "rule 2 (customer-id)", "disable", …
	Err   error
}

func (e *ConfigError) Error() string { return fmt.Sprintf("config: %s: %v", e.Where, e.Err) }
func (e *ConfigError) Unwrap() error { return e.Err }

// LoadConfig reads a TOML configuration file. A missing file is an empty
// configuration unless required is set.
func LoadConfig(path string, required bool) (*Config, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) && !required {
		return &Config{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("failed to read config: %w", err)
	}
	var c Config
	md, err := toml.Decode(string(data), &c)
	if err != nil {
		return nil, &ConfigError{Where: path, Err: err}
	}
	if und := md.Undecoded(); len(und) > 0 {
		return nil, &ConfigError{Where: path, Err: fmt.Errorf("unknown setting %q", und[0].String())}
	}
	return &c, nil
}

// maxUserMatch bounds a user rule's match; a stream holds back this much
// text when user regex rules are configured.
const maxUserMatch = 256

type userRegex struct {
	kind   string
	prefix string // the regex's literal prefix, kept in pseudonyms
	re     *regexp.Regexp
	full   *regexp.Regexp // anchored, to check pseudonyms
}

type literal struct {
	kind  string
	value string
	rule  int
}

// ruleSet is a compiled Config.
type ruleSet struct {
	disabled   [kindCount]bool
	allow      map[string]bool
	regexes    []userRegex
	literals   []literal
	literalSet map[string]bool
}

var kindNameRE = regexp.MustCompile(`^[a-z][a-z0-9-]{0,39}$`)

func compileConfig(c *Config) (*ruleSet, error) {
	r := &ruleSet{allow: map[string]bool{}, literalSet: map[string]bool{}}
	if c == nil {
		return r, nil
	}
	for _, name := range c.Disable {
		k, ok := KindByName(name)
		if !ok {
			return nil, &ConfigError{Where: "disable", Err: fmt.Errorf("unknown detector %q (see claude-secure rules)", name)}
		}
		r.disabled[k] = true
	}
	for _, v := range c.Allow {
		r.allow[v] = true
	}
	for i, rc := range c.Rules {
		where := fmt.Sprintf("rule %d (%s)", i+1, rc.Kind)
		if !kindNameRE.MatchString(rc.Kind) {
			return nil, &ConfigError{Where: where, Err: errors.New("kind must be lowercase letters, digits and dashes")}
		}
		if rc.Regex == "" {
			return nil, &ConfigError{Where: where, Err: errors.New("regex is empty")}
		}
		re, err := regexp.Compile(rc.Regex)
		if err != nil {
			return nil, &ConfigError{Where: where, Err: fmt.Errorf("invalid regex: %w", err)}
		}
		if re.MatchString("") {
			return nil, &ConfigError{Where: where, Err: errors.New("regex matches the empty string")}
		}
		full := regexp.MustCompile(`^(?:` + rc.Regex + `)$`)
		prefix, _ := re.LiteralPrefix()
		r.regexes = append(r.regexes, userRegex{kind: rc.Kind, prefix: prefix, re: re, full: full})
	}
	for i, l := range c.Literal {
		where := fmt.Sprintf("literal %d (%s)", i+1, l.Kind)
		if !kindNameRE.MatchString(l.Kind) {
			return nil, &ConfigError{Where: where, Err: errors.New("kind must be lowercase letters, digits and dashes")}
		}
		for _, v := range l.Values {
			if !hasAlnum([]byte(v)) || len(v) > maxUserMatch {
				return nil, &ConfigError{Where: where, Err: errors.New("each value needs a letter or digit and at most 256 bytes")}
			}
			r.literals = append(r.literals, literal{kind: l.Kind, value: v, rule: len(c.Rules) + i + 1})
			r.literalSet[v] = true
		}
	}
	// longest first, so "acme-corp" wins over "acme"
	sort.SliceStable(r.literals, func(a, b int) bool { return len(r.literals[a].value) > len(r.literals[b].value) })
	return r, nil
}

// ruleKind returns the kind name of user rule number rule (1-based; regex
// rules first, then literal lists).
func (r *ruleSet) ruleKind(rule int) string {
	if rule <= len(r.regexes) {
		return r.regexes[rule-1].kind
	}
	for _, l := range r.literals {
		if l.rule == rule {
			return l.kind
		}
	}
	return "user-rule"
}

// ruleName names user rule number rule as the configuration file orders
// it: "config rule 2", "config literal 1".
func (r *ruleSet) ruleName(rule int) string {
	if rule <= len(r.regexes) {
		return fmt.Sprintf("config rule %d", rule)
	}
	return fmt.Sprintf("config literal %d", rule-len(r.regexes))
}

func (r *ruleSet) matchesRule(rule int, c string) bool {
	if rule <= len(r.regexes) {
		return r.regexes[rule-1].full.MatchString(c)
	}
	return !r.literalSet[c]
}

func (r *ruleSet) empty() bool {
	return len(r.regexes) == 0 && len(r.literals) == 0
}

// userRules adds the spans of user rules that do not overlap built-in ones.
func (st *scanState) userRules(from int) {
	r := st.sc.rules
	if r.empty() {
		return
	}
	s := st.s
	limit := st.hold
	if !st.final {
		// a user match may still grow or appear near the end
		if l := st.n - maxUserMatch; l < limit {
			limit = l
		}
		if limit < from {
			limit = from
		}
	}
	var extra []Span
	add := func(a, b, rule, keep int) {
		if a < from || b > limit || b-a > maxUserMatch || r.allow[string(s[a:b])] {
			return
		}
		for _, sp := range st.spans {
			if a < sp.End && sp.Start < b {
				return
			}
		}
		for _, sp := range extra {
			if a < sp.End && sp.Start < b {
				return
			}
		}
		extra = append(extra, Span{Start: a, End: b, Kind: KindUserRule, Rule: rule, Keep: keep, origin: a})
	}
	for _, l := range r.literals {
		v := []byte(l.value)
		for p := from; p < st.n; {
			k := bytes.Index(s[p:], v)
			if k < 0 {
				break
			}
			a, b := p+k, p+k+len(v)
			if wordBoundaryBefore(s, a) && (b == st.n || !isWord(s[b])) {
				add(a, b, l.rule, 0)
			}
			p = a + 1
		}
	}
	for i, ur := range r.regexes {
		for _, m := range ur.re.FindAllIndex(s[from:], -1) {
			add(from+m[0], from+m[1], i+1, len(ur.prefix))
		}
	}
	if !st.final && limit < st.hold {
		st.hold = limit
		kept := st.spans[:0]
		for _, sp := range st.spans {
			if sp.End <= limit {
				kept = append(kept, sp)
			}
		}
		st.spans = kept
	}
	if len(extra) == 0 {
		return
	}
	st.spans = append(st.spans, extra...)
	sort.Slice(st.spans, func(a, b int) bool { return st.spans[a].Start < st.spans[b].Start })
}
