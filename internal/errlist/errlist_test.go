package errlist

import (
	"errors"
	"testing"
)

func TestJoin(t *testing.T) {
	if err := Join(nil, nil); err != nil {
		t.Errorf("Join(nil, nil) = %v, want nil", err)
	}
	a, b, c := errors.New("a"), errors.New("b"), errors.New("c")
	err := Join(a, nil, Join(b, c))
	want := "3 problem(s):\n\t* a\n\t* b\n\t* c"
	if err == nil || err.Error() != want {
		t.Fatalf("Join = %q, want %q", err, want)
	}
	if !errors.Is(err, c) {
		t.Error("a nested error is not reachable with errors.Is")
	}
}
