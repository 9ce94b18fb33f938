// Package errlist is the one way the library combines errors that each
// name a problem: a *multierror.Error (hashicorp/go-multierror) with one
// format — a count, then one problem per line.
//
// Why go-multierror rather than errors.Join: the list is the error a person
// reads (an invalid plan, every failed pre-flight check), so its format
// matters, and a *multierror.Error carries its format and answers
// errors.Is and errors.As for every problem in it. What it does not do by
// itself is flatten lists built elsewhere; Join flattens every error with
// an Unwrap() []error method whose message is just its parts' (errors.Join's,
// a user's built the same way) as well as nested
// *multierror.Error, so that each problem gets its own line however it was
// combined.
package errlist

import (
	"fmt"
	"strings"

	"github.com/hashicorp/go-multierror"
)

// Join returns nil when every err is nil, or else one *multierror.Error
// listing each problem in errs, nested lists flattened, formatted by Format.
func Join(errs ...error) error {
	return Prefix("", errs...)
}

// Prefix is Join with prefix written before each problem, as in
// "Strategy.MaxSurge = 2: …" from a nested validator's "MaxSurge = 2: …".
func Prefix(prefix string, errs ...error) error {
	var flat []error
	for _, err := range errs {
		flat = flatten(flat, err)
	}
	if len(flat) == 0 {
		return nil
	}
	m := &multierror.Error{ErrorFormat: Format}
	for _, e := range flat {
		if prefix != "" {
			e = fmt.Errorf("%s%w", prefix, e)
		}
		m.Errors = append(m.Errors, e)
	}
	return m
}

// Flatten returns the problems in err: nil for nil, each problem of a list
// (nested lists flattened), or err itself.
func Flatten(err error) []error { return flatten(nil, err) }

// flatten appends the problems in err to out: err itself, or, for a list,
// each of its problems, recursively.
func flatten(out []error, err error) []error {
	switch e := err.(type) {
	case nil:
		return out
	case *multierror.Error:
		if e == nil {
			return out
		}
		for _, x := range e.Errors {
			out = flatten(out, x)
		}
		return out
	case interface{ Unwrap() []error }:
		if !isList(err, e.Unwrap()) {
			break
		}
		for _, x := range e.Unwrap() {
			out = flatten(out, x)
		}
		return out
	}
	return append(out, err)
}

// isList reports whether err is a plain list of its parts, as errors.Join
// builds one: its message is theirs, one per line. An error that wraps
// several with words of its own (fmt.Errorf("%w: %w", …)) is one problem,
// and keeps its words.
func isList(err error, parts []error) bool {
	msgs := make([]string, 0, len(parts))
	for _, p := range parts {
		if p != nil {
			msgs = append(msgs, p.Error())
		}
	}
	return len(msgs) > 0 && err.Error() == strings.Join(msgs, "\n")
}

// Format lists errs as "N problem(s):" followed by one indented line each.
func Format(errs []error) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d problem(s):", len(errs))
	for _, e := range errs {
		b.WriteString("\n\t* ")
		b.WriteString(e.Error())
	}
	return b.String()
}
