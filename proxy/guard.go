package proxy

import (
	"encoding/base64"
	"mime"
	"net/http"
	"net/url"
	"sort"
	"strings"
)

// credentialHeaders carry the client's own credentials, which go upstream
// as they are (a key looks like a secret to the detectors, and it is one,
// meant for the upstream). Authorization passes only as a bearer token.
var credentialHeaders = map[string]bool{
	"X-Api-Key":             true,
	"X-Claude-Secure-Token": true,
}

// exposed names the part of a request outside its body that holds a value
// masking would replace: the path, the query, or a header (by its name,
// unless the name is what holds the value). Such a request
// is refused rather than sent: a path or header cannot be masked without
// changing what it asks for. Each is read with the names beside the
// values, as a detector reads "password=…" or "X-Secret: …". It returns
// "" when there is none.
func (p *Handler) exposed(r *http.Request, path string) (string, error) {
	type part struct{ where, text string }
	parts := []part{{"path", path}}
	if q := r.URL.RawQuery; q != "" {
		// as sent, and decoded pair by pair as name=value lines
		var b strings.Builder
		b.WriteString(q)
		b.WriteByte('\n')
		for _, pair := range strings.FieldsFunc(q, func(c rune) bool { return c == '&' || c == ';' }) {
			k, v, _ := strings.Cut(pair, "=")
			dk, err1 := url.QueryUnescape(k)
			dv, err2 := url.QueryUnescape(v)
			if err1 != nil || err2 != nil {
				dk, dv = k, v
			}
			b.WriteString(dk)
			b.WriteByte('=')
			b.WriteString(dv)
			b.WriteByte('\n')
		}
		parts = append(parts, part{"query", b.String()})
	}
	names := make([]string, 0, len(r.Header))
	for k := range r.Header {
		if !credentialHeaders[k] {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	for _, k := range names {
		for _, v := range r.Header[k] {
			if k == "Authorization" && len(v) > 7 && strings.EqualFold(v[:7], "bearer ") {
				v = "Bearer" // the client's own token
			} else if k == "Authorization" && len(v) > 6 && strings.EqualFold(v[:6], "basic ") {
				// user:password from a URL's userinfo, in base64: read as sent
				// and decoded
				if dec, err := base64.StdEncoding.DecodeString(strings.TrimSpace(v[6:])); err == nil {
					v += "\nBasic " + string(dec)
				}
			}
			parts = append(parts, part{"header " + k, k + ": " + v})
		}
	}
	// one look at all of it; only a request that holds something is read
	// again part by part, to say where
	var all strings.Builder
	for _, pt := range parts {
		all.WriteString(pt.text)
		all.WriteByte('\n')
	}
	e := p.opts.Engine
	if found, err := e.Holds([]byte(all.String())); !found || err != nil {
		return "", err
	}
	for _, pt := range parts {
		if found, err := e.Holds([]byte(pt.text)); err != nil {
			return "", err
		} else if found {
			if k, ok := strings.CutPrefix(pt.where, "header "); ok {
				if named, _ := e.Holds([]byte(k)); named {
					return "header name", nil // the name is not repeated back
				}
			}
			return pt.where, nil
		}
	}
	return "", nil
}

// jsonContent reports whether a request body is declared JSON. A page in a
// browser can send a "simple" cross-origin POST without asking first only
// as text/plain, a form or multipart; the API reads JSON.
func jsonContent(r *http.Request) bool {
	ct, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return err == nil && (ct == "application/json" || strings.HasSuffix(ct, "+json"))
}

// isRedirect reports whether an upstream answer sends the client elsewhere.
// It is never passed on: a client follows a 307 or 308 by sending its own
// request, unmasked, to the new address, with its credentials.
func isRedirect(resp *http.Response) bool {
	switch resp.StatusCode {
	case http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther,
		http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		return true
	}
	return resp.StatusCode/100 == 3 && resp.Header.Get("Location") != ""
}

// Body-less calls a gateway forwards for a caller, by path: the models
// list, and a message batch's status, results, cancellation and deletion
// for the caller that created the batch. Everything else is refused.
type bodyless int

const (
	bodylessRefused bodyless = iota
	bodylessAnyone
	bodylessBatchOwner
)

// bodylessRoute says who may make a body-less call, and for a batch's
// calls, which batch.
func bodylessRoute(method, path string) (bodyless, string) {
	if method == http.MethodGet && path == "/v1/models" {
		return bodylessAnyone, ""
	}
	if id, ok := strings.CutPrefix(path, "/v1/models/"); ok && method == http.MethodGet &&
		id != "" && id != "." && id != ".." && !strings.Contains(id, "/") {
		return bodylessAnyone, ""
	}
	rest, ok := strings.CutPrefix(path, "/v1/messages/batches/")
	if !ok || rest == "" {
		return bodylessRefused, ""
	}
	id, sub, _ := strings.Cut(rest, "/")
	if id == "" || id == "." || id == ".." || strings.Contains(sub, "/") {
		return bodylessRefused, ""
	}
	switch {
	case sub == "" && (method == http.MethodGet || method == http.MethodDelete),
		sub == "results" && method == http.MethodGet,
		sub == "cancel" && method == http.MethodPost:
		return bodylessBatchOwner, id
	}
	return bodylessRefused, ""
}
