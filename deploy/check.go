package deploy

import (
	"context"
	"fmt"
)

// A Check is a pre-flight check. It returns nil when the plan may go ahead,
// or an error saying why not. Checks must not change anything.
type Check interface {
	Check(ctx context.Context, p *Plan) error
}

// CheckFunc turns a function into a Check.
type CheckFunc func(ctx context.Context, p *Plan) error

// Check calls f(ctx, p).
func (f CheckFunc) Check(ctx context.Context, p *Plan) error { return f(ctx, p) }

// Named gives a check a name, used in events and in the pre-flight error.
func Named(name string, c Check) Check { return named{name, c} }

type named struct {
	name string
	c    Check
}

func (n named) Check(ctx context.Context, p *Plan) error { return n.c.Check(ctx, p) }
func (n named) String() string                           { return n.name }

// checkName returns c's name, or a fallback.
func checkName(c Check, fallback string) string {
	if s, ok := c.(fmt.Stringer); ok {
		return s.String()
	}
	return fallback
}
