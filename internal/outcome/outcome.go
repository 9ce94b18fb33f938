// Package outcome reads the outcome of a run as a runbook.Record or an
// outcome event names it, in either of its spellings: the stable tokens
// ("rolled_back") and the prose the executor wrote before them ("rolled
// back"). The report, the notifiers and the progress line all go through
// it, so that each accepts both.
package outcome

import "strings"

// An Outcome is the stable token for how a run ended, or Unknown.
type Outcome string

// The outcomes of a run.
const (
	Completed           Outcome = "completed"
	Aborted             Outcome = "aborted"
	RolledBack          Outcome = "rolled_back"
	RollForwardRequired Outcome = "roll_forward_required"
	FixForwardRequired  Outcome = "fix_forward_required"
	RollbackFailed      Outcome = "rollback_failed"
	Incomplete          Outcome = "incomplete"
	Superseded          Outcome = "superseded"
	// Running: the record has no outcome yet.
	Running Outcome = "running"
	// Unknown: an outcome this package does not know; Label returns it
	// as written.
	Unknown Outcome = "unknown"
)

// all lists the outcomes with their labels and prose spellings, the
// longest prose first so that Prefix matches "rolled back" before nothing.
var all = []struct {
	o     Outcome
	label string
	prose string
	tone  string
}{
	{Completed, "Completed", "completed", "good"},
	{Aborted, "Aborted", "aborted", "neutral"},
	{RolledBack, "Rolled back", "rolled back", "bad"},
	{RollForwardRequired, "Roll forward required", "roll forward required", "bad"},
	{FixForwardRequired, "Fix forward required", "fix forward required", "bad"},
	{RollbackFailed, "Rollback failed", "rollback failed", "critical"},
	{Incomplete, "Deployed, clean-up incomplete", "deployed, clean-up incomplete", "warn"},
	{Superseded, "Superseded: another holder finishes it", "superseded", "warn"},
}

// Parse returns the outcome s names, as a token ("rolled_back",
// "Rolled-Back") or as prose ("rolled back"); Running for an empty s and
// Unknown for anything else.
func Parse(s string) Outcome {
	s = strings.TrimSpace(s)
	if s == "" {
		return Running
	}
	key := normalize(s)
	for _, a := range all {
		if key == string(a.o) || key == normalize(a.prose) {
			return a.o
		}
	}
	if key == "deployed_clean_up_incomplete" || key == "deployed_cleanup_incomplete" {
		return Incomplete
	}
	return Unknown
}

// Prefix returns the outcome an outcome event's message starts with
// ("rolled back: a bug…"), and the rest of the message after ": ". It
// returns Unknown and msg when the message names no known outcome.
func Prefix(msg string) (Outcome, string) {
	head, rest, ok := strings.Cut(msg, ": ")
	if !ok {
		head, rest = msg, ""
	}
	if o := Parse(head); o != Unknown && o != Running {
		return o, rest
	}
	return Unknown, msg
}

// normalize lowercases s and turns runs of spaces, hyphens and commas into
// one underscore.
func normalize(s string) string {
	var b strings.Builder
	sep := false
	for _, r := range strings.ToLower(s) {
		if r == ' ' || r == '-' || r == ',' || r == '_' {
			sep = true
			continue
		}
		if sep && b.Len() > 0 {
			b.WriteByte('_')
		}
		sep = false
		b.WriteRune(r)
	}
	return b.String()
}

// Label returns the outcome for people: "Rolled back". raw is what the
// record said, returned as written for Unknown.
func (o Outcome) Label(raw string) string {
	for _, a := range all {
		if a.o == o {
			return a.label
		}
	}
	if o == Running {
		return "Running"
	}
	return raw
}

// Tone says how the outcome reads at a glance: "good", "warn", "bad",
// "critical" or "neutral" (also for Running and Unknown).
func (o Outcome) Tone() string {
	for _, a := range all {
		if a.o == o {
			return a.tone
		}
	}
	return "neutral"
}
