package userstate

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/claude-secure/claude-secure/mask"
)

func writeConfig(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.toml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestConfigFileSplitsIntoMaskOptionsAndAllowPaths(t *testing.T) {
	path := writeConfig(t, `
disable = ["ipv6"]
allow = ["10.1.1.1"]
allow_paths = ["/v1/files"]

[[rule]]
kind = "customer-id"
regex = 'CUST-[0-9]{8}'

[[literal]]
kind = "codename"
values = ["project-falcon", "project-heron"]
`)
	c, err := LoadConfig(path, true)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"/v1/files"}; !reflect.DeepEqual(c.AllowPaths, want) {
		t.Errorf("allow_paths = %q, want %q", c.AllowPaths, want)
	}
	want := &mask.Options{
		Disable:  []string{"ipv6"},
		Allow:    []string{"10.1.1.1"},
		Rules:    []mask.UserRule{{Kind: "customer-id", Regex: `CUST-[0-9]{8}`}},
		Literals: []mask.LiteralList{{Kind: "codename", Values: []string{"project-falcon", "project-heron"}}},
	}
	if got := c.MaskOptions(); !reflect.DeepEqual(got, want) {
		t.Errorf("mask options = %+v, want %+v", got, want)
	}
	if _, err := mask.New([]byte("s"), mask.NewMemoryMappings(), c.MaskOptions()); err != nil {
		t.Errorf("the options of a good file do not compile: %v", err)
	}
}

func TestConfigFileRefusesWhatItDoesNotKnow(t *testing.T) {
	for _, c := range []struct {
		name, text, want string
	}{
		{"top-level key", `disabled = ["ipv6"]`, `unknown setting "disabled"`},
		{"key in a rule", "[[rule]]\nkind = \"x\"\npattern = \"y\"", `unknown setting "rule.pattern"`},
		{"not TOML", `disable = [`, "config: "},
		{"wrong type", `allow_paths = "/v1/files"`, "config: "},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := LoadConfig(writeConfig(t, c.text), false)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want one containing %q", err, c.want)
			}
		})
	}
}

func TestConfigFileMissingIsEmptyUnlessAskedFor(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.toml")
	c, err := LoadConfig(path, false)
	if err != nil {
		t.Fatalf("a missing default file: %v", err)
	}
	if !reflect.DeepEqual(c, &Config{}) {
		t.Errorf("a missing default file gave %+v", c)
	}
	if _, err := LoadConfig(path, true); err == nil || !strings.HasPrefix(err.Error(), "failed to read config") {
		t.Errorf("a missing --config file: %v", err)
	}
}
