package logs

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/safedeploy/safedeploy/internal/errlist"
)

// Defaults applied by a Miner for zero fields.
const (
	// DefaultSimilarity is the share of a message's tokens that must equal
	// a template's, position by position, for the message to join it.
	DefaultSimilarity = 0.6
	// DefaultDepth is how many leading tokens route a message through the
	// parse tree (Drain's tree depth 4: the root, the token count, and
	// two token layers).
	DefaultDepth = 2
	// DefaultMaxChildren bounds the children of one node of the parse
	// tree; further distinct tokens share a wildcard child.
	DefaultMaxChildren = 100
	// DefaultMaxValues is how many distinct words a position of a template
	// may take and still be read as a choice among constants ("GET",
	// "POST", "DELETE") rather than a variable (a user name).
	DefaultMaxValues = 4
	// DefaultMaxTemplates bounds the templates a Miner keeps; messages
	// that would need more go to the Overflow template.
	DefaultMaxTemplates = 50_000
	// MaxTokens is the most tokens of a message a Miner considers; the
	// rest of a longer message is one wildcard.
	MaxTokens = 200
	// fallbackScan bounds how many groups of the same length a message
	// that matched nothing in its own leaf is compared with.
	fallbackScan = 256
	// leafScan bounds how many groups of a leaf a message is compared
	// with: the newest, and those most recently matched.
	leafScan = 1024
)

// Wildcard is the token that stands for a variable part of a template.
const Wildcard = "<*>"

// Overflow is the ID of the template that collects the messages a Miner
// could not give a template of their own once it held MaxTemplates.
const Overflow ID = 0

// An ID names one template of a Miner. It is stable: a template keeps its
// ID as it generalises, and when two templates become one, both IDs
// resolve to the older ([Miner.Resolve]). IDs start at 1; 0 is Overflow.
type ID int32

// A Miner turns log messages into templates online, in the manner of Drain
// (He et al., "Drain: An Online Log Parsing Approach with Fixed Depth
// Tree", ICWS 2017). A message is tokenised on white space and its obvious
// variables masked ([Mask]); a parse tree keyed by the token count and the
// leading tokens leads to a short list of groups, and the message joins the
// most similar one if at least Similarity of its tokens equal the group's,
// position by position, or starts a group of its own. A group's pattern
// turns into a wildcard where its messages differ.
//
// Three departures from the paper make templates fit for comparing
// versions:
//
//   - Where a group's messages differ by a word (not a masked variable),
//     the Miner counts the distinct words. Up to MaxValues of them are read
//     as constants — "GET" and "POST", "spawn" and "destroy" — and each
//     makes its own template; beyond that the position is a variable and
//     those templates merge. A new error message that differs from an old
//     one by a word or two thus gets a template of its own instead of
//     vanishing into the old one.
//   - A message whose leaf holds no similar group is compared with the
//     other groups of its length before a new one is made, so that a
//     variable leading word does not split a group by its value.
//   - Groups whose patterns become the same text merge.
//
// Merges keep IDs valid: the younger template's ID resolves to the older.
//
// The zero Miner is ready to use with the defaults. Set the fields before
// the first Add and do not change them after; Validate names any field out
// of range, which Add would otherwise replace by its default. A Miner is
// not safe for concurrent use.
type Miner struct {
	// Similarity is the least share of a message's tokens that must equal
	// a group's, in (0, 1]. Zero means DefaultSimilarity.
	Similarity float64
	// Depth is how many leading tokens route a message in the parse tree.
	// Zero means DefaultDepth.
	Depth int
	// MaxChildren bounds the children of a node. Zero means
	// DefaultMaxChildren.
	MaxChildren int
	// MaxValues is how many distinct words a position may take and still
	// split templates. Zero means DefaultMaxValues; a negative value turns
	// the splitting off (plain Drain).
	MaxValues int
	// MaxTemplates bounds the templates kept. Zero means
	// DefaultMaxTemplates.
	MaxTemplates int

	init    bool
	byLen   map[int]*node   // parse tree roots by token count
	sameLen map[int][]int32 // every group by token count
	groups  []group
	byText  map[string]int32 // group pattern → group
	members []member         // index = ID; 0 is Overflow
	live    int              // templates not merged away
	masker  masker
	toks    []string
	key     []byte
}

type node struct {
	children map[string]*node
	leaf     []int32
}

// A group is a Drain cluster: a pattern with wildcards where its messages
// differ, and for each such position the words seen there while they are
// few.
type group struct {
	tokens  []string
	values  [][]string // per position: the words seen, while at most MaxValues
	state   []uint8    // per position: constant, choice or variable
	members []ID
	keys    []string // each member's words at the choice positions
	alias   int32    // the group this one merged into, or -1
	text    string
}

// Position states of a group.
const (
	constant uint8 = iota // the pattern's token
	choice                // a wildcard in the pattern, each word its own template
	variable              // a wildcard in the pattern and in every template
)

// A member is a template: a group and its words at the choice positions.
type member struct {
	group int32
	words []string // per position of the group, "" where the member has none; nil while the group has no choice
	alias ID
	size  int64
	text  string
}

// Validate returns one error naming every field out of range and its
// value, or nil. Zero fields are valid: they take the defaults.
func (m *Miner) Validate() error {
	var errs []error
	bad := func(field string, value any, problem string) {
		errs = append(errs, fmt.Errorf("%s = %v: %s", field, value, problem))
	}
	if m.Similarity != 0 && !(m.Similarity > 0 && m.Similarity <= 1) {
		bad("Similarity", m.Similarity, "must be in (0, 1]")
	}
	if m.Depth < 0 {
		bad("Depth", m.Depth, "must be at least 1")
	}
	if m.MaxChildren < 0 {
		bad("MaxChildren", m.MaxChildren, "must be at least 1")
	}
	if m.MaxTemplates < 0 {
		bad("MaxTemplates", m.MaxTemplates, "must be at least 1")
	}
	return errlist.Join(errs...)
}

func (m *Miner) setup() {
	if m.init {
		return
	}
	m.init = true
	if !(m.Similarity > 0 && m.Similarity <= 1) {
		m.Similarity = DefaultSimilarity
	}
	if m.Depth <= 0 {
		m.Depth = DefaultDepth
	}
	if m.MaxChildren <= 0 {
		m.MaxChildren = DefaultMaxChildren
	}
	m.MaxValues = cmp.Or(m.MaxValues, DefaultMaxValues)
	if m.MaxTemplates <= 0 {
		m.MaxTemplates = DefaultMaxTemplates
	}
	m.byLen = map[int]*node{}
	m.sameLen = map[int][]int32{}
	m.byText = map[string]int32{}
	m.members = []member{{group: -1, text: "(too many templates)"}}
}

// Len returns how many distinct templates the Miner holds (merged
// templates count once, Overflow not at all).
func (m *Miner) Len() int { return m.live }

// Resolve returns the ID id now stands for: itself, or the template it was
// merged into.
func (m *Miner) Resolve(id ID) ID {
	for id > 0 && int(id) < len(m.members) && m.members[id].alias != 0 {
		id = m.members[id].alias
	}
	return id
}

// Template returns the text of template id (after [Miner.Resolve]): its
// tokens joined by single spaces, variables as "<*>". It returns "" for an
// ID the Miner never returned.
func (m *Miner) Template(id ID) string {
	id = m.Resolve(id)
	if id < 0 || int(id) >= len(m.members) {
		return ""
	}
	mb := &m.members[id]
	if mb.text == "" {
		g := &m.groups[mb.group]
		var b strings.Builder
		for i, t := range g.tokens {
			if i > 0 {
				b.WriteByte(' ')
			}
			if g.state[i] == choice && mb.words != nil && mb.words[i] != "" {
				t = mb.words[i]
			}
			b.WriteString(t)
		}
		mb.text = b.String()
	}
	return mb.text
}

// Size returns how many messages template id (after [Miner.Resolve]) has
// taken, those of templates merged into it included.
func (m *Miner) Size(id ID) int64 {
	id = m.Resolve(id)
	if id < 0 || int(id) >= len(m.members) {
		return 0
	}
	return m.members[id].size
}

// Add learns message and returns the ID of the template it joined.
func (m *Miner) Add(message string) ID {
	m.setup()
	toks := m.tokenize(message)
	leaf := m.leaf(toks)
	g := m.bestInLeaf(leaf, toks)
	if g < 0 {
		g = m.best(m.fallback(len(toks)), toks)
		if g >= 0 {
			leaf.leaf = append(leaf.leaf, g)
		}
	}
	if g < 0 {
		if m.live >= m.MaxTemplates {
			m.members[Overflow].size++
			return Overflow
		}
		g = m.newGroup(toks, leaf)
	} else {
		g = m.absorb(g, toks)
	}
	id := m.memberFor(g, toks)
	m.members[id].size++
	return id
}

// tokenize splits message on white space and masks each token; the result
// is valid until the next call.
func (m *Miner) tokenize(message string) []string {
	m.toks = m.toks[:0]
	for len(message) > 0 {
		i := 0
		for i < len(message) && isSpace(message[i]) {
			i++
		}
		message = message[i:]
		if message == "" {
			break
		}
		j := 0
		for j < len(message) && !isSpace(message[j]) {
			j++
		}
		if len(m.toks) == MaxTokens-1 {
			m.toks = append(m.toks, Wildcard)
			break
		}
		m.toks = append(m.toks, m.masker.mask(message[:j]))
		message = message[j:]
	}
	return m.toks
}

func isSpace(b byte) bool {
	return b == ' ' || b == '\t' || b == '\n' || b == '\r' || b == '\v' || b == '\f'
}

// leaf walks the parse tree to toks's leaf, creating nodes on the way.
// The tree is keyed by the token count, then by the first Depth tokens that
// are not masked variables: a time stamp or an ID at the start of a line
// would otherwise send every line of that length to one leaf.
func (m *Miner) leaf(toks []string) *node {
	n := m.byLen[len(toks)]
	if n == nil {
		n = &node{}
		m.byLen[len(toks)] = n
	}
	depth, i := 0, 0
	for ; depth < m.Depth; depth++ {
		for i < len(toks) && masked(toks[i]) {
			i++
		}
		tok := Wildcard
		if i < len(toks) {
			tok = toks[i]
			i++
		}
		next := n.children[tok]
		if next == nil {
			if n.children == nil {
				n.children = map[string]*node{}
			}
			_, hasWild := n.children[Wildcard]
			switch room := m.MaxChildren - len(n.children); {
			case tok == Wildcard:
			case hasWild && room > 0, !hasWild && room > 1:
			default:
				tok = Wildcard
			}
			if next = n.children[tok]; next == nil {
				next = &node{}
				n.children[tok] = next
			}
		}
		n = next
	}
	return n
}

// masked reports whether a token is (or holds) a masked variable.
func masked(tok string) bool { return strings.Contains(tok, Wildcard) }

// best returns the group among gs most similar to toks, if at least
// Similarity of toks equal its pattern, else -1.
func (m *Miner) best(gs []int32, toks []string) int32 {
	best := int32(-1)
	bestSim, bestParams := -1.0, -1
	for _, gi := range gs {
		g := &m.groups[gi]
		if g.alias >= 0 {
			continue
		}
		same, params := similarity(g.tokens, toks)
		sim := 1.0
		if len(toks) > 0 {
			sim = float64(same) / float64(len(toks))
		}
		if sim > bestSim || sim == bestSim && params > bestParams {
			best, bestSim, bestParams = gi, sim, params
		}
	}
	if best < 0 || bestSim < m.Similarity {
		return -1
	}
	return best
}

// bestInLeaf is best over the newest leafScan groups of leaf; the group
// found moves to the end, so that groups in use stay among the newest.
func (m *Miner) bestInLeaf(leaf *node, toks []string) int32 {
	gs := leaf.leaf
	if len(gs) > leafScan {
		gs = gs[len(gs)-leafScan:]
	}
	g := m.best(gs, toks)
	if g >= 0 && len(leaf.leaf) > leafScan {
		i := slices.Index(leaf.leaf, g)
		last := len(leaf.leaf) - 1
		leaf.leaf[i], leaf.leaf[last] = leaf.leaf[last], leaf.leaf[i]
	}
	return g
}

// fallback returns the groups of n tokens (the newest fallbackScan).
func (m *Miner) fallback(n int) []int32 {
	all := m.sameLen[n]
	if len(all) > fallbackScan {
		all = all[len(all)-fallbackScan:]
	}
	return all
}

// similarity counts the positions where pattern and toks have the same
// token (masked variables included), and the pattern's other wildcards.
func similarity(pattern, toks []string) (same, params int) {
	for i, t := range pattern {
		switch {
		case t == toks[i]:
			same++
		case t == Wildcard:
			params++
		}
	}
	return same, params
}

// newGroup makes a group of toks in leaf.
func (m *Miner) newGroup(toks []string, leaf *node) int32 {
	gi := int32(len(m.groups))
	m.groups = append(m.groups, group{
		tokens: cloneAll(toks),
		state:  make([]uint8, len(toks)),
		alias:  -1,
	})
	leaf.leaf = append(leaf.leaf, gi)
	m.sameLen[len(toks)] = append(m.sameLen[len(toks)], gi)
	m.byText[m.groupText(gi)] = gi
	return gi
}

func (m *Miner) groupText(gi int32) string {
	g := &m.groups[gi]
	if g.text == "" {
		g.text = strings.Join(g.tokens, " ")
	}
	return g.text
}

// absorb generalises group gi with toks and returns the group that holds
// it afterwards (another one, if gi's pattern became the same as it).
func (m *Miner) absorb(gi int32, toks []string) int32 {
	g := &m.groups[gi]
	changed, promoted := false, false
	for i, t := range g.tokens {
		tok := toks[i]
		switch g.state[i] {
		case constant:
			if t == tok {
				continue
			}
			g.tokens[i] = Wildcard
			changed = true
			if m.MaxValues < 0 || masked(t) || masked(tok) || m.MaxValues < 2 {
				g.state[i] = variable
				continue
			}
			g.state[i] = choice
			if g.values == nil {
				g.values = make([][]string, len(g.tokens))
			}
			g.values[i] = []string{t, strings.Clone(tok)}
			for _, id := range g.members {
				mb := &m.members[id]
				if mb.words == nil {
					mb.words = make([]string, len(g.tokens))
				}
				mb.words[i] = t
			}
			promoted = true // the templates' keys change
		case choice:
			if masked(tok) {
				g.state[i], g.values[i] = variable, nil
				promoted = true
				continue
			}
			known := false
			for _, v := range g.values[i] {
				if v == tok {
					known = true
					break
				}
			}
			if known {
				continue
			}
			if len(g.values[i]) >= m.MaxValues {
				g.state[i], g.values[i] = variable, nil
				promoted = true
				continue
			}
			g.values[i] = append(g.values[i], strings.Clone(tok))
		}
	}
	if changed {
		delete(m.byText, g.text)
		g.text = ""
		text := m.groupText(gi)
		if other, ok := m.byText[text]; ok && other != gi {
			return m.mergeGroups(other, gi)
		}
		m.byText[text] = gi
	}
	if promoted {
		m.rekey(gi)
	}
	return gi
}

// mergeGroups merges the younger of two groups with the same pattern into
// the older, and returns the older.
func (m *Miner) mergeGroups(a, b int32) int32 {
	if b < a {
		a, b = b, a
	}
	ga, gb := &m.groups[a], &m.groups[b]
	gb.alias = a
	if ga.values == nil {
		ga.values = make([][]string, len(ga.tokens))
	}
	for i := range ga.tokens {
		switch {
		case ga.state[i] == variable || gb.state[i] == variable:
			ga.state[i], ga.values[i] = variable, nil
		case ga.state[i] == choice || gb.state[i] == choice:
			vals := ga.values[i]
			var other []string
			if gb.values != nil {
				other = gb.values[i]
			}
			for _, v := range other {
				if !contains(vals, v) {
					vals = append(vals, v)
				}
			}
			if len(vals) > m.MaxValues {
				ga.state[i], ga.values[i] = variable, nil
			} else {
				ga.state[i], ga.values[i] = choice, vals
			}
		}
	}
	for _, id := range gb.members {
		m.members[id].group = a
	}
	ga.members = append(ga.members, gb.members...)
	gb.members, gb.keys = nil, nil
	m.byText[m.groupText(a)] = a
	m.rekey(a)
	return a
}

func contains(vals []string, v string) bool {
	for _, w := range vals {
		if w == v {
			return true
		}
	}
	return false
}

// rekey rebuilds group gi's templates after positions turned variable:
// templates that now have the same words merge into the oldest.
func (m *Miner) rekey(gi int32) {
	g := &m.groups[gi]
	live, keys := g.members[:0], g.keys[:0]
	for _, id := range g.members {
		mb := &m.members[id]
		if mb.alias != 0 {
			continue
		}
		mb.text = ""
		if mb.words == nil && m.hasChoice(g) {
			mb.words = make([]string, len(g.tokens))
		}
		k := m.keyOf(g, mb.words)
		j := slicesIndexString(keys, k)
		if j < 0 {
			keys = append(keys, k)
			live = append(live, id)
			continue
		}
		keep, drop := live[j], id
		if id < keep {
			keep, drop = id, keep
			live[j] = id
		}
		m.members[drop].alias = keep
		m.members[keep].size += m.members[drop].size
		m.members[drop].size = 0
		m.live--
	}
	g.members, g.keys = live, keys
}

func (m *Miner) hasChoice(g *group) bool {
	for _, s := range g.state {
		if s == choice {
			return true
		}
	}
	return false
}

func slicesIndexString(keys []string, k string) int {
	for i, x := range keys {
		if x == k {
			return i
		}
	}
	return -1
}

// keyOf returns the words of a template at its group's choice positions.
func (m *Miner) keyOf(g *group, words []string) string {
	m.key = m.key[:0]
	for i, s := range g.state {
		if s == choice {
			m.key = append(m.key, words[i]...)
			m.key = append(m.key, 0)
		}
	}
	return string(m.key)
}

// memberFor returns the template of group gi that toks belong to, making
// it if need be.
func (m *Miner) memberFor(gi int32, toks []string) ID {
	g := &m.groups[gi]
	m.key = m.key[:0]
	for i, s := range g.state {
		if s == choice {
			m.key = append(m.key, toks[i]...)
			m.key = append(m.key, 0)
		}
	}
	for j, k := range g.keys {
		if k == string(m.key) {
			return g.members[j]
		}
	}
	id := ID(len(m.members))
	var words []string
	if len(m.key) > 0 {
		words = make([]string, len(toks))
		for i, s := range g.state {
			if s == choice {
				words[i] = strings.Clone(toks[i])
			}
		}
	}
	m.members = append(m.members, member{group: gi, words: words})
	g.members = append(g.members, id)
	g.keys = append(g.keys, string(m.key))
	m.live++
	return id
}

// cloneAll copies toks, each token too, so that templates do not keep the
// messages they came from alive.
func cloneAll(toks []string) []string {
	out := make([]string, len(toks))
	for i, t := range toks {
		out[i] = strings.Clone(t)
	}
	return out
}
