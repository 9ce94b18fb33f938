package runbook

import (
	"log/slog"
	"time"
)

// A Runbook is the page a team reads before and during a significant
// deployment: the template's eight fields, filled in from the plan, and the
// change they describe.
//
// A Runbook encodes to JSON with the field names in its struct tags;
// RollbackTime is written as a Go duration string such as "2m0s".
type Runbook struct {
	// Service names what is deployed.
	Service string `json:"service"`
	// Version is the version being deployed.
	Version string `json:"version"`
	// Previous is the version serving before the deployment, the one a
	// rollback returns to.
	Previous string `json:"previous"`
	// Environment is where the deployment happens: "staging", "production"…
	Environment string `json:"environment"`
	// Strategy names how the new version is rolled out: "direct",
	// "rolling", "blue/green", "canary".
	Strategy string `json:"strategy"`

	// Date is when the deployment is planned to start.
	Date time.Time `json:"date"`
	// Engineer is the person responsible for the deployment.
	Engineer string `json:"engineer"`
	// Changes says what changes.
	Changes string `json:"changes"`
	// Why says why it changes.
	Why string `json:"why"`
	// Expected describes the behaviour users and operators should see.
	Expected string `json:"expected"`
	// Verify lists how the deployment is verified: rules, windows, probes.
	Verify []string `json:"verify"`
	// Rollback lists the rollback plan, in the order it would be carried out.
	Rollback []string `json:"rollback"`
	// RollbackTime estimates how long rolling back takes.
	RollbackTime time.Duration `json:"rollback_time"`
}

// A Record is what happened during one run of a deployment: the runbook it
// followed, every event with its time, and how it ended.
type Record struct {
	// Schema is the version of the record's JSON form; JSON writes
	// SchemaVersion, and ParseRecord refuses a newer one.
	Schema int `json:"schema"`
	// Runbook is the runbook the run followed.
	Runbook Runbook `json:"runbook"`
	// Started and Finished bound the run; Finished is zero while it runs.
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	// Outcome is how the run ended, as a short token that stays the same
	// across releases: "completed", "aborted", "rolled_back"… (the deploy
	// package's Outcome values).
	Outcome string `json:"outcome"`
	// Reason explains the outcome in one line.
	Reason string `json:"reason"`
	// RollbackSeconds is how long the way back took, measured from the
	// decision to roll back to the end of the last action; zero when
	// nothing was rolled back.
	RollbackSeconds float64 `json:"rollback_seconds,omitempty"`
	// Entries are the run's events, in the order they happened.
	Entries []Entry `json:"entries"`
}

// SchemaVersion is the version of Record's JSON form this package writes.
// Version 1 stores outcomes as tokens ("rolled_back"); records without a
// schema field came before it and stored them as words ("rolled back").
const SchemaVersion = 1

// An Entry is one event of a run.
type Entry struct {
	// Time is when the event happened.
	Time time.Time `json:"time"`
	// Phase is the part of the run the event belongs to. The deploy
	// executor's phases are "preflight", "database", "deploy", "verify" and
	// "decide", which covers completing as well as rolling back.
	Phase string `json:"phase"`
	// Kind says what sort of event it is within its phase.
	Kind string `json:"kind"`
	// Step names the strategy step the event belongs to, if any.
	Step string `json:"step,omitempty"`
	// Weight and WindowSeconds are, for a step entry, the step's traffic on
	// the new version in percent and its observation window.
	Weight        float64 `json:"weight,omitempty"`
	WindowSeconds float64 `json:"window_seconds,omitempty"`
	// Outcome is, for the run's outcome entry, how the run ended (the
	// Record's Outcome token).
	Outcome string `json:"outcome,omitempty"`
	// Message describes the event in one line.
	Message string `json:"message"`
	// Numbers are the measurements behind a verdict or decision.
	Numbers []Number `json:"numbers,omitempty"`
	// Patterns are the new error patterns found in the new version's logs
	// that the entry reports (a "pattern" entry) or that stood behind its
	// verdict.
	Patterns []Pattern `json:"patterns,omitempty"`
	// Error is the error the event reports, if any.
	Error string `json:"error,omitempty"`
}

// A Number is one measured figure compared against its limit. Its fields
// are verify.Measurement's, in the same order, so that the deploy package
// converts one into the other directly and the compiler guards the two
// against drifting apart.
type Number struct {
	// Metric names what was measured: "error-rate", "latency-p95"…
	Metric string `json:"metric"`
	// Unit is UnitRate or UnitSeconds.
	Unit string `json:"unit"`
	// Above is, for a latency metric, the bound in seconds: the rates count
	// requests slower than it.
	Above float64 `json:"above,omitempty"`
	// Against says what Value was compared with: "control" (the old
	// version serving at the same time), "baseline" (the pre-deploy
	// reading), "control+baseline", or "floor" (the error-rate floor).
	Against string `json:"against,omitempty"`
	// Value is the new version's figure.
	Value float64 `json:"value"`
	// Baseline is the figure Value is compared with (see Against).
	Baseline float64 `json:"baseline"`
	// Threshold is the limit Value must not cross.
	Threshold float64 `json:"threshold"`
	// Requests is how many requests Value is based on.
	Requests float64 `json:"requests"`
	// Start and End bound the window the figures cover.
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	// Failed reports whether Value crossed Threshold.
	Failed bool `json:"failed"`
	// Ratio estimates Value over Baseline, with its confidence interval
	// [Lower, Upper]; Limit is the largest ratio allowed. Zero when the
	// judge does not estimate ratios.
	Ratio float64 `json:"ratio,omitempty"`
	Lower float64 `json:"lower,omitempty"`
	Upper float64 `json:"upper,omitempty"`
	Limit float64 `json:"limit,omitempty"`
	// Evidence is the e-value that the limit is crossed; the metric fails
	// when it reaches EvidenceBar. Zero when the judge does not weigh
	// evidence.
	Evidence    float64 `json:"evidence,omitempty"`
	EvidenceBar float64 `json:"evidence_bar,omitempty"`
}

// A Pattern is a new error pattern found in the new version's logs: a
// template of its warning or error lines that the old version did not log,
// or at a much lower rate. Its fields are verify.PatternFinding's, in the
// same order, so that the deploy package converts one into the other
// directly.
type Pattern struct {
	// ID identifies the template within its log source; Template is its
	// text, variables as "<*>".
	ID       string `json:"id"`
	Template string `json:"template"`
	// Level is the highest level of its lines ("WARN", "ERROR", "ERROR+4"
	// for fatal).
	Level slog.Level `json:"level"`
	// Example is one of the new version's lines of it, as written.
	Example string `json:"example"`
	// NewCount and OldCount are its lines from the new version and from
	// the old one (alongside, or over the baseline window), over
	// NewExposure and OldExposure requests.
	NewCount    float64 `json:"new_count"`
	OldCount    float64 `json:"old_count"`
	NewExposure float64 `json:"new_exposure"`
	OldExposure float64 `json:"old_exposure"`
	// FirstSeen is when the new version first logged it; Found is when the
	// evidence sufficed.
	FirstSeen time.Time `json:"first_seen"`
	Found     time.Time `json:"found"`
	// Evidence is the e-value that it is new; it reached EvidenceBar.
	Evidence    float64 `json:"evidence"`
	EvidenceBar float64 `json:"evidence_bar"`
}

// Units of a Number.
const (
	// UnitRate is a fraction in [0, 1], shown as a percentage.
	UnitRate = "rate"
	// UnitSeconds is a time in seconds, shown as a duration.
	UnitSeconds = "seconds"
)
