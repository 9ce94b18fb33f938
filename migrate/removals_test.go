package migrate_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/safedeploy/safedeploy/migrate"
)

// finding is the part of a Finding the removal rows compare; the message
// and fix are checked separately, by content.
type finding struct {
	Rule      string
	Severity  migrate.Severity
	Migration string
}

func TestCheckRemovals(t *testing.T) {
	tests := []struct {
		name    string
		removes []string
		usage   migrate.Usage
		want    []finding
		// Each finding's Message must contain the matching entry.
		mentions []string
	}{
		{
			name:     "drop a column the running version uses",
			removes:  []string{"orders.note"},
			usage:    migrate.Usage{Running: []string{"orders.note"}, New: []string{"orders.note"}},
			want:     []finding{{"ban-drop-column", migrate.Error, "0002"}},
			mentions: []string{"orders.note"},
		},
		{
			name:     "drop a column the new version stopped using in the same deployment",
			removes:  []string{"orders.note"},
			usage:    migrate.Usage{Running: []string{"orders", "orders.note"}, New: []string{"orders"}},
			want:     []finding{{"ban-drop-column", migrate.Error, "0002"}},
			mentions: []string{"orders.note"},
		},
		{
			name:    "drop a column no version uses",
			removes: []string{"orders.note"},
			usage:   migrate.Usage{Running: []string{"orders", "orders.id"}, New: []string{"orders", "orders.id"}},
		},
		{
			name:     "drop a table whose column is used",
			removes:  []string{"orders"},
			usage:    migrate.Usage{Running: []string{"orders.note"}},
			want:     []finding{{"ban-drop-table", migrate.Error, "0002"}},
			mentions: []string{"orders.note"},
		},
		{
			name:    "a table whose name starts with the dropped one is not covered",
			removes: []string{"orders"},
			usage: migrate.Usage{
				Running: []string{"orders_archive", "orders_archive.note", "ordersx.id"},
				New:     []string{"orders_archive.note"},
			},
		},
		{
			name:    "a column whose name starts with the dropped one is not covered",
			removes: []string{"orders.note"},
			usage:   migrate.Usage{Running: []string{"orders.notes", "orders.note_v2"}},
		},
		{
			name:     "the new version uses what is removed",
			removes:  []string{"orders.status"},
			usage:    migrate.Usage{Running: []string{"orders.id"}, New: []string{"orders.id", "orders.status"}},
			want:     []finding{{"ban-drop-column", migrate.Error, "0002"}},
			mentions: []string{"new version"},
		},
		{
			name:    "one finding per use, across versions",
			removes: []string{"orders"},
			usage: migrate.Usage{
				Running: []string{"orders.id", "orders.note"},
				New:     []string{"orders.id", "orders.status"},
			},
			want: []finding{
				{"ban-drop-table", migrate.Error, "0002"},
				{"ban-drop-table", migrate.Error, "0002"},
				{"ban-drop-table", migrate.Error, "0002"},
			},
			mentions: []string{"orders.id", "orders.note", "orders.status"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pending := []migrate.Migration{
				{ID: "0001_add_status", Removes: nil},
				{ID: "0002", Removes: tt.removes},
			}
			got := migrate.CheckRemovals(pending, tt.usage)
			var short []finding
			for _, f := range got {
				short = append(short, finding{f.Rule, f.Severity, f.Migration})
				if f.Statement != -1 || f.Pos != -1 {
					t.Errorf("finding %q: Statement, Pos = %d, %d; want -1, -1 (unknown without SQL)", f, f.Statement, f.Pos)
				}
				if f.Fix == "" {
					t.Errorf("finding %q has no Fix", f)
				}
			}
			if diff := cmp.Diff(tt.want, short, cmpopts.EquateEmpty()); diff != "" {
				t.Fatalf("findings mismatch (-want +got):\n%s\nall: %q", diff, got)
			}
			for i, m := range tt.mentions {
				if !strings.Contains(got[i].Message, m) {
					t.Errorf("finding %d message %q does not mention %q", i, got[i].Message, m)
				}
			}
		})
	}
}

func TestCheckRemovalsRunningVersionFix(t *testing.T) {
	got := migrate.CheckRemovals(
		[]migrate.Migration{{ID: "0007_drop_note", Removes: []string{"orders.note"}}},
		migrate.Usage{Running: []string{"orders.note"}},
	)
	if len(got) != 1 {
		t.Fatalf("got %d findings, want 1: %q", len(got), got)
	}
	if !strings.Contains(got[0].Message, "running version") {
		t.Errorf("Message %q does not say the running version uses it", got[0].Message)
	}
	if !strings.Contains(got[0].Fix, "later") {
		t.Errorf("Fix %q does not say to remove it in a later deployment", got[0].Fix)
	}
}

func TestCheckRemovalsNothingPending(t *testing.T) {
	u := migrate.Usage{Running: []string{"orders.note"}, New: []string{"orders.note"}}
	if got := migrate.CheckRemovals(nil, u); got != nil {
		t.Errorf("CheckRemovals(nil) = %q, want nil", got)
	}
}

func TestCheckRemovalsUndeclaredUsage(t *testing.T) {
	pending := []migrate.Migration{{ID: "0042", Removes: []string{"orders.note"}}, {ID: "0043"}}
	got := migrate.CheckRemovals(pending, migrate.Usage{})
	if len(got) != 1 || got[0].Rule != "undeclared-usage" || got[0].Severity != migrate.Error || got[0].Migration != "0042" {
		t.Fatalf("findings = %+v, want one undeclared-usage error for 0042", got)
	}
	if got := migrate.CheckRemovals([]migrate.Migration{{ID: "0043"}}, migrate.Usage{}); got != nil {
		t.Errorf("a migration that removes nothing needs no declared usage: %+v", got)
	}
}
