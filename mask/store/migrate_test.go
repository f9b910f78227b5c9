package store

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"slices"
	"testing"

	"github.com/claude-secure/claude-secure/internal/redistest"
	"github.com/claude-secure/claude-secure/mask"
)

func backendLog(t *testing.T, b Backend) []mask.Mapping {
	t.Helper()
	var out []mask.Mapping
	if err := b.Since(0, func(batch []mask.Mapping, _ uint64) { out = append(out, batch...) }); err != nil {
		t.Fatal(err)
	}
	return out
}

// A file store moved into Redis and back keeps every pseudonym, the
// order, the seed and the batches; a target that holds a store is refused.
func TestMigrateFileToRedisAndBack(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	key := Key{Bytes: testKey, Source: SourceEnv}
	file := openTest(t, t.TempDir())
	masked, err := engineOn(t, file).MaskBytes([]byte(sample), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := file.SaveBatch("msgbatch_01", []string{"ps-1"}); err != nil {
		t.Fatal(err)
	}
	want := backendLog(t, file)

	r, n, err := Opener{URL: srv.URL(), Dir: t.TempDir()}.Migrate(ctx, file, key)
	if err != nil || n != len(want) {
		t.Fatalf("to Redis: %d mappings, %v", n, err)
	}
	if !slices.Equal(backendLog(t, r), want) || !bytes.Equal(r.Seed(), file.Seed()) {
		t.Error("Redis does not hold the file store's mappings and seed")
	}
	if again, _ := engineOver(t, r).MaskBytes([]byte(sample), nil); !bytes.Equal(again, masked) {
		t.Error("pseudonyms changed in Redis")
	}
	if _, _, err := (Opener{URL: srv.URL(), Dir: t.TempDir()}).Migrate(ctx, file, key); !errors.Is(err, ErrTargetNotEmpty) {
		t.Errorf("a second migration into the same Redis: %v", err)
	}

	dir := filepath.Join(t.TempDir(), "back")
	back, n, err := Opener{Dir: dir}.Migrate(ctx, r, key)
	if err != nil || n != len(want) {
		t.Fatalf("back to a file: %d mappings, %v", n, err)
	}
	if !slices.Equal(backendLog(t, back), want) || !bytes.Equal(back.Seed(), file.Seed()) {
		t.Error("the file store does not hold Redis's mappings and seed")
	}
	if ps, ok, err := back.LoadBatch("msgbatch_01"); err != nil || !ok || len(ps) != 1 {
		t.Errorf("the batch did not come back: %v %v", ok, err)
	}
	if _, _, err := (Opener{Dir: dir}).Migrate(ctx, r, key); !errors.Is(err, ErrTargetNotEmpty) {
		t.Errorf("a second migration into the same directory: %v", err)
	}
}
