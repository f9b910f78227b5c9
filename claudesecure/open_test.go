package claudesecure_test

import (
	"context"
	"encoding/base64"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/claude-secure/claude-secure/claudesecure"
	"github.com/claude-secure/claude-secure/internal/fakeapi"
	"github.com/claude-secure/claude-secure/mask/store"
)

// Open finds the store and the config file where the command does (here
// CLAUDE_SECURE_HOME, with the key in CLAUDE_SECURE_KEY): a literal from
// config.toml is masked, and the pseudonym the upstream got is one the
// command's store holds, so `claude-secure unmask` restores it.
func TestOpenUsesTheCommandsStoreAndConfig(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	t.Setenv("CLAUDE_SECURE_HOME", dir)
	t.Setenv(store.StoreEnv, "")
	key := make([]byte, 32)
	for i := range key {
		key[i] = byte(i * 7)
	}
	t.Setenv(store.KeyEnv, base64.StdEncoding.EncodeToString(key))
	const codename = "project-falcon"
	if err := os.WriteFile(filepath.Join(dir, "config.toml"), []byte("[[literal]]\nkind = \"codename\"\nvalues = [\""+codename+"\"]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := claudesecure.Open(ctx, nil, claudesecure.WithEngine(newEngine(t))); err == nil {
		t.Fatal("Open took an engine of its own")
	}
	tr, err := claudesecure.Open(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	api := fakeapi.New(true)
	defer api.Close()
	client := sdkClient(tr, api.URL)
	msg, err := client.Messages.New(ctx, anthropic.MessageNewParams{
		Model: fakeapi.Model, MaxTokens: 200,
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock(prompt() + " It runs " + codename + "."))},
	})
	if err != nil {
		t.Fatal(err)
	}
	checkAnswer(t, msg)
	for i, o := range []string{origInstance, origAccount, codename} {
		if api.Saw(o) {
			t.Errorf("original %d reached the upstream", i)
		}
	}
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}
	pseudonym := regexp.MustCompile(`i-[0-9a-f]{17}`).Find(api.Requests()[0].Body)
	if pseudonym == nil {
		t.Fatal("the upstream got no instance ID")
	}
	s, _, err := store.Opener{Dir: dir, Keyring: store.SystemKeyring{}, Getenv: os.Getenv}.OpenBackend(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	orig, _, ok, err := s.LookupOne(string(pseudonym))
	if err != nil || !ok || orig != origInstance {
		t.Fatalf("the store in CLAUDE_SECURE_HOME does not restore the pseudonym the upstream got (found %v, err %v)", ok, err)
	}
}
