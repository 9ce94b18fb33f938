package flags_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/go-multierror"

	"github.com/safedeploy/safedeploy/flags"
	"github.com/safedeploy/safedeploy/flags/flagstest"
)

func TestMemory(t *testing.T) {
	flagstest.Run(t, func(*testing.T) flags.Store { return new(flags.Memory) })
}

func TestFile(t *testing.T) {
	flagstest.Run(t, func(t *testing.T) flags.Store {
		return flags.NewFile(filepath.Join(t.TempDir(), "flags.json"))
	})
}

func TestValidate(t *testing.T) {
	for _, name := range []string{"a", "checkout-v2", "team/flag.v3", "名前"} {
		if err := (flags.Flag{Name: name}).Validate(); err != nil {
			t.Errorf("Validate(Name: %q) = %v, want nil", name, err)
		}
	}
	for _, tt := range []struct{ name, msg string }{
		{"", "Name is empty"},
		{"a b", `Name "a b" contains U+0020`},
		{"a\tb", `Name "a\tb" contains U+0009`},
		{"a\x00", `Name "a\x00" contains U+0000`},
		{"a\u200b", `Name "a\u200b" contains U+200B`},
		{"a\xff", `Name "a\xff" is not valid UTF-8`},
	} {
		err := (flags.Flag{Name: tt.name}).Validate()
		if !errors.Is(err, flags.ErrInvalid) || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("Validate(Name: %q) = %v, want an error wrapping ErrInvalid containing %q", tt.name, err, tt.msg)
		}
	}
}

// failing is a Store whose Set and Delete fail for the names in fail.
type failing struct {
	flags.Memory
	fail map[string]error
}

func (s *failing) Set(ctx context.Context, f flags.Flag) error {
	if err := s.fail[f.Name]; err != nil {
		return err
	}
	return s.Memory.Set(ctx, f)
}

func (s *failing) Delete(ctx context.Context, name string) error {
	if err := s.fail[name]; err != nil {
		return err
	}
	return s.Memory.Delete(ctx, name)
}

func TestKillSwitch(t *testing.T) {
	var s flags.Memory
	for _, f := range []flags.Flag{
		{Name: "on", Enabled: true, Description: "kept"},
		{Name: "off", Description: "already off"},
	} {
		if err := s.Set(t.Context(), f); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"on", "off"} {
		if err := flags.KillSwitch(t.Context(), &s, name); err != nil {
			t.Errorf("KillSwitch(%q): %v", name, err)
		}
	}
	got, _ := s.List(t.Context())
	want := []flags.Flag{{Name: "off", Description: "already off"}, {Name: "on", Description: "kept"}}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("after KillSwitch, List = %+v, want %+v", got, want)
	}

	err := flags.KillSwitch(t.Context(), &s, "missing")
	if !errors.Is(err, flags.ErrNotFound) || !strings.Contains(err.Error(), `"missing"`) {
		t.Errorf("KillSwitch(missing) = %v, want an error wrapping ErrNotFound naming the flag", err)
	}

	errDown := errors.New("store is down")
	broken := &failing{fail: map[string]error{"on": errDown}}
	if err := broken.Memory.Set(t.Context(), flags.Flag{Name: "on", Enabled: true}); err != nil {
		t.Fatal(err)
	}
	if err := flags.KillSwitch(t.Context(), broken, "on"); !errors.Is(err, errDown) {
		t.Errorf("KillSwitch with failing Set = %v, want an error wrapping %v", err, errDown)
	}
}

func TestCleanup(t *testing.T) {
	errDenied := errors.New("permission denied")
	errDown := errors.New("store is down")
	s := &failing{fail: map[string]error{"locked": errDenied, "remote": errDown}}
	for _, name := range []string{"done", "locked", "remote", "other"} {
		if err := s.Memory.Set(t.Context(), flags.Flag{Name: name}); err != nil {
			t.Fatal(err)
		}
	}

	err := flags.Cleanup(t.Context(), s, "locked", "done", "absent", "remote")

	var multi *multierror.Error
	if !errors.As(err, &multi) || len(multi.Errors) != 2 {
		t.Fatalf("Cleanup = %v, want a *multierror.Error with 2 errors", err)
	}
	if !errors.Is(err, errDenied) || !errors.Is(err, errDown) {
		t.Errorf("Cleanup = %v, want it to wrap both %v and %v", err, errDenied, errDown)
	}
	want := "flags: clean up: could not remove every flag: 2 problem(s):\n" +
		"\t* \"locked\": permission denied\n" +
		"\t* \"remote\": store is down"
	if err.Error() != want {
		t.Errorf("Cleanup error message:\n%s\nwant:\n%s", err, want)
	}
	// Every name was tried: "done" went despite the failure before it.
	got, _ := s.List(t.Context())
	if len(got) != 3 || got[0].Name != "locked" || got[1].Name != "other" || got[2].Name != "remote" {
		t.Errorf("after Cleanup, List = %+v, want locked, other and remote", got)
	}

	if err := flags.Cleanup(t.Context(), s, "done", "absent", "other"); err != nil {
		t.Errorf("Cleanup of absent and present flags = %v, want nil", err)
	}
	if err := flags.Cleanup(t.Context(), s); err != nil {
		t.Errorf("Cleanup() = %v, want nil", err)
	}
}
