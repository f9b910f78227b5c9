package main

import (
	"fmt"
	"io"

	"github.com/charmbracelet/lipgloss"
	"github.com/claude-secure/claude-secure/proxy"
	"github.com/muesli/termenv"
)

// ui draws the two lines run prints: one before the child starts, one after
// it exits. Nothing is drawn while the child owns the terminal. Colours
// follow the terminal (plain text for pipes, files and NO_COLOR).
type ui struct {
	w      io.Writer
	accent lipgloss.Style
	dim    lipgloss.Style
	warn   lipgloss.Style
}

func newUI(w io.Writer, getenv func(string) string) *ui {
	r := lipgloss.NewRenderer(w)
	if getenv("NO_COLOR") != "" {
		r.SetColorProfile(termenv.Ascii)
	}
	return &ui{
		w:      w,
		accent: r.NewStyle().Foreground(lipgloss.Color("6")).Bold(true),
		dim:    r.NewStyle().Faint(true),
		warn:   r.NewStyle().Foreground(lipgloss.Color("3")),
	}
}

func (u *ui) banner(addr, upstream, store, keySource string) {
	fmt.Fprintf(u.w, "%s masking proxy on %s %s %s %s\n",
		u.accent.Render("claude-secure ▸"), addr, u.dim.Render("→"), upstream,
		u.dim.Render(fmt.Sprintf("· store %s · key in %s", store, keySource)))
}

func (u *ui) summary(s proxy.Snapshot) {
	masked, nMasked := sortedCounts(s.Masked)
	_, nRestored := sortedCounts(s.Unmasked)
	line := fmt.Sprintf("%d requests · %d identifiers masked", s.Requests, nMasked)
	if nMasked > 0 {
		line += " (" + masked + ")"
	}
	line += fmt.Sprintf(" · %d values restored", nRestored)
	errs := ""
	if s.Errors+s.Refused > 0 {
		errs = u.warn.Render(fmt.Sprintf(" · %d refused or failed", s.Errors+s.Refused))
	}
	fmt.Fprintf(u.w, "%s %s%s\n", u.accent.Render("claude-secure ▸"), line, errs)
}

// note prints a line of its own about the session, in the warning colour.
func (u *ui) note(msg string) {
	fmt.Fprintf(u.w, "%s %s\n", u.accent.Render("claude-secure ▸"), u.warn.Render(msg))
}
