package main

import (
	"bufio"

	"github.com/claude-secure/claude-secure/mask"
	"github.com/spf13/cobra"
)

type maskOptions struct {
	f      *factory
	args   []string
	unmask bool
}

func newCmdMask(f *factory, runF func(*maskOptions) error) *cobra.Command {
	return newMaskCommand(&maskOptions{f: f}, runF, "mask [FILE]",
		"Write a masked copy of FILE (or standard input) to standard output",
		`Write a masked copy of FILE (or standard input) to standard output.

Every identifier is replaced by its pseudonym, and so is every value the store
has learned, wherever it stands as a whole token; pseudonyms already in the text
and everything else are copied as is.
The same original always gets the same pseudonym, in every process and on every day.`,
		`  claude-secure mask incident.log > safe.log
  aws ec2 describe-instances | claude-secure mask | pbcopy`)
}

func newCmdUnmask(f *factory, runF func(*maskOptions) error) *cobra.Command {
	return newMaskCommand(&maskOptions{f: f, unmask: true}, runF, "unmask [FILE]",
		"Restore the originals in FILE (or standard input)",
		`Restore the originals in FILE (or standard input) and write the result to standard output.

Only pseudonyms this store issued are restored; anything else is copied as is.`,
		`  claude-secure unmask answer.txt
  pbpaste | claude-secure unmask > fix.sh`)
}

func newMaskCommand(opts *maskOptions, runF func(*maskOptions) error, use, short, long, example string) *cobra.Command {
	return &cobra.Command{
		Use:     use,
		Short:   short,
		Long:    long,
		Example: example,
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.args = args
			if runF != nil {
				return runF(opts)
			}
			return maskRun(opts)
		},
	}
}

func maskRun(opts *maskOptions) error {
	f := opts.f
	in, done, err := f.input(opts.args)
	if err != nil {
		return err
	}
	defer done()
	sess, err := f.session()
	if err != nil {
		return err
	}
	e := sess.engine
	var s *mask.Stream
	if opts.unmask {
		s = e.NewUnmasker(e.RestoreAll(), nil)
	} else {
		s = e.NewMasker(nil)
	}
	w := bufio.NewWriterSize(f.Out, 256<<10)
	if err := s.Copy(w, in); err != nil {
		w.Flush()
		return err
	}
	return w.Flush()
}
