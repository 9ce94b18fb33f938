package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// logFile writes lines to a file in a fresh directory and returns its path.
func logFile(t *testing.T, name string, lines []string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// service returns n lines of a service's log: info lines and timeouts, and,
// when bug is set, a pool error every 100 lines.
func service(n int, bug bool) []string {
	var out []string
	for i := range n {
		switch {
		case bug && i%100 == 50:
			out = append(out, fmt.Sprintf(`{"level":"ERROR","msg":"checkout degraded","err":"connection pool exhausted for shard %d"}`, i%16))
		case i%50 == 7:
			out = append(out, fmt.Sprintf(`{"level":"ERROR","msg":"request failed","err":"upstream timeout after %dms"}`, 100+i%900))
		default:
			out = append(out, fmt.Sprintf(`{"level":"INFO","msg":"request served","user":"u%d","took":"%dms"}`, i, i%97))
		}
	}
	return out
}

func TestTemplatesJSON(t *testing.T) {
	p := logFile(t, "app.log", []string{"user alice logged in", "disk full on /dev/sda1", "user bob logged in", "user carol logged in", "user dave logged in", "user erin logged in"})
	var out, errb bytes.Buffer
	if code := run([]string{"-json", p}, nil, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var got []string
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var rec struct{ Template string }
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		got = append(got, rec.Template)
	}
	want := []string{"user <*> logged in", "disk full on /<*>", "user <*> logged in", "user <*> logged in", "user <*> logged in", "user <*> logged in"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("templates %q, want %q (each line's template at the end of the run)", got, want)
	}
	out.Reset()
	if code := run(nil, strings.NewReader("a 1\na 2\nb\n"), &out, &errb); code != 0 || !strings.Contains(out.String(), "       2  a <*>") {
		t.Errorf("text from stdin: exit %d, %q", code, out.String())
	}
}

func TestCompare(t *testing.T) {
	old := logFile(t, "old.log", service(5000, false))
	fixed := logFile(t, "fixed.log", service(5000, false))
	buggy := logFile(t, "new.log", service(5000, true))
	var out, errb bytes.Buffer
	if code := run([]string{"-baseline", old, "-canary", buggy, "-json"}, nil, &out, &errb); code != 1 {
		t.Fatalf("buggy canary: exit %d, want 1; stdout %q, stderr %q", code, out.String(), errb.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	var f struct {
		Template           string
		OldCount, NewCount float64 `json:"-"`
		Old                float64 `json:"old_count"`
		New                float64 `json:"new_count"`
		Example            string
	}
	if len(lines) != 1 || json.Unmarshal([]byte(lines[0]), &f) != nil {
		t.Fatalf("findings %q, want one JSON object", lines)
	}
	if f.Template != "checkout degraded: connection pool exhausted for shard <*>" || f.Old != 0 || f.New != 50 || !strings.Contains(f.Example, "connection pool exhausted") {
		t.Errorf("finding %+v", f)
	}
	out.Reset()
	if code := run([]string{"-baseline", old, "-canary", fixed}, nil, &out, &errb); code != 0 || !strings.Contains(out.String(), "0 new pattern(s)") {
		t.Errorf("same service: exit %d, %q; want 0 and no pattern", code, out.String())
	}
	for _, args := range [][]string{{"-baseline", old}, {"-level", "loud", "-baseline", old, "-canary", buggy}, {"-baseline", old, "-canary", filepath.Join(t.TempDir(), "none")}, {"a", "b"}, {"-max-ratio", "0.5", "-baseline", old, "-canary", buggy}} {
		errb.Reset()
		if code := run(args, nil, &out, &errb); code != 2 || errb.Len() == 0 {
			t.Errorf("run(%q): exit %d, stderr %q; want 2 and a message", args, code, errb.String())
		}
	}
}
