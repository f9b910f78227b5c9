package mask

import (
	"hash/maphash"
	"strings"
	"sync"
)

// index holds every mapping the store has recorded, in the order it
// recorded them (a mapping's id is its place in that order), with the
// lookups masking and unmasking need:
//
//   - fwd finds the mapping of an original within its family;
//   - rev tells an issued pseudonym, which is never masked again;
//   - learned finds the originals that are masked wherever they stand as
//     whole tokens, with or without context (see learnable);
//   - issued finds pseudonyms wherever they stand, for restoring.
//
// The strings live in an arena and the tables are open-addressing arrays
// of ids, so a store of 150,000 mappings loads in milliseconds and costs
// the garbage collector nothing to keep. It lives only in memory; at rest
// the store keeps it sealed.
type index struct {
	ar      *arena
	recs    blocks[irec]
	kinds   []string // kind names, each once
	kindIdx map[string]uint8
	// classes are the kind and family pairs seen, in the order first seen:
	// a store has a few dozen at most, and its records mostly alternate
	// between a handful, so a look along them is what a record costs
	classes []kindClass
	// learnKinds says, by kind index, whether the kind's originals are
	// learned (see learnable)
	learnKinds []bool
	fwd        htab // family and original → id
	rev        htab // pseudonym → id
	learned    *tokenTable
	issued     *tokenTable
	// built says which lookups exist: each is built from the records the
	// first time a pass needs it (mask needs no restoring table, unmask
	// no learned one), then kept up to date
	built  tables
	cursor uint64
}

// tables names the index's lookups.
type tables uint8

const (
	tFwd tables = 1 << iota
	tRev
	tLearned
	tIssued
)

// irec is one mapping, by reference into the arena.
type irec struct {
	orig, pseu ref
	fam        family
	kind       uint8
}

// dashedID marks, in a token table, the dashed form of an address
// (ip-10-0-1-5): the value it restores is written dashed too.
const dashedID = 1 << 30

func newIndex() index {
	x := index{ar: &arena{}, kindIdx: map[string]uint8{}}
	x.learned = newTokenTable(x.ar, false)
	x.issued = newTokenTable(x.ar, false)
	return x
}

func (x *index) len() int { return x.recs.len() }

func (x *index) original(id int32) string  { return x.ar.str(x.recs.at(int(id)).orig) }
func (x *index) pseudonym(id int32) string { return x.ar.str(x.recs.at(int(id)).pseu) }
func (x *index) kind(id int32) string      { return x.kinds[x.recs.at(int(id)).kind] }

func (x *index) mapping(id int32) Mapping {
	r := x.recs.at(int(id))
	return Mapping{Family: familyName[r.fam], Kind: x.kinds[r.kind], Original: x.ar.str(r.orig), Pseudonym: x.ar.str(r.pseu)}
}

func fwdHash(f family, v string) uint64 { return hashString(v) ^ uint64(f)*0x9e3779b97f4a7c15 }

// kindClass is a kind and family pair, and their numbers.
type kindClass struct {
	kind, family string
	k            uint8
	fam          family
}

// addNew records m, which the index does not hold yet (the store records
// each mapping once), and returns its id.
func (x *index) addNew(m Mapping) int32 {
	c := x.classOf(m.Kind, m.Family)
	r := irec{orig: x.ar.add(m.Original), pseu: x.ar.add(m.Pseudonym), fam: c.fam, kind: c.k}
	id := int32(x.recs.add(r))
	x.index(id, x.built)
	return id
}

func (x *index) classOf(kind, fam string) *kindClass {
	for i := range x.classes {
		if c := &x.classes[i]; c.kind == kind && c.family == fam {
			return c
		}
	}
	k, ok := x.kindIdx[kind]
	if !ok {
		k = uint8(len(x.kinds))
		name := strings.Clone(kind)
		x.kinds = append(x.kinds, name)
		x.kindIdx[name] = k
		kk, known := KindByName(name)
		x.learnKinds = append(x.learnKinds, known && learnableKind(kk))
	}
	x.classes = append(x.classes, kindClass{kind: x.kinds[k], family: strings.Clone(fam), k: k, fam: familyByName(fam)})
	return &x.classes[len(x.classes)-1]
}

// index enters mapping id into the tables ts.
func (x *index) index(id int32, ts tables) {
	r := x.recs.at(int(id))
	if ts&tFwd != 0 {
		x.fwd.insert(fwdHash(r.fam, x.ar.str(r.orig)), uint32(id))
	}
	if ts&tRev != 0 {
		x.rev.insert(hashString(x.ar.str(r.pseu)), uint32(id))
	}
	if ts&tIssued != 0 {
		x.issued.addRef(r.pseu, id, false)
		if p := x.ar.str(r.pseu); r.fam == famIPv4 && !strings.Contains(p, "/") {
			x.issued.addDashed(p, id|dashedID)
		}
	}
	if ts&tLearned != 0 && x.learnKinds[r.kind] && learnableValue(x.ar.str(r.orig)) {
		x.learned.addRef(r.orig, id, false)
	}
}

// build makes the tables ts from the records, all inserts together; the
// tables are independent, so each is built on its own goroutine.
func (x *index) build(ts tables) {
	ts &^= x.built
	if ts == 0 {
		return
	}
	x.built |= ts
	if x.fwd.defer_ {
		// loading: the tables take inserts for the flush to come
		for id := range x.recs.len() {
			x.index(int32(id), ts)
		}
		return
	}
	var wg sync.WaitGroup
	for _, t := range []tables{tFwd, tRev, tLearned, tIssued} {
		if ts&t == 0 {
			continue
		}
		wg.Go(func() {
			h := x.htabOf(t)
			h.defer_ = true
			for id := range x.recs.len() {
				x.index(int32(id), t)
			}
			h.flush()
		})
	}
	wg.Wait()
}

func (x *index) htabOf(t tables) *htab {
	switch t {
	case tFwd:
		return &x.fwd
	case tRev:
		return &x.rev
	case tLearned:
		return &x.learned.vals
	}
	return &x.issued.vals
}

// bulk makes the hash tables take inserts together at flush: a store's
// whole log loads into the index at once.
func (x *index) bulk() {
	for _, h := range []*htab{&x.fwd, &x.rev, &x.learned.vals, &x.issued.vals} {
		h.defer_ = true
	}
}

func (x *index) flush() {
	for _, h := range []*htab{&x.fwd, &x.rev, &x.learned.vals, &x.issued.vals} {
		h.flush()
	}
}

// lookupOriginal returns the mapping of original v in family f.
func (x *index) lookupOriginal(f family, v string) (int32, bool) {
	h := fwdHash(f, v)
	for i := x.fwd.first(h); ; i = x.fwd.next(i) {
		id, ok, more := x.fwd.at(i, h)
		if !more {
			return 0, false
		}
		if r := x.recs.at(int(id)); ok && r.fam == f && x.ar.str(r.orig) == v {
			return int32(id), true
		}
	}
}

// lookupSpan returns the mapping of a span's original in d.
func (x *index) lookupSpan(f family, v []byte, dashed bool) (int32, bool) {
	if dashed {
		return x.lookupOriginal(f, dashedToDotted(string(v)))
	}
	return x.lookupOriginal(f, unsafeString(v))
}

// lookupPseudonym returns the mapping that issued pseudonym v.
func (x *index) lookupPseudonym(v string) (int32, bool) {
	h := hashString(v)
	for i := x.rev.first(h); ; i = x.rev.next(i) {
		id, ok, more := x.rev.at(i, h)
		if !more {
			return 0, false
		}
		if ok && x.ar.str(x.recs.at(int(id)).pseu) == v {
			return int32(id), true
		}
	}
}

// isPseudonym reports whether v was issued as a pseudonym.
func (x *index) isPseudonym(v []byte, dashed bool) bool {
	s := unsafeString(v)
	if dashed {
		s = dashedToDotted(s)
	}
	_, ok := x.lookupPseudonym(s)
	return ok
}

func familyByName(name string) family {
	for f, n := range familyName {
		if n == name {
			return family(f)
		}
	}
	return famPattern
}

// shapeKinds are found by their shape wherever they stand as whole
// tokens, so the index need not remember their originals to find them
// again. (Addresses are not among them: after "version" or before a fifth
// component a detector leaves a dotted quad alone, the index does not.)
var shapeKinds = [kindCount]bool{
	KindResourceID: true, KindEC2Instance: true, KindAMI: true, KindEBSVolume: true,
	KindEBSSnapshot: true, KindSecurityGroup: true, KindSubnet: true, KindVPC: true,
	KindNetworkInterface: true, KindAccessKeyID: true, KindIAMUniqueID: true,
	KindAnthropicKey: true, KindGitHubToken: true, KindSlackToken: true, KindStripeKey: true,
	KindGoogleAPIKey: true,
}

// learnable reports whether an original is masked wherever it stands as a
// whole token, once the store holds it: every value a detector found by
// its context (names, buckets, accounts, secrets, passwords, hostname
// labels, tags, ARN resource names) and every address, except ordinary
// words and values shorter than four bytes. User rules find their values
// by themselves.
func learnable(m Mapping) bool {
	k, ok := KindByName(m.Kind)
	return ok && learnableKind(k) && learnableValue(m.Original)
}

func learnableKind(k Kind) bool { return k != KindUserRule && !shapeKinds[k] }

func learnableValue(v string) bool { return !ordinary(v) && anchorOf(v) >= 0 }

// ordinary reports whether v reads as ordinary words: letters only, each
// word lowercase, uppercase or capitalized (orders, Deploy, PROD, "Web
// Tier"). A table named orders leaves the word "orders" alone elsewhere;
// checkout-db, OrdersTable, db01 and 210987654321 are not ordinary.
func ordinary(v string) bool {
	if v == "" {
		return false
	}
	for w := range strings.SplitSeq(v, " ") {
		if w == "" {
			return false
		}
		upper, lower := 0, 0
		for i := 0; i < len(w); i++ {
			switch c := w[i]; {
			case isUpper(c):
				upper++
			case isLower(c):
				lower++
			default:
				return false
			}
		}
		if upper > 0 && lower > 0 && !(upper == 1 && isUpper(w[0])) {
			return false
		}
	}
	return true
}

// hashBytes hashes b as hashString hashes the same string.
func hashBytes(b []byte) uint64 { return maphash.Bytes(hashSeed, b) }
