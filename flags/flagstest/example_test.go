package flagstest_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/safedeploy/safedeploy/flags"
	"github.com/safedeploy/safedeploy/flags/flagstest"
)

// defaultOff reads a flag that is not in the store as a disabled one, as a
// key-value store that returns a zero value for a missing key might. Given
// it, flags.KillSwitch would report that it turned off a kill switch that
// does not exist.
type defaultOff struct{ flags.Memory }

func (s *defaultOff) Get(ctx context.Context, name string) (flags.Flag, error) {
	f, err := s.Memory.Get(ctx, name)
	if errors.Is(err, flags.ErrNotFound) {
		return flags.Flag{Name: name}, nil // the mistake
	}
	return f, err
}

// Check names each check a store fails and what the store did wrong.
func ExampleCheck() {
	check := func(newStore func() (flags.Store, error)) {
		if err := flagstest.Check(context.Background(), newStore); err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println("ok")
	}
	check(func() (flags.Store, error) { return new(flags.Memory), nil })
	check(func() (flags.Store, error) { return new(defaultOff), nil })
	// Output:
	// ok
	// GetMissing: Get("missing") returned no error for a flag that is not in the store; want one wrapping flags.ErrNotFound
	// Delete: Get("drop") after Delete("drop") returned no error for a flag that is not in the store; want one wrapping flags.ErrNotFound
	// CancelledContext: Get("present") after a Delete("present") that succeeded with a cancelled context returned no error for a flag that is not in the store; want one wrapping flags.ErrNotFound
}
