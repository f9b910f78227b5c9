package userstate

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/BurntSushi/toml"
	"github.com/claude-secure/claude-secure/mask"
)

// Config is the user's configuration file (config.toml in the state
// directory, or the command's --config):
//
//	disable     = ["ipv6"]                 # detectors switched off, by kind
//	allow       = ["public-assets-bucket"] # values never masked
//	allow_paths = ["/v1/files"]            # extra API paths whose bodies may be forwarded
//	intercept_hosts = ["llm.internal"]     # more hosts run --network and proxy mask
//
//	[[rule]]                               # extra detectors
//	kind  = "customer-id"
//	regex = 'CUST-[0-9]{8}'
//
//	[[literal]]                            # names always masked
//	kind   = "codename"
//	values = ["project-falcon"]
//
// The masking settings go to [mask.New]; allow_paths goes to the proxy and
// the gateway.
type Config struct {
	// AllowPaths are API paths (besides the Messages API) whose request
	// bodies the proxy may forward, with every string masked.
	AllowPaths []string `toml:"allow_paths"`
	// InterceptHosts are more hosts network mode intercepts and masks
	// (they speak the Anthropic API over HTTPS), besides the model
	// endpoints.
	InterceptHosts []string     `toml:"intercept_hosts"`
	Disable        []string     `toml:"disable"`
	Allow          []string     `toml:"allow"`
	Rule           []Rule       `toml:"rule"`
	Literal        []NamesEntry `toml:"literal"`
}

// Rule is a [[rule]] table: an extra detector.
type Rule struct {
	Kind  string `toml:"kind"`
	Regex string `toml:"regex"`
}

// NamesEntry is a [[literal]] table: names always masked.
type NamesEntry struct {
	Kind   string   `toml:"kind"`
	Values []string `toml:"values"`
}

// LoadConfig reads a configuration file. A missing file is an empty
// configuration unless required is set; a setting it does not know is
// refused, so that a misspelt one does not go unnoticed.
func LoadConfig(path string, required bool) (*Config, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) && !required {
		return &Config{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("failed to read config: %w", err)
	}
	var c Config
	md, err := toml.Decode(string(data), &c)
	if err != nil {
		return nil, fmt.Errorf("config: %s: %w", path, err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		return nil, fmt.Errorf("config: %s: unknown setting %q", path, und[0].String())
	}
	return &c, nil
}

// MaskOptions are the file's masking settings; mask.New checks them.
func (c *Config) MaskOptions() *mask.Options {
	o := &mask.Options{Disable: c.Disable, Allow: c.Allow}
	for _, r := range c.Rule {
		o.Rules = append(o.Rules, mask.UserRule{Kind: r.Kind, Regex: r.Regex})
	}
	for _, l := range c.Literal {
		o.Literals = append(o.Literals, mask.LiteralList{Kind: l.Kind, Values: l.Values})
	}
	return o
}
