package main

import (
	"path/filepath"

	"github.com/claude-secure/claude-secure/internal/userstate"
	"github.com/claude-secure/claude-secure/mask"
)

// configFile reads --config, else config.toml in the state directory when
// there is one (see userstate.Config for what it holds).
func (f *factory) configFile() (*userstate.Config, error) {
	if f.configPath != "" {
		return userstate.LoadConfig(f.configPath, true)
	}
	dir, err := f.stateDir()
	if err != nil {
		return nil, err
	}
	return userstate.LoadConfig(filepath.Join(dir, userstate.ConfigFile), false)
}

// config is the configuration's masking settings, for commands that need
// no more of it.
func (f *factory) config() (*mask.Options, error) {
	c, err := f.configFile()
	if err != nil {
		return nil, err
	}
	return c.MaskOptions(), nil
}
