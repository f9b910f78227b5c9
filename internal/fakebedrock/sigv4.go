package fakebedrock

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The verifier below is written from the Signature Version 4 description
// (the canonical request, the string to sign, the derived key), not on top
// of the SDK's signer, so that it cannot share a mistake with the signer
// whose requests it checks.

const (
	algorithm  = "AWS4-HMAC-SHA256"
	terminator = "aws4_request"
	amzDate    = "20060102T150405Z"
	// maxSkew is how far X-Amz-Date may be from the server's clock.
	maxSkew = 5 * time.Minute
)

// authError is a refusal: the status, the x-amzn-ErrorType and the message.
type authError struct {
	status int
	typ    string
	msg    string
	// key: the body names the message "Message" (as the bearer-key check
	// does) instead of "message"
	key string
}

func (e *authError) Error() string { return e.typ + ": " + e.msg }

const invalidSignature = "InvalidSignatureException"

func badSignature(msg string) *authError {
	return &authError{status: http.StatusForbidden, typ: invalidSignature, msg: msg}
}

func incomplete(msg string) *authError {
	return &authError{status: http.StatusForbidden, typ: "IncompleteSignatureException", msg: msg}
}

func unrecognized() *authError {
	return &authError{status: http.StatusForbidden, typ: "UnrecognizedClientException", msg: "The security token included in the request is invalid."}
}

const mismatch = "The request signature we calculated does not match the signature you provided. " +
	"Check your AWS Secret Access Key and signing method. Consult the service documentation for details."

// authorization is a parsed "AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…,
// Signature=…" header.
type authorization struct {
	accessKey, date, region, service, term string
	signedHeaders                          string
	signature                              string
}

func parseAuthorization(h string) (authorization, *authError) {
	var a authorization
	rest, ok := strings.CutPrefix(h, algorithm+" ")
	if !ok {
		return a, incomplete("Authorization header requires the '" + algorithm + "' algorithm.")
	}
	var cred string
	for _, part := range strings.Split(rest, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return a, incomplete(fmt.Sprintf("Authorization header requires each component to be of the form key=value: %q.", part))
		}
		switch k {
		case "Credential":
			cred = v
		case "SignedHeaders":
			a.signedHeaders = v
		case "Signature":
			a.signature = v
		}
	}
	var missing []string
	if cred == "" {
		missing = append(missing, "Authorization header requires 'Credential' parameter.")
	}
	if a.signedHeaders == "" {
		missing = append(missing, "Authorization header requires 'SignedHeaders' parameter.")
	}
	if a.signature == "" {
		missing = append(missing, "Authorization header requires 'Signature' parameter.")
	}
	if len(missing) > 0 {
		return a, incomplete(strings.Join(missing, " "))
	}
	parts := strings.Split(cred, "/")
	if len(parts) != 5 {
		return a, incomplete(fmt.Sprintf("Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '%s'", cred))
	}
	a.accessKey, a.date, a.region, a.service, a.term = parts[0], parts[1], parts[2], parts[3], parts[4]
	return a, nil
}

// verifySigV4 checks a SigV4-signed request as received: r as the server
// parsed it and body, the bytes that came with it.
func (s *Server) verifySigV4(r *http.Request, body []byte, now time.Time) *authError {
	a, aerr := parseAuthorization(r.Header.Get("Authorization"))
	if aerr != nil {
		return aerr
	}
	date := r.Header.Get("X-Amz-Date")
	if date == "" {
		return incomplete("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")
	}
	t, err := time.Parse(amzDate, date)
	if err != nil {
		return incomplete(fmt.Sprintf("Date must be in ISO-8601 'basic format'. Got '%s'.", date))
	}
	switch {
	case t.Before(now.Add(-maxSkew)):
		return badSignature(fmt.Sprintf("Signature expired: %s is now earlier than %s (%s - 5 min.)",
			date, now.Add(-maxSkew).UTC().Format(amzDate), now.UTC().Format(amzDate)))
	case t.After(now.Add(maxSkew)):
		return badSignature(fmt.Sprintf("Signature not yet current: %s is still later than %s (%s + 5 min.)",
			date, now.Add(maxSkew).UTC().Format(amzDate), now.UTC().Format(amzDate)))
	}
	switch {
	case a.date != date[:8]:
		return badSignature(fmt.Sprintf("Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '%s' != '%s', from '%s'.", a.date, date[:8], date))
	case a.region != s.opts.Region:
		return badSignature(fmt.Sprintf("Credential should be scoped to a valid region, not '%s'. ", a.region))
	case a.service != Service:
		return badSignature(fmt.Sprintf("Credential should be scoped to correct service: '%s'. ", Service))
	case a.term != terminator:
		return badSignature(fmt.Sprintf("Credential should be scoped with a valid terminator: '%s', not '%s'.", terminator, a.term))
	}
	if s.opts.AccessKeyID == "" || a.accessKey != s.opts.AccessKeyID {
		return unrecognized()
	}
	token := r.Header.Get("X-Amz-Security-Token")
	if token != s.opts.SessionToken {
		return unrecognized()
	}

	names := strings.Split(a.signedHeaders, ";")
	signed := map[string]bool{}
	for _, n := range names {
		signed[n] = true
	}
	if !signed["host"] {
		return badSignature("'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.")
	}
	for _, h := range []string{"X-Amz-Date", "X-Amz-Security-Token", "X-Amz-Content-Sha256"} {
		if r.Header.Get(h) != "" && !signed[strings.ToLower(h)] {
			return badSignature(fmt.Sprintf("'%s' must be a 'SignedHeader' in the AWS Authorization.", h))
		}
	}

	// the payload is the body that arrived, whatever the client claims
	sum := sha256.Sum256(body)
	payloadHash := hex.EncodeToString(sum[:])
	if claimed := r.Header.Get("X-Amz-Content-Sha256"); claimed != "" && claimed != payloadHash {
		return badSignature("The provided 'x-amz-content-sha256' header does not match what was computed.")
	}

	creq := canonicalRequest(r, names, payloadHash)
	scope := strings.Join([]string{a.date, a.region, a.service, a.term}, "/")
	want := signature(s.opts.SecretAccessKey, a.date, a.region, a.service, stringToSign(date, scope, creq))
	if !hmac.Equal([]byte(want), []byte(a.signature)) {
		return badSignature(mismatch)
	}
	return nil
}

// canonicalRequest is the SigV4 canonical request of r as received.
func canonicalRequest(r *http.Request, signedHeaders []string, payloadHash string) string {
	path, query := splitTarget(r.RequestURI)
	var b strings.Builder
	b.WriteString(r.Method)
	b.WriteByte('\n')
	b.WriteString(canonicalURI(path))
	b.WriteByte('\n')
	b.WriteString(canonicalQuery(query))
	b.WriteByte('\n')
	for _, n := range signedHeaders {
		b.WriteString(n)
		b.WriteByte(':')
		b.WriteString(headerValue(r, n))
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	b.WriteString(strings.Join(signedHeaders, ";"))
	b.WriteByte('\n')
	b.WriteString(payloadHash)
	return b.String()
}

func stringToSign(date, scope, creq string) string {
	h := sha256.Sum256([]byte(creq))
	return algorithm + "\n" + date + "\n" + scope + "\n" + hex.EncodeToString(h[:])
}

// signature derives the signing key from the secret and the scope and
// signs sts with it.
func signature(secret, day, region, service, sts string) string {
	k := mac([]byte("AWS4"+secret), day)
	k = mac(k, region)
	k = mac(k, service)
	k = mac(k, terminator)
	return hex.EncodeToString(mac(k, sts))
}

func mac(key []byte, data string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(data))
	return h.Sum(nil)
}

// splitTarget splits a request target as it came over the wire into its
// path and its query, both still escaped. An absolute target
// (http://host/path) is reduced to its path.
func splitTarget(target string) (path, query string) {
	if i := strings.Index(target, "://"); i >= 0 && !strings.HasPrefix(target, "/") {
		rest := target[i+3:]
		if j := strings.IndexAny(rest, "/?"); j >= 0 {
			target = rest[j:]
		} else {
			target = "/"
		}
	}
	path, query, _ = strings.Cut(target, "?")
	if path == "" {
		path = "/"
	}
	return path, query
}

// canonicalURI is the canonical URI of a request path, given as it came
// over the wire (escaped), for every AWS service but S3: each segment is
// URI-encoded once more, so an escape already in the path is encoded again
// ("%3A" becomes "%253A") and a raw ":" becomes "%3A". The slashes between
// segments stay as they are.
func canonicalURI(rawPath string) string {
	segs := strings.Split(rawPath, "/")
	for i, s := range segs {
		segs[i] = uriEncode(s)
	}
	return strings.Join(segs, "/")
}

// canonicalQuery is the canonical query string of a raw query: every name
// and value decoded, then URI-encoded, the pairs sorted by name and then by
// value (after encoding).
func canonicalQuery(raw string) string {
	if raw == "" {
		return ""
	}
	var pairs []string
	for _, p := range strings.Split(raw, "&") {
		if p == "" {
			continue
		}
		k, v, _ := strings.Cut(p, "=")
		pairs = append(pairs, uriEncode(unescapeQuery(k))+"="+uriEncode(unescapeQuery(v)))
	}
	// "k=v" strings sort by name first only if no name is a prefix of
	// another; sort on the parts instead
	sort.Slice(pairs, func(i, j int) bool {
		ki, vi, _ := strings.Cut(pairs[i], "=")
		kj, vj, _ := strings.Cut(pairs[j], "=")
		if ki != kj {
			return ki < kj
		}
		return vi < vj
	})
	return strings.Join(pairs, "&")
}

// unescapeQuery decodes a query name or value ("+" is a space); a broken
// escape is kept as it is, which will not match what the client signed.
func unescapeQuery(s string) string {
	u, err := url.QueryUnescape(s)
	if err != nil {
		return s
	}
	return u
}

// uriEncode keeps the unreserved characters of RFC 3986 and writes every
// other byte as %XX in upper-case hex.
func uriEncode(s string) string {
	const hexdigits = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexdigits[c>>4])
		b.WriteByte(hexdigits[c&15])
	}
	return b.String()
}

// headerValue is a signed header's canonical value: every value the header
// came with, trimmed, runs of spaces made one, joined with commas. Go's
// server keeps the host and the transfer encoding out of the header map,
// so they are taken from where it keeps them.
func headerValue(r *http.Request, name string) string {
	var vals []string
	switch name {
	case "host":
		vals = []string{r.Host}
	case "content-length":
		vals = append([]string(nil), r.Header.Values("Content-Length")...)
		if len(vals) == 0 && r.ContentLength >= 0 {
			vals = []string{strconv.FormatInt(r.ContentLength, 10)}
		}
	case "transfer-encoding":
		vals = append([]string(nil), r.TransferEncoding...)
	default:
		vals = append([]string(nil), r.Header.Values(name)...)
	}
	for i, v := range vals {
		vals[i] = collapseSpaces(strings.TrimSpace(v))
	}
	return strings.Join(vals, ",")
}

func collapseSpaces(s string) string {
	for strings.Contains(s, "  ") {
		s = strings.ReplaceAll(s, "  ", " ")
	}
	return s
}
