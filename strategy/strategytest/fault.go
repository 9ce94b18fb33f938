package strategytest

import (
	"context"
	"fmt"
	"slices"

	"github.com/safedeploy/safedeploy/internal/errlist"
)

// An Op names a method of the fleet that a Fault can break.
type Op string

// The methods a Fault can break.
const (
	OpInstances Op = "Instances" // strategy.Fleet's Instances
	OpStart     Op = "Start"     // strategy.Fleet's Start
	OpStop      Op = "Stop"      // strategy.Fleet's Stop
	OpRoute     Op = "Route"     // strategy.Router's Route
	OpSwitch    Op = "Switch"    // strategy.Switch's Switch
)

var ops = []Op{OpInstances, OpStart, OpStop, OpRoute, OpSwitch}

// A Fault makes some calls of one of the fleet's methods fail, hang or
// panic. Exactly one of Err, Hang and Panic says what happens to an affected
// call:
//
//   - Err: the call returns an error wrapping Err. A Start still creates its
//     instance and fails after the version's StartDelay, as a crashing
//     instance does; it returns the instance's ID, and the instance stays
//     listed, never ready, until stopped. Every other method changes nothing.
//   - Hang: the call blocks until its context ends, then returns an error
//     wrapping the context's cause. A Start creates its instance first: it
//     is an instance that never becomes ready. Every other method changes
//     nothing.
//   - Panic: the call panics with Panic before changing anything.
//
// The other fields choose the calls. A call is affected when it matches Op,
// Version and Back, and when After matching calls have come before it but
// not yet After+Times.
type Fault struct {
	// Op is the method to break.
	Op Op
	// Version, if set, limits the fault to calls about that version:
	// Start's version, the version of the instance Stop is asked to remove,
	// Route's canary, Switch's target. Instances has no version: a fault on
	// it must leave Version empty.
	Version string
	// Back limits a fault on Route or Switch to the calls that move traffic
	// back: a Route that lowers the canary's weight below what the router
	// holds, a Switch to the version that traffic was switched to before the
	// current one. Undoing a strategy makes such calls; deploying, from a
	// router or switch left as the last deployment left it, does not.
	Back bool
	// After is how many matching calls succeed before the fault affects any.
	After int
	// Times is how many matching calls the fault affects, from the first
	// after the After; zero means all of them.
	Times int

	// Err, if set, is the error affected calls return, wrapped.
	Err error
	// Hang makes affected calls block until their context ends.
	Hang bool
	// Panic, if not nil, is the value affected calls panic with.
	Panic any
}

// A fault is a Fault with its count of matching calls.
type fault struct {
	Fault
	seen int
}

// A call is what a fault is matched against.
type call struct {
	op      Op
	version string
	back    bool
}

// SetFaults replaces the fleet's faults with the given ones; SetFaults()
// removes them all. Each call to a method is matched against every fault, in
// the order given, and every fault it matches counts it; the first of them
// that affects it decides what happens.
//
// SetFaults returns one error naming every invalid field with its value, and
// then changes nothing.
func (f *Fleet) SetFaults(faults ...Fault) error {
	var errs []error
	for i, ft := range faults {
		errs = append(errs, ft.problems(fmt.Sprintf("faults[%d].", i))...)
	}
	if err := errlist.Join(errs...); err != nil {
		return fmt.Errorf("strategytest: SetFaults: %w", err)
	}
	fs := make([]fault, len(faults))
	for i, ft := range faults {
		fs[i] = fault{Fault: ft}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults = fs
	return nil
}

// problems returns what is wrong with ft, each naming its field with
// prefix.
func (ft Fault) problems(prefix string) []error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf(prefix+format, args...))
	}
	if !slices.Contains(ops, ft.Op) {
		bad("Op = %q: want one of %q", ft.Op, ops)
	}
	if ft.Op == OpInstances && ft.Version != "" {
		bad("Version = %q: Instances has no version; leave it empty", ft.Version)
	}
	if ft.Back && ft.Op != OpRoute && ft.Op != OpSwitch {
		bad("Back = true: only Route and Switch move traffic back, not %s", ft.Op)
	}
	if ft.After < 0 {
		bad("After = %d: must not be negative", ft.After)
	}
	if ft.Times < 0 {
		bad("Times = %d: must not be negative (zero means every call)", ft.Times)
	}
	n := 0
	for _, set := range []bool{ft.Err != nil, ft.Hang, ft.Panic != nil} {
		if set {
			n++
		}
	}
	if n != 1 {
		errs = append(errs, fmt.Errorf("%sErr = %v, %sHang = %t, %sPanic = %v: set exactly one", prefix, ft.Err, prefix, ft.Hang, prefix, ft.Panic))
	}
	return errs
}

// match counts c against every fault and returns the first that affects it,
// or nil.
func (f *Fleet) match(c call) *Fault {
	f.mu.Lock()
	defer f.mu.Unlock()
	var hit *Fault
	for i := range f.faults {
		ft := &f.faults[i]
		if ft.Op != c.op || ft.Version != "" && ft.Version != c.version || ft.Back && !c.back {
			continue
		}
		n := ft.seen
		ft.seen++
		if hit == nil && n >= ft.After && (ft.Times == 0 || n < ft.After+ft.Times) {
			h := ft.Fault
			hit = &h
		}
	}
	return hit
}

// inject carries out the fault that affects c, if any: it panics, blocks
// until ctx ends, or returns the fault's error. It returns nil when no fault
// affects c.
func (f *Fleet) inject(ctx context.Context, c call) error {
	ft := f.match(c)
	switch {
	case ft == nil:
		return nil
	case ft.Panic != nil:
		panic(ft.Panic)
	case ft.Hang:
		<-ctx.Done()
		return fmt.Errorf("hung until the context ended: %w", context.Cause(ctx))
	default:
		return ft.Err
	}
}
