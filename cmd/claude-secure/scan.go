package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/claude-secure/claude-secure/mask"
	"github.com/spf13/cobra"
)

type scanOptions struct {
	f    *factory
	args []string
	json bool
}

func newCmdScan(f *factory, runF func(*scanOptions) error) *cobra.Command {
	opts := &scanOptions{f: f}
	cmd := &cobra.Command{
		Use:   "scan [FILE]",
		Short: "Report what would be masked, without the values",
		Long: `Report what mask would replace in FILE (or standard input): the kind and the
line:column of each identifier, and counts per kind. Values are never printed.

Exits 0 when nothing is found, 1 when anything is found, so it can guard
commits and CI jobs, and 2 when the input cannot be read (an error is never
taken for a finding, nor for a clean result).`,
		Example: `  claude-secure scan notes.md
  git diff | claude-secure scan --json`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.args = args
			if runF != nil {
				return runF(opts)
			}
			err := scanRun(opts)
			var se *silentExit
			if err != nil && !errors.As(err, &se) {
				return &codeError{code: exitUsage, err: err}
			}
			return err
		},
	}
	cmd.Flags().BoolVar(&opts.json, "json", false, "print one JSON document for machines")
	return cmd
}

type scanFinding struct {
	Line   int    `json:"line"`
	Column int    `json:"column"`
	Length int    `json:"length"`
	Kind   string `json:"kind"`
}

func scanRun(opts *scanOptions) error {
	f := opts.f
	in, done, err := f.input(opts.args)
	if err != nil {
		return err
	}
	defer done()
	cfg, err := f.config()
	if err != nil {
		return err
	}
	// scanning needs no store: detection never depends on what was issued
	e, err := mask.New(make([]byte, 32), mask.NewMemoryMappings(), cfg)
	if err != nil {
		return err
	}
	name := "-"
	if len(opts.args) == 1 {
		name = opts.args[0]
	}
	counts := map[string]int{}
	var findings []scanFinding
	w := bufio.NewWriter(f.Out)
	s := e.NewScanner(func(fd mask.Finding) {
		counts[fd.Kind]++
		sf := scanFinding{Line: fd.Line, Column: fd.Column, Length: fd.Length, Kind: fd.Kind}
		if opts.json {
			findings = append(findings, sf)
			return
		}
		fmt.Fprintf(w, "%s:%d:%d: %s\n", name, sf.Line, sf.Column, sf.Kind)
	})
	if err := s.Copy(nil, in); err != nil {
		return err
	}
	total := 0
	kinds := make([]string, 0, len(counts))
	for k, n := range counts {
		kinds = append(kinds, k)
		total += n
	}
	sort.Strings(kinds)
	if opts.json {
		if findings == nil {
			findings = []scanFinding{}
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if err := enc.Encode(map[string]any{"file": name, "total": total, "counts": counts, "findings": findings}); err != nil {
			return err
		}
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if !opts.json {
		if total == 0 {
			fmt.Fprintln(f.Err, "claude-secure: nothing to mask")
		} else {
			parts := make([]string, len(kinds))
			for i, k := range kinds {
				parts[i] = fmt.Sprintf("%d %s", counts[k], k)
			}
			fmt.Fprintf(f.Err, "claude-secure: %d to mask: %s\n", total, strings.Join(parts, ", "))
		}
	}
	if total > 0 {
		return &silentExit{code: exitError}
	}
	return nil
}
