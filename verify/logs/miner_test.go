package logs

import (
	"fmt"
	"math"
	"strings"
	"testing"
)

func TestMask(t *testing.T) {
	for in, want := range map[string]string{
		"7":                                    "<*>",
		"shard":                                "shard",
		"10.0.0.1:8080":                        "<*>",
		"(10.0.0.1)":                           "(<*>)",
		"user=alice":                           "user=alice",
		"user=bob7":                            "user=<*>",
		"took=1.5s,":                           "took=<*>,",
		"[0x7f3a]":                             "[<*>]",
		"blk_-1608999687":                      "<*>",
		"deadbeefcafebabe":                     "<*>",
		"accepted":                             "accepted",
		"Jun":                                  "<*>",
		"v2":                                   "<*>",
		"/var/log/app.log":                     "/var/log/app.log",
		"4f9c7c1e-59b5-4d3e-8f3b-1a2b3c4d5e6f": "<*>",
	} {
		if got := Mask(in); got != want {
			t.Errorf("Mask(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestMinerTemplates(t *testing.T) {
	var m Miner
	add := func(msg string) string { return m.Template(m.Add(msg)) }
	if got := add("connection pool exhausted for shard 7"); got != "connection pool exhausted for shard <*>" {
		t.Errorf("first message: template %q", got)
	}
	a := m.Add("connection pool exhausted for shard 12")
	b := m.Add("nil pointer dereference in basket.Total")
	if a == b {
		t.Errorf("two different messages share template %d (%q)", a, m.Template(a))
	}
	// A variable word: up to MaxValues values each make a template, then
	// they merge into one, and every ID resolves to it.
	var ids []ID
	for _, u := range []string{"alice", "bob", "carol", "dave", "erin", "frank"} {
		ids = append(ids, m.Add("user "+u+" logged in"))
	}
	want := "user <*> logged in"
	for i, id := range ids {
		if got := m.Template(id); got != want {
			t.Errorf("user %d: template %q, want %q", i, got, want)
		}
		if m.Resolve(id) != m.Resolve(ids[0]) {
			t.Errorf("user %d: ID %d resolves to %d, want %d", i, id, m.Resolve(id), m.Resolve(ids[0]))
		}
	}
	if got := m.Size(ids[0]); got != 6 {
		t.Errorf("merged template size %d, want 6", got)
	}
	// A word with few values is a constant: each keeps its template.
	get, post := m.Add("GET /items 200"), m.Add("POST /items 500")
	m.Add("GET /items 404")
	if m.Resolve(get) == m.Resolve(post) || m.Template(get) != "GET /items <*>" || m.Template(post) != "POST /items <*>" {
		t.Errorf("GET and POST: templates %q (%d) and %q (%d), want two", m.Template(get), m.Resolve(get), m.Template(post), m.Resolve(post))
	}
	if got := m.Len(); got != 5 {
		t.Errorf("Len = %d, want 5 (pool, nil pointer, user, GET, POST)", got)
	}
}

// TestMinerNewErrorNotAbsorbed checks that a new error message that
// differs from an old one by a word gets a template of its own.
func TestMinerNewErrorNotAbsorbed(t *testing.T) {
	var m Miner
	for i := range 100 {
		m.Add(fmt.Sprintf("query failed: connection refused for shard %d", i))
	}
	old := m.Add("query failed: connection refused for shard 3")
	if got := m.Add("query failed: connection exhausted for shard 3"); m.Resolve(got) == m.Resolve(old) {
		t.Errorf("the new error joined the old template %q", m.Template(old))
	}
}

func TestMinerPlainDrain(t *testing.T) {
	m := Miner{MaxValues: -1}
	get, post := m.Add("GET /items 200"), m.Add("POST /items 500")
	if m.Resolve(get) != m.Resolve(post) || m.Template(get) != "<*> /items <*>" {
		t.Errorf("plain Drain: %q and %q, want one template", m.Template(get), m.Template(post))
	}
}

func TestMinerLimits(t *testing.T) {
	m := Miner{MaxTemplates: 3}
	for i := range 10 {
		m.Add(strings.Repeat(fmt.Sprintf("word%c ", 'a'+i), i+1))
	}
	if m.Len() != 3 || m.Size(Overflow) != 7 {
		t.Errorf("with MaxTemplates 3: Len %d, overflow %d; want 3 and 7", m.Len(), m.Size(Overflow))
	}
	var long Miner
	id := long.Add(strings.Repeat("x ", 1000))
	if n := len(strings.Fields(long.Template(id))); n != MaxTokens {
		t.Errorf("a 1000-token message has a %d-token template, want %d", n, MaxTokens)
	}
	if long.Template(12345) != "" || long.Template(-1) != "" {
		t.Error("Template of an unknown ID is not empty")
	}
	var empty Miner
	if a, b := empty.Add(""), empty.Add("   "); a != b {
		t.Errorf("empty messages: templates %d and %d", a, b)
	}
}

func TestGroupingAccuracy(t *testing.T) {
	truth := []string{"a", "a", "b", "b", "c"}
	if got := groupingAccuracy(truth, []string{"x", "x", "y", "y", "z"}); got != 1 {
		t.Errorf("perfect grouping: %g", got)
	}
	if got := groupingAccuracy(truth, []string{"x", "x", "x", "x", "z"}); got != 0.2 {
		t.Errorf("merged a and b: %g, want 0.2", got)
	}
}

func TestMinerValidate(t *testing.T) {
	m := &Miner{Similarity: 1.5, Depth: -1, MaxChildren: -2, MaxValues: -1, MaxTemplates: -3}
	err := m.Validate()
	for _, want := range []string{"Similarity = 1.5", "Depth = -1", "MaxChildren = -2", "MaxTemplates = -3"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v, want it to name %s", err, want)
		}
	}
	if err != nil && strings.Contains(err.Error(), "MaxValues") {
		t.Errorf("Validate() = %v; a negative MaxValues is valid (no splitting)", err)
	}
	if err := new(Miner).Validate(); err != nil {
		t.Errorf("the zero Miner: Validate() = %v, want nil", err)
	}
	if err := (&Miner{Similarity: math.NaN()}).Validate(); err == nil {
		t.Error("Similarity NaN: Validate() = nil, want an error")
	}
}
