package pglint

import (
	"os"
	"strings"
	"testing"
)

// TestDocListsFunctions keeps the package doc's volatility lists in step
// with the ones the rule uses.
func TestDocListsFunctions(t *testing.T) {
	b, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	doc := strings.Join(strings.Fields(strings.ReplaceAll(string(b), "//", "")), " ")
	for _, list := range []map[string]bool{volatileFuncs, stableFuncs} {
		for name := range list {
			if !hasWord(doc, name) {
				t.Errorf("doc.go does not list %s", name)
			}
		}
	}
	for _, r := range ruleTable {
		if !strings.Contains(doc, r.Name) {
			t.Errorf("doc.go does not describe rule %s", r.Name)
		}
	}
}

// hasWord reports whether word occurs in s as a whole identifier.
func hasWord(s, word string) bool {
	ident := func(c byte) bool { return c == '_' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }
	for off := 0; ; {
		i := strings.Index(s[off:], word)
		if i < 0 {
			return false
		}
		i += off
		end := i + len(word)
		if (i == 0 || !ident(s[i-1])) && (end == len(s) || !ident(s[end])) {
			return true
		}
		off = i + 1
	}
}
