package strategytest

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"

	"github.com/safedeploy/safedeploy/internal/kit"
	"github.com/safedeploy/safedeploy/strategy"
)

// Run tests a strategy.Fleet implementation against the contract the
// strategies rely on, as a set of subtests of t, one per check, each named
// after its check. It calls newFleet once per subtest, with that subtest's
// t, to get a fleet running at least one ready instance of version; use that
// t for clean-up. The checks start and stop instances of version, and stop
// some of those the fleet started with.
//
// The checks are that Instances lists every instance once, with a
// non-empty ID, and returns a slice the caller owns; that Start returns a
// new, non-empty ID of an instance that Instances then lists with the version
// asked for; that Stop removes an instance, whether Start created it or it
// was there before, and fails for an unknown ID; that Start with a cancelled
// context fails, and leaves nothing behind once the ID it returned, if any,
// is stopped; and that Starts and Stops from many goroutines are safe (run
// with -race) and give unique IDs.
func Run(t *testing.T, version string, newFleet func(t *testing.T) strategy.Fleet) {
	t.Helper()
	suite(version).Run(t, newFleet)
}

// Check runs the checks of [Run] outside a test, with ctx, and returns nil
// or one error listing every failure, each prefixed with the name of its
// check (the name of its subtest under Run): "StopUnknown: …". It calls
// newFleet once per check to get a fleet running at least one ready
// instance of version, and stops every instance a check started before it
// goes on to the next.
//
// If newFleet fails, or ctx is done before a check starts, Check stops and
// returns the failures so far together with an error that wraps newFleet's
// error or the context's cause.
func Check(ctx context.Context, version string, newFleet func() (strategy.Fleet, error)) error {
	return suite(version).Check(ctx, newFleet)
}

// suite returns the checks, in the order they run. Each is given a fleet
// running at least one ready instance of version, reports what it finds
// wrong to r, and stops every instance it started.
func suite(version string) kit.Suite[strategy.Fleet] {
	check := func(name string, run func(ctx context.Context, f strategy.Fleet, version string, r *report)) kit.Check[strategy.Fleet] {
		return kit.Check[strategy.Fleet]{Name: name, Run: func(ctx context.Context, f strategy.Fleet, r *kit.Report) { run(ctx, f, version, &report{r}) }}
	}
	return kit.Suite[strategy.Fleet]{Kit: "strategytest", New: "newFleet", Subject: "Fleet", Checks: []kit.Check[strategy.Fleet]{
		check("Instances", checkInstances),
		check("Copies", checkCopies),
		check("Start", checkStart),
		check("Stop", checkStop),
		check("StopUnknown", checkStopUnknown),
		check("StartCancelled", checkStartCancelled),
		check("Concurrent", checkConcurrent),
	}}
}

// A report collects what one check finds wrong with a fleet.
type report struct{ *kit.Report }

func checkInstances(ctx context.Context, f strategy.Fleet, version string, r *report) {
	insts, ok := r.list(ctx, f)
	if !ok {
		return
	}
	if !slices.ContainsFunc(insts, func(in strategy.Instance) bool { return in.Version == version }) {
		r.Errorf("Instances = %v, want at least one instance of %s", insts, version)
	}
	for _, in := range insts {
		if in.ID == "" {
			r.Errorf("Instances lists %v with an empty ID", in)
		}
	}
}

// checkCopies checks that each slice Instances returns is the caller's
// own: strategies keep the list they are given while they work through it,
// and the executor may list the fleet meanwhile.
func checkCopies(ctx context.Context, f strategy.Fleet, version string, r *report) {
	id, ok := r.start(ctx, f, version)
	if !ok {
		return
	}
	first, ok := r.list(ctx, f)
	if err := f.Stop(ctx, id); err != nil {
		r.Errorf("Stop(%s) of a started instance: %v", id, err)
		return
	}
	if !ok {
		return
	}
	wantFirst := slices.Clone(first)
	second, ok := r.list(ctx, f)
	if !ok {
		return
	}
	want := slices.Clone(second)
	for i := range second {
		second[i] = strategy.Instance{ID: fmt.Sprintf("changed-by-caller-%d", i), Version: "changed-by-caller"}
	}
	if !slices.Equal(first, wantFirst) {
		r.Errorf("the caller's change to the slice one Instances returned changed the slice an earlier one returned, from %v to %v: each call must return a slice of its own", wantFirst, first)
	}
	if got, ok := r.list(ctx, f); ok && !slices.Equal(got, want) {
		r.Errorf("after the caller changed the slice an earlier Instances returned, Instances = %v, want %v", got, want)
	}
}

func checkStart(ctx context.Context, f strategy.Fleet, version string, r *report) {
	before, ok := r.list(ctx, f)
	if !ok {
		return
	}
	id, ok := r.start(ctx, f, version)
	if !ok {
		return
	}
	defer f.Stop(context.WithoutCancel(ctx), id)
	if _, found := find(before, id); found {
		r.Errorf("Start(%s) returned %q, the ID of an instance that was already running", version, id)
		return
	}
	after, ok := r.list(ctx, f)
	if !ok {
		return
	}
	if in, found := find(after, id); !found || in.Version != version {
		r.Errorf("after Start(%s) = %q, Instances = %v, want it to list %s running %s", version, id, after, id, version)
	}
	if got, want := ids(after), append(ids(before), id); !sameIDs(got, want) {
		r.Errorf("after Start(%s), Instances lists %v, want %v", version, got, want)
	}
}

func checkStop(ctx context.Context, f strategy.Fleet, version string, r *report) {
	before, ok := r.list(ctx, f)
	if !ok || len(before) == 0 {
		return
	}
	id, ok := r.start(ctx, f, version)
	if !ok {
		return
	}
	if err := f.Stop(ctx, id); err != nil {
		r.Errorf("Stop(%s) of a started instance: %v", id, err)
		return
	}
	if got, ok := r.list(ctx, f); ok && !sameIDs(ids(got), ids(before)) {
		r.Errorf("after Start and Stop(%s), Instances lists %v, want %v", id, ids(got), ids(before))
	}

	// Strategies stop instances they did not start.
	old := before[0].ID
	if err := f.Stop(ctx, old); err != nil {
		r.Errorf("Stop(%s) of an instance the fleet started with: %v", old, err)
		return
	}
	if got, ok := r.list(ctx, f); ok {
		if _, found := find(got, old); found {
			r.Errorf("Instances still lists %s after Stop(%s): %v", old, old, got)
		}
	}
}

func checkStopUnknown(ctx context.Context, f strategy.Fleet, version string, r *report) {
	before, ok := r.list(ctx, f)
	if !ok {
		return
	}
	const unknown = "strategytest-no-such-instance"
	if err := f.Stop(ctx, unknown); err == nil {
		r.Errorf("Stop(%q) = nil, want an error for an unknown instance", unknown)
	}
	if got, ok := r.list(ctx, f); ok && !sameIDs(ids(got), ids(before)) {
		r.Errorf("after Stop of an unknown instance, Instances lists %v, want %v", ids(got), ids(before))
	}
}

func checkStartCancelled(ctx context.Context, f strategy.Fleet, version string, r *report) {
	before, ok := r.list(ctx, f)
	if !ok {
		return
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	id, err := f.Start(cancelled, version)
	if err == nil {
		r.Errorf("Start(%s) with a cancelled context = %q, nil; want an error", version, id)
	}
	if id != "" {
		if err := f.Stop(context.WithoutCancel(ctx), id); err != nil {
			r.Errorf("Stop(%s) of the instance a Start with a cancelled context returned: %v", id, err)
		}
	}
	if got, ok := r.list(ctx, f); ok && !sameIDs(ids(got), ids(before)) {
		r.Errorf("after a Start with a cancelled context (ID %q) and a Stop of that ID, Instances lists %v, want %v", id, ids(got), ids(before))
	}
}

func checkConcurrent(ctx context.Context, f strategy.Fleet, version string, r *report) {
	before, ok := r.list(ctx, f)
	if !ok || len(before) == 0 {
		return
	}
	const n = 8
	started := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { started[i], errs[i] = f.Start(ctx, version) })
		wg.Go(func() { f.Instances(ctx) })
	}
	wg.Wait()
	defer func() { // stop what is still running if the check stops early
		for _, id := range started {
			if id != "" {
				f.Stop(context.WithoutCancel(ctx), id)
			}
		}
	}()
	for i, err := range errs {
		if err != nil {
			r.Errorf("concurrent Start(%s) %d of %d: %v", version, i+1, n, err)
			return
		}
	}
	seen := map[string]bool{}
	for _, id := range started {
		if id == "" || seen[id] {
			r.Errorf("%d concurrent Starts returned IDs %q: want %d unique, non-empty IDs", n, started, n)
			return
		}
		seen[id] = true
	}
	if got, ok := r.list(ctx, f); !ok {
		return
	} else if want := append(ids(before), started...); !sameIDs(ids(got), want) {
		r.Errorf("after %d concurrent Starts, Instances lists %v, want %v", n, ids(got), want)
		return
	}

	// Stop what was started, and as many of the original instances as can
	// go while one stays, all at once.
	stop := append(slices.Clone(started), ids(before[:len(before)-1])...)
	stopErrs := make([]error, len(stop))
	for i, id := range stop {
		wg.Go(func() { stopErrs[i] = f.Stop(ctx, id) })
		wg.Go(func() { f.Instances(ctx) })
	}
	wg.Wait()
	started = nil // stopped: nothing for the clean-up to do
	for i, err := range stopErrs {
		if err != nil {
			r.Errorf("concurrent Stop(%s): %v", stop[i], err)
		}
	}
	if got, ok := r.list(ctx, f); ok && !sameIDs(ids(got), ids(before[len(before)-1:])) {
		r.Errorf("after concurrent Stops, Instances lists %v, want %v", ids(got), ids(before[len(before)-1:]))
	}
}

// list returns f's instances, and reports whether it could list them and
// they have no ID twice.
func (r *report) list(ctx context.Context, f strategy.Fleet) ([]strategy.Instance, bool) {
	insts, err := f.Instances(ctx)
	if err != nil {
		r.Errorf("Instances: %v", err)
		return nil, false
	}
	seen := map[string]bool{}
	for _, in := range insts {
		if seen[in.ID] {
			r.Errorf("Instances lists %s twice: %v", in.ID, insts)
			return nil, false
		}
		seen[in.ID] = true
	}
	return insts, true
}

// start starts an instance of version and returns its ID, reporting
// whether Start succeeded with a non-empty one. The caller stops it; an
// instance a failed Start returned is stopped here.
func (r *report) start(ctx context.Context, f strategy.Fleet, version string) (string, bool) {
	id, err := f.Start(ctx, version)
	switch {
	case err != nil:
		r.Errorf("Start(%s): %v", version, err)
		if id != "" {
			f.Stop(context.WithoutCancel(ctx), id)
		}
		return "", false
	case id == "":
		r.Errorf("Start(%s) returned an empty ID and no error", version)
		return "", false
	}
	return id, true
}

func find(insts []strategy.Instance, id string) (strategy.Instance, bool) {
	i := slices.IndexFunc(insts, func(in strategy.Instance) bool { return in.ID == id })
	if i < 0 {
		return strategy.Instance{}, false
	}
	return insts[i], true
}

func ids(insts []strategy.Instance) []string {
	out := make([]string, len(insts))
	for i, in := range insts {
		out[i] = in.ID
	}
	return out
}

// sameIDs reports whether a and b hold the same IDs, in any order.
func sameIDs(a, b []string) bool {
	count := func(s []string) map[string]int {
		m := map[string]int{}
		for _, x := range s {
			m[x]++
		}
		return m
	}
	return maps.Equal(count(a), count(b))
}
