package mask

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
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
	// When a proposed pseudonym is already taken by another original, or
	// is itself an original the store holds, Issue asks retry for the next
	// candidate. An original that is itself an issued pseudonym gets ""
	// and nothing is recorded for it. Nothing is returned before the batch
	// is durable.
	Issue(batch []Mapping, retry func(Mapping) (string, error)) ([]string, error)
	// Since calls each with the mappings recorded after cursor (0: all of
	// them), in the order they were recorded, a batch at a time, with the
	// cursor that follows the batch. A batch's strings are valid only
	// during the call.
	Since(cursor uint64, each func(batch []Mapping, next uint64)) error
}

// ContextMappings is Mappings whose calls may wait (for a store another
// process holds) and end the wait when ctx is done, with ctx's error. The
// encrypted store implements it; the engine uses it for masking that
// carries a context (AppendMaskRequestContext), so that a request whose
// client went away does not wait for the store.
type ContextMappings interface {
	IssueContext(ctx context.Context, batch []Mapping, retry func(Mapping) (string, error)) ([]string, error)
	SinceContext(ctx context.Context, cursor uint64, each func(batch []Mapping, next uint64)) error
}

// Engine masks and unmasks text. It is safe for concurrent use.
//
// It keeps in memory every mapping the store holds (see index), so that a
// value the store has seen is masked wherever it stands and a pseudonym is
// restored wherever it stands, without asking the store.
type Engine struct {
	sc   scanner
	ps   pseudonymizer
	maps Mappings

	mu  sync.RWMutex
	idx index
	// refreshing serializes reading the store into the index, so
	// mappings reach the index once each, in the store's order; it is
	// held by filling its one slot, so that a wait for it can end
	refreshing chan struct{}
	// refreshes counts the reads of the store begun; the one numbered
	// refreshed ended last, with refreshErr (both held with the slot)
	refreshes  atomic.Uint64
	refreshed  uint64
	refreshErr error
}

// New returns an engine. seed keys the pseudonym permutations (the store
// keeps it, so pseudonyms stay the same across processes and days); maps
// records what was issued; opts may be nil. Options that do not compile
// are refused with a [ConfigError] that names the rule.
func New(seed []byte, maps Mappings, opts *Options) (*Engine, error) {
	rules, err := compileOptions(opts)
	if err != nil {
		return nil, err
	}
	e := &Engine{
		sc:         scanner{rules: rules},
		ps:         pseudonymizer{perm: newPermuter(seed), rules: rules},
		maps:       maps,
		idx:        newIndex(),
		refreshing: make(chan struct{}, 1),
	}
	for _, l := range rules.literals {
		if _, err := e.ps.next(KindUserRule, l.rule, 0, l.value); err != nil {
			return nil, &ConfigError{Where: "literal " + l.kind, Err: err}
		}
	}
	if err := e.Refresh(); err != nil {
		return nil, err
	}
	return e, nil
}

// Refresh brings the engine's index up to date with mappings that other
// processes recorded since it last looked.
func (e *Engine) Refresh() error { return e.RefreshContext(context.Background()) }

// RefreshContext is Refresh that stops waiting for the store when ctx is
// done.
//
// A call that waited for another to read the store takes the answer of a
// read begun after it came, if one ended meanwhile: that read found every
// mapping recorded before the call, or found the store unreachable after
// the call came. Concurrent requests then cost a few reads of the store,
// not one each, and when the store is down they are refused together
// instead of one failed read after another.
func (e *Engine) RefreshContext(ctx context.Context) error {
	came := e.refreshes.Load()
	select {
	case e.refreshing <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("failed to read the store: %w", ctx.Err())
	}
	defer func() { <-e.refreshing }()
	if e.refreshed > came {
		return e.refreshErr
	}
	n := e.refreshes.Add(1)
	err := e.refresh(ctx)
	if ctx.Err() == nil {
		// a read that ended with its own caller's context is no answer
		// for the others
		e.refreshed, e.refreshErr = n, err
	}
	return err
}

// refresh reads what the store recorded since the index's cursor into the
// index; the caller holds the refreshing slot.
func (e *Engine) refresh(ctx context.Context) error {
	e.mu.RLock()
	cur := e.idx.cursor
	e.mu.RUnlock()
	e.mu.Lock()
	e.idx.bulk()
	e.mu.Unlock()
	each := func(batch []Mapping, next uint64) {
		e.mu.Lock()
		defer e.mu.Unlock()
		for _, m := range batch {
			e.idx.addNew(m)
		}
		e.idx.cursor = next
	}
	var err error
	if cm, ok := e.maps.(ContextMappings); ok {
		err = cm.SinceContext(ctx, cur, each)
	} else {
		err = e.maps.Since(cur, each)
	}
	e.mu.Lock()
	e.idx.flush()
	e.mu.Unlock()
	if err != nil {
		return fmt.Errorf("failed to read the store: %w", err)
	}
	return nil
}

// need makes sure the index has the lookups ts.
func (e *Engine) need(ts tables) {
	e.mu.RLock()
	missing := ts &^ e.idx.built
	e.mu.RUnlock()
	if missing != 0 {
		e.mu.Lock()
		e.idx.build(missing)
		e.mu.Unlock()
	}
}

// Stats counts identifiers by kind name.
type Stats map[string]int

// Add merges o into s.
func (s Stats) Add(o Stats) {
	for k, v := range o {
		s[k] += v
	}
}

// ruleName names what found sp, a span of the kind named kind.
func (e *Engine) ruleName(sp Span, kind string) string {
	if sp.Rule > 0 {
		return e.ps.rules.ruleName(sp.Rule)
	}
	return kind + "/" + sp.via.String()
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

func (sp Span) family() family {
	if sp.Rule > 0 {
		return famPattern
	}
	return sp.Kind.family()
}

// issue returns the id of the mapping of every span's original ("-1" for
// a span whose text is itself an issued pseudonym, which is left as it
// is), issuing new pseudonyms through the mappings in one batch. A wait
// for the store ends when ctx (nil: none) is done.
func (e *Engine) issue(ctx context.Context, d []byte, spans []Span, ids []int32) ([]int32, error) {
	ids = ids[:0]
	e.need(tFwd | tRev)
	var batch []Mapping
	var batchSpans []Span
	var pending map[string]int
	e.mu.RLock()
	for _, sp := range spans {
		f := sp.family()
		if id, ok := e.idx.lookupSpan(f, d[sp.Start:sp.End], sp.Dashed); ok {
			ids = append(ids, id)
			continue
		}
		if e.idx.isPseudonym(d[sp.Start:sp.End], sp.Dashed) {
			ids = append(ids, -1)
			continue
		}
		ids = append(ids, -2) // to be issued
		orig := canonical(d, sp)
		key := familyName[f] + "\x00" + orig
		if pending == nil {
			pending = map[string]int{}
		}
		if _, ok := pending[key]; ok {
			continue
		}
		pending[key] = len(batch)
		batch = append(batch, Mapping{Family: familyName[f], Kind: e.kindName(sp), Original: orig})
		batchSpans = append(batchSpans, sp)
	}
	e.mu.RUnlock()
	if len(batch) == 0 {
		return ids, nil
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
	if ctx == nil {
		ctx = context.Background()
	}
	var got []string
	var err error
	if cm, ok := e.maps.(ContextMappings); ok {
		got, err = cm.IssueContext(ctx, batch, retry)
	} else {
		got, err = e.maps.Issue(batch, retry)
	}
	if err != nil {
		return nil, fmt.Errorf("failed to record pseudonyms: %w", err)
	}
	// what was just recorded (and whatever else was recorded before it)
	// comes into the index in the store's order
	if err := e.RefreshContext(ctx); err != nil {
		return nil, err
	}
	e.mu.RLock()
	defer e.mu.RUnlock()
	for i, sp := range spans {
		if ids[i] != -2 {
			continue
		}
		if got[pending[familyName[sp.family()]+"\x00"+canonical(d, sp)]] == "" {
			ids[i] = -1 // the original is an issued pseudonym
			continue
		}
		id, ok := e.idx.lookupSpan(sp.family(), d[sp.Start:sp.End], sp.Dashed)
		if !ok {
			return nil, errNotRecorded
		}
		ids[i] = id
	}
	return ids, nil
}

var errNotRecorded = errors.New("failed to record pseudonyms: the store did not return what it recorded")

// Finding is one identifier found by Scan, without its value.
type Finding struct {
	Offset int64 // byte offset in the input
	Length int
	Kind   string
	// Rule names what found it: a built-in detector ("account-id/key"),
	// or a rule of the configuration ("config rule 2").
	Rule   string
	Line   int // 1-based
	Column int // 1-based, in bytes
}

// MemoryMappings is an in-memory Mappings for tests and one-off use.
type MemoryMappings struct {
	mu   sync.Mutex
	fwd  map[string]string
	rev  map[string]string
	orig map[string]bool
	log  []Mapping
	// Commits counts Issue calls that recorded something.
	Commits int
}

// NewMemoryMappings returns an empty in-memory mapping table.
func NewMemoryMappings() *MemoryMappings {
	return &MemoryMappings{fwd: map[string]string{}, rev: map[string]string{}, orig: map[string]bool{}}
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
		if _, ok := m.rev[b.Original]; ok {
			continue // an issued pseudonym is never masked again
		}
		for {
			o, taken := m.rev[b.Pseudonym]
			if (!taken || o == b.Original) && !m.orig[b.Pseudonym] {
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
		m.orig[b.Original] = true
		m.log = append(m.log, b)
		out[i] = b.Pseudonym
		wrote = true
	}
	if wrote {
		m.Commits++
	}
	return out, nil
}

// Since implements Mappings.
func (m *MemoryMappings) Since(cursor uint64, each func([]Mapping, uint64)) error {
	m.mu.Lock()
	if cursor > uint64(len(m.log)) {
		cursor = 0
	}
	batch := append([]Mapping(nil), m.log[cursor:]...)
	next := uint64(len(m.log))
	m.mu.Unlock()
	if len(batch) > 0 {
		each(batch, next)
	}
	return nil
}

// Lookup returns the original behind each pseudonym, "" where none was
// issued.
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

// ErrStoreUnavailable means the store could not be reached (a shared store
// whose server is down or failing over): nothing was masked, and a caller
// may retry later.
var ErrStoreUnavailable = errors.New("the mapping store is unreachable")
