package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// write writes migration files into a fresh directory and returns their
// paths by name.
func write(t *testing.T, files map[string]string) map[string]string {
	t.Helper()
	dir := t.TempDir()
	paths := map[string]string{}
	for name, sql := range files {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(sql), 0o644); err != nil {
			t.Fatal(err)
		}
		paths[name] = p
	}
	return paths
}

var files = map[string]string{
	"0001_safe.sql":       "-- +goose Up\nSET LOCAL lock_timeout = '2s';\nALTER TABLE orders ADD COLUMN status text NOT NULL DEFAULT 'draft';\n-- +goose Down\nALTER TABLE orders DROP COLUMN status;\n",
	"0002_unsafe.sql":     "-- +goose Up\nSET LOCAL lock_timeout = '2s';\n\nCREATE INDEX orders_status_idx ON orders (status);\n",
	"0003_warning.sql":    "-- +goose Up\nSET LOCAL lock_timeout = '2s';\nALTER TABLE orders DROP COLUMN note;\n",
	"0004_no_timeout.sql": "-- +goose Up\nALTER TABLE orders ADD COLUMN shipped_at timestamptz;\n",
	"0005_typo.sql":       "-- +goose Up\nALTER TABEL orders ADD COLUMN x int;\n",
	"0006_empty.sql":      "",
	"0007_comments.sql":   "-- +goose Up\n-- nothing yet\n-- +goose Down\nDROP TABLE t;\n",
	"0008_binary.sql":     "\x1f\x8b\x08\x00\x00\x00\x00\x00",
	"0009_nul.sql":        "SELECT 1;\x00\x00\x00",
	"V10__plain_cic.sql":  "SET lock_timeout = '2s';\nCREATE INDEX CONCURRENTLY orders_a_idx ON orders (a);\n",
}

func TestRun(t *testing.T) {
	p := write(t, files)
	for _, c := range []struct {
		name    string
		args    []string
		stdin   string
		code    int
		out     []string // each must appear in stdout
		errOut  string   // must appear in stderr
		noLines bool     // stdout must be empty
	}{
		{name: "safe", args: []string{p["0001_safe.sql"]}, code: 0, noLines: true},
		{name: "error finding", args: []string{p["0002_unsafe.sql"]}, code: 1,
			out: []string{p["0002_unsafe.sql"] + ":4:1: error [require-concurrent-index-creation] creates index orders_status_idx", "\tfix: CREATE INDEX CONCURRENTLY"}},
		{name: "a warning alone exits 0", args: []string{p["0003_warning.sql"]}, code: 0,
			out: []string{":3:1: warning [ban-drop-column] drops column orders.note"}},
		{name: "several files", args: []string{p["0001_safe.sql"], p["0003_warning.sql"], p["0002_unsafe.sql"]}, code: 1,
			out: []string{"0003_warning.sql:3:1: warning", "0002_unsafe.sql:4:1: error"}},
		{name: "disabled rule no longer fails", args: []string{"-disable", "require-concurrent-index-creation, ban-drop-column", p["0002_unsafe.sql"], p["0003_warning.sql"]}, code: 0, noLines: true},
		{name: "runner sets lock_timeout", args: []string{"-runner-sets-lock-timeout", p["0004_no_timeout.sql"]}, code: 0, noLines: true},
		{name: "no lock_timeout", args: []string{p["0004_no_timeout.sql"]}, code: 1, out: []string{"error [require-timeout-settings]"}},
		{name: "stdin", stdin: files["0002_unsafe.sql"], code: 1, out: []string{"<stdin>:4:1: error [require-concurrent-index-creation]"}},
		{name: "syntax error", args: []string{p["0005_typo.sql"], p["0002_unsafe.sql"]}, code: 2,
			errOut: p["0005_typo.sql"] + `:2:7: cannot parse: syntax error at or near "TABEL"`, out: []string{"0002_unsafe.sql:4:1: error"}},
		{name: "missing file", args: []string{filepath.Join(t.TempDir(), "nope.sql"), p["0002_unsafe.sql"]}, code: 2, errOut: "nope.sql", out: []string{"0002_unsafe.sql:4:1"}},
		{name: "unknown rule", args: []string{"-disable", "ban-drop-colum", p["0001_safe.sql"]}, code: 2, errOut: `unknown rule "ban-drop-colum"`},
		{name: "bad flag", args: []string{"-nope"}, code: 2, errOut: "usage: lint"},
		{name: "rules", args: []string{"-rules"}, code: 0, out: []string{"adding-required-field (error)", "ban-drop-table (warning)", "require-timeout-settings (error)", "ban-backfill-under-lock (error)"}},
		{name: "help", args: []string{"-h"}, code: 0, errOut: "-assume-in-transaction"},
		{name: "empty file: said, not an error", args: []string{p["0006_empty.sql"]}, code: 0, noLines: true, errOut: "0006_empty.sql: nothing to lint: the file is empty"},
		{name: "empty Up section: said", args: []string{p["0007_comments.sql"], p["0002_unsafe.sql"]}, code: 1, errOut: "0007_comments.sql: nothing to lint: no SQL statements"},
		{name: "binary file", args: []string{p["0008_binary.sql"], p["0001_safe.sql"]}, code: 2, noLines: true, errOut: "0008_binary.sql:1:4: cannot parse: NUL byte: not SQL text (a binary file?)"},
		{name: "NUL byte", args: []string{p["0009_nul.sql"]}, code: 2, errOut: "0009_nul.sql:1:10: cannot parse: NUL byte"},
		{name: "plain SQL runs outside a transaction", args: []string{p["V10__plain_cic.sql"]}, code: 0, noLines: true},
		{name: "plain SQL in the runner's transaction", args: []string{"-assume-in-transaction", p["V10__plain_cic.sql"]}, code: 1,
			out: []string{"V10__plain_cic.sql:2:1: error [ban-concurrent-index-creation-in-transaction] CREATE INDEX CONCURRENTLY runs inside the transaction the runner wraps the file in"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(c.args, strings.NewReader(c.stdin), &stdout, &stderr)
			if code != c.code {
				t.Errorf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", code, c.code, stdout.String(), stderr.String())
			}
			for _, want := range c.out {
				if !strings.Contains(stdout.String(), want) {
					t.Errorf("stdout lacks %q:\n%s", want, stdout.String())
				}
			}
			if !strings.Contains(stderr.String(), c.errOut) {
				t.Errorf("stderr lacks %q:\n%s", c.errOut, stderr.String())
			}
			if c.noLines && stdout.Len() > 0 {
				t.Errorf("stdout not empty:\n%s", stdout.String())
			}
		})
	}
}

func TestRunJSON(t *testing.T) {
	p := write(t, files)
	var stdout, stderr bytes.Buffer
	code := run([]string{"-json", p["0002_unsafe.sql"], p["0003_warning.sql"]}, strings.NewReader(""), &stdout, &stderr)
	if code != 1 {
		t.Fatalf("exit code %d, want 1; stderr: %s", code, stderr.String())
	}
	var got []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		if rec["message"] == "" || rec["fix"] == "" {
			t.Errorf("record without message or fix: %s", line)
		}
		delete(rec, "message")
		delete(rec, "fix")
		got = append(got, rec)
	}
	want := []map[string]any{
		{"file": p["0002_unsafe.sql"], "migration": "0002_unsafe", "statement": 1.0, "line": 4.0, "column": 1.0, "pos": 45.0, "rule": "require-concurrent-index-creation", "severity": "error"},
		{"file": p["0003_warning.sql"], "migration": "0003_warning", "statement": 1.0, "line": 3.0, "column": 1.0, "pos": 44.0, "rule": "ban-drop-column", "severity": "warning"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("JSON records mismatch (-want +got):\n%s", diff)
	}
}
