package mask

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"sort"
)

// Options are the user's masking settings: detectors switched off, values
// never masked, and detectors of their own. The zero value (or nil) means
// the built-in detectors alone. Where they come from is the caller's
// business; claude-secure reads them from its configuration file.
type Options struct {
	// Disable switches detectors off, by kind name ("ipv6").
	Disable []string
	// Allow lists values that are never masked.
	Allow []string
	// Rules are extra detectors, each a regex with a kind.
	Rules []UserRule
	// Literals are names that are always masked.
	Literals []LiteralList
}

// UserRule is one user regex rule.
type UserRule struct {
	Kind  string
	Regex string
}

// LiteralList is a list of names that are always masked.
type LiteralList struct {
	Kind   string
	Values []string
}

// ConfigError names the rule that is wrong.
type ConfigError struct {
	Where string // "rule 2 (customer-id)", "disable", …
	Err   error
}

func (e *ConfigError) Error() string { return fmt.Sprintf("config: %s: %v", e.Where, e.Err) }
func (e *ConfigError) Unwrap() error { return e.Err }

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

// ruleSet is compiled Options.
type ruleSet struct {
	disabled   [kindCount]bool
	allow      map[string]bool
	regexes    []userRegex
	literals   []literal
	literalSet map[string]bool
}

var kindNameRE = regexp.MustCompile(`^[a-z][a-z0-9-]{0,39}$`)

func compileOptions(c *Options) (*ruleSet, error) {
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
	for i, l := range c.Literals {
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
