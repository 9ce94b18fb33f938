package sqltext

import (
	"strings"
	"testing"
)

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

// FuzzSkipSpace: from any offset, SkipSpace lands at or after it, within
// the SQL, on something that is neither white space nor a comment's start,
// and stays there when asked again.
func FuzzSkipSpace(f *testing.F) {
	for _, s := range []string{"SELECT 1", "  \n\t-- c\n/* a /* b */ */x", "/* open", "--", "/*/", "-/**/-"} {
		f.Add(s, uint(0))
		f.Add(s, uint(3))
	}
	f.Fuzz(func(t *testing.T, sql string, from uint) {
		i := int(from % uint(len(sql)+1))
		got := SkipSpace(sql, i)
		if got < i || got > len(sql) {
			t.Fatalf("SkipSpace(%q, %d) = %d, outside [%d, %d]", sql, i, got, i, len(sql))
		}
		if again := SkipSpace(sql, got); again != got {
			t.Fatalf("SkipSpace(%q, %d) = %d, but from there %d", sql, i, got, again)
		}
		if got < len(sql) {
			rest := sql[got:]
			if strings.IndexByte(" \t\n\r\f\v", rest[0]) >= 0 || strings.HasPrefix(rest, "--") || strings.HasPrefix(rest, "/*") {
				t.Fatalf("SkipSpace(%q, %d) = %d stops at white space or a comment: %q", sql, i, got, rest)
			}
		}
	})
}
