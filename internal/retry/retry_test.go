package retry

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"testing/synctest"
	"time"
)

var errPass = errors.New("passing")

func transient(err error) bool { return errors.Is(err, errPass) }

func TestQuery(t *testing.T) {
	permanent := errors.New("bad query")
	for _, tc := range []struct {
		name     string
		retryFor time.Duration
		fails    []error // what each attempt returns, then nil
		attempts int
		want     string // substring of the error; empty for success
	}{
		{name: "first try", retryFor: time.Minute, attempts: 1},
		{name: "transient then success", retryFor: time.Minute, fails: []error{errPass, errPass}, attempts: 3},
		{name: "permanent stops at once", retryFor: time.Minute, fails: []error{permanent, errPass}, attempts: 1, want: "query up: bad query"},
		{name: "no retries", retryFor: 0, fails: []error{errPass}, attempts: 1, want: "query up: passing"},
		{name: "gives up", retryFor: time.Second, fails: repeat(errPass, 100), attempts: -1, want: "gave up after"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				n := 0
				err := Query(t.Context(), "up", tc.retryFor, 0, transient, func(context.Context) error {
					n++
					if n <= len(tc.fails) {
						return tc.fails[n-1]
					}
					return nil
				})
				if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
					t.Fatalf("err = %v, want %q", err, tc.want)
				}
				if tc.attempts > 0 && n != tc.attempts {
					t.Errorf("%d attempts, want %d", n, tc.attempts)
				}
				if tc.want != "" && len(tc.fails) > 0 && !errors.Is(err, tc.fails[0]) {
					t.Errorf("err = %v does not wrap the attempt's error", err)
				}
			})
		})
	}
}

func TestQueryTimeoutPerAttempt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := 0
		err := Query(t.Context(), "up", time.Minute, time.Second, Network, func(ctx context.Context) error {
			n++
			if n < 3 {
				<-ctx.Done() // a hanging attempt, cut by the timeout and retried
				return ctx.Err()
			}
			return nil
		})
		if err != nil || n != 3 {
			t.Fatalf("err = %v after %d attempts, want success after 3", err, n)
		}
	})
}

func TestQueryContextEndsWhileWaiting(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
		defer cancel()
		err := Query(ctx, "up", time.Minute, 0, transient, func(context.Context) error { return errPass })
		if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, errPass) {
			t.Fatalf("err = %v, want both the context's error and the last attempt's", err)
		}
	})
}

// The context ends during a retry, which fails with nothing but the
// context's error: the error still says what the attempt before met.
func TestQueryContextEndsDuringARetry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		n := 0
		err := Query(ctx, "up", time.Minute, 0, transient, func(ctx context.Context) error {
			n++
			if n == 1 {
				return errPass
			}
			<-ctx.Done() // a retry under way when the caller gives up
			return fmt.Errorf("post: %w", ctx.Err())
		})
		if n != 2 || !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, errPass) {
			t.Fatalf("err = %v after %d attempts, want both the context's error and the first attempt's after 2", err, n)
		}
	})
}

func TestNetwork(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{fmt.Errorf("dial: %w", syscall.ECONNREFUSED), true},
		{context.DeadlineExceeded, true},
		{errors.New("parse error"), false},
		{context.Canceled, false},
	} {
		if got := Network(tc.err); got != tc.want {
			t.Errorf("Network(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
	if !Status(503) || !Status(429) || Status(400) {
		t.Error("Status: want 429 and 5xx transient, 4xx not")
	}
}

func repeat(err error, n int) []error {
	out := make([]error, n)
	for i := range out {
		out[i] = err
	}
	return out
}

// The context ends during a retry that fails of its own accord at that
// moment: the error names that failure, the newest, not the one before.
func TestQueryContextEndsAsARetryFails(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		reset := errors.New("connection reset by peer")
		n := 0
		err := Query(ctx, "up", time.Minute, 0, transient, func(ctx context.Context) error {
			n++
			if n == 1 {
				return errPass
			}
			<-ctx.Done()
			return reset // the connection broke as the caller gave up
		})
		if n != 2 || !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, reset) {
			t.Fatalf("err = %v after %d attempts, want the context's error and the newest failure after 2", err, n)
		}
	})
}
