package errlist

import (
	"errors"
	"fmt"
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

func TestJoinFlattensErrorsJoin(t *testing.T) {
	a, b, c := errors.New("a"), errors.New("b"), errors.New("c")
	err := Prefix("Strategy.", errors.Join(a, b), c)
	want := "3 problem(s):\n\t* Strategy.a\n\t* Strategy.b\n\t* Strategy.c"
	if err == nil || err.Error() != want {
		t.Fatalf("Prefix = %q, want %q", err, want)
	}
	if !errors.Is(err, b) {
		t.Error("a flattened error is not reachable with errors.Is")
	}
}

func TestJoinKeepsWrappingWords(t *testing.T) {
	a, b := errors.New("a"), errors.New("b")
	wrapped := fmt.Errorf("while deploying %w: %w", a, b)
	err := Join(wrapped)
	want := "1 problem(s):\n\t* while deploying a: b"
	if err == nil || err.Error() != want {
		t.Fatalf("Join = %q, want %q", err, want)
	}
}
