package sqlite

import (
	"slices"
	"strings"
	"testing"
)

// parseSchema reads "orders:id,note;v!" as a schema: tables or views with
// their columns, "!" marking an unreadable view.
func parseSchema(s string) schema {
	out := schema{}
	for _, part := range strings.Split(s, ";") {
		name, cols, _ := strings.Cut(part, ":")
		if name == "" {
			continue
		}
		o := object{name: strings.TrimSuffix(name, "!"), broken: strings.HasSuffix(name, "!")}
		if !o.broken && cols != "" {
			o.columns = strings.Split(cols, ",")
		}
		out[strings.ToLower(o.name)] = o
	}
	return out
}

// removed reports only what was there and is gone: nothing when nothing
// changed, every table and view when all are gone, and otherwise names
// that were in before and are not in after.
func FuzzRemoved(f *testing.F) {
	f.Add("orders:id,note;legacy:id", "orders:id;archive:id")
	f.Add("orders:id,note;v:id", "orders:ID,NOTE;v!")
	f.Add("Orders:Id", "orders:id")
	f.Add("a:x,x", "a:")
	f.Fuzz(func(t *testing.T, b, a string) {
		before, after := parseSchema(b), parseSchema(a)
		if same := removed(before, before); len(same) != 0 {
			t.Fatalf("removed(s, s) = %q for s = %q, want nothing", same, b)
		}
		all := removed(before, schema{})
		if len(all) != len(before) {
			t.Fatalf("removed(%q, nothing) = %q, want each of the %d tables and views", b, all, len(before))
		}
		got := removed(before, after)
		if !slices.IsSorted(got) {
			t.Fatalf("removed = %q, not sorted", got)
		}
		for _, name := range got {
			if o, ok := before[strings.ToLower(name)]; ok && o.name == name {
				if ao, ok := after[strings.ToLower(name)]; ok && !(ao.broken && !o.broken) {
					t.Fatalf("removed(%q, %q) names %q, which is still there", b, a, name)
				}
				continue
			}
			// A table's name may hold dots too: any split will do.
			column := false
			for i := range len(name) {
				if name[i] != '.' {
					continue
				}
				table, col := name[:i], name[i+1:]
				o, okBefore := before[strings.ToLower(table)]
				ao, okAfter := after[strings.ToLower(table)]
				if okBefore && okAfter && slices.Contains(o.columns, col) &&
					!slices.ContainsFunc(ao.columns, func(x string) bool { return strings.EqualFold(x, col) }) {
					column = true
				}
			}
			if !column {
				t.Fatalf("removed(%q, %q) names %q, which is neither a table gone nor a column gone from a table that remains", b, a, name)
			}
		}
	})
}
