package outcome

import "testing"

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Outcome
	}{
		{"completed", Completed},
		{"rolled back", RolledBack},
		{"rolled_back", RolledBack},
		{"Rolled-Back", RolledBack},
		{"roll forward required", RollForwardRequired},
		{"roll_forward_required", RollForwardRequired},
		{"fix forward required", FixForwardRequired},
		{"rollback failed", RollbackFailed},
		{"rollback_failed", RollbackFailed},
		{"deployed, clean-up incomplete", Incomplete},
		{"incomplete", Incomplete},
		{"aborted", Aborted},
		{"", Running},
		{"exploded", Unknown},
	} {
		if got := Parse(tc.in); got != tc.want {
			t.Errorf("Parse(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestPrefix(t *testing.T) {
	o, rest := Prefix("rolled back: a bug and no data mutated: roll back")
	if o != RolledBack || rest != "a bug and no data mutated: roll back" {
		t.Errorf("Prefix = %q, %q", o, rest)
	}
	o, rest = Prefix("deployed, clean-up incomplete: v2 is deployed")
	if o != Incomplete || rest != "v2 is deployed" {
		t.Errorf("Prefix = %q, %q", o, rest)
	}
	if o, rest := Prefix("observer 1 delivered every event"); o != Unknown || rest != "observer 1 delivered every event" {
		t.Errorf("Prefix = %q, %q", o, rest)
	}
}

func TestLabelTone(t *testing.T) {
	if got := RolledBack.Label("rolled back"); got != "Rolled back" {
		t.Errorf("Label = %q", got)
	}
	if got := Unknown.Label("exploded"); got != "exploded" {
		t.Errorf("Label = %q", got)
	}
	if Completed.Tone() != "good" || RollbackFailed.Tone() != "critical" || Unknown.Tone() != "neutral" {
		t.Error("tones wrong")
	}
}
