package report

import "testing"

func TestOffsetLabel(t *testing.T) {
	for _, tc := range []struct {
		s    float64
		want string
	}{
		{0, "+0s"}, {1.5, "+1.5s"}, {30, "+30s"}, {150, "+2m30s"}, {300, "+5m"},
		{3600, "+1h"}, {5400, "+1h30m"}, {3630, "+1h0m30s"}, {-60, "-1m"},
	} {
		if got := offsetLabel(tc.s); got != tc.want {
			t.Errorf("offsetLabel(%v) = %q, want %q", tc.s, got, tc.want)
		}
	}
}
