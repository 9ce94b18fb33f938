package postgres

import (
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/safedeploy/safedeploy/internal/testserver/pgtest"
	"github.com/safedeploy/safedeploy/journal"
	"github.com/safedeploy/safedeploy/journal/internal/contend"
	"github.com/safedeploy/safedeploy/journal/journaltest"
	"github.com/safedeploy/safedeploy/runbook"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Run(m)) }

// openTemp opens a journal in a new database, closed when t ends.
func openTemp(t *testing.T) *Journal {
	t.Helper()
	j, err := Open(t.Context(), pgtest.Database(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	return j
}

func TestJournal(t *testing.T) {
	journaltest.Run(t, func(t *testing.T) journal.Journal { return openTemp(t) })
}

// exec runs stmts on the database at dsn.
func exec(t *testing.T, dsn string, stmts ...string) {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	for _, s := range stmts {
		if _, err := conn.Exec(t.Context(), s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

// columns returns a table's columns, "name type".
func columns(t *testing.T, dsn, table string) []string {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	rows, err := conn.Query(t.Context(), `SELECT column_name::text || ' ' || data_type::text FROM information_schema.columns
		WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position`, table)
	if err != nil {
		t.Fatal(err)
	}
	cols, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return cols
}

func TestForeignTables(t *testing.T) {
	for _, c := range []struct {
		name  string
		stmts []string
		table string
		says  string
	}{
		{"a table of the journal's name", []string{"CREATE TABLE safedeploy_journal_runs (id serial PRIMARY KEY, title text)"},
			"safedeploy_journal_runs", "exists, but safedeploy_journal_meta does not: not the journal's"},
		{"a meta table of another shape", []string{"CREATE TABLE safedeploy_journal_meta (key text, value text)"},
			"safedeploy_journal_meta", "columns (key text, value text), want (version integer, created timestamp with time zone): not the journal's"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dsn := pgtest.Database(t)
			exec(t, dsn, c.stmts...)
			before := columns(t, dsn, c.table)
			j, err := Open(t.Context(), dsn)
			if err == nil {
				j.Close()
				t.Fatal("Open succeeded; want an error wrapping journal.ErrCorrupt")
			}
			if !errors.Is(err, journal.ErrCorrupt) || !strings.Contains(err.Error(), "table public."+c.table+": "+c.says) {
				t.Errorf("Open error = %v; want one wrapping journal.ErrCorrupt, naming table public.%s and saying %q", err, c.table, c.says)
			}
			if after := columns(t, dsn, c.table); !equal(before, after) {
				t.Errorf("Open changed the table it refused: columns %q, were %q", after, before)
			}
			for table := range current.columns {
				if table != c.table && len(columns(t, dsn, table)) > 0 {
					t.Errorf("Open created %s beside the table it refused", table)
				}
			}
		})
	}
}

func equal(a, b []string) bool { return strings.Join(a, "\n") == strings.Join(b, "\n") }

func TestDamagedJournal(t *testing.T) {
	for _, c := range []struct {
		name  string
		stmts []string
		says  string
	}{
		{"newer version", []string{"UPDATE safedeploy_journal_meta SET version = 7"},
			"table public.safedeploy_journal_meta: the journal's tables are version 7, newer than this package's 1"},
		{"no version", []string{"DELETE FROM safedeploy_journal_meta"},
			"table public.safedeploy_journal_meta: holds versions [], want one version"},
		{"changed table", []string{"ALTER TABLE safedeploy_journal_runs ADD COLUMN owner text"},
			"table public.safedeploy_journal_runs: columns (n bigint, id text"},
		{"missing table", []string{"DROP TABLE safedeploy_journal_entries"},
			"table public.safedeploy_journal_entries: is missing"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dsn := pgtest.Database(t)
			j, err := Open(t.Context(), dsn)
			if err != nil {
				t.Fatal(err)
			}
			j.Close()
			exec(t, dsn, c.stmts...)
			j, err = Open(t.Context(), dsn)
			if err == nil {
				j.Close()
				t.Fatal("Open succeeded; want an error wrapping journal.ErrCorrupt")
			}
			if !errors.Is(err, journal.ErrCorrupt) || !strings.Contains(err.Error(), c.says) {
				t.Errorf("Open error = %v; want one wrapping journal.ErrCorrupt, saying %q", err, c.says)
			}
		})
	}
}

func TestDamagedRows(t *testing.T) {
	ctx := t.Context()
	dsn := pgtest.Database(t)
	j, err := Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	l, err := j.Acquire(ctx, "shop/production", "host-a/1", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Begin(ctx, l, journal.Run{ID: "run-1", Key: l.Key}); err != nil {
		t.Fatal(err)
	}
	if _, err := j.Append(ctx, l, "run-1", journal.Entry{Type: journal.TypeIntent, Data: []byte(`{"op":"start"}`)}); err != nil {
		t.Fatal(err)
	}
	if err := j.Finish(ctx, l, "run-1", "completed", "", runbook.Record{}); err != nil {
		t.Fatal(err)
	}
	exec(t, dsn, `UPDATE safedeploy_journal_runs SET record = convert_to('{"schema": "one"', 'UTF8')`,
		`UPDATE safedeploy_journal_entries SET data = convert_to('{"op":', 'UTF8')`)
	_, err = j.Record(ctx, "run-1")
	if !errors.Is(err, journal.ErrCorrupt) || !strings.Contains(err.Error(), "table public.safedeploy_journal_runs: the record of run run-1") {
		t.Errorf("Record of a damaged record: %v; want an error wrapping ErrCorrupt naming the table and the run", err)
	}
	_, err = j.Entries(ctx, "run-1", 0)
	if !errors.Is(err, journal.ErrCorrupt) || !strings.Contains(err.Error(), "table public.safedeploy_journal_entries: entry 1 of run run-1") {
		t.Errorf("Entries with a damaged entry: %v; want an error wrapping ErrCorrupt naming the table and the entry", err)
	}
}

// TestUpgrade opens a journal of version 1 with a schema of version 2.
func TestUpgrade(t *testing.T) {
	ctx := t.Context()
	dsn := pgtest.Database(t)
	j, err := Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	l, err := j.Acquire(ctx, "shop/production", "host-a/1", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	j.Close()

	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	v2 := schema{migrations: append(current.migrations[:1:1], []string{"CREATE INDEX safedeploy_journal_entries_by_time ON safedeploy_journal_entries (time)"}), columns: current.columns}
	j, err = newJournal(ctx, pool, v2)
	if err != nil {
		t.Fatalf("opening a version 1 journal with version 2: %v", err)
	}
	var version, indexes int
	if err := pool.QueryRow(ctx, "SELECT version FROM safedeploy_journal_meta").Scan(&version); err != nil || version != 2 {
		t.Errorf("version after the upgrade = %d, %v; want 2", version, err)
	}
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM pg_indexes WHERE indexname = 'safedeploy_journal_entries_by_time'").Scan(&indexes); err != nil || indexes != 1 {
		t.Errorf("the upgrade's index: %d, %v; want it made", indexes, err)
	}
	if got, err := j.Holder(ctx, l.Key); err != nil || got.Token != l.Token {
		t.Errorf("Holder after the upgrade = %+v, %v; want %+v", got, err, l)
	}
	if _, err := New(ctx, pool); !errors.Is(err, journal.ErrCorrupt) || !strings.Contains(err.Error(), "version 2, newer than this package's 1") {
		t.Errorf("New on an upgraded journal by the older package: %v; want it refused", err)
	}
	j.Close()
	if err := pool.Ping(ctx); err != nil {
		t.Errorf("Close of a journal from New closed the caller's pool: %v", err)
	}
}

func TestConcurrentOpen(t *testing.T) {
	dsn := pgtest.Database(t)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			j, err := Open(t.Context(), dsn)
			if err != nil {
				t.Errorf("Open racing 3 others to create the tables: %v", err)
				return
			}
			j.Close()
		})
	}
	wg.Wait()
}

func TestText(t *testing.T) {
	ctx := t.Context()
	j := openTemp(t)
	if _, err := j.Acquire(ctx, "nul\x00key", "host-a/1", time.Minute); err == nil || !strings.Contains(err.Error(), `key = "nul\x00key" holds a NUL byte`) {
		t.Errorf("Acquire of a key with a NUL byte: %v; want an error naming the key", err)
	}
	l, err := j.Acquire(ctx, "shop/production", "host-a/1", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Begin(ctx, l, journal.Run{ID: "run-1", Key: l.Key, To: "v2\xff"}); err == nil || !strings.Contains(err.Error(), `Run.To = "v2\xff" is not UTF-8`) {
		t.Errorf("Begin of a run with To not UTF-8: %v; want an error naming Run.To", err)
	}
	if err := j.Begin(ctx, l, journal.Run{ID: "run-1", Key: l.Key}); err != nil {
		t.Fatal(err)
	}
	if _, err := j.Append(ctx, l, "run-1", journal.Entry{Type: journal.TypeEvent}, journal.Entry{Type: journal.TypeEvent, Message: "a\x00b"}); err == nil || !strings.Contains(err.Error(), "entry 1 Message") {
		t.Errorf("Append of an entry with a NUL byte: %v; want an error naming the entry's Message", err)
	}
	// JSON escapes a NUL: Data may hold one.
	e, err := journal.NewEntry(journal.TypeEvent, "nul in data", map[string]string{"s": "a\x00b"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := j.Append(ctx, l, "run-1", e); err != nil {
		t.Errorf("Append of an entry whose Data escapes a NUL: %v", err)
	}
	if es, err := j.Entries(ctx, "run-1", 0); err != nil || len(es) != 1 || string(es[0].Data) != string(e.Data) {
		t.Errorf("Entries = %+v, %v; want the one entry", es, err)
	}
}

func TestBadConnString(t *testing.T) {
	if _, err := Open(t.Context(), "postgres://127.0.0.1:bad-port/db"); err == nil || !strings.HasPrefix(err.Error(), "journal/postgres: ") {
		t.Errorf("Open of a bad URL: %v; want an error", err)
	}
}

// childEnv, set to a connection string, makes TestProcessesContend serve
// commands on the journal in that database (see package contend).
const childEnv = "JOURNAL_POSTGRES_CHILD"

func TestProcessesContend(t *testing.T) {
	if dsn := os.Getenv(childEnv); dsn != "" {
		j, err := Open(context.Background(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer j.Close()
		if err := contend.Serve(context.Background(), j, os.Stdin, os.Stdout); err != nil {
			t.Fatal(err)
		}
		return
	}
	dsn := pgtest.Database(t)
	j, err := Open(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	contend.Race(t, 4, func(name string) *contend.Proc {
		return contend.Start(t, name, "TestProcessesContend", childEnv+"="+dsn)
	}, j)
}
