package proxy

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"
)

// A `claude-secure run` inside a session (CLAUDE_SECURE=1 in its
// environment) starts no second proxy, which would mask pseudonyms. The
// marker alone proves nothing: anyone can set it, and a background process
// can keep it after its session ended and another program took the port.
// So the inner run asks the proxy at ANTHROPIC_BASE_URL to prove that it
// holds the session secret in that URL, without sending the secret: it
// sends a fresh nonce, and the proxy answers with an HMAC of it keyed by
// the secret.

// sessionProofPath is where a session proxy answers the check. It needs
// no secret: it is the secret the answer proves.
const sessionProofPath = "/.claude-secure/session-proof"

func sessionProof(secret, nonce string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte("claude-secure session proof\x00"))
	m.Write([]byte(nonce))
	return hex.EncodeToString(m.Sum(nil))
}

// answerProof answers the nesting check.
func (p *Proxy) answerProof(w http.ResponseWriter, r *http.Request) {
	nonce := r.URL.Query().Get("nonce")
	if _, err := hex.DecodeString(nonce); err != nil || len(nonce) != 32 {
		p.Refuse(w, r, http.StatusBadRequest, "invalid_request_error", "bad_nonce", "the session check needs a nonce of 16 bytes in hex")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]string{"proof": sessionProof(p.secret, nonce)})
}

// SessionSecret returns the secret of a session proxy URL
// (http://127.0.0.1:PORT/SECRET), or false when the URL is not one.
func SessionSecret(base string) (*url.URL, string, bool) {
	u, err := url.Parse(base)
	if err != nil || u.Scheme != "http" || u.RawQuery != "" {
		return nil, "", false
	}
	ip := net.ParseIP(u.Hostname())
	if ip == nil || !ip.IsLoopback() || u.Port() == "" {
		return nil, "", false
	}
	secret := u.Path
	if len(secret) != 33 || secret[0] != '/' {
		return nil, "", false
	}
	secret = secret[1:]
	if _, err := hex.DecodeString(secret); err != nil {
		return nil, "", false
	}
	return u, secret, true
}

// VerifySession checks that a live session proxy holding the secret of base
// answers at base. It sends only a nonce, never the secret.
func VerifySession(ctx context.Context, base string) error {
	u, secret, ok := SessionSecret(base)
	if !ok {
		return errors.New("ANTHROPIC_BASE_URL is not the address of a claude-secure session")
	}
	var n [16]byte
	if _, err := rand.Read(n[:]); err != nil {
		return err
	}
	nonce := hex.EncodeToString(n[:])
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	check := url.URL{Scheme: "http", Host: u.Host, Path: sessionProofPath, RawQuery: "nonce=" + nonce}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, check.String(), nil)
	if err != nil {
		return err
	}
	c := &http.Client{
		Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true},
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("no claude-secure session answers at ANTHROPIC_BASE_URL: %s", describeNetErr(err))
	}
	defer resp.Body.Close()
	var ans struct {
		Proof string `json:"proof"`
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &ans) != nil ||
		!hmac.Equal([]byte(ans.Proof), []byte(sessionProof(secret, nonce))) {
		return errors.New("what answers at ANTHROPIC_BASE_URL is not the claude-secure session that URL names")
	}
	return nil
}
