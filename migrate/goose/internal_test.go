package goose

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	pressly "github.com/pressly/goose/v3"
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
