package main

import (
	"encoding/json"
	"fmt"
	"net/url"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/claude-secure/claude-secure/mask"
)

// SARIF 2.1.0, the part of it code scanning reads.
type sarifLog struct {
	Schema  string     `json:"$schema"`
	Version string     `json:"version"`
	Runs    []sarifRun `json:"runs"`
}

type sarifRun struct {
	Tool               sarifTool                   `json:"tool"`
	Invocations        []sarifInvocation           `json:"invocations"`
	OriginalURIBaseIDs map[string]sarifArtifactLoc `json:"originalUriBaseIds,omitempty"`
	ColumnKind         string                      `json:"columnKind"`
	Results            []sarifResult               `json:"results"`
}

type sarifTool struct {
	Driver sarifDriver `json:"driver"`
}

type sarifDriver struct {
	Name           string      `json:"name"`
	Version        string      `json:"version"`
	InformationURI string      `json:"informationUri"`
	Rules          []sarifRule `json:"rules"`
}

type sarifRule struct {
	ID                   string       `json:"id"`
	ShortDescription     sarifMessage `json:"shortDescription"`
	Help                 sarifMessage `json:"help"`
	DefaultConfiguration struct {
		Level string `json:"level"`
	} `json:"defaultConfiguration"`
}

type sarifMessage struct {
	Text string `json:"text"`
}

type sarifInvocation struct {
	ExecutionSuccessful bool                `json:"executionSuccessful"`
	Notifications       []sarifNotification `json:"toolExecutionNotifications"`
}

type sarifNotification struct {
	Level     string          `json:"level"`
	Message   sarifMessage    `json:"message"`
	Locations []sarifLocation `json:"locations,omitempty"`
}

type sarifResult struct {
	RuleID     string          `json:"ruleId"`
	RuleIndex  int             `json:"ruleIndex"`
	Level      string          `json:"level"`
	Message    sarifMessage    `json:"message"`
	Locations  []sarifLocation `json:"locations"`
	Properties struct {
		Rule string `json:"rule"` // the detector, or the configuration's rule
	} `json:"properties"`
}

type sarifLocation struct {
	PhysicalLocation sarifPhysical `json:"physicalLocation"`
}

type sarifPhysical struct {
	ArtifactLocation sarifArtifactLoc `json:"artifactLocation"`
	Region           *sarifRegion     `json:"region,omitempty"`
}

type sarifArtifactLoc struct {
	URI       string `json:"uri"`
	URIBaseID string `json:"uriBaseId,omitempty"`
}

type sarifRegion struct {
	StartLine   int `json:"startLine"`
	StartColumn int `json:"startColumn"`
	EndLine     int `json:"endLine,omitempty"`
	EndColumn   int `json:"endColumn"`
}

const srcRootID = "%SRCROOT%"

// writeSARIF writes the findings as a SARIF log: one rule per kind (every
// built-in one, and the configuration's kinds that were found), one result
// per finding, naming its kind and never its value. Read errors are the
// invocation's notifications, and make it unsuccessful.
func (j *scanJob) writeSARIF() error {
	v, _, _ := versionInfo()
	var rules []sarifRule
	index := map[string]int{}
	addRule := func(kind, desc string) {
		if _, ok := index[kind]; ok {
			return
		}
		r := sarifRule{ID: kind, ShortDescription: sarifMessage{desc},
			Help: sarifMessage{fmt.Sprintf("Kind %s: %s. claude-secure would mask this value. Keep it out of the repository, "+
				"and share text that holds it through claude-secure mask, which replaces it with a pseudonym.", kind, desc)}}
		r.DefaultConfiguration.Level = "error"
		index[kind] = len(rules)
		rules = append(rules, r)
	}
	for _, r := range mask.Rules() {
		addRule(r.Kind.String(), r.Description)
	}
	var extra []string
	for _, f := range j.findings {
		if _, ok := index[f.Kind]; !ok {
			extra = append(extra, f.Kind)
		}
	}
	sort.Strings(extra)
	for _, k := range extra {
		addRule(k, j.describe(k))
	}

	run := sarifRun{
		Tool: sarifTool{Driver: sarifDriver{Name: "claude-secure", Version: v,
			InformationURI: "https://github.com/claude-secure/claude-secure", Rules: rules}},
		ColumnKind: "unicodeCodePoints",
		Results:    []sarifResult{},
	}
	if j.srcRoot != "" {
		run.OriginalURIBaseIDs = map[string]sarifArtifactLoc{srcRootID: {URI: fileURI(j.srcRoot, true)}}
	}
	inv := sarifInvocation{ExecutionSuccessful: len(j.errs) == 0, Notifications: []sarifNotification{}}
	for _, e := range j.errs {
		inv.Notifications = append(inv.Notifications, sarifNotification{
			Level:     "error",
			Message:   sarifMessage{fmt.Sprintf("cannot read %s: %s", e.Path, e.Error)},
			Locations: []sarifLocation{{PhysicalLocation: sarifPhysical{ArtifactLocation: j.artifactLoc(e.Path)}}},
		})
	}
	run.Invocations = []sarifInvocation{inv}
	for _, f := range j.findings {
		res := sarifResult{
			RuleID: f.Kind, RuleIndex: index[f.Kind], Level: "error",
			Message: sarifMessage{fmt.Sprintf("%s (%s) found by %s; the value is not shown", f.Kind, f.Description, f.Rule)},
		}
		res.Properties.Rule = f.Rule
		reg := &sarifRegion{StartLine: f.Line, StartColumn: f.charColumn, EndColumn: f.charEndColumn}
		if f.endLine != f.Line {
			reg.EndLine = f.endLine
		}
		res.Locations = []sarifLocation{{PhysicalLocation: sarifPhysical{ArtifactLocation: j.artifactLoc(f.Path), Region: reg}}}
		run.Results = append(run.Results, res)
	}
	enc := json.NewEncoder(j.out)
	enc.SetIndent("", "  ")
	return enc.Encode(sarifLog{
		Schema:  "https://json.schemastore.org/sarif-2.1.0.json",
		Version: "2.1.0",
		Runs:    []sarifRun{run},
	})
}

// sarifRoot is where SARIF's URIs start when the scan runs in cwd: the top
// of the git work tree cwd is in (code scanning resolves URIs against the
// repository's root), and cwd's path under it; outside git, or when git
// cannot say, cwd itself.
func sarifRoot(cwd string) (root, prefix string) {
	out, err := gitOutput("", "rev-parse", "--show-toplevel", "--show-prefix")
	if err != nil {
		return cwd, ""
	}
	f := strings.Split(string(out), "\n")
	if len(f) != 3 || f[0] == "" || f[2] != "" {
		return cwd, "" // a name with a newline: not worth guessing
	}
	return filepath.FromSlash(f[0]), strings.TrimSuffix(f[1], "/")
}

// artifactLoc is a path as SARIF wants it: a URI reference relative to the
// source root, or, for a file outside it, an absolute file URI.
func (j *scanJob) artifactLoc(p string) sarifArtifactLoc {
	if p == "-" {
		return sarifArtifactLoc{URI: "-"} // standard input
	}
	var rel string
	if filepath.IsAbs(p) {
		r, err := filepath.Rel(j.srcRoot, p)
		if err != nil {
			return sarifArtifactLoc{URI: fileURI(p, false)}
		}
		rel = filepath.ToSlash(r)
	} else {
		rel = path.Join(j.srcPrefix, filepath.ToSlash(p))
	}
	if rel == ".." || strings.HasPrefix(rel, "../") {
		abs := p
		if !filepath.IsAbs(abs) {
			abs = filepath.Join(j.cwd, p)
		}
		return sarifArtifactLoc{URI: fileURI(abs, false)}
	}
	u := &url.URL{Path: rel}
	return sarifArtifactLoc{URI: u.String(), URIBaseID: srcRootID}
}

func fileURI(p string, dir bool) string {
	s := filepath.ToSlash(p)
	if !strings.HasPrefix(s, "/") {
		s = "/" + s // C:/x on Windows
	}
	if dir && !strings.HasSuffix(s, "/") {
		s += "/"
	}
	return (&url.URL{Scheme: "file", Path: s}).String()
}
