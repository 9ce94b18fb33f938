package logs

// A masker replaces the obvious variables of tokens with Wildcard, keeping
// the punctuation around them, and interns the results so that masking
// allocates only for shapes it has not seen.
type masker struct {
	interned map[string]string
	buf      []byte
}

// Mask returns token with its obvious variable masked: a token that holds a
// digit — numbers, IP addresses, UUIDs, hex, durations, sizes, dates and
// times, identifiers such as blk_-1608 or pod-7f9c — or a long run of hex
// letters is a variable. The brackets, quotes and punctuation around it
// stay ("[<*>]", "<*>,"), and so does the key of a key=value token
// ("user=<*>"). Any other token is returned unchanged.
//
// The rule is deliberately blunt: a constant with a digit in it (utf8,
// HTTP/1.1) is masked too, which costs nothing when grouping messages —
// every message of the template masks it alike — and saves listing every
// kind of variable.
func Mask(token string) string {
	var mk masker
	return mk.mask(token)
}

func (mk *masker) mask(tok string) string {
	if !looksVariable(tok) {
		if dateWord(tok) {
			return Wildcard
		}
		return tok
	}
	key := ""
	if i := indexByte(tok, '='); i > 0 && i < len(tok)-1 && !hasDigit(tok[:i]) {
		key, tok = tok[:i+1], tok[i+1:]
	}
	lo, hi := 0, len(tok)
	for lo < hi && isPunct(tok[lo]) {
		lo++
	}
	for hi > lo && isPunct(tok[hi-1]) {
		hi--
	}
	if key == "" && lo == 0 && hi == len(tok) {
		return Wildcard
	}
	if hi > lo && !looksVariable(tok[lo:hi]) {
		// The variable part was the key's: leave the value.
		return key + tok
	}
	mk.buf = append(mk.buf[:0], key...)
	mk.buf = append(mk.buf, tok[:lo]...)
	mk.buf = append(mk.buf, Wildcard...)
	mk.buf = append(mk.buf, tok[hi:]...)
	if s, ok := mk.interned[string(mk.buf)]; ok {
		return s
	}
	if mk.interned == nil {
		mk.interned = map[string]string{}
	}
	if len(mk.interned) >= 4096 { // bound the table: shapes of punctuation are few
		return string(mk.buf)
	}
	s := string(mk.buf)
	mk.interned[s] = s
	return s
}

// looksVariable reports whether s holds a digit or a run of at least 12 hex
// letters (a hash or an ID written without digits is rare but happens).
func looksVariable(s string) bool {
	run := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case '0' <= c && c <= '9':
			return true
		case 'a' <= c && c <= 'f', 'A' <= c && c <= 'F':
			run++
			if run >= 12 {
				return true
			}
		default:
			run = 0
		}
	}
	return false
}

func hasDigit(s string) bool {
	for i := 0; i < len(s); i++ {
		if '0' <= s[i] && s[i] <= '9' {
			return true
		}
	}
	return false
}

func indexByte(s string, b byte) int {
	for i := 0; i < len(s); i++ {
		if s[i] == b {
			return i
		}
	}
	return -1
}

// isPunct reports whether c is punctuation that surrounds a variable:
// brackets, quotes, and the separators that follow a word.
func isPunct(c byte) bool {
	switch c {
	case '(', ')', '[', ']', '{', '}', '<', '>', '"', '\'', '`', ',', ';', ':', '.', '!', '?', '#', '@', '/', '\\', '=':
		return true
	}
	return false
}

// dateWord reports whether tok is the English name of a month or a day of
// the week, abbreviated or not, as dates write them.
func dateWord(tok string) bool {
	switch tok {
	case "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Sept", "Oct", "Nov", "Dec",
		"January", "February", "March", "April", "June", "July", "August", "September", "October", "November", "December",
		"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun",
		"Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday":
		return true
	}
	return false
}
