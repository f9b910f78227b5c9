package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/BurntSushi/toml"
	"github.com/claude-secure/claude-secure/mask"
)

// configFile is the user's configuration file (config.toml in the state
// directory, or --config):
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
type configFile struct {
	// AllowPaths are API paths (besides the Messages API) whose request
	// bodies the proxy may forward, with every string masked.
	AllowPaths []string `toml:"allow_paths"`
	// InterceptHosts are more hosts network mode intercepts and masks
	// (they speak the Anthropic API over HTTPS), besides the model
	// endpoints.
	InterceptHosts []string      `toml:"intercept_hosts"`
	Disable        []string      `toml:"disable"`
	Allow          []string      `toml:"allow"`
	Rule           []configRule  `toml:"rule"`
	Literal        []configNames `toml:"literal"`
}

type configRule struct {
	Kind  string `toml:"kind"`
	Regex string `toml:"regex"`
}

type configNames struct {
	Kind   string   `toml:"kind"`
	Values []string `toml:"values"`
}

// loadConfig reads a configuration file. A missing file is an empty
// configuration unless required is set; a setting it does not know is
// refused, so that a misspelt one does not go unnoticed.
func loadConfig(path string, required bool) (*configFile, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) && !required {
		return &configFile{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("failed to read config: %w", err)
	}
	var c configFile
	md, err := toml.Decode(string(data), &c)
	if err != nil {
		return nil, fmt.Errorf("config: %s: %w", path, err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		return nil, fmt.Errorf("config: %s: unknown setting %q", path, und[0].String())
	}
	return &c, nil
}

// maskOptions are the file's masking settings; mask.New checks them.
func (c *configFile) maskOptions() *mask.Options {
	o := &mask.Options{Disable: c.Disable, Allow: c.Allow}
	for _, r := range c.Rule {
		o.Rules = append(o.Rules, mask.UserRule{Kind: r.Kind, Regex: r.Regex})
	}
	for _, l := range c.Literal {
		o.Literals = append(o.Literals, mask.LiteralList{Kind: l.Kind, Values: l.Values})
	}
	return o
}

// configFile reads --config, else config.toml in the state directory when
// there is one.
func (f *factory) configFile() (*configFile, error) {
	if f.configPath != "" {
		return loadConfig(f.configPath, true)
	}
	dir, err := f.stateDir()
	if err != nil {
		return nil, err
	}
	return loadConfig(filepath.Join(dir, "config.toml"), false)
}

// config is the configuration's masking settings, for commands that need
// no more of it.
func (f *factory) config() (*mask.Options, error) {
	c, err := f.configFile()
	if err != nil {
		return nil, err
	}
	return c.maskOptions(), nil
}
