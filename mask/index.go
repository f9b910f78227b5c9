package mask

import "strings"

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
// It lives only in memory; at rest the store keeps it sealed.
type index struct {
	all     []Mapping
	fwd     [len(familyName)]map[string]int32
	rev     map[string]int32
	learned *tokenTable
	issued  *tokenTable
	cursor  uint64
}

// dashedID marks, in a token table, the dashed form of an address
// (ip-10-0-1-5): the value it restores is written dashed too.
const dashedID = 1 << 30

func newIndex() index {
	x := index{rev: map[string]int32{}, learned: newTokenTable(false), issued: newTokenTable(false)}
	for f := range x.fwd {
		x.fwd[f] = map[string]int32{}
	}
	return x
}

// add records m and returns its id.
func (x *index) add(m Mapping) int32 {
	if id, ok := x.fwd[familyByName(m.Family)][m.Original]; ok {
		return id
	}
	id := int32(len(x.all))
	x.all = append(x.all, m)
	f := familyByName(m.Family)
	x.fwd[f][m.Original] = id
	x.rev[m.Pseudonym] = id
	x.issued.add(m.Pseudonym, id)
	if f == famIPv4 && !strings.Contains(m.Pseudonym, "/") {
		x.issued.add(dottedToDashed(m.Pseudonym), id|dashedID)
	}
	if learnable(m) {
		x.learned.add(m.Original, id)
	}
	return id
}

// lookupOriginal returns the mapping of original v in family f.
func (x *index) lookupOriginal(f family, v []byte, dashed bool) (int32, bool) {
	if dashed {
		v = []byte(dashedToDotted(string(v)))
	}
	id, ok := x.fwd[f][string(v)]
	return id, ok
}

// isPseudonym reports whether v was issued as a pseudonym.
func (x *index) isPseudonym(v []byte, dashed bool) bool {
	if dashed {
		v = []byte(dashedToDotted(string(v)))
	}
	_, ok := x.rev[string(v)]
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
	KindNetworkInterface: true, KindAccessKeyID: true,
	KindAnthropicKey: true, KindGitHubToken: true, KindSlackToken: true, KindStripeKey: true,
	KindGoogleAPIKey: true,
}

// learnable reports whether an original is masked wherever it stands as a
// whole token, once the store holds it: every value a detector found by
// its context (names, buckets, accounts, secrets, passwords, hostname
// labels, tags, ARN resource names), except ordinary words and values
// shorter than four bytes. User rules find their values by themselves.
func learnable(m Mapping) bool {
	k, ok := KindByName(m.Kind)
	if !ok || k == KindUserRule || shapeKinds[k] {
		return false
	}
	return !ordinary(m.Original) && anchorOf(m.Original) >= 0
}

// ordinary reports whether v reads as ordinary words: letters only, each
// word lowercase, uppercase or capitalized (orders, Deploy, PROD, "Web
// Tier"). A table named orders leaves the word "orders" alone elsewhere;
// checkout-db, OrdersTable, db01 and 210987654321 are not ordinary.
func ordinary(v string) bool {
	if v == "" {
		return false
	}
	for _, w := range strings.Split(v, " ") {
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
