package strategytest

import (
	"context"
	"maps"
	"slices"
	"sync"
	"testing"

	"github.com/safedeploy/safedeploy/strategy"
)

// RunFleet tests a strategy.Fleet implementation, in the manner of
// testing/fstest and testing/slogtest. If you adapt your own infrastructure
// to strategy.Fleet, call it from one of the adapter's tests:
//
//	func TestFleet(t *testing.T) {
//		strategytest.RunFleet(t, func(t *testing.T) (strategy.Fleet, string) {
//			return newTestFleet(t), "v1"
//		})
//	}
//
// RunFleet runs subtests of t, calling newFleet once for each with that
// subtest's t, to get a fleet running at least one instance of version;
// use t for clean-up. The subtests start and stop instances of version, and
// stop some of those the fleet started with.
//
// They check that Instances lists every instance once, with a non-empty ID;
// that Start returns a new, non-empty ID of an instance that Instances then
// lists with the version asked for; that Stop removes an instance, whether
// Start created it or it was there before, and fails for an unknown ID; that
// Start with a cancelled context fails, and leaves nothing behind once the
// ID it returned, if any, is stopped; and that Starts and Stops from many
// goroutines are safe (run with -race) and give unique IDs.
func RunFleet(t *testing.T, newFleet func(t *testing.T) (f strategy.Fleet, version string)) {
	t.Run("Instances", func(t *testing.T) {
		f, version := newFleet(t)
		insts := list(t, f)
		if !slices.ContainsFunc(insts, func(in strategy.Instance) bool { return in.Version == version }) {
			t.Errorf("Instances = %v, want at least one of %s", insts, version)
		}
		for _, in := range insts {
			if in.ID == "" {
				t.Errorf("Instances lists %v with an empty ID", in)
			}
		}
	})

	t.Run("Start", func(t *testing.T) {
		f, version := newFleet(t)
		before := list(t, f)
		id, err := f.Start(t.Context(), version)
		if err != nil {
			t.Fatalf("Start(%s): %v", version, err)
		}
		t.Cleanup(func() { f.Stop(context.Background(), id) })
		if id == "" {
			t.Fatal("Start returned an empty ID")
		}
		if _, ok := find(before, id); ok {
			t.Fatalf("Start returned %q, the ID of an instance that was already running", id)
		}
		after := list(t, f)
		if in, ok := find(after, id); !ok || in.Version != version {
			t.Errorf("after Start = %q, Instances = %v, want it to list %s running %s", id, after, id, version)
		}
		want := append(ids(before), id)
		if got := ids(after); !sameIDs(got, want) {
			t.Errorf("after Start, Instances lists %v, want %v", got, want)
		}
	})

	t.Run("Stop", func(t *testing.T) {
		f, version := newFleet(t)
		before := list(t, f)
		id, err := f.Start(t.Context(), version)
		if err != nil {
			t.Fatalf("Start(%s): %v", version, err)
		}
		if err := f.Stop(t.Context(), id); err != nil {
			t.Fatalf("Stop(%s) of a started instance: %v", id, err)
		}
		if got := ids(list(t, f)); !sameIDs(got, ids(before)) {
			t.Errorf("after Start and Stop(%s), Instances lists %v, want %v", id, got, ids(before))
		}

		// Strategies stop instances they did not start.
		old := before[0].ID
		if err := f.Stop(t.Context(), old); err != nil {
			t.Fatalf("Stop(%s) of an instance the fleet started with: %v", old, err)
		}
		if _, ok := find(list(t, f), old); ok {
			t.Errorf("Instances still lists %s after Stop", old)
		}
	})

	t.Run("StopUnknown", func(t *testing.T) {
		f, _ := newFleet(t)
		before := list(t, f)
		const unknown = "strategytest-no-such-instance"
		if err := f.Stop(t.Context(), unknown); err == nil {
			t.Errorf("Stop(%q) = nil, want an error for an unknown instance", unknown)
		}
		if got := ids(list(t, f)); !sameIDs(got, ids(before)) {
			t.Errorf("after Stop of an unknown instance, Instances lists %v, want %v", got, ids(before))
		}
	})

	t.Run("StartCancelled", func(t *testing.T) {
		f, version := newFleet(t)
		before := list(t, f)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		id, err := f.Start(ctx, version)
		if err == nil {
			f.Stop(context.Background(), id)
			t.Fatalf("Start with a cancelled context = %q, nil; want an error", id)
		}
		if id != "" {
			if err := f.Stop(t.Context(), id); err != nil {
				t.Errorf("Stop(%s) of the instance a failed Start returned: %v", id, err)
			}
		}
		if got := ids(list(t, f)); !sameIDs(got, ids(before)) {
			t.Errorf("after a cancelled Start (ID %q), Instances lists %v, want %v", id, got, ids(before))
		}
	})

	t.Run("Concurrent", func(t *testing.T) {
		f, version := newFleet(t)
		before := list(t, f)
		const n = 8
		started := make([]string, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { started[i], errs[i] = f.Start(t.Context(), version) })
			wg.Go(func() { f.Instances(t.Context()) })
		}
		wg.Wait()
		t.Cleanup(func() {
			for _, id := range started {
				if id != "" {
					f.Stop(context.Background(), id)
				}
			}
		})
		for i, err := range errs {
			if err != nil {
				t.Fatalf("concurrent Start %d: %v", i, err)
			}
		}
		seen := map[string]bool{}
		for _, id := range started {
			if id == "" || seen[id] {
				t.Fatalf("concurrent Starts returned IDs %q: want %d unique, non-empty IDs", started, n)
			}
			seen[id] = true
		}
		want := append(ids(before), started...)
		if got := ids(list(t, f)); !sameIDs(got, want) {
			t.Fatalf("after %d concurrent Starts, Instances lists %v, want %v", n, got, want)
		}

		// Stop what was started, and as many of the original instances
		// as can go while one stays, all at once.
		stop := append(slices.Clone(started), ids(before[:len(before)-1])...)
		stopErrs := make([]error, len(stop))
		for i, id := range stop {
			wg.Go(func() { stopErrs[i] = f.Stop(t.Context(), id) })
			wg.Go(func() { f.Instances(t.Context()) })
		}
		wg.Wait()
		for i, err := range stopErrs {
			if err != nil {
				t.Errorf("concurrent Stop(%s): %v", stop[i], err)
			}
		}
		started = nil // stopped: nothing for the clean-up to do
		if got, want := ids(list(t, f)), ids(before[len(before)-1:]); !sameIDs(got, want) {
			t.Errorf("after concurrent Stops, Instances lists %v, want %v", got, want)
		}
	})
}

// list returns f's instances, failing t if it cannot or if an ID repeats.
func list(t *testing.T, f strategy.Fleet) []strategy.Instance {
	t.Helper()
	insts, err := f.Instances(t.Context())
	if err != nil {
		t.Fatalf("Instances: %v", err)
	}
	seen := map[string]bool{}
	for _, in := range insts {
		if seen[in.ID] {
			t.Fatalf("Instances lists %s twice: %v", in.ID, insts)
		}
		seen[in.ID] = true
	}
	return insts
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
