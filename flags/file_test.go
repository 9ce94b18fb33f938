package flags_test

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/safedeploy/safedeploy/flags"
)

func TestFileFormat(t *testing.T) {
	path := filepath.Join(t.TempDir(), "flags.json")
	s := flags.NewFile(path)
	for _, f := range []flags.Flag{
		{Name: "search", Description: "Search & filters"},
		{Name: "checkout-v2", Enabled: true, Description: "New checkout flow"},
	} {
		if err := s.Set(t.Context(), f); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := `{
  "flags": [
    {
      "name": "checkout-v2",
      "enabled": true,
      "description": "New checkout flow"
    },
    {
      "name": "search",
      "enabled": false,
      "description": "Search & filters"
    }
  ]
}
`
	if string(data) != want {
		t.Errorf("file contents:\n%s\nwant:\n%s", data, want)
	}
}

func TestFileCorrupt(t *testing.T) {
	for _, tt := range []struct {
		name, data, msg string
	}{
		{"syntax", "{\n  \"flags\": [\n    {\"name\": \"a\",}\n  ]\n}\n", "line 3: invalid character '}'"},
		{"truncated", `{"flags": [`, "unexpected EOF"},
		{"empty", "", "the file is empty"},
		{"wrong type", `{"flags": [{"name": "a", "enabled": "yes"}]}`, "cannot unmarshal string"},
		{"unknown field", `{"flags": [{"name": "a", "enabeld": true}]}`, `unknown field "enabeld"`},
		{"trailing data", `{"flags": []} {}`, "unexpected data after the JSON object"},
		{"invalid name", `{"flags": [{"name": "a"}, {"name": "b c"}]}`, `flags[1]: flags: invalid flag: Name "b c"`},
		{"duplicate name", `{"flags": [{"name": "a"}, {"name": "a", "enabled": true}]}`, `flags[1]: Name "a" appears more than once`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "flags.json")
			if err := os.WriteFile(path, []byte(tt.data), 0o644); err != nil {
				t.Fatal(err)
			}
			s := flags.NewFile(path)
			check := func(op string, err error) {
				t.Helper()
				if !errors.Is(err, flags.ErrCorrupt) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), tt.msg) {
					t.Errorf("%s = %v, want an error wrapping ErrCorrupt containing %q and %q", op, err, path, tt.msg)
				}
			}
			_, err := s.Get(t.Context(), "a")
			check("Get", err)
			_, err = s.List(t.Context())
			check("List", err)
			check("Set", s.Set(t.Context(), flags.Flag{Name: "a"}))
			check("Delete", s.Delete(t.Context(), "a"))

			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if string(data) != tt.data {
				t.Errorf("corrupt file was overwritten: got %q, want %q", data, tt.data)
			}
		})
	}
}

func TestFileCorruptWrapsJSONError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "flags.json")
	if err := os.WriteFile(path, []byte("{oops"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := flags.NewFile(path).List(t.Context())
	var syntax *json.SyntaxError
	if !errors.As(err, &syntax) {
		t.Errorf("List = %v, want an error wrapping *json.SyntaxError", err)
	}
}

func TestFileLeavesNoTempFiles(t *testing.T) {
	dir := t.TempDir()
	s := flags.NewFile(filepath.Join(dir, "flags.json"))
	for _, name := range []string{"a", "b", "c"} {
		if err := s.Set(t.Context(), flags.Flag{Name: name}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Delete(t.Context(), "b"); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if len(names) != 1 || names[0] != "flags.json" {
		t.Errorf("directory holds %q, want only flags.json", names)
	}
}

func TestFileKeepsPermissions(t *testing.T) {
	path := filepath.Join(t.TempDir(), "flags.json")
	s := flags.NewFile(path)
	if err := s.Set(t.Context(), flags.Flag{Name: "a"}); err != nil {
		t.Fatal(err)
	}
	checkPerm(t, path, 0o644)
	if err := os.Chmod(path, 0o640); err != nil {
		t.Fatal(err)
	}
	if err := s.Set(t.Context(), flags.Flag{Name: "b"}); err != nil {
		t.Fatal(err)
	}
	checkPerm(t, path, 0o640)
}

func checkPerm(t *testing.T, path string, want fs.FileMode) {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := info.Mode().Perm(); got != want {
		t.Errorf("%s has mode %v, want %v", path, got, want)
	}
}

func TestFileSharedPath(t *testing.T) {
	path := filepath.Join(t.TempDir(), "flags.json")
	a, b := flags.NewFile(path), flags.NewFile(path)
	want := flags.Flag{Name: "checkout-v2", Enabled: true}
	if err := a.Set(t.Context(), want); err != nil {
		t.Fatal(err)
	}
	if got, err := b.Get(t.Context(), want.Name); err != nil || got != want {
		t.Errorf("b.Get after a.Set = %+v, %v; want %+v", got, err, want)
	}
	if err := b.Delete(t.Context(), want.Name); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Get(t.Context(), want.Name); !errors.Is(err, flags.ErrNotFound) {
		t.Errorf("a.Get after b.Delete: error = %v, want one wrapping ErrNotFound", err)
	}
}

func TestFileMissingDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "missing")
	path := filepath.Join(dir, "flags.json")
	s := flags.NewFile(path)
	check := func(op string, err error) {
		t.Helper()
		if err == nil || errors.Is(err, flags.ErrNotFound) || !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), path) {
			t.Errorf("%s = %v, want an error wrapping fs.ErrNotExist, not ErrNotFound, naming %s", op, err, path)
		}
	}
	_, err := s.Get(t.Context(), "a")
	check("Get", err)
	_, err = s.List(t.Context())
	check("List", err)
	check("Set", s.Set(t.Context(), flags.Flag{Name: "a"}))
	check("Delete", s.Delete(t.Context(), "a"))
	if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("File created the missing directory %s", dir)
	}
}
