package flags

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// ErrInvalid is returned (wrapped) by Set, and by [Flag.Validate], for a flag
// that cannot be stored.
var ErrInvalid = errors.New("flags: invalid flag")

// Validate reports whether f can be stored. Its Name must be non-empty, valid
// UTF-8 and made of visible characters only: no spaces, tabs, newlines or
// other whitespace, no control characters and no invisible ones such as
// U+200B ZERO WIDTH SPACE, so that a name reads the same in a log, a file and
// a terminal. The error wraps ErrInvalid and names the field and its value.
func (f Flag) Validate() error {
	if f.Name == "" {
		return fmt.Errorf("%w: Name is empty", ErrInvalid)
	}
	if !utf8.ValidString(f.Name) {
		return fmt.Errorf("%w: Name %q is not valid UTF-8", ErrInvalid, f.Name)
	}
	for _, r := range f.Name {
		if r == ' ' || !unicode.IsPrint(r) {
			return fmt.Errorf("%w: Name %q contains %U, which is whitespace or invisible", ErrInvalid, f.Name, r)
		}
	}
	return nil
}

// sorted returns the flags in m as a non-nil slice sorted by name.
func sorted(m map[string]Flag) []Flag {
	list := slices.AppendSeq(make([]Flag, 0, len(m)), maps.Values(m))
	slices.SortFunc(list, func(a, b Flag) int { return strings.Compare(a.Name, b.Name) })
	return list
}
