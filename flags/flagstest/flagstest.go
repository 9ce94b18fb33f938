// Package flagstest tests implementations of [flags.Store], in the manner of
// testing/fstest and testing/slogtest. If you write a Store for your own
// database or flag service, call [Run] from one of its tests to check that it
// keeps the contract the deploy executor relies on:
//
//	func TestStore(t *testing.T) {
//		flagstest.Run(t, func(t *testing.T) flags.Store { return newTestStore(t) })
//	}
//
// [Check] runs the same checks outside a test, with a context of your own,
// and returns one error naming every check that failed and what the store
// did wrong, or nil:
//
//	err := flagstest.Check(ctx, func() (flags.Store, error) { return newScratchStore(ctx) })
package flagstest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/safedeploy/safedeploy/flags"
	"github.com/safedeploy/safedeploy/internal/kit"
)

// Run tests the Store contract as a set of subtests of t, one per check,
// each named after its check. It calls newStore once per subtest, with that
// subtest's t, to get an empty store; use that t for clean-up, as in
// t.TempDir.
//
// The checks are that Get and Delete of a missing flag fail with
// [flags.ErrNotFound]; that Set creates and replaces flags, refuses with
// [flags.ErrInvalid] any flag whose [flags.Flag.Validate] fails and then
// stores nothing, and accepts every name that Validate accepts; that List is
// complete and sorted by name; that the slice List returns is the caller's
// own, so that changing it does not change the store; that Set and Get from
// many goroutines end in a consistent state (run with -race); and that a
// store given a cancelled context either ignores it or fails with an error
// wrapping [context.Canceled], and in both cases reports truthfully what it
// did.
func Run(t *testing.T, newStore func(t *testing.T) flags.Store) {
	t.Helper()
	suite().Run(t, newStore)
}

// Check runs the checks of [Run] outside a test, with ctx, and returns nil
// or one error listing every failure, each prefixed with the name of its
// check (the name of its subtest under Run): "DeleteMissing: …". It calls
// newStore once per check to get an empty store.
//
// If newStore fails, or ctx is done before a check starts, Check stops and
// returns the failures so far together with an error that wraps newStore's
// error or the context's cause.
func Check(ctx context.Context, newStore func() (flags.Store, error)) error {
	return suite().Check(ctx, newStore)
}

// suite returns the checks, in the order they run. Each is given an
// empty store and reports what it finds wrong to r.
func suite() kit.Suite[flags.Store] {
	check := func(name string, run func(ctx context.Context, s flags.Store, r *report)) kit.Check[flags.Store] {
		return kit.Check[flags.Store]{Name: name, Run: func(ctx context.Context, s flags.Store, r *kit.Report) { run(ctx, s, &report{r}) }}
	}
	return kit.Suite[flags.Store]{Kit: "flagstest", New: "newStore", Subject: "Store", Checks: []kit.Check[flags.Store]{
		check("GetMissing", checkGetMissing),
		check("SetGet", checkSetGet),
		check("Overwrite", checkOverwrite),
		check("Delete", checkDelete),
		check("DeleteMissing", checkDeleteMissing),
		check("ListEmpty", checkListEmpty),
		check("ListSorted", checkListSorted),
		check("ValidNames", checkValidNames),
		check("InvalidName", checkInvalidName),
		check("Copies", checkCopies),
		check("Concurrent", checkConcurrent),
		check("CancelledContext", checkCancelled),
	}}
}

// A report collects what one check finds wrong with a store.
type report struct{ *kit.Report }

func checkGetMissing(ctx context.Context, s flags.Store, r *report) {
	_, err := s.Get(ctx, "missing")
	r.notFound(`Get("missing")`, err)
}

func checkSetGet(ctx context.Context, s flags.Store, r *report) {
	want := flags.Flag{Name: "checkout-v2", Enabled: true, Description: "New checkout flow"}
	if !r.set(ctx, s, want) {
		return
	}
	r.get(ctx, s, want)
}

func checkOverwrite(ctx context.Context, s flags.Store, r *report) {
	if !r.set(ctx, s, flags.Flag{Name: "checkout-v2", Enabled: true, Description: "old"}) {
		return
	}
	want := flags.Flag{Name: "checkout-v2"} // every field changes, Description to empty
	if !r.set(ctx, s, want) {
		return
	}
	r.get(ctx, s, want)
	r.list(ctx, s, []flags.Flag{want})
}

func checkDelete(ctx context.Context, s flags.Store, r *report) {
	keep := flags.Flag{Name: "keep", Enabled: true}
	if !r.set(ctx, s, keep) || !r.set(ctx, s, flags.Flag{Name: "drop", Enabled: true}) {
		return
	}
	if err := s.Delete(ctx, "drop"); err != nil {
		r.Errorf(`Delete("drop") of a flag in the store: %v`, err)
		return
	}
	_, err := s.Get(ctx, "drop")
	r.notFound(`Get("drop") after Delete("drop")`, err)
	r.list(ctx, s, []flags.Flag{keep})
}

func checkDeleteMissing(ctx context.Context, s flags.Store, r *report) {
	keep := flags.Flag{Name: "keep"}
	if !r.set(ctx, s, keep) {
		return
	}
	r.notFound(`Delete("missing")`, s.Delete(ctx, "missing"))
	r.list(ctx, s, []flags.Flag{keep})
}

func checkListEmpty(ctx context.Context, s flags.Store, r *report) {
	r.list(ctx, s, nil)
}

func checkListSorted(ctx context.Context, s flags.Store, r *report) {
	names := []string{"b", "a.b", "B", "a", "a-b", "é", "z", "a/b", "10", "9"}
	want := make([]flags.Flag, len(names))
	for i, name := range names {
		want[i] = flags.Flag{Name: name, Enabled: i%2 == 0, Description: "flag " + name}
		if !r.set(ctx, s, want[i]) {
			return
		}
	}
	slices.SortFunc(want, byName)
	r.list(ctx, s, want)
}

func checkValidNames(ctx context.Context, s flags.Store, r *report) {
	for _, name := range []string{"x", "checkout.v2", "team/payments:retry_v3", `quote"back\slash`, "<&>", "名前", "ünïcödé", strings.Repeat("long", 64)} {
		want := flags.Flag{Name: name, Enabled: true, Description: "a \"quoted\" & <escaped>\nmulti-line description"}
		if r.set(ctx, s, want) {
			r.get(ctx, s, want)
		}
	}
}

func checkInvalidName(ctx context.Context, s flags.Store, r *report) {
	keep := flags.Flag{Name: "keep", Enabled: true}
	if !r.set(ctx, s, keep) {
		return
	}
	for _, name := range []string{"", " ", "has space", " leading", "trailing ", "tab\there", "new\nline", "cr\r", "nul\x00", "bell\a", "del\x7f", "nbsp\u00a0", "zero\u200bwidth", "bad\xffutf8"} {
		if err := s.Set(ctx, flags.Flag{Name: name, Enabled: true}); !errors.Is(err, flags.ErrInvalid) {
			r.Errorf("Set(Name: %q) error = %v, want one wrapping flags.ErrInvalid", name, err)
		}
	}
	r.list(ctx, s, []flags.Flag{keep}) // the invalid flags were not stored
}

func checkCopies(ctx context.Context, s flags.Store, r *report) {
	want := []flags.Flag{{Name: "a", Description: "first"}, {Name: "b", Description: "second"}}
	for _, f := range want {
		if !r.set(ctx, s, f) {
			return
		}
	}
	list, err := s.List(ctx)
	if err != nil {
		r.Errorf("List: %v", err)
		return
	}
	for i := range list {
		list[i].Enabled = true
		list[i].Description = "changed by caller"
	}
	r.list(ctx, s, want)
}

func checkConcurrent(ctx context.Context, s flags.Store, r *report) {
	const workers, rounds = 8, 10
	if !r.set(ctx, s, flags.Flag{Name: "shared"}) {
		return
	}
	var wg sync.WaitGroup
	for w := range workers {
		// Each worker stops at its first failure, so that a store that
		// cannot take concurrent calls fails once per worker, not per call.
		wg.Go(func() {
			for round := range rounds {
				own := flags.Flag{Name: fmt.Sprintf("worker-%d", w), Enabled: round%2 == 0, Description: fmt.Sprint(round)}
				if !r.set(ctx, s, own) {
					return
				}
				// Only this goroutine writes own.Name, so it must read its own write.
				if !r.get(ctx, s, own) {
					return
				}
				if !r.set(ctx, s, flags.Flag{Name: "shared", Enabled: round%2 == 0}) {
					return
				}
				if _, err := s.Get(ctx, "shared"); err != nil {
					r.Errorf(`Get("shared"): %v`, err)
					return
				}
				if _, err := s.List(ctx); err != nil {
					r.Errorf("List: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	want := []flags.Flag{{Name: "shared", Enabled: (rounds-1)%2 == 0}}
	for w := range workers {
		want = append(want, flags.Flag{Name: fmt.Sprintf("worker-%d", w), Enabled: (rounds-1)%2 == 0, Description: fmt.Sprint(rounds - 1)})
	}
	r.list(ctx, s, want)
}

func checkCancelled(ctx context.Context, s flags.Store, r *report) {
	present := flags.Flag{Name: "present", Enabled: true}
	if !r.set(ctx, s, present) {
		return
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	// A store may honour the cancellation or ignore it. If it fails, it
	// must say why; if it succeeds, it must have done the work.
	honoured := func(call string, err error) bool {
		if err != nil && !errors.Is(err, context.Canceled) {
			r.Errorf("%s with a cancelled context: error = %v, want nil or one wrapping context.Canceled", call, err)
		}
		return err != nil
	}
	if got, err := s.Get(cancelled, "present"); !honoured(`Get("present")`, err) && got != present {
		r.Errorf(`Get("present") with a cancelled context = %#v, want %#v`, got, present)
	}
	_, err := s.List(cancelled)
	honoured("List", err)
	added := flags.Flag{Name: "added"}
	if err := s.Set(cancelled, added); !honoured(fmt.Sprintf("Set(%#v)", added), err) {
		if got, err := s.Get(ctx, added.Name); err != nil || got != added {
			r.Errorf(`Set(%#v) with a cancelled context succeeded, but then Get(%q) = %#v, %v; want %#v, nil`, added, added.Name, got, err, added)
		}
	}
	if err := s.Delete(cancelled, "present"); !honoured(`Delete("present")`, err) {
		_, err := s.Get(ctx, "present")
		r.notFound(`Get("present") after a Delete("present") that succeeded with a cancelled context`, err)
	}
}

// set stores f and reports whether it could.
func (r *report) set(ctx context.Context, s flags.Store, f flags.Flag) bool {
	if err := s.Set(ctx, f); err != nil {
		r.Errorf("Set(%#v): %v", f, err)
		return false
	}
	return true
}

// get reports whether Get(want.Name) returns want.
func (r *report) get(ctx context.Context, s flags.Store, want flags.Flag) bool {
	got, err := s.Get(ctx, want.Name)
	switch {
	case err != nil:
		r.Errorf("Get(%q) after Set(%#v): %v", want.Name, want, err)
	case got != want:
		r.Errorf("Get(%q) = %#v, want %#v", want.Name, got, want)
	default:
		return true
	}
	return false
}

// notFound reports err, from call on a flag that is not in the store,
// unless it wraps ErrNotFound.
func (r *report) notFound(call string, err error) {
	switch {
	case err == nil:
		r.Errorf("%s returned no error for a flag that is not in the store; want one wrapping flags.ErrNotFound", call)
	case !errors.Is(err, flags.ErrNotFound):
		r.Errorf("%s error = %v, want one wrapping flags.ErrNotFound", call, err)
	}
}

// list reports whether List returns exactly want, sorted by name; nil and
// empty are equal. An unsorted but otherwise right list is one failure.
func (r *report) list(ctx context.Context, s flags.Store, want []flags.Flag) {
	got, err := s.List(ctx)
	if err != nil {
		r.Errorf("List: %v", err)
		return
	}
	if !slices.IsSortedFunc(got, byName) {
		names := make([]string, len(got))
		for i, f := range got {
			names[i] = f.Name
		}
		r.Errorf("List is not sorted by name (byte-wise, as by strings.Compare): %q", names)
		got = slices.SortedFunc(slices.Values(got), byName)
	}
	if len(want) == 0 && len(got) == 0 {
		return
	}
	if diff := cmp.Diff(want, got); diff != "" {
		r.Errorf("List mismatch (-want +got):\n%s", diff)
	}
}

func byName(a, b flags.Flag) int { return strings.Compare(a.Name, b.Name) }
