// Package dsn opens a journal named by a string, as a command's -journal
// flag gives it:
//
//	sqlite:PATH               a SQLite file (package journal/sqlite), created if missing
//	postgres://USER@HOST/DB   a PostgreSQL database (package journal/postgres);
//	postgresql://…            the URL is pgx's, with its query parameters (sslmode=…)
//	memory:                   a journal in this process's memory, gone when it exits
//
// sqlite://PATH is read as sqlite:PATH, so sqlite:///var/lib/j.db names
// /var/lib/j.db. For PostgreSQL's key=value connection strings, call
// postgres.Open.
//
//	j, err := dsn.Open(ctx, *journalFlag)
//	if err != nil {
//		return err
//	}
//	defer j.Close()
//
// This package imports both implementations, with their drivers; a
// program that needs one imports it alone.
package dsn

import (
	"context"
	"fmt"
	"strings"

	"github.com/safedeploy/safedeploy/journal"
	"github.com/safedeploy/safedeploy/journal/postgres"
	"github.com/safedeploy/safedeploy/journal/sqlite"
)

// A Journal is a journal that holds a file or connections until closed.
type Journal interface {
	journal.Journal
	// Close releases what the journal holds. Calls after Close fail.
	Close() error
}

// Supported lists the forms Open accepts, for messages and flag help.
const Supported = "sqlite:PATH, postgres://… (or postgresql://…), memory:"

// Open opens the journal dsn names, creating its file or tables as the
// implementation's Open does. It fails for a dsn without a scheme or with
// one it does not know, with an error that lists the Supported forms, for
// "sqlite:" without a path, and as sqlite.Open or postgres.Open fail
// (errors wrapping journal.ErrCorrupt for storage that is not a journal).
// The error never repeats a PostgreSQL URL, which may hold a password.
func Open(ctx context.Context, dsn string) (Journal, error) {
	scheme, rest, ok := strings.Cut(dsn, ":")
	if !ok || scheme == "" {
		return nil, fmt.Errorf("journal/dsn: %q has no scheme; want one of %s", dsn, Supported)
	}
	switch strings.ToLower(scheme) {
	case "sqlite":
		path := strings.TrimPrefix(rest, "//")
		if path == "" {
			return nil, fmt.Errorf("journal/dsn: %q names no file; want sqlite:PATH", dsn)
		}
		return sqlite.Open(ctx, path)
	case "postgres", "postgresql":
		return postgres.Open(ctx, dsn)
	case "memory":
		if rest != "" {
			return nil, fmt.Errorf("journal/dsn: %q: memory: takes nothing after the colon", dsn)
		}
		return new(memory), nil
	}
	return nil, fmt.Errorf("journal/dsn: unknown scheme %q; want one of %s", scheme, Supported)
}

// memory is a journal.Memory with a Close that does nothing.
type memory struct{ journal.Memory }

func (*memory) Close() error { return nil }
