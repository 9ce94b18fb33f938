// Package errlist formats "every problem at once" errors the same way in
// every package: a count, then one problem per line.
package errlist

import (
	"fmt"
	"strings"

	"github.com/hashicorp/go-multierror"
)

// Join returns nil when every err is nil, or else one *multierror.Error
// listing each non-nil err (nested lists flattened), formatted by Format.
func Join(errs ...error) error {
	m := multierror.Append(&multierror.Error{ErrorFormat: Format}, errs...)
	return m.ErrorOrNil()
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
