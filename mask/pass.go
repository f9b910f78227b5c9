package mask

import (
	"context"
	"sort"
	"sync"
)

// edits is what one pass over a view decided: the spans to replace, in
// order, with their replacements, kind names and mapping ids.
type edits struct {
	spans []Span
	repl  []string
	kinds []string
	ids   []int32

	det     []Span
	detIDs  []int32
	matches []match
	// the last detector span kept (the scanner of a stream takes no
	// context from inside it); -1 if none
	lastDet int
}

func (ed *edits) reset() {
	ed.spans, ed.repl, ed.kinds, ed.ids = ed.spans[:0], ed.repl[:0], ed.kinds[:0], ed.ids[:0]
	ed.lastDet = -1
}

func (ed *edits) add(sp Span, repl, kind string, id int32) {
	ed.spans = append(ed.spans, sp)
	ed.repl = append(ed.repl, repl)
	ed.kinds = append(ed.kinds, kind)
	ed.ids = append(ed.ids, id)
}

// maskScope says which parts of a view a mask pass may change and which
// learned values it may use.
type maskScope struct {
	// spanStart, spanEnd: the last span of a stream's earlier output,
	// relative to the view
	spanStart, spanEnd int
	// keep, if set, says whether d[a:b] may be replaced (an API body:
	// only content, never structure or thinking)
	keep func(a, b int) bool
	// gen: mappings with ids below it were known before this text began
	// and apply everywhere; newer ones apply only as local allows
	gen int32
	// local records that this text found mapping id at d position p, and
	// reports whether it may be used at q
	local func(id int32, p int)
	// usable reports whether a newer mapping id may be used at q
	usable func(id int32, q int) bool
	// concurrent lets the learned values be looked for on another
	// goroutine while the detectors run: only those known before the text
	// began are used then (a stream's), so the two are independent
	concurrent bool
	// ctx, if set, ends a wait for the store when it is done
	ctx context.Context
}

// concurrentMin is the least text worth a goroutine of its own.
const concurrentMin = 64 << 10

// maskPass finds what to mask in v.d[lo:]: identifiers the detectors
// find (minus issued pseudonyms, which pass as they are), then values the
// store learned, wherever they stand as whole tokens. New pseudonyms are
// issued before it returns. Unless final, hold is where the answer could
// still change with more input.
func (e *Engine) maskPass(v *view, lo int, final bool, sc *maskScope, ed *edits) (hold int, err error) {
	ed.reset()
	d := v.d
	// the tables issuing asks too, built beside the learned values' table
	// rather than after it: opening a large store is mostly that
	e.need(tLearned | tFwd | tRev)
	var learned chan struct{}
	var lhold int
	scanLearned := func() {
		e.mu.RLock()
		ed.matches, lhold = e.idx.learned.scan(d, lo, final, nil, ed.matches[:0])
		e.mu.RUnlock()
	}
	// the learned values are looked for beside the detectors; a body
	// looks again after issuing only if that taught the table something
	// (its own values count there too)
	before := -1
	if len(d)-lo >= concurrentMin {
		e.mu.RLock()
		before = e.idx.learned.len()
		e.mu.RUnlock()
		learned = make(chan struct{})
		go func() {
			scanLearned()
			close(learned)
		}()
	}
	det, hold := e.sc.scanAfter(d, lo, max(sc.spanStart, 0), max(sc.spanEnd, 0), final, ed.det[:0])
	if sc.keep != nil {
		kept := det[:0]
		for _, sp := range det {
			if sc.keep(sp.Start, sp.End) {
				kept = append(kept, sp)
			}
		}
		det = kept
	}
	ed.det = det
	ids, err := e.issue(sc.ctx, d, det, ed.detIDs)
	if learned != nil {
		<-learned
	}
	if err != nil {
		return 0, err
	}
	ed.detIDs = ids
	kept := det[:0]
	keptIDs := ids[:0]
	for i, sp := range det {
		if ids[i] < 0 {
			continue // an issued pseudonym: never masked again
		}
		if sc.local != nil && ids[i] >= sc.gen {
			sc.local(ids[i], sp.Start)
		}
		kept = append(kept, sp)
		keptIDs = append(keptIDs, ids[i])
	}
	det, ids = kept, keptIDs

	if learned == nil {
		scanLearned() // after issuing: a body's own values count too
	} else if !sc.concurrent {
		e.mu.RLock()
		grew := e.idx.learned.len() != before
		e.mu.RUnlock()
		if grew {
			scanLearned()
		}
	}
	e.mu.RLock()
	defer e.mu.RUnlock()
	hold = e.merge(ed, det, min(hold, lhold), sc, func(i int, sp Span) {
		p := e.idx.pseudonym(ids[i])
		if sp.Dashed {
			p = dottedToDashed(p)
		}
		ed.add(sp, p, e.kindName(sp), ids[i])
	})
	return hold, nil
}

// merge puts the detectors' spans that end by hold and the learned
// matches that no span overlaps into ed, in text order (add adds the i-th
// span), and returns hold moved back so that nothing crosses it. The
// caller holds e.mu for reading.
func (e *Engine) merge(ed *edits, det []Span, hold int, sc *maskScope, add func(i int, sp Span)) int {
	ed.matches = dropOverlaps(ed.matches, det)
	hold = holdBack(det, ed.matches, hold)
	mi := 0
	for i, sp := range det {
		if sp.End > hold {
			break
		}
		for ; mi < len(ed.matches) && ed.matches[mi].start < sp.Start; mi++ {
			e.addMatch(ed, ed.matches[mi], sc)
		}
		ed.lastDet = len(ed.spans)
		add(i, sp)
	}
	for ; mi < len(ed.matches); mi++ {
		e.addMatch(ed, ed.matches[mi], sc)
	}
	return hold
}

// dropOverlaps removes the matches that overlap a detector's span: what a
// detector found in context wins.
func dropOverlaps(ms []match, det []Span) []match {
	out := ms[:0]
	di := 0
	for _, m := range ms {
		for di < len(det) && det[di].End <= m.start {
			di++
		}
		if di < len(det) && det[di].Start < m.end {
			continue
		}
		out = append(out, m)
	}
	return out
}

// holdBack moves hold back so that no span or match crosses it: a span
// cut by it is looked for again, with more input, from where its detector
// started.
func holdBack(det []Span, matches []match, hold int) int {
	for moved := true; moved; {
		moved = false
		for _, sp := range det {
			if sp.End > hold && min(sp.origin, sp.Start) < hold {
				hold = min(sp.origin, sp.Start)
				moved = true
			}
		}
		for _, m := range matches {
			if m.start < hold && m.end > hold {
				hold = m.start
				moved = true
			}
		}
	}
	return hold
}

// scanPass is maskPass without issuing: what masking would replace.
func (e *Engine) scanPass(v *view, lo int, final bool, sc *maskScope, ed *edits) (int, error) {
	ed.reset()
	det, hold := e.sc.scanAfter(v.d, lo, max(sc.spanStart, 0), max(sc.spanEnd, 0), final, ed.det[:0])
	ed.det = det
	e.need(tRev | tLearned)
	e.mu.RLock()
	defer e.mu.RUnlock()
	kept := det[:0]
	for _, sp := range det {
		if !e.idx.isPseudonym(v.d[sp.Start:sp.End], sp.Dashed) {
			kept = append(kept, sp)
		}
	}
	var h2 int
	ed.matches, h2 = e.idx.learned.scan(v.d, lo, final, nil, ed.matches[:0])
	hold = e.merge(ed, kept, min(hold, h2), sc, func(_ int, sp Span) {
		ed.add(sp, "", e.kindName(sp), -1)
	})
	return hold, nil
}

func (e *Engine) addMatch(ed *edits, m match, sc *maskScope) {
	if sc.keep != nil && !sc.keep(m.start, m.end) {
		return
	}
	if m.id >= sc.gen && (sc.usable == nil || !sc.usable(m.id, m.start)) {
		return
	}
	ed.add(Span{Start: m.start, End: m.end, via: byLearned}, e.idx.pseudonym(m.id), e.idx.kind(m.id), m.id)
}

// unmaskPass finds the pseudonyms in v.d[lo:] that r may restore, wherever
// they stand as whole tokens.
func (e *Engine) unmaskPass(v *view, lo int, final bool, r *Restore, keep func(a, b int) bool, ed *edits) int {
	ed.reset()
	if r.all {
		e.need(tIssued)
	}
	e.mu.RLock()
	defer e.mu.RUnlock()
	table := e.idx.issued
	if !r.all {
		table = r.tableLocked()
	}
	var hold int
	ed.matches, hold = table.scan(v.d, lo, final, nil, ed.matches[:0])
	for _, m := range ed.matches {
		if keep != nil && !keep(m.start, m.end) {
			continue
		}
		id := m.id &^ dashedID
		o := e.idx.original(id)
		if m.id&dashedID != 0 {
			o = dottedToDashed(o)
		}
		ed.add(Span{Start: m.start, End: m.end, via: byLearned}, o, e.idx.kind(id), id)
	}
	return hold
}

// Restore says which pseudonyms an answer may restore. A request's own
// restore set holds the pseudonyms that masking that request produced
// from originals, so a proxy never decodes text that someone else masked;
// the command line's unmask restores everything the store issued.
type Restore struct {
	e   *Engine
	all bool
	ids map[int32]struct{}

	mu    sync.Mutex
	table *tokenTable
}

// RestoreAll restores every pseudonym the store issued.
func (e *Engine) RestoreAll() *Restore { return &Restore{e: e, all: true} }

// NewRestore returns an empty restore set.
func (e *Engine) NewRestore() *Restore { return &Restore{e: e, ids: map[int32]struct{}{}} }

// Len returns how many pseudonyms r may restore (-1: all).
func (r *Restore) Len() int {
	if r.all {
		return -1
	}
	return len(r.ids)
}

func (r *Restore) addIDs(ids []int32) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, id := range ids {
		if _, ok := r.ids[id]; !ok {
			r.ids[id] = struct{}{}
			r.table = nil
		}
	}
}

// Add lets r restore everything o may.
func (r *Restore) Add(o *Restore) {
	if o.all {
		r.all = true
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for id := range o.ids {
		if _, ok := r.ids[id]; !ok {
			r.ids[id] = struct{}{}
			r.table = nil
		}
	}
}

// Pseudonyms lists the pseudonyms r may restore, sorted (to record a
// restore set, such as a batch's, and bring it back with RestoreOf).
func (r *Restore) Pseudonyms() []string {
	r.e.mu.RLock()
	defer r.e.mu.RUnlock()
	out := make([]string, 0, len(r.ids))
	for id := range r.ids {
		out = append(out, r.e.idx.pseudonym(id))
	}
	sort.Strings(out)
	return out
}

// RestoreOf returns the restore set of the given pseudonyms; those the
// store did not issue are left out.
func (e *Engine) RestoreOf(pseudonyms []string) *Restore {
	r := e.NewRestore()
	e.need(tRev)
	e.mu.RLock()
	defer e.mu.RUnlock()
	for _, p := range pseudonyms {
		if id, ok := e.idx.lookupPseudonym(p); ok {
			r.ids[id] = struct{}{}
		}
	}
	return r
}

// tableLocked returns r's token table, building it on first use; the
// engine's read lock is held.
func (r *Restore) tableLocked() *tokenTable {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.table != nil {
		return r.table
	}
	t := newTokenTable(r.e.idx.ar, true)
	for id := range r.ids {
		rec := r.e.idx.recs.at(int(id))
		p := r.e.idx.ar.str(rec.pseu)
		t.addRef(rec.pseu, id, true)
		if rec.fam == famIPv4 && !containsByte(p, '/') {
			t.add(dottedToDashed(p), id|dashedID)
		}
	}
	r.table = t
	return t
}

func containsByte(s string, c byte) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			return true
		}
	}
	return false
}
