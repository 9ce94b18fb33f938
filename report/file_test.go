package report_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/safedeploy/safedeploy/report"
	"github.com/safedeploy/safedeploy/runbook"
)

// WriteFile writes the page Write renders, replacing a file whole and
// keeping its permissions; a file it cannot write is left as it was.
func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "run.html")
	rec := &runbook.Record{Runbook: runbook.Runbook{Service: "shop", Version: "v2", Previous: "v1", Environment: "staging"}, Outcome: "rolled_back"}
	if err := os.WriteFile(path, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	n, err := report.WriteFile(path, rec)
	if err != nil {
		t.Fatalf("WriteFile: %v", err)
	}
	page, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if n != len(page) || n == 0 || page[0] == 'o' {
		t.Errorf("WriteFile returned %d, file holds %d bytes: %.20q", n, len(page), page)
	}
	if want := render(t, rec); string(page) != want {
		t.Errorf("the file differs from Write's page (%d bytes, want %d)", len(page), len(want))
	}
	if !strings.Contains(string(page), "<title>Rolled back: shop v1 → v2 (staging)</title>") {
		t.Errorf("page lacks its title")
	}
	if info, err := os.Stat(path); err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("mode after replacing: %v, %v; want 0600 kept", info.Mode(), err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("directory holds %d entries, want only run.html", len(entries))
	}

	if n, err := report.WriteFile(filepath.Join(dir, "no", "such", "dir", "run.html"), rec); n != 0 || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("WriteFile into a missing directory = %d, %v; want 0 and an error matching fs.ErrNotExist", n, err)
	}
	if n, err := report.WriteFile(path, nil); n != 0 || !errors.Is(err, report.ErrNilRecord) {
		t.Errorf("WriteFile(nil) = %d, %v; want ErrNilRecord", n, err)
	}
	if again, _ := os.ReadFile(path); string(again) != string(page) {
		t.Errorf("a failed WriteFile changed the file")
	}
}
