package runbook

import "time"

// A Runbook is the page a team reads before and during a significant
// deployment: the template's eight fields, filled in from the plan.
type Runbook struct {
	Service     string `json:"service"`
	Version     string `json:"version"`
	Previous    string `json:"previous"`
	Environment string `json:"environment"`
	Strategy    string `json:"strategy"`

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
	Runbook  Runbook   `json:"runbook"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	// Outcome is how the run ended: "completed", "rolled back"…
	Outcome string `json:"outcome"`
	// Reason explains the outcome in one line.
	Reason  string  `json:"reason"`
	Entries []Entry `json:"entries"`
}

// An Entry is one event of a run.
type Entry struct {
	Time    time.Time `json:"time"`
	Phase   string    `json:"phase"`
	Kind    string    `json:"kind"`
	Step    string    `json:"step,omitempty"`
	Message string    `json:"message"`
	// Numbers are the measurements behind a verdict or decision.
	Numbers []Number `json:"numbers,omitempty"`
	// Error is the error the event reports, if any.
	Error string `json:"error,omitempty"`
}

// A Number is one measured figure compared against its limit.
type Number struct {
	Metric string `json:"metric"`
	// Unit is "rate" (a fraction, shown as a percentage) or "seconds".
	Unit      string    `json:"unit"`
	Value     float64   `json:"value"`
	Baseline  float64   `json:"baseline"`
	Threshold float64   `json:"threshold"`
	Requests  float64   `json:"requests"`
	Start     time.Time `json:"start"`
	End       time.Time `json:"end"`
	Failed    bool      `json:"failed"`
}
