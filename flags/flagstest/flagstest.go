// Package flagstest tests implementations of [flags.Store], in the manner of
// testing/fstest and testing/slogtest. If you write a Store for your own
// database or flag service, call [Run] from one of its tests to check that it
// keeps the contract the deploy executor relies on:
//
//	func TestStore(t *testing.T) {
//		flagstest.Run(t, func(t *testing.T) flags.Store { return newTestStore(t) })
//	}
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
)

// Run tests the Store contract as a set of subtests of t. It calls newStore
// once per subtest, with that subtest's t, to get an empty store; use that t
// for clean-up, as in t.TempDir.
//
// The subtests check that Get and Delete of a missing flag fail with
// [flags.ErrNotFound]; that Set creates and replaces flags, refuses with
// [flags.ErrInvalid] any flag whose [flags.Flag.Validate] fails and then
// stores nothing, and accepts every name that Validate accepts; that List is
// complete and sorted by name; that returned values do not alias the
// store; that Set and Get from many goroutines end in a consistent state (run
// with -race); and that a store given a cancelled context either ignores it
// or fails with an error wrapping [context.Canceled], and in both cases
// reports truthfully what it did.
func Run(t *testing.T, newStore func(t *testing.T) flags.Store) {
	t.Run("GetMissing", func(t *testing.T) {
		s := newStore(t)
		_, err := s.Get(t.Context(), "missing")
		if !errors.Is(err, flags.ErrNotFound) {
			t.Errorf("Get(missing) error = %v, want one wrapping ErrNotFound", err)
		}
	})

	t.Run("SetGet", func(t *testing.T) {
		s := newStore(t)
		want := flags.Flag{Name: "checkout-v2", Enabled: true, Description: "New checkout flow"}
		mustSet(t, s, want)
		if got := mustGet(t, s, want.Name); got != want {
			t.Errorf("Get(%q) = %+v, want %+v", want.Name, got, want)
		}
	})

	t.Run("Overwrite", func(t *testing.T) {
		s := newStore(t)
		mustSet(t, s, flags.Flag{Name: "checkout-v2", Enabled: true, Description: "old"})
		want := flags.Flag{Name: "checkout-v2"} // every field changes, Description to empty
		mustSet(t, s, want)
		if got := mustGet(t, s, want.Name); got != want {
			t.Errorf("Get after overwrite = %+v, want %+v", got, want)
		}
		checkList(t, s, []flags.Flag{want})
	})

	t.Run("Delete", func(t *testing.T) {
		s := newStore(t)
		keep := flags.Flag{Name: "keep", Enabled: true}
		mustSet(t, s, keep)
		mustSet(t, s, flags.Flag{Name: "drop", Enabled: true})
		if err := s.Delete(t.Context(), "drop"); err != nil {
			t.Fatalf("Delete(drop): %v", err)
		}
		if _, err := s.Get(t.Context(), "drop"); !errors.Is(err, flags.ErrNotFound) {
			t.Errorf("Get(drop) after Delete: error = %v, want one wrapping ErrNotFound", err)
		}
		checkList(t, s, []flags.Flag{keep})
	})

	t.Run("DeleteMissing", func(t *testing.T) {
		s := newStore(t)
		keep := flags.Flag{Name: "keep"}
		mustSet(t, s, keep)
		if err := s.Delete(t.Context(), "missing"); !errors.Is(err, flags.ErrNotFound) {
			t.Errorf("Delete(missing) error = %v, want one wrapping ErrNotFound", err)
		}
		checkList(t, s, []flags.Flag{keep})
	})

	t.Run("ListEmpty", func(t *testing.T) {
		checkList(t, newStore(t), nil)
	})

	t.Run("ListSorted", func(t *testing.T) {
		s := newStore(t)
		names := []string{"b", "a.b", "B", "a", "a-b", "é", "z", "a/b", "10", "9"}
		want := make([]flags.Flag, len(names))
		for i, name := range names {
			want[i] = flags.Flag{Name: name, Enabled: i%2 == 0, Description: "flag " + name}
			mustSet(t, s, want[i])
		}
		slices.SortFunc(want, func(a, b flags.Flag) int { return strings.Compare(a.Name, b.Name) })
		checkList(t, s, want)
	})

	t.Run("ValidNames", func(t *testing.T) {
		s := newStore(t)
		for _, name := range []string{"x", "checkout.v2", "team/payments:retry_v3", `quote"back\slash`, "<&>", "名前", "ünïcödé", strings.Repeat("long", 64)} {
			want := flags.Flag{Name: name, Enabled: true, Description: "a \"quoted\" & <escaped>\nmulti-line description"}
			mustSet(t, s, want)
			if got := mustGet(t, s, name); got != want {
				t.Errorf("Get(%q) = %+v, want %+v", name, got, want)
			}
		}
	})

	t.Run("InvalidName", func(t *testing.T) {
		s := newStore(t)
		keep := flags.Flag{Name: "keep", Enabled: true}
		mustSet(t, s, keep)
		for _, name := range []string{"", " ", "has space", " leading", "trailing ", "tab\there", "new\nline", "cr\r", "nul\x00", "bell\a", "del\x7f", "nbsp\u00a0", "zero\u200bwidth", "bad\xffutf8"} {
			err := s.Set(t.Context(), flags.Flag{Name: name, Enabled: true})
			if !errors.Is(err, flags.ErrInvalid) {
				t.Errorf("Set(Name: %q) error = %v, want one wrapping ErrInvalid", name, err)
			}
		}
		checkList(t, s, []flags.Flag{keep})
	})

	t.Run("Copies", func(t *testing.T) {
		s := newStore(t)
		want := []flags.Flag{{Name: "a", Description: "first"}, {Name: "b", Description: "second"}}
		for _, f := range want {
			mustSet(t, s, f)
		}
		list, err := s.List(t.Context())
		if err != nil {
			t.Fatalf("List: %v", err)
		}
		for i := range list {
			list[i].Enabled = true
			list[i].Description = "changed by caller"
		}
		checkList(t, s, want)
	})

	t.Run("Concurrent", func(t *testing.T) {
		s := newStore(t)
		const workers, rounds = 8, 10
		mustSet(t, s, flags.Flag{Name: "shared"})
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				for r := range rounds {
					own := flags.Flag{Name: fmt.Sprintf("worker-%d", w), Enabled: r%2 == 0, Description: fmt.Sprint(r)}
					if err := s.Set(t.Context(), own); err != nil {
						t.Errorf("Set(%q): %v", own.Name, err)
						return
					}
					// Only this goroutine writes own.Name, so it must read its own write.
					if got, err := s.Get(t.Context(), own.Name); err != nil || got != own {
						t.Errorf("Get(%q) = %+v, %v; want %+v", own.Name, got, err, own)
					}
					if err := s.Set(t.Context(), flags.Flag{Name: "shared", Enabled: r%2 == 0}); err != nil {
						t.Errorf("Set(shared): %v", err)
					}
					if _, err := s.Get(t.Context(), "shared"); err != nil {
						t.Errorf("Get(shared): %v", err)
					}
					if _, err := s.List(t.Context()); err != nil {
						t.Errorf("List: %v", err)
					}
				}
			})
		}
		wg.Wait()
		want := []flags.Flag{{Name: "shared", Enabled: (rounds-1)%2 == 0}}
		for w := range workers {
			want = append(want, flags.Flag{Name: fmt.Sprintf("worker-%d", w), Enabled: (rounds-1)%2 == 0, Description: fmt.Sprint(rounds - 1)})
		}
		checkList(t, s, want)
	})

	t.Run("CancelledContext", func(t *testing.T) {
		s := newStore(t)
		present := flags.Flag{Name: "present", Enabled: true}
		mustSet(t, s, present)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		// A store may honour the cancellation or ignore it. If it fails, it
		// must say why; if it succeeds, it must have done the work.
		honoured := func(op string, err error) bool {
			if err != nil && !errors.Is(err, context.Canceled) {
				t.Errorf("%s with cancelled context: error = %v, want nil or one wrapping context.Canceled", op, err)
			}
			return err != nil
		}
		if got, err := s.Get(ctx, "present"); !honoured("Get", err) && got != present {
			t.Errorf("Get with cancelled context = %+v, want %+v", got, present)
		}
		_, err := s.List(ctx)
		honoured("List", err)
		added := flags.Flag{Name: "added"}
		if err := s.Set(ctx, added); !honoured("Set", err) {
			if got := mustGet(t, s, "added"); got != added {
				t.Errorf("Get after Set with cancelled context = %+v, want %+v", got, added)
			}
		}
		if err := s.Delete(ctx, "present"); !honoured("Delete", err) {
			if _, err := s.Get(t.Context(), "present"); !errors.Is(err, flags.ErrNotFound) {
				t.Errorf("Get after Delete with cancelled context: error = %v, want one wrapping ErrNotFound", err)
			}
		}
	})
}

func mustSet(t *testing.T, s flags.Store, f flags.Flag) {
	t.Helper()
	if err := s.Set(t.Context(), f); err != nil {
		t.Fatalf("Set(%+v): %v", f, err)
	}
}

func mustGet(t *testing.T, s flags.Store, name string) flags.Flag {
	t.Helper()
	f, err := s.Get(t.Context(), name)
	if err != nil {
		t.Fatalf("Get(%q): %v", name, err)
	}
	return f
}

// checkList reports whether List returns exactly want; nil and empty are equal.
func checkList(t *testing.T, s flags.Store, want []flags.Flag) {
	t.Helper()
	got, err := s.List(t.Context())
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if !slices.IsSortedFunc(got, func(a, b flags.Flag) int { return strings.Compare(a.Name, b.Name) }) {
		t.Errorf("List is not sorted by name: %+v", got)
	}
	if len(want) == 0 && len(got) == 0 {
		return
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("List mismatch (-want +got):\n%s", diff)
	}
}
