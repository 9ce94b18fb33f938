package flagstest_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/safedeploy/safedeploy/flags"
	"github.com/safedeploy/safedeploy/flags/flagstest"
)

func TestRunMemory(t *testing.T) {
	flagstest.Run(t, func(*testing.T) flags.Store { return new(flags.Memory) })
}

func TestRunFile(t *testing.T) {
	flagstest.Run(t, func(t *testing.T) flags.Store {
		return flags.NewFile(filepath.Join(t.TempDir(), "flags.json"))
	})
}

func TestCheckPasses(t *testing.T) {
	for name, newStore := range map[string]func() (flags.Store, error){
		"Memory": func() (flags.Store, error) { return new(flags.Memory), nil },
		"File": func() (flags.Store, error) {
			return flags.NewFile(filepath.Join(t.TempDir(), "flags.json")), nil
		},
	} {
		if err := flagstest.Check(t.Context(), newStore); err != nil {
			t.Errorf("Check(%s) = %v, want nil", name, err)
		}
	}
}

// A broken store is flags.Memory, or a store like it, with one mistake a
// real implementation could make.
type broken struct {
	name string
	new  func() flags.Store
	// fails are the checks that must fail, and no others.
	fails []string
	// says are substrings of Check's report: what the store did wrong.
	says []string
	// bubble marks a store that fails deterministically only in a synctest
	// bubble. Run cannot be tested on it: subtests cannot run in a bubble.
	bubble bool
}

func brokenStores() []broken {
	return []broken{{
		name:  "missing-read-as-disabled",
		new:   func() flags.Store { return new(defaultOff) },
		fails: []string{"GetMissing", "Delete", "CancelledContext"},
		says:  []string{`GetMissing: Get("missing") returned no error for a flag that is not in the store; want one wrapping flags.ErrNotFound`},
	}, {
		name:  "delete-missing-succeeds",
		new:   func() flags.Store { return new(lenientDelete) },
		fails: []string{"DeleteMissing"},
		says:  []string{`DeleteMissing: Delete("missing") returned no error for a flag that is not in the store`},
	}, {
		name:  "list-in-collation-order",
		new:   func() flags.Store { return new(collated) },
		fails: []string{"ListSorted"},
		says:  []string{`ListSorted: List is not sorted by name (byte-wise, as by strings.Compare): ["10" "9" "a" "a-b" "a.b" "a/b" "B" "b" "z" "é"]`},
	}, {
		name:  "list-fails-when-empty",
		new:   func() flags.Store { return new(noRows) },
		fails: []string{"ListEmpty"},
		says:  []string{"ListEmpty: List: sql: no rows in result set"},
	}, {
		name:  "set-accepts-invalid-names",
		new:   func() flags.Store { return new(unvalidated) },
		fails: []string{"InvalidName"},
		says: []string{
			`InvalidName: Set(Name: "has space") error = <nil>, want one wrapping flags.ErrInvalid`,
			`InvalidName: Set(Name: "zero\u200bwidth") error = <nil>, want one wrapping flags.ErrInvalid`,
			"InvalidName: List mismatch (-want +got):",
		},
	}, {
		name:  "set-stores-before-validating",
		new:   func() flags.Store { return new(validatesLate) },
		fails: []string{"InvalidName"},
		says:  []string{"InvalidName: List mismatch (-want +got):", `Name: "has space"`},
	}, {
		name:  "set-rejects-valid-names",
		new:   func() flags.Store { return new(strict) },
		fails: []string{"ValidNames", "ListSorted"},
		says: []string{
			`ValidNames: Set(flags.Flag{Name:"名前", Enabled:true, Description:"a \"quoted\" & <escaped>\nmulti-line description"}): flags: invalid flag: Name "名前" is not lower-case ASCII`,
			`ListSorted: Set(flags.Flag{Name:"B"`,
		},
	}, {
		name:  "set-cannot-turn-off",
		new:   func() flags.Store { return new(patching) },
		fails: []string{"Overwrite", "Concurrent"},
		says: []string{
			`Overwrite: Get("checkout-v2") = flags.Flag{Name:"checkout-v2", Enabled:true, Description:"old"}, want flags.Flag{Name:"checkout-v2", Enabled:false, Description:""}`,
			`Concurrent: Get("worker-0") = flags.Flag{Name:"worker-0", Enabled:true, Description:"1"}, want flags.Flag{Name:"worker-0", Enabled:false, Description:"1"}`,
		},
	}, {
		name:  "list-returns-its-cache",
		new:   func() flags.Store { return new(cachedList) },
		fails: []string{"Copies"},
		says:  []string{"Copies: List mismatch (-want +got):", "changed by caller"},
	}, {
		name:  "cancellation-not-wrapped",
		new:   func() flags.Store { return new(opaque) },
		fails: []string{"CancelledContext"},
		says: []string{
			`CancelledContext: Get("present") with a cancelled context: error = request failed: context canceled, want nil or one wrapping context.Canceled`,
			`CancelledContext: Delete("present") with a cancelled context: error = request failed: context canceled`,
		},
	}, {
		name:  "cancelled-set-dropped",
		new:   func() flags.Store { return new(fireAndForget) },
		fails: []string{"CancelledContext"},
		says:  []string{`CancelledContext: Set(flags.Flag{Name:"added", Enabled:false, Description:""}) with a cancelled context succeeded, but then Get("added") = flags.Flag{Name:"", Enabled:false, Description:""}, flags: flag not found: "added"; want`},
	}, {
		name:   "unsafe-for-concurrent-use",
		new:    func() flags.Store { return new(unguarded) },
		fails:  []string{"Concurrent"},
		says:   []string{"Concurrent: Set(", "): store busy", "Concurrent: List mismatch (-want +got):"},
		bubble: true,
	}}
}

// checkName matches the check a line of Check's report is about.
var checkName = regexp.MustCompile(`(?m)^([A-Z]\w*): `)

func TestCheckCatchesBrokenStores(t *testing.T) {
	for _, b := range brokenStores() {
		t.Run(b.name, func(t *testing.T) {
			var err error
			check := func(t *testing.T) {
				err = flagstest.Check(t.Context(), func() (flags.Store, error) { return b.new(), nil })
			}
			if b.bubble {
				synctest.Test(t, check)
			} else {
				check(t)
			}
			if err == nil {
				t.Fatal("Check passed the broken store")
			}
			var failed []string
			for _, m := range checkName.FindAllStringSubmatch(err.Error(), -1) {
				failed = append(failed, m[1])
			}
			if diff := cmp.Diff(sorted(b.fails), sorted(failed)); diff != "" {
				t.Errorf("failed checks mismatch (-want +got):\n%s\nreport:\n%v", diff, err)
			}
			for _, want := range b.says {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("Check report does not say %q:\n%v", want, err)
				}
			}
		})
	}
}

// childEnv, set to "1", makes TestRunCatchesBrokenStores run Run on the
// broken stores, failing, in a child process.
const childEnv = "FLAGSTEST_RUN_BROKEN"

// TestRunCatchesBrokenStores runs Run on the broken stores in a child
// process, where its failures cannot fail this test, and checks that the
// subtests that fail are the same checks that fail under Check.
func TestRunCatchesBrokenStores(t *testing.T) {
	if os.Getenv(childEnv) == "1" {
		for _, b := range brokenStores() {
			if !b.bubble {
				t.Run(b.name, func(t *testing.T) {
					flagstest.Run(t, func(*testing.T) flags.Store { return b.new() })
				})
			}
		}
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestRunCatchesBrokenStores$")
	cmd.Env = append(os.Environ(), childEnv+"=1")
	out, err := cmd.CombinedOutput()
	if exit := (*exec.ExitError)(nil); !errors.As(err, &exit) {
		t.Fatalf("child process: error = %v, want it to exit with an error as its checks fail; output:\n%s", err, out)
	}
	failed := make(map[string][]string)
	fail := regexp.MustCompile(`(?m)^\s*--- FAIL: TestRunCatchesBrokenStores/([^/\s]+)/(\S+) `)
	for _, m := range fail.FindAllStringSubmatch(string(out), -1) {
		failed[m[1]] = append(failed[m[1]], m[2])
	}
	for _, b := range brokenStores() {
		if b.bubble {
			continue
		}
		if diff := cmp.Diff(sorted(b.fails), sorted(failed[b.name])); diff != "" {
			t.Errorf("%s: failed subtests mismatch (-want +got):\n%s", b.name, diff)
		}
	}
	if t.Failed() {
		t.Logf("child output:\n%s", out)
	}
}

func TestCheckStops(t *testing.T) {
	t.Run("newStore fails", func(t *testing.T) {
		errDown := errors.New("database down")
		calls := 0
		err := flagstest.Check(t.Context(), func() (flags.Store, error) {
			calls++
			if calls > 1 {
				return nil, errDown
			}
			return new(defaultOff), nil
		})
		if !errors.Is(err, errDown) {
			t.Errorf("Check error = %v, want one wrapping %v", err, errDown)
		}
		// The failure found before newStore failed is kept.
		want := `GetMissing: Get("missing") returned no error for a flag that is not in the store; want one wrapping flags.ErrNotFound
flagstest: stopped at SetGet: newStore: database down`
		if err == nil || err.Error() != want {
			t.Errorf("Check error =\n%v\nwant\n%s", err, want)
		}
		if calls != 2 {
			t.Errorf("Check called newStore %d times after it failed, want no more", calls-2)
		}
	})
	t.Run("newStore returns nil", func(t *testing.T) {
		err := flagstest.Check(t.Context(), func() (flags.Store, error) { return nil, nil })
		if want := "flagstest: stopped at GetMissing: newStore: returned a nil Store"; err == nil || err.Error() != want {
			t.Errorf("Check error = %v, want %q", err, want)
		}
	})
	t.Run("context done", func(t *testing.T) {
		errShutdown := errors.New("shutting down")
		ctx, cancel := context.WithCancelCause(t.Context())
		cancel(errShutdown)
		err := flagstest.Check(ctx, func() (flags.Store, error) {
			t.Error("Check called newStore with its context done")
			return new(flags.Memory), nil
		})
		if want := "flagstest: stopped before GetMissing: shutting down"; !errors.Is(err, errShutdown) || err.Error() != want {
			t.Errorf("Check error = %v, want %q, wrapping the context's cause", err, want)
		}
	})
}

// sorted returns the distinct strings of s, sorted.
func sorted(s []string) []string { return slices.Compact(slices.Sorted(slices.Values(s))) }

// lenientDelete deletes a missing flag without complaint.
type lenientDelete struct{ flags.Memory }

func (s *lenientDelete) Delete(ctx context.Context, name string) error {
	if err := s.Memory.Delete(ctx, name); !errors.Is(err, flags.ErrNotFound) {
		return err
	}
	return nil
}

// collated lists flags in case-insensitive order, as a database with a
// case-insensitive collation would.
type collated struct{ flags.Memory }

func (s *collated) List(ctx context.Context) ([]flags.Flag, error) {
	list, err := s.Memory.List(ctx)
	slices.SortStableFunc(list, func(a, b flags.Flag) int {
		return strings.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name))
	})
	return list, err
}

// noRows fails to list an empty store, as a database client that reports
// "no rows" as an error might.
type noRows struct{ flags.Memory }

func (s *noRows) List(ctx context.Context) ([]flags.Flag, error) {
	list, err := s.Memory.List(ctx)
	if err == nil && len(list) == 0 {
		return nil, errors.New("sql: no rows in result set")
	}
	return list, err
}

// unvalidated is a map behind a lock, right in everything but one: it
// stores any name at all.
type unvalidated struct {
	mu    sync.Mutex
	flags map[string]flags.Flag
}

func (s *unvalidated) Get(_ context.Context, name string) (flags.Flag, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.flags[name]
	if !ok {
		return flags.Flag{}, fmt.Errorf("%w: %q", flags.ErrNotFound, name)
	}
	return f, nil
}

func (s *unvalidated) Set(_ context.Context, f flags.Flag) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.flags == nil {
		s.flags = make(map[string]flags.Flag)
	}
	s.flags[f.Name] = f
	return nil
}

func (s *unvalidated) Delete(_ context.Context, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.flags[name]; !ok {
		return fmt.Errorf("%w: %q", flags.ErrNotFound, name)
	}
	delete(s.flags, name)
	return nil
}

func (s *unvalidated) List(context.Context) ([]flags.Flag, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var list []flags.Flag
	for _, f := range s.flags {
		list = append(list, f)
	}
	slices.SortFunc(list, func(a, b flags.Flag) int { return strings.Compare(a.Name, b.Name) })
	return list, nil
}

// validatesLate refuses an invalid flag, but only after storing it.
type validatesLate struct{ unvalidated }

func (s *validatesLate) Set(ctx context.Context, f flags.Flag) error {
	if err := s.unvalidated.Set(ctx, f); err != nil {
		return err
	}
	return f.Validate()
}

// strict accepts only lower-case ASCII names, a stricter rule than
// flags.Flag.Validate's.
type strict struct{ flags.Memory }

func (s *strict) Set(ctx context.Context, f flags.Flag) error {
	for _, r := range f.Name {
		if !strings.ContainsRune("abcdefghijklmnopqrstuvwxyz0123456789.-", r) {
			return fmt.Errorf("%w: Name %q is not lower-case ASCII", flags.ErrInvalid, f.Name)
		}
	}
	return s.Memory.Set(ctx, f)
}

// patching changes only the fields of a flag that are set, like an HTTP
// PATCH of a JSON document with omitempty fields: it cannot clear a
// description, nor turn a flag off.
type patching struct {
	mu sync.Mutex // makes Get-then-Set atomic
	flags.Memory
}

func (s *patching) Set(ctx context.Context, f flags.Flag) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, err := s.Memory.Get(ctx, f.Name); err == nil {
		f.Enabled = f.Enabled || old.Enabled
		if f.Description == "" {
			f.Description = old.Description
		}
	}
	return s.Memory.Set(ctx, f)
}

// cachedList keeps the result of List until the next change, and returns
// the cache itself, which callers can then change.
type cachedList struct {
	mu    sync.Mutex
	cache []flags.Flag // nil when stale
	flags.Memory
}

func (s *cachedList) List(ctx context.Context) ([]flags.Flag, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cache == nil {
		list, err := s.Memory.List(ctx)
		if err != nil {
			return nil, err
		}
		s.cache = list
	}
	return s.cache, nil
}

func (s *cachedList) Set(ctx context.Context, f flags.Flag) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cache = nil
	return s.Memory.Set(ctx, f)
}

func (s *cachedList) Delete(ctx context.Context, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cache = nil
	return s.Memory.Delete(ctx, name)
}

// opaque honours cancellation, but its errors keep only the cause's text,
// as a client that formats errors with %v would.
type opaque struct{ flags.Memory }

func (s *opaque) check(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return errors.New("request failed: " + err.Error())
	}
	return nil
}

func (s *opaque) Get(ctx context.Context, name string) (flags.Flag, error) {
	if err := s.check(ctx); err != nil {
		return flags.Flag{}, err
	}
	return s.Memory.Get(ctx, name)
}

func (s *opaque) Set(ctx context.Context, f flags.Flag) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	return s.Memory.Set(ctx, f)
}

func (s *opaque) Delete(ctx context.Context, name string) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	return s.Memory.Delete(ctx, name)
}

func (s *opaque) List(ctx context.Context) ([]flags.Flag, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	return s.Memory.List(ctx)
}

// fireAndForget acknowledges a valid Set at once, and drops it if ctx is
// done before it gets to write.
type fireAndForget struct{ flags.Memory }

func (s *fireAndForget) Set(ctx context.Context, f flags.Flag) error {
	if err := f.Validate(); err != nil {
		return err
	}
	if ctx.Err() != nil {
		return nil // the mistake: the write is lost, but reported as done
	}
	return s.Memory.Set(ctx, f)
}

// unguarded is not safe for concurrent use. Rather than race, which the
// race detector would report but a test cannot assert, its Set fails
// when another Set is under way. Each Set takes a millisecond, so that in a
// synctest bubble every other goroutine runs, and calls Set, meanwhile.
type unguarded struct {
	busy atomic.Bool
	flags.Memory
}

func (s *unguarded) Set(ctx context.Context, f flags.Flag) error {
	if !s.busy.CompareAndSwap(false, true) {
		return errors.New("store busy")
	}
	defer s.busy.Store(false)
	time.Sleep(time.Millisecond)
	return s.Memory.Set(ctx, f)
}
