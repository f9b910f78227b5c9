package main

import (
	"context"
	"io"
	"slices"
	"testing"

	"github.com/spf13/cobra"
)

// execParsed runs argv through the real root with cmd in place of the
// subcommand of the same name, so that persistent flags, "--" and flag
// errors behave as they do in the binary. cmd's runF records what was
// parsed instead of running anything.
func execParsed(t *testing.T, f *factory, cmd *cobra.Command, argv []string) error {
	t.Helper()
	root := newCmdRoot(f)
	for _, c := range root.Commands() {
		if c.Name() == cmd.Name() {
			root.RemoveCommand(c)
		}
	}
	root.AddCommand(cmd)
	root.SetArgs(argv)
	root.SetOut(io.Discard)
	root.SetErr(io.Discard)
	_, err := root.ExecuteContextC(context.Background())
	return err
}

func testFactory() *factory {
	return &factory{env: &env{Getenv: func(string) string { return "" }}}
}

func TestRunFlagsStopAtCMD(t *testing.T) {
	type parsed struct {
		upstream          string
		quiet             bool
		allowNonessential bool
		argv              []string
		config            string
	}
	for _, c := range []struct {
		name  string
		argv  []string
		want  parsed
		usage bool
	}{
		{name: "no CMD runs claude",
			argv: []string{"run"}, want: parsed{argv: []string{"claude"}}},
		{name: "a lone -- runs claude",
			argv: []string{"run", "--"}, want: parsed{argv: []string{"claude"}}},
		{name: "after -- everything is the child's",
			argv: []string{"run", "--", "claude", "--model", "opus"}, want: parsed{argv: []string{"claude", "--model", "opus"}}},
		{name: "after -- a flag of run is the child's",
			argv: []string{"run", "--", "-q"}, want: parsed{argv: []string{"-q"}}},
		{name: "flags of run before CMD",
			argv: []string{"run", "-q", "--upstream", "https://gateway.example.com", "python", "agent.py"},
			want: parsed{upstream: "https://gateway.example.com", quiet: true, argv: []string{"python", "agent.py"}}},
		{name: "flag=value form",
			argv: []string{"run", "--upstream=https://gateway.example.com", "--allow-nonessential-traffic", "--", "claude"},
			want: parsed{upstream: "https://gateway.example.com", allowNonessential: true, argv: []string{"claude"}}},
		{name: "flags after CMD are the child's, even run's own",
			argv: []string{"run", "claude", "-q", "--upstream", "https://other.example.com"},
			want: parsed{argv: []string{"claude", "-q", "--upstream", "https://other.example.com"}}},
		{name: "a -- after CMD is the child's",
			argv: []string{"run", "claude", "--", "-p"}, want: parsed{argv: []string{"claude", "--", "-p"}}},
		{name: "the root's --config before run is ours, after CMD the child's",
			argv: []string{"--config", "mine.toml", "run", "tool", "--config", "its.toml"},
			want: parsed{config: "mine.toml", argv: []string{"tool", "--config", "its.toml"}}},
		{name: "unknown flag before CMD",
			argv: []string{"run", "--bogus", "claude"}, usage: true},
		{name: "--upstream without its value",
			argv: []string{"run", "--upstream"}, usage: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := testFactory()
			var got *parsed
			cmd := newCmdRun(f, func(o *runOptions) error {
				got = &parsed{o.upstream, o.quiet, o.allowNonessential, o.argv, o.f.configPath}
				return nil
			})
			err := execParsed(t, f, cmd, c.argv)
			if c.usage {
				if code := report(io.Discard, err, ""); code != exitUsage {
					t.Errorf("exit %d (%v), want a usage error", code, err)
				}
				if got != nil {
					t.Error("run went ahead after a usage error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got == nil {
				t.Fatal("runF was not called")
			}
			if got.upstream != c.want.upstream || got.quiet != c.want.quiet ||
				got.allowNonessential != c.want.allowNonessential || got.config != c.want.config ||
				!slices.Equal(got.argv, c.want.argv) {
				t.Errorf("parsed %+v, want %+v", *got, c.want)
			}
		})
	}
}

func TestMaskAndUnmaskTakeOneFile(t *testing.T) {
	for _, c := range []struct {
		name   string
		argv   []string
		args   []string
		unmask bool
		usage  bool
	}{
		{name: "mask standard input", argv: []string{"mask"}, args: []string{}},
		{name: "mask - is standard input", argv: []string{"mask", "-"}, args: []string{"-"}},
		{name: "mask a file", argv: []string{"mask", "incident.log"}, args: []string{"incident.log"}},
		{name: "mask a file named like a flag", argv: []string{"mask", "--", "-notes.md"}, args: []string{"-notes.md"}},
		{name: "unmask standard input", argv: []string{"unmask"}, args: []string{}, unmask: true},
		{name: "unmask a file", argv: []string{"unmask", "answer.txt"}, args: []string{"answer.txt"}, unmask: true},
		{name: "mask two files", argv: []string{"mask", "a.log", "b.log"}, usage: true},
		{name: "unmask two files", argv: []string{"unmask", "a.txt", "b.txt"}, usage: true},
		{name: "mask an unknown flag", argv: []string{"mask", "--bogus"}, usage: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := testFactory()
			var got *maskOptions
			record := func(o *maskOptions) error { got = o; return nil }
			cmd := newCmdMask(f, record)
			if c.argv[0] == "unmask" {
				cmd = newCmdUnmask(f, record)
			}
			err := execParsed(t, f, cmd, c.argv)
			if c.usage {
				if code := report(io.Discard, err, ""); code != exitUsage {
					t.Errorf("exit %d (%v), want a usage error", code, err)
				}
				if got != nil {
					t.Errorf("%s went ahead after a usage error", c.argv[0])
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got == nil {
				t.Fatal("runF was not called")
			}
			if !slices.Equal(got.args, c.args) || got.unmask != c.unmask {
				t.Errorf("parsed args %q unmask %v, want %q unmask %v", got.args, got.unmask, c.args, c.unmask)
			}
		})
	}
}
