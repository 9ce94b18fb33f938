package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/safedeploy/safedeploy/runbook"
)

func TestReport(t *testing.T) {
	rec := runbook.Record{
		Runbook: runbook.Runbook{Service: "shop", Version: "v2", Previous: "v1", Environment: "staging", RollbackTime: 10 * time.Second},
		Outcome: "rolled back", Reason: "error rate doubled",
		Entries: []runbook.Entry{{Time: time.Unix(100, 0), Phase: "deploy", Kind: "step", Step: "canary 5%", Message: "5% on v2; observing for 5m0s"}},
	}
	data, err := rec.JSON()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	in := filepath.Join(dir, "record.json")
	if err := os.WriteFile(in, data, 0o644); err != nil {
		t.Fatal(err)
	}
	const title = "<title>Rolled back: shop v1 → v2 (staging)</title>"

	// From standard input to standard output.
	var stdout, stderr bytes.Buffer
	if code := run(nil, bytes.NewReader(data), &stdout, &stderr); code != 0 || !strings.Contains(stdout.String(), title) {
		t.Errorf("stdin → stdout: exit %d, stderr %q, page has title: %v", code, stderr.String(), strings.Contains(stdout.String(), title))
	}
	// From a file to a file.
	out := filepath.Join(dir, "run.html")
	if code := run([]string{"-o", out, in}, strings.NewReader(""), &stdout, &stderr); code != 0 {
		t.Fatalf("file → file: exit %d: %s", code, stderr.String())
	}
	if page, err := os.ReadFile(out); err != nil || !strings.Contains(string(page), title) {
		t.Errorf("written page: %v, has title: %v", err, strings.Contains(string(page), title))
	}

	for _, tc := range []struct {
		name  string
		args  []string
		stdin string
		code  int
		want  string
	}{
		{"not JSON", nil, "<html>", 1, "not a JSON record"},
		{"not a record", nil, `{"name": "x"}`, 1, `not a record: no "runbook" and no "entries"`},
		{"bad field", nil, `{"entries": [{"time": "yesterday"}]}`, 1, "not a record"},
		{"no such file", []string{filepath.Join(dir, "none.json")}, "", 1, "no such file"},
		{"two files", []string{in, in}, "", 2, "usage: report"},
		{"bad flag", []string{"-x"}, "", 2, "flag provided but not defined"},
	} {
		stdout.Reset()
		stderr.Reset()
		if code := run(tc.args, strings.NewReader(tc.stdin), &stdout, &stderr); code != tc.code || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("%s: exit %d, stderr %q; want %d and %q", tc.name, code, stderr.String(), tc.code, tc.want)
		}
	}
}
