package logs

import "github.com/safedeploy/safedeploy/verify"

// The types a Source answers with, and the Source itself, are aliases of
// verify's: a Source is a verify.LogSource, so that a deployment plan
// (deploy.Plan.Logs) takes any of them without package verify importing
// this one. They are documented there.
type (
	// A Pattern is one template's lines from one version over one window
	// (verify.LogPattern).
	Pattern = verify.LogPattern
	// An Observation is what a Source saw of one version's logs over one
	// window (verify.LogObservation).
	Observation = verify.LogObservation
	// A Source reports the templates of one version's log lines over a
	// window (verify.LogSource). It returns an error wrapping
	// verify.ErrNoData when it has nothing for that version and window,
	// any other error when it could not tell, and keeps template IDs
	// consistent across calls.
	Source = verify.LogSource
	// SourceFunc turns a function into a Source (verify.LogSourceFunc).
	SourceFunc = verify.LogSourceFunc
)
