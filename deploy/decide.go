package deploy

// An Action is one way of responding to a failed deployment. Its value is
// a short stable token; String gives the words for people.
type Action string

// The actions the decision table chooses from.
const (
	// FlagOff turns the plan's kill switch off: the fastest way back,
	// since the old code path returns without moving any instance.
	FlagOff Action = "flag_off"
	// RollBack undoes the strategy's steps, returning traffic and
	// instances to the previous version.
	RollBack Action = "roll_back"
	// RollForward leaves the new version in place: it has written data the
	// previous version cannot read, so the fix is a new version.
	RollForward Action = "roll_forward"
	// FixForward leaves the database as it is: a migration failed, and the
	// fix goes forward, since code was never changed.
	FixForward Action = "fix_forward"
)

// String returns the action in words: "turn the kill switch off"…; an
// unknown token is returned as it is.
func (a Action) String() string {
	switch a {
	case FlagOff:
		return "turn the kill switch off"
	case RollBack:
		return "roll back"
	case RollForward:
		return "roll forward"
	case FixForward:
		return "fix forward"
	}
	return string(a)
}

// A Failure describes what went wrong, as the decision table needs it.
type Failure struct {
	// Phase is where the deployment failed.
	Phase Phase
	// Refused reports that the deployment stopped before it asked the
	// target for any change (the strategy refused the target's state, say).
	Refused bool
	// Cancelled reports that the caller cancelled the deployment (SIGINT,
	// a deadline), rather than something in it failing.
	Cancelled bool
	// Aborted reports that an operator aborted the deployment.
	Aborted bool
	// Interrupted reports that the process running the deployment stopped
	// (it crashed, or lost its lease) and another holder took it over.
	Interrupted bool
	// FlagControlled reports that a kill switch turns the change off.
	FlagControlled bool
	// DataMutated reports that the new version has written data the
	// previous version cannot read.
	DataMutated bool
}

// A Decision is the decision table's answer: the actions to take, in order,
// and why.
type Decision struct {
	Actions []Action
	Reason  string
}

// Decide is the rollback-versus-roll-forward decision table:
//
//	failure                                   actions
//	before anything changed (pre-flight,      none
//	  refused, cancelled before a change)
//	a migration failed                        fix forward
//	data mutated, kill switch                 flag off, then roll forward
//	data mutated                              roll forward
//	kill switch                               flag off, then roll back
//	otherwise (a bug, no data mutated, or     roll back
//	  cancelled by the caller)
//
// The kill switch always goes first because it is fastest; rolling back
// after it returns the instances too, unless data written by the new
// version would be lost or misread by the old one. A deployment that
// changed nothing touches nothing on its way out: not even the kill
// switch, which another deployment may depend on.
func Decide(f Failure) Decision {
	why := "a bug and no data mutated"
	switch {
	case f.Cancelled:
		why = "cancelled by the caller, no data mutated"
	case f.Interrupted:
		why = "interrupted when the process running it stopped, and taken over; no data mutated"
	case f.Aborted:
		why = "aborted by an operator, no data mutated"
	}
	switch {
	case f.Phase == PhasePreflight:
		return Decision{Reason: "nothing changed: pre-flight stopped the deployment before it started"}
	case f.Phase == PhaseDatabase:
		return Decision{Actions: []Action{FixForward}, Reason: "a migration failed before any code changed: fix it forward (a migration that ran in a transaction left nothing behind: fix its file; one outside a transaction may have run in part: make its file safe to run again, or finish it by hand); the running code is untouched"}
	case f.Refused && f.Cancelled:
		return Decision{Reason: "cancelled by the caller before anything changed: nothing to undo"}
	case f.Refused:
		return Decision{Reason: "refused before anything changed: nothing to undo"}
	case f.DataMutated && f.FlagControlled:
		return Decision{Actions: []Action{FlagOff, RollForward}, Reason: "the new version has written data the previous one cannot read: turn the change off with its kill switch and roll forward with a fix; rolling back would lose or misread that data"}
	case f.DataMutated:
		return Decision{Actions: []Action{RollForward}, Reason: "the new version has written data the previous one cannot read: roll forward with a fix; rolling back would lose or misread that data"}
	case f.FlagControlled:
		return Decision{Actions: []Action{FlagOff, RollBack}, Reason: why + " and a kill switch controls the change: turn it off at once, then roll back"}
	default:
		return Decision{Actions: []Action{RollBack}, Reason: why + ": roll back to the previous version"}
	}
}
