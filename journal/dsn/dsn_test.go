package dsn_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/safedeploy/safedeploy/internal/testserver/pgtest"
	"github.com/safedeploy/safedeploy/journal"
	"github.com/safedeploy/safedeploy/journal/dsn"
	"github.com/safedeploy/safedeploy/journal/postgres"
	"github.com/safedeploy/safedeploy/journal/sqlite"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Run(m)) }

// roundTrip checks that j keeps a lease, releases it, and closes j.
func roundTrip(t *testing.T, j dsn.Journal) {
	t.Helper()
	l, err := j.Acquire(t.Context(), "shop/production", "host-a/1", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := j.Holder(t.Context(), l.Key); err != nil || got.Token != l.Token {
		t.Errorf("Holder = %+v, %v; want %+v", got, err, l)
	}
	if err := j.Release(t.Context(), l); err != nil {
		t.Error(err)
	}
	if err := j.Close(); err != nil {
		t.Error(err)
	}
}

func TestSQLite(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct{ dsn, path string }{
		{"sqlite:" + filepath.Join(dir, "a.db"), filepath.Join(dir, "a.db")},
		{"sqlite://" + filepath.Join(dir, "b.db"), filepath.Join(dir, "b.db")}, // sqlite:///tmp/…
		{"SQLite:" + filepath.Join(dir, "c.db"), filepath.Join(dir, "c.db")},
	} {
		j, err := dsn.Open(t.Context(), c.dsn)
		if err != nil {
			t.Fatalf("Open(%q): %v", c.dsn, err)
		}
		if sj, ok := j.(*sqlite.Journal); !ok || sj.Path() != c.path {
			t.Errorf("Open(%q) = %T; want a *sqlite.Journal in %s", c.dsn, j, c.path)
		}
		roundTrip(t, j)
		if _, err := os.Stat(c.path); err != nil {
			t.Errorf("Open(%q) made no file %s: %v", c.dsn, c.path, err)
		}
	}
	// A file that is not a journal.
	notes := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(notes, []byte(strings.Repeat("not a database\n", 100)), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := dsn.Open(t.Context(), "sqlite:"+notes); !errors.Is(err, journal.ErrCorrupt) {
		t.Errorf("Open of a text file: %v; want an error wrapping journal.ErrCorrupt", err)
	}
}

func TestPostgres(t *testing.T) {
	cfg, err := pgx.ParseConfig(pgtest.Database(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, scheme := range []string{"postgres", "postgresql"} {
		url := fmt.Sprintf("%s://%s@%s:%d/%s?sslmode=disable", scheme, cfg.User, cfg.Host, cfg.Port, cfg.Database)
		j, err := dsn.Open(t.Context(), url)
		if err != nil {
			t.Fatalf("Open(%q): %v", url, err)
		}
		if _, ok := j.(*postgres.Journal); !ok {
			t.Errorf("Open(%q) = %T; want a *postgres.Journal", url, j)
		}
		roundTrip(t, j)
	}
}

func TestMemory(t *testing.T) {
	j, err := dsn.Open(t.Context(), "memory:")
	if err != nil {
		t.Fatal(err)
	}
	roundTrip(t, j)
}

func TestRefused(t *testing.T) {
	for _, c := range []struct{ dsn, want string }{
		{"mysql://u:secret@db/deploys", `journal/dsn: unknown scheme "mysql"; want one of sqlite:PATH, postgres://… (or postgresql://…), memory:`},
		{"journal.db", `journal/dsn: "journal.db" has no scheme; want one of sqlite:PATH, postgres://… (or postgresql://…), memory:`},
		{"", `journal/dsn: "" has no scheme; want one of sqlite:PATH, postgres://… (or postgresql://…), memory:`},
		{":journal.db", `journal/dsn: ":journal.db" has no scheme; want one of sqlite:PATH, postgres://… (or postgresql://…), memory:`},
		{"sqlite:", `journal/dsn: "sqlite:" names no file; want sqlite:PATH`},
		{"sqlite://", `journal/dsn: "sqlite://" names no file; want sqlite:PATH`},
		{"memory:x", `journal/dsn: "memory:x": memory: takes nothing after the colon`},
	} {
		j, err := dsn.Open(t.Context(), c.dsn)
		if err == nil {
			j.Close()
			t.Errorf("Open(%q) succeeded; want an error", c.dsn)
			continue
		}
		if err.Error() != c.want {
			t.Errorf("Open(%q) error =\n%v\nwant\n%s", c.dsn, err, c.want)
		}
		if strings.Contains(err.Error(), "secret") {
			t.Errorf("Open(%q) error repeats the password: %v", c.dsn, err)
		}
	}
}
