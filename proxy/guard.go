package proxy

import (
	"mime"
	"net/http"
	"net/url"
	"sort"
	"strings"
)

// credentialHeaders carry the client's own credentials, which go upstream
// as they are (a key looks like a secret to the detectors, and it is one,
// meant for the upstream).
var credentialHeaders = map[string]bool{
	"X-Api-Key":             true,
	"Authorization":         true,
	"X-Claude-Secure-Token": true,
	"Cookie":                true,
}

// exposed names the part of a request outside its body that holds a value
// masking would replace: the path, the query, or a header. Such a request
// is refused rather than sent: a path or header cannot be masked without
// changing what it asks for. It returns "" when there is none.
func (p *Handler) exposed(r *http.Request, path string) (string, error) {
	e := p.opts.Engine
	check := func(s string) (bool, error) {
		if s == "" {
			return false, nil
		}
		return e.Holds([]byte(s))
	}
	if found, err := check(path); found || err != nil {
		return "path", err
	}
	if q := r.URL.RawQuery; q != "" {
		var b strings.Builder
		vals, err := url.ParseQuery(q)
		if err != nil {
			b.WriteString(q) // read as it stands
		}
		for k, vs := range vals {
			b.WriteString(k)
			b.WriteByte('\n')
			for _, v := range vs {
				b.WriteString(v)
				b.WriteByte('\n')
			}
		}
		if found, err := check(b.String()); found || err != nil {
			return "query", err
		}
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
			if found, err := check(v); found || err != nil {
				return "header " + k, err
			}
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
	if method == http.MethodGet && (path == "/v1/models" || strings.HasPrefix(path, "/v1/models/") && !strings.Contains(path[len("/v1/models/"):], "/") && len(path) > len("/v1/models/")) {
		return bodylessAnyone, ""
	}
	rest, ok := strings.CutPrefix(path, "/v1/messages/batches/")
	if !ok || rest == "" {
		return bodylessRefused, ""
	}
	id, sub, _ := strings.Cut(rest, "/")
	if id == "" || strings.Contains(sub, "/") {
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
