package goose

import (
	"context"
	"log/slog"
	"sync"
)

// goose's verbose log announces each statement before running it, as an
// Info record with this message and the statement in an attribute.
const (
	msgStatement  = "executing statement"
	attrStatement = "statement"
)

// capture is the slog.Handler given to goose. While on, it keeps the
// statements goose announces, so that a failure can name the statement
// that was running; it passes every record on to next, if any, the
// announcements at Debug level.
type capture struct {
	next slog.Handler // nil: drop records

	mu         sync.Mutex
	on         bool
	statements []string
}

// start begins recording statements; stop ends it and returns them.
func (c *capture) start() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.on, c.statements = true, nil
}

func (c *capture) stop() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.on = false
	return c.statements
}

// Enabled is true: announcements must be seen whatever next wants.
func (c *capture) Enabled(context.Context, slog.Level) bool { return true }

func (c *capture) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == msgStatement {
		r.Attrs(func(a slog.Attr) bool {
			if a.Key != attrStatement {
				return true
			}
			c.mu.Lock()
			if c.on {
				c.statements = append(c.statements, a.Value.String())
			}
			c.mu.Unlock()
			return false
		})
		r.Level = slog.LevelDebug
	}
	if c.next == nil || !c.next.Enabled(ctx, r.Level) {
		return nil
	}
	return c.next.Handle(ctx, r)
}

// WithAttrs and WithGroup are not used by goose; records logged through
// the derived handlers are only passed on.
func (c *capture) WithAttrs(as []slog.Attr) slog.Handler {
	if c.next == nil {
		return slog.DiscardHandler
	}
	return c.next.WithAttrs(as)
}

func (c *capture) WithGroup(name string) slog.Handler {
	if c.next == nil {
		return slog.DiscardHandler
	}
	return c.next.WithGroup(name)
}
