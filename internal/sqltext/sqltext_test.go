package sqltext

import "testing"

func TestSkipSpace(t *testing.T) {
	for _, c := range []struct {
		sql  string
		from int
		want int
	}{
		{"SELECT 1", 0, 0},
		{"  \n\tSELECT", 0, 4},
		{"-- note\nSELECT", 0, 8},
		{"/* a /* nested */ still */ SELECT", 0, 27},
		{"/* never closed", 0, 15},
		{"-- only a comment", 0, 17},
		{"x; -- after\n  y", 2, 14},
	} {
		if got := SkipSpace(c.sql, c.from); got != c.want {
			t.Errorf("SkipSpace(%q, %d) = %d, want %d", c.sql, c.from, got, c.want)
		}
	}
}
