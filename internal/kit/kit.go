// Package kit is the engine of the conformance suites in flagstest,
// strategytest, migratetest, journaltest, verifytest and logstest: named
// checks that Run runs as subtests and Check runs outside a test, with
// what a check finds wrong collected in a Report. The first four give each
// check a new subject; verifytest and logstest give every check the same
// Harness, a source over known data. The kits keep their own exported Run
// and Check, documented for their subject; this package makes them behave
// alike.
package kit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"sync"
	"testing"
)

// A Report collects what one check finds wrong, and what must be closed
// when it ends. It is safe for concurrent use.
type Report struct {
	mu      sync.Mutex
	errs    []error
	closers []io.Closer
}

// Errorf records a failure of the check.
func (r *Report) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, fmt.Errorf(format, args...))
}

// CloseAtEnd has c closed when the check ends, after the check's own
// clean-up, in the reverse order of the calls; an error from Close is a
// failure of the check.
func (r *Report) CloseAtEnd(c io.Closer) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closers = append(r.closers, c)
}

// end closes what CloseAtEnd was given and returns the failures.
func (r *Report) end() []error {
	r.mu.Lock()
	closers := r.closers
	r.closers = nil
	r.mu.Unlock()
	for _, c := range slices.Backward(closers) {
		if err := c.Close(); err != nil {
			r.Errorf("Close: %w", err)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.errs
}

// A Check is one conformance check: a subtest of Run, a prefix in Check's
// error. It is given a subject, from the function Run or Check was given,
// and reports what it finds wrong to r.
type Check[S any] struct {
	Name string
	Run  func(ctx context.Context, s S, r *Report)
}

// A Suite is a kit's checks and the words its messages use.
type Suite[S any] struct {
	// Kit names the kit: "flagstest".
	Kit string
	// New names the function that makes subjects, "newStore", and
	// Subject what it makes, "Store". A kit whose checks share one subject
	// that cannot be nil, a Harness, needs neither.
	New, Subject string
	// Checks are the checks, in the order they run.
	Checks []Check[S]
	// CloseSubject has Check close each subject that is an io.Closer once
	// its check ends (under Run the test's clean-up does).
	CloseSubject bool
}

// Each returns a check for each of values, in their order, named
// name/value: one subtest under Run, which go test reports and -run
// matches as subtest value of a subtest name.
func Each[S any](name string, values []string, run func(ctx context.Context, s S, value string, r *Report)) []Check[S] {
	checks := make([]Check[S], len(values))
	for i, v := range values {
		checks[i] = Check[S]{Name: name + "/" + v, Run: func(ctx context.Context, s S, r *Report) { run(ctx, s, v, r) }}
	}
	return checks
}

// Run runs every check as a subtest of t named after it, each with a new
// subject from newSubject, given the subtest's t; a nil subject fails the
// subtest.
func (s Suite[S]) Run(t *testing.T, newSubject func(t *testing.T) S) {
	t.Helper()
	for _, c := range s.Checks {
		t.Run(c.Name, func(t *testing.T) {
			subj := newSubject(t)
			if isNil(subj) {
				t.Fatalf("%s: %s returned a nil %s", s.Kit, s.New, s.Subject)
			}
			var r Report
			c.Run(t.Context(), subj, &r)
			for _, err := range r.end() {
				t.Error(err)
			}
		})
	}
}

// Check runs every check with ctx, each with a new subject from
// newSubject, and returns nil or one error listing every failure, each
// prefixed with the name of its check. If newSubject fails or returns nil,
// or ctx is done before a check starts, it stops there and adds an error
// saying so, wrapping newSubject's error or the context's cause.
func (s Suite[S]) Check(ctx context.Context, newSubject func() (S, error)) error {
	var errs []error
	for _, c := range s.Checks {
		if ctx.Err() != nil {
			errs = append(errs, fmt.Errorf("%s: stopped before %s: %w", s.Kit, c.Name, context.Cause(ctx)))
			break
		}
		subj, err := newSubject()
		if err == nil && isNil(subj) {
			err = fmt.Errorf("returned a nil %s", s.Subject)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: stopped at %s: %s: %w", s.Kit, c.Name, s.New, err))
			break
		}
		var r Report
		if cl, ok := any(subj).(io.Closer); ok && s.CloseSubject {
			r.CloseAtEnd(cl)
		}
		c.Run(ctx, subj, &r)
		for _, err := range r.end() {
			errs = append(errs, fmt.Errorf("%s: %w", c.Name, err))
		}
	}
	// One error listing every failure, as testing/slogtest's Run returns.
	return errors.Join(errs...)
}

// isNil reports whether v is nil: a nil interface, pointer, func, map,
// slice or channel.
func isNil(v any) bool {
	rv := reflect.ValueOf(v)
	if !rv.IsValid() {
		return true
	}
	switch rv.Kind() {
	case reflect.Pointer, reflect.Func, reflect.Map, reflect.Slice, reflect.Chan, reflect.Interface:
		return rv.IsNil()
	}
	return false
}
