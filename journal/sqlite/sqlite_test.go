package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/safedeploy/safedeploy/journal"
	"github.com/safedeploy/safedeploy/journal/internal/contend"
	"github.com/safedeploy/safedeploy/journal/journaltest"
	"github.com/safedeploy/safedeploy/runbook"
)

// openTemp opens a journal in a new file, closed when t ends.
func openTemp(t *testing.T) *Journal {
	t.Helper()
	j, err := Open(t.Context(), filepath.Join(t.TempDir(), "journal.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := j.Close(); err != nil {
			t.Error(err)
		}
	})
	return j
}

func TestJournal(t *testing.T) {
	journaltest.Run(t, func(t *testing.T) journal.Journal { return openTemp(t) })
}

func TestCheck(t *testing.T) {
	dir := t.TempDir()
	n := 0
	err := journaltest.Check(t.Context(), func() (journal.Journal, error) {
		n++
		return Open(t.Context(), filepath.Join(dir, strings.Repeat("j", n)+".db"))
	})
	if err != nil {
		t.Error(err)
	}
}

// rawDB opens path with the driver alone.
func rawDB(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func exec(t *testing.T, db *sql.DB, stmts ...string) {
	t.Helper()
	for _, s := range stmts {
		if _, err := db.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

func TestReopenKeepsEverything(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "journal.db")
	j, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	l, err := j.Acquire(ctx, "shop/production", "host-a/1", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	rec := runbook.Record{Outcome: "completed", Reason: "all steps passed", Started: time.Unix(1700000000, 0)}
	if err := j.Begin(ctx, l, journal.Run{ID: "run-1", Key: l.Key, To: "v2"}); err != nil {
		t.Fatal(err)
	}
	if _, err := j.Append(ctx, l, "run-1", journal.Entry{Type: journal.TypePhase, Message: "deploy"}); err != nil {
		t.Fatal(err)
	}
	if err := j.Finish(ctx, l, "run-1", rec.Outcome, rec.Reason, rec); err != nil {
		t.Fatal(err)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := j.Holder(ctx, l.Key); err == nil {
		t.Error("Holder after Close succeeded; want an error")
	}

	j = openTemp(t)
	j2, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer j2.Close()
	if got, err := j2.Holder(ctx, l.Key); err != nil || got.Token != l.Token || !got.Expires.Equal(l.Expires) {
		t.Errorf("Holder after reopening = %+v, %v; want %+v", got, err, l)
	}
	if runs, err := j2.Runs(ctx, l.Key, 0); err != nil || len(runs) != 1 || runs[0].Outcome != "completed" {
		t.Errorf("Runs after reopening = %+v, %v", runs, err)
	}
	if es, err := j2.Entries(ctx, "run-1", 0); err != nil || len(es) != 1 || es[0].Message != "deploy" {
		t.Errorf("Entries after reopening = %+v, %v", es, err)
	}
	if got, err := j2.Record(ctx, "run-1"); err != nil || got.Reason != rec.Reason {
		t.Errorf("Record after reopening = %+v, %v", got, err)
	}
	var mode string
	var version int
	if err := j2.db.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal_mode = %q, %v; want wal", mode, err)
	}
	if err := j2.db.QueryRow("SELECT version FROM meta").Scan(&version); err != nil || version != Version {
		t.Errorf("version = %d, %v; want %d", version, err, Version)
	}
}

// wantCorrupt checks that opening path fails with ErrCorrupt, naming the
// file and saying each of says, and that the file is as it was.
func wantCorrupt(t *testing.T, path string, says ...string) {
	t.Helper()
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	j, err := Open(t.Context(), path)
	if err == nil {
		j.Close()
		t.Fatalf("Open(%s) succeeded; want an error wrapping journal.ErrCorrupt", path)
	}
	if !errors.Is(err, journal.ErrCorrupt) {
		t.Errorf("Open error = %v; want one wrapping journal.ErrCorrupt", err)
	}
	for _, s := range append([]string{path}, says...) {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("Open error = %v; want it to say %q", err, s)
		}
	}
	after, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Errorf("Open changed the file it refused")
	}
	for _, side := range []string{"-wal", "-shm"} {
		if _, err := os.Stat(path + side); err == nil {
			t.Errorf("Open left %s%s beside the file it refused", path, side)
		}
	}
}

func TestNotADatabase(t *testing.T) {
	dir := t.TempDir()
	for name, data := range map[string][]byte{
		"text":   []byte(strings.Repeat("this is a text file, not a journal\n", 200)),
		"random": bytes.Repeat([]byte{0x9c, 0x01, 0xff, 0x37, 0x00, 0x42, 0xe1, 0x5a}, 1024),
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, name+".db")
			if err := os.WriteFile(path, data, 0o600); err != nil {
				t.Fatal(err)
			}
			wantCorrupt(t, path, "not a SQLite database")
		})
	}
}

func TestForeignDatabase(t *testing.T) {
	t.Run("tables", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "app.db")
		db := rawDB(t, path)
		exec(t, db, "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)", "INSERT INTO users (name) VALUES ('alice')")
		db.Close()
		wantCorrupt(t, path, "tables users", "not a journal")
	})
	t.Run("application id", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "app.db")
		db := rawDB(t, path)
		exec(t, db, "PRAGMA application_id = 1234", "CREATE TABLE leases (x)")
		db.Close()
		wantCorrupt(t, path, "another program (application ID 0x4d2)")
	})
}

// journalFile returns the path of a new journal, closed.
func journalFile(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "journal.db")
	j, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestDamagedJournal(t *testing.T) {
	for _, c := range []struct {
		name  string
		stmts []string
		says  string
	}{
		{"newer version", []string{"UPDATE meta SET version = 7"}, "version 7, newer than this package's 1"},
		{"no version", []string{"DELETE FROM meta"}, "table meta holds versions [], want one version"},
		{"no meta", []string{"DROP TABLE meta"}, "reading its version from table meta"},
		{"changed table", []string{"ALTER TABLE runs ADD COLUMN owner TEXT"}, "table runs has columns n, id"},
		{"missing table", []string{"DROP TABLE entries"}, "table entries is missing"},
		{"no tables", []string{"DROP TABLE entries", "DROP TABLE runs", "DROP TABLE leases", "DROP TABLE meta"}, "marked as a journal, but it has no tables"},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := journalFile(t)
			db := rawDB(t, path)
			exec(t, db, c.stmts...)
			// Leave the file alone, without its WAL.
			exec(t, db, "PRAGMA journal_mode = DELETE")
			db.Close()
			wantCorrupt(t, path, c.says)
		})
	}
}

func TestDamagedRows(t *testing.T) {
	ctx := t.Context()
	j := openTemp(t)
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
	exec(t, j.db, `UPDATE runs SET record = CAST('{"schema": "one"' AS BLOB)`, `UPDATE entries SET data = CAST('{"op":' AS BLOB)`)
	_, err = j.Record(ctx, "run-1")
	if !errors.Is(err, journal.ErrCorrupt) || !strings.Contains(err.Error(), j.Path()) || !strings.Contains(err.Error(), "record of run run-1") {
		t.Errorf("Record of a damaged record: %v; want an error wrapping ErrCorrupt naming the file and the run", err)
	}
	_, err = j.Entries(ctx, "run-1", 0)
	if !errors.Is(err, journal.ErrCorrupt) || !strings.Contains(err.Error(), "entry 1 of run run-1") {
		t.Errorf("Entries with a damaged entry: %v; want an error wrapping ErrCorrupt naming the entry", err)
	}
}

// TestUpgrade opens a journal of version 1 with a schema of version 2.
func TestUpgrade(t *testing.T) {
	ctx := t.Context()
	path := journalFile(t)
	j, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	l, err := j.Acquire(ctx, "shop/production", "host-a/1", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	j.Close()

	v2 := schema{migrations: append(current.migrations[:1:1], []string{"CREATE INDEX entries_by_time ON entries (time)"}), columns: current.columns}
	j, err = open(ctx, path, v2)
	if err != nil {
		t.Fatalf("opening a version 1 journal with version 2: %v", err)
	}
	var version, indexes int
	if err := j.db.QueryRow("SELECT version FROM meta").Scan(&version); err != nil || version != 2 {
		t.Errorf("version after the upgrade = %d, %v; want 2", version, err)
	}
	if err := j.db.QueryRow("SELECT count(*) FROM sqlite_schema WHERE name = 'entries_by_time'").Scan(&indexes); err != nil || indexes != 1 {
		t.Errorf("the upgrade's index: %d, %v; want it made", indexes, err)
	}
	if got, err := j.Holder(ctx, l.Key); err != nil || got.Token != l.Token {
		t.Errorf("Holder after the upgrade = %+v, %v; want %+v", got, err, l)
	}
	j.Close()
	// Once upgraded, the older package refuses it.
	if j, err := Open(ctx, path); !errors.Is(err, journal.ErrCorrupt) || !strings.Contains(err.Error(), "version 2, newer than this package's 1") {
		if err == nil {
			j.Close()
		}
		t.Errorf("Open of an upgraded journal by the older package: %v; want it refused", err)
	}
}

func TestConcurrentOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "journal.db")
	var wg sync.WaitGroup
	for range 6 {
		wg.Go(func() {
			j, err := Open(t.Context(), path)
			if err != nil {
				t.Errorf("Open racing 5 others to create the file: %v", err)
				return
			}
			if _, err := j.Runs(t.Context(), "x", 0); err != nil {
				t.Error(err)
			}
			j.Close()
		})
	}
	wg.Wait()
}

func TestBadArguments(t *testing.T) {
	for _, path := range []string{"", "journal.db?mode=ro", filepath.Join(t.TempDir(), "missing", "journal.db")} {
		if j, err := Open(t.Context(), path); err == nil {
			j.Close()
			t.Errorf("Open(%q) succeeded; want an error", path)
		}
	}
	ctx := t.Context()
	j := openTemp(t)
	l, err := j.Acquire(ctx, "shop/production", "host-a/1", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	err = j.Begin(ctx, l, journal.Run{ID: "run-1", Key: l.Key, Started: time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)})
	if err == nil || !strings.Contains(err.Error(), "Run.Started = 3000-01-01T00:00:00Z") {
		t.Errorf("Begin of a run started in 3000: %v; want an error naming Run.Started", err)
	}
	if _, err := j.Acquire(ctx, "far/future", "host-a/1", time.Duration(1<<63-1)); err == nil || !strings.Contains(err.Error(), "expiry") {
		t.Errorf("Acquire for 292 years: %v; want an error about the expiry", err)
	}
}

// childEnv, set to a file's path, makes TestProcessesContend serve
// commands on the journal in that file (see package contend).
const childEnv = "JOURNAL_SQLITE_CHILD"

func TestProcessesContend(t *testing.T) {
	if path := os.Getenv(childEnv); path != "" {
		j, err := Open(context.Background(), path)
		if err != nil {
			t.Fatal(err)
		}
		defer j.Close()
		if err := contend.Serve(context.Background(), j, os.Stdin, os.Stdout); err != nil {
			t.Fatal(err)
		}
		return
	}
	path := filepath.Join(t.TempDir(), "journal.db")
	j, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	contend.Race(t, 4, func(name string) *contend.Proc {
		return contend.Start(t, name, "TestProcessesContend", childEnv+"="+path)
	}, j)
}
