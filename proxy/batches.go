package proxy

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"

	"github.com/claude-secure/claude-secure/mask"
)

// batchSets remembers what each message batch's results may restore: the
// restore set of the request that created it. Results are fetched by a
// later request with no body of its own, so without this they could
// restore nothing, and restoring everything would make the proxy decode
// anyone's pseudonyms.
type batchSets struct {
	mu  sync.Mutex
	ids map[string]*mask.Restore
}

// batchKey is what a batch's restore set is kept under: the batch and the
// caller that created it, so that another caller fetching its results
// restores nothing.
func batchKey(caller, id string) string { return caller + "\x00" + id }

// maxBatchSets bounds the batches remembered in memory; older ones stay in
// the BatchStore if there is one.
const maxBatchSets = 4096

func (b *batchSets) save(opts Options, id string, r *mask.Restore) {
	b.mu.Lock()
	if b.ids == nil || len(b.ids) >= maxBatchSets {
		b.ids = map[string]*mask.Restore{}
	}
	b.ids[id] = r
	b.mu.Unlock()
	if opts.Batches != nil {
		_ = opts.Batches.SaveBatch(id, r.Pseudonyms())
	}
}

func (b *batchSets) load(opts Options, e *mask.Engine, id string) *mask.Restore {
	b.mu.Lock()
	r := b.ids[id]
	b.mu.Unlock()
	if r != nil {
		return r
	}
	if opts.Batches != nil {
		if ps, ok, err := opts.Batches.LoadBatch(id); err == nil && ok {
			return e.RestoreOf(ps)
		}
	}
	return e.NewRestore()
}

// owns reports whether a batch was created under key (its caller and id).
func (b *batchSets) owns(opts Options, key string) bool {
	b.mu.Lock()
	_, ok := b.ids[key]
	b.mu.Unlock()
	if ok || opts.Batches == nil {
		return ok
	}
	_, ok, err := opts.Batches.LoadBatch(key)
	return err == nil && ok
}

// batchResultsID returns the batch id of a request for a batch's results.
func batchResultsID(method, path string) (string, bool) {
	route, id := bodylessRoute(method, path)
	return id, route == bodylessBatchOwner && method == http.MethodGet && strings.HasSuffix(path, "/results")
}

// createdBatch returns the id of the batch a successful batch creation
// answered with.
func createdBatch(r *http.Request, status int, body []byte) (string, bool) {
	if r.Method != http.MethodPost || status/100 != 2 || !strings.HasSuffix(r.URL.Path, "/v1/messages/batches") {
		return "", false
	}
	var b struct {
		ID string `json:"id"`
	}
	if json.Unmarshal(body, &b) != nil || b.ID == "" {
		return "", false
	}
	return b.ID, true
}
