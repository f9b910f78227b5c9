package mask

import (
	"fmt"
	"sync"
)

// Mapping is one original and the pseudonym issued for it. Family groups
// kinds that share pseudonyms (a bucket in an ARN and in a --bucket flag).
type Mapping struct {
	Family    string
	Kind      string
	Original  string
	Pseudonym string
}

// Mappings keeps the pseudonyms that were issued. The encrypted store
// (package mask/store) implements it; MemoryMappings serves tests.
type Mappings interface {
	// Issue records a batch of proposed mappings in one durable step and
	// returns the pseudonym in effect for each: the one already recorded
	// for the original in its family if there is one, else the proposal.
	// When a proposed pseudonym is already taken by another original,
	// Issue asks retry for the next candidate. Nothing is returned before
	// the batch is durable.
	Issue(batch []Mapping, retry func(Mapping) (string, error)) ([]string, error)
	// Lookup returns the original behind each pseudonym, "" where none was
	// issued.
	Lookup(pseudonyms []string) ([]string, error)
}

// Engine masks and unmasks text. It is safe for concurrent use.
type Engine struct {
	mask   scanner
	unmask scanner
	ps     pseudonymizer
	maps   Mappings

	mu    sync.Mutex
	fwd   map[string]map[string]string // family → original → pseudonym
	rev   map[string]string            // pseudonym → original
	count int
	// miss remembers pseudonym-shaped text the mappings do not know (a
	// model writing IDs of its own), so each is looked up once, not on
	// every response; issuing a pseudonym removes it from here
	miss map[string]struct{}
}

// missLimit bounds the cache of unknown pseudonyms.
const missLimit = 1 << 14

// cacheLimit bounds the in-memory caches so memory stays flat on inputs
// with ever new identifiers; the store remains the source of truth.
const cacheLimit = 1 << 17

// New returns an engine. seed keys the pseudonym permutations (the store
// keeps it, so pseudonyms stay the same across processes and days); maps
// records what was issued; cfg may be nil.
func New(seed []byte, maps Mappings, cfg *Config) (*Engine, error) {
	rules, err := compileConfig(cfg)
	if err != nil {
		return nil, err
	}
	e := &Engine{
		mask:   scanner{rules: rules},
		unmask: scanner{rules: rules, unmask: true},
		ps:     pseudonymizer{perm: newPermuter(seed), rules: rules},
		maps:   maps,
		fwd:    map[string]map[string]string{},
		rev:    map[string]string{},
		miss:   map[string]struct{}{},
	}
	for _, l := range rules.literals {
		p, err := e.ps.next(KindUserRule, l.rule, 0, l.value)
		if err != nil {
			return nil, &ConfigError{Where: "literal " + l.kind, Err: err}
		}
		rules.pseudoLiterals = append(rules.pseudoLiterals, literal{kind: l.kind, value: p, rule: l.rule})
	}
	return e, nil
}

// Stats counts identifiers by kind name.
type Stats map[string]int

// Add merges o into s.
func (s Stats) Add(o Stats) {
	for k, v := range o {
		s[k] += v
	}
}

func (e *Engine) kindName(sp Span) string {
	if sp.Rule > 0 {
		return e.ps.rules.ruleKind(sp.Rule)
	}
	return sp.Kind.String()
}

// canonical is the value a span stands for: dashed addresses are stored in
// their dotted form so ip-10-0-1-5 and 10.0.1.5 share one pseudonym.
func canonical(s []byte, sp Span) string {
	v := string(s[sp.Start:sp.End])
	if sp.Dashed {
		return dashedToDotted(v)
	}
	return v
}

func written(v string, sp Span) string {
	if sp.Dashed {
		return dottedToDashed(v)
	}
	return v
}

func (sp Span) familyKey() string {
	if sp.Rule > 0 {
		return "pattern"
	}
	return familyName[sp.Kind.family()]
}

// cached returns the pseudonym of the span's original if it is in memory.
// The lookup does not allocate.
func (e *Engine) cached(s []byte, sp Span) (string, bool) {
	m := e.fwd[sp.familyKey()]
	if m == nil {
		return "", false
	}
	if sp.Dashed {
		p, ok := m[canonical(s, sp)]
		return p, ok
	}
	p, ok := m[string(s[sp.Start:sp.End])]
	return p, ok
}

// pseudonyms returns the pseudonym for every span of s, issuing new ones
// through the mappings in one batch.
func (e *Engine) pseudonyms(s []byte, spans []Span, out []string) ([]string, error) {
	out = out[:0]
	var batch []Mapping
	var batchSpans []Span
	var pending map[string]int
	e.mu.Lock()
	for _, sp := range spans {
		if p, ok := e.cached(s, sp); ok {
			out = append(out, p)
			continue
		}
		out = append(out, "")
		orig := canonical(s, sp)
		key := sp.familyKey() + "\x00" + orig
		if pending == nil {
			pending = map[string]int{}
		}
		if _, ok := pending[key]; ok {
			continue
		}
		pending[key] = len(batch)
		batch = append(batch, Mapping{Family: sp.familyKey(), Kind: e.kindName(sp), Original: orig})
		batchSpans = append(batchSpans, sp)
	}
	e.mu.Unlock()
	if len(batch) == 0 {
		return out, nil
	}
	for i := range batch {
		sp := batchSpans[i]
		p, err := e.ps.next(sp.Kind, sp.Rule, sp.Keep, batch[i].Original)
		if err != nil {
			return nil, err
		}
		batch[i].Pseudonym = p
	}
	retry := func(m Mapping) (string, error) {
		sp := batchSpans[pending[m.Family+"\x00"+m.Original]]
		return e.ps.next(sp.Kind, sp.Rule, sp.Keep, m.Pseudonym)
	}
	got, err := e.maps.Issue(batch, retry)
	if err != nil {
		return nil, fmt.Errorf("failed to record pseudonyms: %w", err)
	}
	e.mu.Lock()
	if e.count > cacheLimit {
		clear(e.fwd)
		clear(e.rev)
		clear(e.miss)
		e.count = 0
	}
	for i, m := range batch {
		fm := e.fwd[m.Family]
		if fm == nil {
			fm = map[string]string{}
			e.fwd[m.Family] = fm
		}
		fm[m.Original] = got[i]
		e.rev[got[i]] = m.Original
		delete(e.miss, got[i])
		e.count++
	}
	for i, sp := range spans {
		if out[i] == "" {
			out[i] = got[pending[sp.familyKey()+"\x00"+canonical(s, sp)]]
		}
	}
	e.mu.Unlock()
	return out, nil
}

// originals returns the original behind every span of s ("" where the span
// is not a pseudonym that was issued).
func (e *Engine) originals(s []byte, spans []Span, out []string) ([]string, error) {
	out = out[:0]
	var ask []string
	var idx []int
	e.mu.Lock()
	for i, sp := range spans {
		var o, c string
		var ok, unknown bool
		if sp.Dashed {
			c = canonical(s, sp)
			o, ok = e.rev[c]
			_, unknown = e.miss[c]
		} else {
			o, ok = e.rev[string(s[sp.Start:sp.End])]
			_, unknown = e.miss[string(s[sp.Start:sp.End])]
		}
		if ok {
			out = append(out, o)
			continue
		}
		out = append(out, "")
		if unknown {
			continue
		}
		if c == "" {
			c = canonical(s, sp)
		}
		ask = append(ask, c)
		idx = append(idx, i)
	}
	e.mu.Unlock()
	if len(ask) == 0 {
		return out, nil
	}
	got, err := e.maps.Lookup(ask)
	if err != nil {
		return nil, fmt.Errorf("failed to look up pseudonyms: %w", err)
	}
	e.mu.Lock()
	for j, o := range got {
		out[idx[j]] = o
		if o != "" {
			e.rev[ask[j]] = o
			continue
		}
		if len(e.miss) >= missLimit {
			clear(e.miss)
		}
		e.miss[ask[j]] = struct{}{}
	}
	e.mu.Unlock()
	return out, nil
}

// rewrite copies s[from:to] to dst with each span replaced by repl[i]
// (spans whose replacement is "" stay as they are).
func rewrite(dst, s []byte, from, to int, spans []Span, repl []string, stats Stats, names func(Span) string) []byte {
	p := from
	for i, sp := range spans {
		if sp.End > to {
			break
		}
		dst = append(dst, s[p:sp.Start]...)
		if repl[i] == "" {
			dst = append(dst, s[sp.Start:sp.End]...)
		} else {
			dst = append(dst, written(repl[i], sp)...)
			if stats != nil {
				stats[names(sp)]++
			}
		}
		p = sp.End
	}
	return append(dst, s[p:to]...)
}

// MaskBytes masks a whole piece of text and returns the masked copy.
func (e *Engine) MaskBytes(text []byte, stats Stats) ([]byte, error) {
	spans, _ := e.mask.scan(text, 0, true, nil)
	repl, err := e.pseudonyms(text, spans, nil)
	if err != nil {
		return nil, err
	}
	return rewrite(make([]byte, 0, len(text)), text, 0, len(text), spans, repl, stats, e.kindName), nil
}

// UnmaskBytes restores the originals in a whole piece of text.
func (e *Engine) UnmaskBytes(text []byte, stats Stats) ([]byte, error) {
	spans, _ := e.unmask.scan(text, 0, true, nil)
	repl, err := e.originals(text, spans, nil)
	if err != nil {
		return nil, err
	}
	return rewrite(make([]byte, 0, len(text)), text, 0, len(text), spans, repl, stats, e.kindName), nil
}

// Finding is one identifier found by Scan, without its value.
type Finding struct {
	Offset int64 // byte offset in the input
	Length int
	Kind   string
	Line   int // 1-based
	Column int // 1-based, in bytes
}

// MemoryMappings is an in-memory Mappings for tests and one-off use.
type MemoryMappings struct {
	mu  sync.Mutex
	fwd map[string]string
	rev map[string]string
	// Commits counts Issue calls that recorded something.
	Commits int
}

// NewMemoryMappings returns an empty in-memory mapping table.
func NewMemoryMappings() *MemoryMappings {
	return &MemoryMappings{fwd: map[string]string{}, rev: map[string]string{}}
}

// Issue implements Mappings.
func (m *MemoryMappings) Issue(batch []Mapping, retry func(Mapping) (string, error)) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]string, len(batch))
	wrote := false
	for i, b := range batch {
		key := b.Family + "\x00" + b.Original
		if p, ok := m.fwd[key]; ok {
			out[i] = p
			continue
		}
		for {
			if o, taken := m.rev[b.Pseudonym]; !taken || o == b.Original {
				break
			}
			p, err := retry(b)
			if err != nil {
				return nil, err
			}
			b.Pseudonym = p
		}
		m.fwd[key] = b.Pseudonym
		m.rev[b.Pseudonym] = b.Original
		out[i] = b.Pseudonym
		wrote = true
	}
	if wrote {
		m.Commits++
	}
	return out, nil
}

// Lookup implements Mappings.
func (m *MemoryMappings) Lookup(ps []string) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = m.rev[p]
	}
	return out, nil
}

// Len returns the number of mappings.
func (m *MemoryMappings) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.fwd)
}
