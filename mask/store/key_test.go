package store

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/zalando/go-keyring"
)

func noEnv(string) string { return "" }

func TestKeyFromEnvWins(t *testing.T) {
	keyring.MockInit()
	o := Opener{Dir: t.TempDir(), Keyring: SystemKeyring{}, Getenv: func(k string) string {
		if k == KeyEnv {
			return EncodeKey(testKey)
		}
		return ""
	}}
	k, err := o.ResolveKey()
	if err != nil || k.Source != SourceEnv || string(k.Bytes) != string(testKey) {
		t.Fatalf("got source %q, %v", k.Source, err)
	}
	bad := Opener{Dir: t.TempDir(), Keyring: SystemKeyring{}, Getenv: func(string) string { return "not-a-key" }}
	if _, err := bad.ResolveKey(); !errors.Is(err, ErrBadKey) {
		t.Errorf("bad env key: got %v", err)
	}
}

func TestKeyCreatedInKeyringAndReused(t *testing.T) {
	keyring.MockInit()
	dir := filepath.Join(t.TempDir(), "state")
	o := Opener{Dir: dir, Keyring: SystemKeyring{}, Getenv: noEnv}
	s, k, err := o.Open()
	if err != nil {
		t.Fatal(err)
	}
	if k.Source != SourceKeyring || k.Warning != "" {
		t.Fatalf("source %q warning %q", k.Source, k.Warning)
	}
	if _, err := os.Stat(filepath.Join(dir, KeyFileName)); !os.IsNotExist(err) {
		t.Error("a key file was written although the keyring works")
	}
	_, k2, err := o.Open()
	if err != nil || string(k2.Bytes) != string(k.Bytes) {
		t.Fatal("second open did not reuse the keyring key")
	}
	_ = s
}

func TestKeyFileFallbackWhenNoKeyring(t *testing.T) {
	keyring.MockInitWithError(errors.New("no secret service on the bus"))
	defer keyring.MockInit()
	dir := filepath.Join(t.TempDir(), "state")
	o := Opener{Dir: dir, Keyring: SystemKeyring{}, Getenv: noEnv}
	_, k, err := o.Open()
	if err != nil {
		t.Fatal(err)
	}
	if k.Source != SourceFile || !strings.Contains(k.Warning, "keyring") {
		t.Fatalf("source %q warning %q", k.Source, k.Warning)
	}
	st, err := os.Stat(filepath.Join(dir, KeyFileName))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", st.Mode(), err)
	}
	_, k2, err := o.Open()
	if err != nil || string(k2.Bytes) != string(k.Bytes) {
		t.Fatal("key file not reused")
	}
}

func TestMissingKeyForExistingStore(t *testing.T) {
	keyring.MockInit()
	dir := filepath.Join(t.TempDir(), "state")
	if _, err := Open(dir, testKey); err != nil {
		t.Fatal(err)
	}
	o := Opener{Dir: dir, Keyring: SystemKeyring{}, Getenv: noEnv}
	_, _, err := o.Open()
	if !errors.Is(err, ErrKeyNotFound) {
		t.Fatalf("got %v, want ErrKeyNotFound (a new key must not replace a lost one)", err)
	}
}

func TestKeyringTimeout(t *testing.T) {
	k := SystemKeyring{Timeout: 50 * time.Millisecond}
	start := time.Now()
	_, err := k.call(func() (string, error) { time.Sleep(5 * time.Second); return "", nil })
	if !errors.Is(err, ErrKeyringUnavailable) {
		t.Fatalf("got %v, want ErrKeyringUnavailable", err)
	}
	if time.Since(start) > 2*time.Second {
		t.Error("a hanging keyring was not cut off")
	}
	if _, err := k.call(func() (string, error) { return "", keyring.ErrNotFound }); !errors.Is(err, ErrKeyNotFound) {
		t.Errorf("not found maps to %v", err)
	}
}

func TestRotateInterruptedFinishesOnOpen(t *testing.T) {
	for _, source := range []string{SourceKeyring, SourceFile} {
		t.Run(source, func(t *testing.T) {
			if source == SourceFile {
				keyring.MockInitWithError(errors.New("no keyring"))
				defer keyring.MockInit()
			} else {
				keyring.MockInit()
			}
			dir := filepath.Join(t.TempDir(), "state")
			o := Opener{Dir: dir, Keyring: SystemKeyring{}, Getenv: noEnv}
			s, k, err := o.Open()
			if err != nil {
				t.Fatal(err)
			}
			masked, _ := engineOn(t, s).MaskBytes([]byte(sample), nil)
			// crash after the store was re-sealed, before the key was installed
			next := NewKey()
			if err := o.stagePendingKey(k.Source, next); err != nil {
				t.Fatal(err)
			}
			if _, err := s.RotateKey(next); err != nil {
				t.Fatal(err)
			}
			s2, k2, err := o.Open()
			if err != nil {
				t.Fatalf("store does not open after an interrupted rotation: %v", err)
			}
			if string(k2.Bytes) != string(next) {
				t.Error("the pending key was not used")
			}
			back, _ := unmaskAll(t, s2, masked)
			if string(back) != sample {
				t.Error("mappings lost")
			}
			k3, err := o.ResolveKey()
			if err != nil || string(k3.Bytes) != string(next) {
				t.Error("the new key was not installed")
			}
		})
	}
}

func TestRotateThroughOpener(t *testing.T) {
	keyring.MockInit()
	dir := filepath.Join(t.TempDir(), "state")
	o := Opener{Dir: dir, Keyring: SystemKeyring{}, Getenv: noEnv}
	s, k, err := o.Open()
	if err != nil {
		t.Fatal(err)
	}
	masked, _ := engineOn(t, s).MaskBytes([]byte(sample), nil)
	if _, err := o.Rotate(s, k, nil); err != nil {
		t.Fatal(err)
	}
	s2, k2, err := o.Open()
	if err != nil {
		t.Fatal(err)
	}
	if string(k2.Bytes) == string(k.Bytes) {
		t.Error("key did not change")
	}
	back, _ := unmaskAll(t, s2, masked)
	if string(back) != sample {
		t.Error("mappings lost in rotation")
	}
	if _, err := (SystemKeyring{}).Get(Service, o.account()+":next"); !errors.Is(err, ErrKeyNotFound) {
		t.Error("pending key left behind")
	}
}

// TestSecretServiceKeyring runs against a real Secret Service (gnome-keyring
// under dbus-run-session in CI). Elsewhere it is skipped, and says why.
func TestSecretServiceKeyring(t *testing.T) {
	if os.Getenv("CLAUDE_SECURE_TEST_SECRET_SERVICE") != "1" {
		t.Skip("set CLAUDE_SECURE_TEST_SECRET_SERVICE=1 inside a D-Bus session with an unlocked Secret Service (scripts/test-keyring.sh does this)")
	}
	k := SystemKeyring{Timeout: 10 * time.Second}
	user := "test-" + time.Now().Format("150405.000000")
	if err := k.Set(Service, user, "s3cr3t"); err != nil {
		t.Fatalf("set: %v", err)
	}
	v, err := k.Get(Service, user)
	if err != nil || v != "s3cr3t" {
		t.Fatalf("get: %v", err)
	}
	if err := k.Delete(Service, user); err != nil {
		t.Fatal(err)
	}
	if _, err := k.Get(Service, user); !errors.Is(err, ErrKeyNotFound) {
		t.Fatalf("after delete: %v", err)
	}
	dir := filepath.Join(t.TempDir(), "state")
	o := Opener{Dir: dir, Keyring: k, Getenv: noEnv}
	s, key, err := o.Open()
	if err != nil {
		t.Fatal(err)
	}
	if key.Source != SourceKeyring {
		t.Fatalf("key source %q, want the keyring", key.Source)
	}
	masked, _ := engineOn(t, s).MaskBytes([]byte(sample), nil)
	if _, err := o.Rotate(s, key, nil); err != nil {
		t.Fatal(err)
	}
	s2, _, err := o.Open()
	if err != nil {
		t.Fatal(err)
	}
	back, _ := unmaskAll(t, s2, masked)
	if string(back) != sample {
		t.Error("round trip through the Secret Service key failed")
	}
	k.Delete(Service, o.account())
}

// A state directory, key file or store file that another user could read
// or change is refused, as ssh refuses such a private key, with the fix in
// the message; nothing is created or opened in it.
func TestLoosePermissionsRefused(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Windows protects a profile directory by its ACL, which is not checked")
	}
	keyring.MockInitWithError(errors.New("no keyring"))
	defer keyring.MockInit()
	for _, c := range []struct {
		name   string
		loosen func(dir string) string
	}{
		{"directory", func(dir string) string { os.Chmod(dir, 0o755); return dir }},
		{"key file", func(dir string) string { p := filepath.Join(dir, KeyFileName); os.Chmod(p, 0o644); return p }},
		{"store", func(dir string) string { p := Path(dir); os.Chmod(p, 0o660); return p }},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "state")
			o := Opener{Dir: dir, Keyring: SystemKeyring{}, Getenv: noEnv}
			if _, _, err := o.Open(); err != nil {
				t.Fatal(err)
			}
			loose := c.loosen(dir)
			_, _, err := o.Open()
			var pe *PermissionError
			if !errors.As(err, &pe) || pe.Path != loose || !strings.Contains(err.Error(), "chmod") {
				t.Fatalf("got %v, want a refusal naming %s and the fix", err, loose)
			}
		})
	}
}
