package proxy

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

func TestCompressedResponseIsDecodedAndUnmasked(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		if !strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
			t.Error("upstream was not offered gzip")
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Encoding", "gzip")
		zw := gzip.NewWriter(w)
		json.NewEncoder(zw).Encode(map[string]any{"type": "message", "content": []any{map[string]any{"type": "text", "text": maskedText(t, body)}}})
		zw.Close()
	})
	p, _ := startProxy(t, up.URL)
	req, _ := http.NewRequest("POST", p.BaseURL()+"/v1/messages", bytes.NewReader(requestBody(clientText)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept-Encoding", "br") // something we could not read back
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.Header.Get("Content-Encoding") != "" || !bytes.Contains(body, []byte(clientText)) {
		t.Errorf("response not decoded and unmasked (encoding %q)", resp.Header.Get("Content-Encoding"))
	}
}

// deflate as RFC 9110 defines it is a zlib stream; some clients send raw
// deflate under that name. Both are read and masked; an answer in either
// is read and restored.
func TestDeflateBodies(t *testing.T) {
	zlibOf := func(b []byte) []byte {
		var buf bytes.Buffer
		zw := zlib.NewWriter(&buf)
		zw.Write(b)
		zw.Close()
		return buf.Bytes()
	}
	rawOf := func(b []byte) []byte {
		var buf bytes.Buffer
		fw, _ := flate.NewWriter(&buf, flate.DefaultCompression)
		fw.Write(b)
		fw.Close()
		return buf.Bytes()
	}
	for _, c := range []struct {
		name string
		enc  func([]byte) []byte
	}{{"zlib", zlibOf}, {"raw", rawOf}} {
		up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
			out, _ := json.Marshal(map[string]any{"type": "message", "content": []any{map[string]any{"type": "text", "text": maskedText(t, body)}}})
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Content-Encoding", "deflate")
			w.Write(c.enc(out))
		})
		p, _ := startProxy(t, up.URL)
		resp := post(t, p.BaseURL()+"/v1/messages", c.enc(requestBody(clientText)), "Content-Encoding", "deflate")
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !bytes.Contains(got, []byte(clientText)) || resp.Header.Get("Content-Encoding") != "" {
			t.Errorf("%s deflate: status %d, restored %v, encoding %q", c.name, resp.StatusCode, bytes.Contains(got, []byte(clientText)), resp.Header.Get("Content-Encoding"))
		}
	}
}

// An answer in an encoding the proxy cannot read (br, which nobody asked
// for; br named after identity in a second header line; br from an
// upstream that also sends the header this proxy marks its own refusals
// with) cannot be restored: the client gets a clear error, never bytes
// that have lost the header that says how to read them.
func TestUnreadableResponseEncodingIsAnError(t *testing.T) {
	for _, c := range []struct {
		name string
		hdr  http.Header
	}{
		{"br", http.Header{"Content-Encoding": {"br"}}},
		{"identity then br", http.Header{"Content-Encoding": {"identity", "br"}}},
		{"marked as a refusal", http.Header{"Content-Encoding": {"br"}, "X-Claude-Secure-Error": {"1"}}},
	} {
		up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
			w.Header().Set("Content-Type", "application/json")
			for k, v := range c.hdr {
				w.Header()[k] = v
			}
			w.Write([]byte{0x1b, 0x2f, 0x00, 0x00, 0x00})
		})
		p, _ := startProxy(t, up.URL)
		resp := post(t, p.BaseURL()+"/v1/messages", requestBody(clientText))
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadGateway || !strings.Contains(string(got), `Content-Encoding \"br\"`) {
			t.Errorf("%s: status %d, body %.120q: want 502 naming the encoding", c.name, resp.StatusCode, got)
		}
	}
}

func TestGzipRequestBody(t *testing.T) {
	up := newFakeAPI(t)
	p, _ := startProxy(t, up.URL)
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(requestBody(clientText))
	zw.Close()
	resp := post(t, p.BaseURL()+"/v1/messages", buf.Bytes(), "Content-Encoding", "gzip")
	resp.Body.Close()
	if resp.StatusCode != 200 || up.Hits.Load() != 1 {
		t.Fatalf("status %d, hits %d", resp.StatusCode, up.Hits.Load())
	}
	if up.Requests()[0].Header.Get("Content-Encoding") != "" {
		t.Error("Content-Encoding forwarded for a body we decoded")
	}
}
