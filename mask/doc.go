// Package mask replaces AWS identifiers and secrets in text with stable,
// same-shaped pseudonyms, and puts the originals back.
//
// It finds values two ways: detectors read the text for what looks like an
// identifier (an instance ID, an account ID after "OwnerId", a bucket in an
// ARN), and the index finds every value the store already holds, wherever
// it stands. Each value found gets a pseudonym of the same shape from a
// keyed permutation; the Mappings (the encrypted store of package
// mask/store) record it, so the same value gets the same pseudonym in every
// process. Restoring looks pseudonyms up by identity, never by detection.
//
// Where to start reading:
//
//   - engine.go: Engine, the Mappings it records into, and how a batch of
//     new values gets its pseudonyms (issue).
//   - view.go: text as a person reads it. JSON escapes inside string
//     literals are decoded, at every nesting level, before any detector
//     looks; the view keeps where each byte came from.
//   - pass.go: one pass over a view: the detectors' spans and the index's
//     matches merged into edits, then written back into the raw text.
//   - stream.go and events.go: the same for text that arrives in pieces
//     (mask, unmask, scan) and for streamed API answers. jsonbody.go reads
//     an API request body whole and says which parts are content.
//
// The detectors (read these to change what is found):
//
//   - kinds.go: the kinds and their pseudonym families.
//   - rules.go: the one table of kinds: name, family, description and the
//     examples TestRules runs. A new kind is a constant and an entry here;
//     docs/rules.md has the checklist.
//   - scan.go: the scanning machine. It skips most bytes with a table and
//     hands each trigger byte to a detector; emit applies the
//     configuration and records the span, with how it was found.
//   - detect_*.go: one family of detectors per file: resource IDs,
//     account IDs, addresses, ARNs, AWS hostnames, tokens found by their
//     shape, URLs, names in prose.
//   - context.go, context_key.go, context_value.go: the keys, flags and
//     words that make a value sensitive, reading the key before a value,
//     and reading the value after it.
//   - shape.go and chars.go: pure checks of a value's shape and of bytes.
//   - config.go: the user's own rules, allowed values and disabled kinds.
//
// The memory behind it: index.go, known.go and arena.go keep every
// mapping in compact tables; pseudonym.go and fpe.go make the pseudonyms.
package mask
