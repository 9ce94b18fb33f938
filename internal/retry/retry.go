// Package retry asks an HTTP query API again while its failures may pass:
// the one retry loop of the Prometheus and Loki sources.
package retry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"time"

	"github.com/cenkalti/backoff/v4"
)

// Query calls attempt until it succeeds, fails with an error transient
// does not accept, or for retries would wait past retryFor after the first
// attempt (none when retryFor is zero or negative), backing off
// exponentially from 100ms to 5s between attempts. Each attempt gets a
// context bounded by timeout, if positive; the caller's ctx bounds them
// all.
//
// The error names query and, after more than one attempt, how many were
// made; it wraps the last attempt's error. When ctx ends first, it wraps
// the context's error and the last failure ctx's end did not cause: the
// attempt before, when ctx ended during an attempt that was retrying one.
func Query(ctx context.Context, query string, retryFor, timeout time.Duration, transient func(error) bool, attempt func(ctx context.Context) error) error {
	var (
		last     error
		failed   error // the last failure of an attempt ctx's end did not cut short
		attempts int
	)
	try := func() error {
		attempts++
		actx := ctx
		if timeout > 0 {
			var cancel context.CancelFunc
			actx, cancel = context.WithTimeout(ctx, timeout)
			defer cancel()
		}
		last = attempt(actx)
		if last != nil && (ctx.Err() == nil || !errors.Is(last, ctx.Err())) {
			failed = last
		}
		if last != nil && (ctx.Err() != nil || !transient(last)) {
			return backoff.Permanent(last)
		}
		return last
	}
	var b backoff.BackOff = &backoff.StopBackOff{}
	if retryFor > 0 {
		e := backoff.NewExponentialBackOff()
		e.InitialInterval = 100 * time.Millisecond
		e.MaxInterval = 5 * time.Second
		e.MaxElapsedTime = retryFor
		b = e
	}
	err := backoff.Retry(try, backoff.WithContext(b, ctx))
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil && failed != nil:
		// The context ended while waiting to retry, or cut short an
		// attempt that was retrying another (whose error then says
		// nothing but that the context ended): say why, and what failed.
		return fmt.Errorf("query %s: %w after %d attempt(s), the last failing with: %w", query, ctx.Err(), attempts, failed)
	case attempts > 1:
		return fmt.Errorf("query %s: gave up after %d attempts: %w", query, attempts, last)
	}
	return fmt.Errorf("query %s: %w", query, last)
}

// Status reports whether an HTTP status may pass if asked again: 429 Too
// Many Requests and every 5xx.
func Status(code int) bool { return code == 429 || code >= 500 }

// Network reports whether err is a failure of the connection that may
// pass if asked again: refused, reset, cut short, or timed out (an
// attempt's own timeout included; Query checks the caller's context
// first).
func Network(err error) bool {
	var op *net.OpError
	switch {
	case errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return true
	case errors.As(err, &op):
		return op.Op == "dial" || op.Op == "read" || op.Op == "write"
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
