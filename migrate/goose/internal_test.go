package goose

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	pressly "github.com/pressly/goose/v3"

	"github.com/safedeploy/safedeploy/migrate"
)

func TestFirstWordAndSessionOnly(t *testing.T) {
	for _, tt := range []struct {
		stmt, word string
		session    bool
	}{
		{"SET lock_timeout = '1s';", "SET", true},
		{"  set statement_timeout = 0", "set", true},
		{"RESET ALL;", "RESET", true},
		{"-- why\nSET search_path = app;", "SET", true},
		{"/* a /* nested */ comment */ SET x = 1", "SET", true},
		{"SETTINGS", "SETTINGS", false},
		{"CREATE INDEX CONCURRENTLY i ON t (a);", "CREATE", false},
		{"UPDATE t SET a = 1", "UPDATE", false},
		{"-- only a comment", "", false},
		{"/* unterminated", "", false},
		{"", "", false},
	} {
		if got := firstWord(tt.stmt); got != tt.word {
			t.Errorf("firstWord(%q) = %q, want %q", tt.stmt, got, tt.word)
		}
		if got := sessionOnly(tt.stmt); got != tt.session {
			t.Errorf("sessionOnly(%q) = %t, want %t", tt.stmt, got, tt.session)
		}
	}
}

func TestAnalyze(t *testing.T) {
	for _, tt := range []struct {
		name, file string
		want       plan
	}{
		{
			name: "in a transaction",
			file: "-- +goose Up\nCREATE TABLE t (a int);\nINSERT INTO t VALUES (1);\n\n-- +goose Down\nDROP TABLE t;\n",
			want: plan{statements: []string{"CREATE TABLE t (a int);", "INSERT INTO t VALUES (1);"}, tx: true},
		},
		{
			name: "no transaction",
			file: "-- +goose NO TRANSACTION\n-- +goose Up\nSET statement_timeout = 0;\nCREATE INDEX CONCURRENTLY i ON t (a);\n",
			want: plan{statements: []string{"SET statement_timeout = 0;", "CREATE INDEX CONCURRENTLY i ON t (a);"}},
		},
		{
			name: "statement block",
			file: "-- +goose Up\n-- +goose StatementBegin\nCREATE FUNCTION f() RETURNS int AS $$\nBEGIN\n  RETURN 1;\nEND;\n$$ LANGUAGE plpgsql;\n-- +goose StatementEnd\n",
			want: plan{statements: []string{"CREATE FUNCTION f() RETURNS int AS $$\nBEGIN\n  RETURN 1;\nEND;\n$$ LANGUAGE plpgsql;"}, tx: true},
		},
		{
			name: "empty",
			file: "-- +goose Up\n",
			want: plan{tx: true},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := analyze(pressly.DialectPostgres, "db/00007_x.sql", []byte(tt.file))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(plan{})); diff != "" {
				t.Errorf("plan (-want +got):\n%s", diff)
			}
		})
	}
}

func TestAnalyzeRefuses(t *testing.T) {
	if _, err := analyze(pressly.DialectPostgres, "00001_x.sql", []byte("-- +goose StatementBegin\nSELECT 1;\n")); err == nil {
		t.Error("a file goose cannot parse: nil error")
	}
	if _, err := analyze(pressly.DialectPostgres, "notes.sql", []byte("-- +goose Up\nSELECT 1;\n")); err == nil {
		t.Error("a file name without a version: nil error")
	}
}

func TestCapture(t *testing.T) {
	var buf bytes.Buffer
	c := &capture{next: slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})}
	log := slog.New(c)
	ctx := context.Background()

	log.InfoContext(ctx, msgStatement, "statement", "before start")
	c.start()
	log.InfoContext(ctx, msgStatement, "source", "00001_x.sql", "statement", "CREATE TABLE t (a int);")
	log.InfoContext(ctx, "migration completed", "source", "00001_x.sql")
	log.InfoContext(ctx, msgStatement, "statement", "INSERT INTO t VALUES (1);")
	got := c.stop()
	log.InfoContext(ctx, msgStatement, "statement", "after stop")

	if diff := cmp.Diff([]string{"CREATE TABLE t (a int);", "INSERT INTO t VALUES (1);"}, got); diff != "" {
		t.Errorf("captured (-want +got):\n%s", diff)
	}
	out := buf.String()
	if n := strings.Count(out, "level=DEBUG msg=\"executing statement\""); n != 4 {
		t.Errorf("%d statements passed on at Debug, want 4:\n%s", n, out)
	}
	if !strings.Contains(out, "level=INFO msg=\"migration completed\"") {
		t.Errorf("other records not passed on at their level:\n%s", out)
	}

	// Nothing to pass on to: nothing breaks.
	quiet := &capture{}
	quiet.start()
	slog.New(quiet).With("a", 1).WithGroup("g").Info(msgStatement, "statement", "x")
	slog.New(quiet).Info(msgStatement, "statement", "y")
	if got := quiet.stop(); !cmp.Equal(got, []string{"y"}) {
		t.Errorf("captured %q, want [y]", got)
	}
}

// lockAt is a Locker that someone else holds until free (never, if zero),
// in a synctest bubble's time.
type lockAt struct {
	free  time.Time
	err   error
	tries int
}

func (l *lockAt) TryLock(ctx context.Context) (func(context.Context) error, error) {
	l.tries++
	if l.err != nil {
		return nil, l.err
	}
	if l.free.IsZero() || time.Now().Before(l.free) {
		return nil, nil
	}
	return func(context.Context) error { return nil }, nil
}

func TestAcquire(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		l := &lockAt{free: start.Add(2 * time.Second)}
		release, err := acquire(t.Context(), l, 3*time.Second)
		if err != nil || release == nil {
			t.Fatalf("acquire of a lock freed after 2s, waiting 3s = %v", err)
		}
		// Backoff up to 250ms, ±50% jitter: it notices within 375ms.
		if took := time.Since(start); took < 2*time.Second || took > 2375*time.Millisecond {
			t.Errorf("took the lock after %s, want 2s-2.375s", took)
		}
	})
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		l := &lockAt{}
		_, err := acquire(t.Context(), l, 3*time.Second)
		if !errors.Is(err, ErrBusy) || !errors.Is(err, migrate.ErrLockTimeout) {
			t.Fatalf("acquire of a lock never freed = %v, want ErrBusy and ErrLockTimeout", err)
		}
		if took := time.Since(start); took > 3*time.Second || took < 2*time.Second {
			t.Errorf("gave up after %s, want about 3s", took)
		}
		if l.tries < 10 || l.tries > 40 {
			t.Errorf("tried %d times in 3s, want a backoff from 10ms to 250ms", l.tries)
		}
	})
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		_, err := acquire(ctx, &lockAt{}, time.Hour)
		if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, migrate.ErrLockTimeout) {
			t.Errorf("acquire until the context's deadline = %v, want DeadlineExceeded, not a lock timeout", err)
		}
	})
	synctest.Test(t, func(t *testing.T) {
		down := errors.New("connection refused")
		l := &lockAt{err: down}
		_, err := acquire(t.Context(), l, time.Hour)
		if !errors.Is(err, down) || errors.Is(err, migrate.ErrLockTimeout) || l.tries != 1 {
			t.Errorf("acquire of a lock that cannot be asked for = %v after %d tries, want the error at once, not a lock timeout", err, l.tries)
		}
	})
}

func TestApplyErrorSaysWhatToDo(t *testing.T) {
	cause := errors.New("boom")
	for _, tt := range []struct {
		name string
		e    ApplyError
		want string
	}{
		{"rolled back", ApplyError{Migration: "3.sql", Statement: 1, Statements: 2, SQL: "B", InTransaction: true, ran: true, Err: cause},
			"migrate/goose: apply 3.sql: statement 2 of 2 (B) failed; the migration was rolled back; it stays pending and is applied first next time, so fix this migration itself (a new migration would only run after it): boom"},
		{"outside a transaction, nothing before", ApplyError{Migration: "3.sql", Statement: 0, Statements: 1, SQL: "A", ran: true, Err: cause},
			"migrate/goose: apply 3.sql: statement 1 of 1 (A) failed; it stays pending and is applied first next time, so fix this migration itself (a new migration would only run after it): boom"},
		{"outside a transaction, after a SET", ApplyError{Migration: "3.sql", Statement: 1, Statements: 2, SQL: "B", ran: true, Err: cause},
			"migrate/goose: apply 3.sql: statement 2 of 2 (B) failed outside a transaction; statement 1 ran and stays applied; it stays pending and is applied first next time, so fix this migration itself (a new migration would only run after it): boom"},
		{"outside a transaction, after a change", ApplyError{Migration: "3.sql", Statement: 2, Statements: 3, SQL: "C", ran: true, changed: true, Err: cause},
			"migrate/goose: apply 3.sql: statement 3 of 3 (C) failed outside a transaction; statements 1-2 ran and stay applied; it stays pending and is applied first next time, so fix this migration itself (a new migration would only run after it), and take out the statements that ran, or make them safe to run again (IF NOT EXISTS): boom"},
		{"unrecorded", ApplyError{Migration: "3.sql", Statement: -1, Statements: 1, Unrecorded: true, ran: true, Err: cause},
			"migrate/goose: apply 3.sql ran outside a transaction, but goose could not record it as applied: record the version by hand rather than run it again: boom"},
		{"the guard failed", ApplyError{Migration: "3.sql", Statement: -1, Err: cause},
			"migrate/goose: apply 3.sql failed: boom"},
	} {
		if got := tt.e.Error(); got != tt.want {
			t.Errorf("%s:\n got %s\nwant %s", tt.name, got, tt.want)
		}
	}
}
