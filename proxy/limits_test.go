package proxy

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Compressed bodies are counted decompressed against what the API accepts
// (32 MB for a Messages request), and one caller has at most four being
// read at once: eight bodies of 200 MB decompressed, sent at once, are
// refused without the proxy holding more than a few of them, and the
// memory goes back when they are done.
func TestCompressedBodiesAreBounded(t *testing.T) {
	up := newFakeAPI(t)
	p, _ := startProxy(t, up.URL)
	var bomb bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&bomb, gzip.BestSpeed)
	zw.Write([]byte(`{"model":"m","max_tokens":1,"messages":[{"role":"user","content":"`))
	zeros := make([]byte, 1<<20)
	for i := range zeros {
		zeros[i] = 'a'
	}
	for range 200 {
		zw.Write(zeros)
	}
	zw.Write([]byte(`"}]}`))
	zw.Close()
	var peak atomic.Uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			resp := post(t, p.BaseURL()+"/v1/messages", bomb.Bytes(), "Content-Encoding", "gzip")
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusRequestEntityTooLarge {
				t.Errorf("status %d, want 413", resp.StatusCode)
			}
		})
	}
	wg.Wait()
	if n := up.Hits.Load(); n != 0 {
		t.Errorf("%d bodies over the limit reached the upstream", n)
	}
	close(stop)
	<-sampled
	const bound = 600 << 20 // four bodies at a time of 32 MB and the buffers they grow through
	if got := peak.Load(); got > bound {
		t.Errorf("heap peaked at %d MiB while refusing the bodies, want under %d MiB", got>>20, bound>>20)
	}
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	if ms.HeapInuse > 100<<20 {
		t.Errorf("%d MiB of heap still in use after the bodies were refused", ms.HeapInuse>>20)
	}
	t.Logf("heap peak %d MiB for eight bodies of 200 MB decompressed", peak.Load()>>20)
}
