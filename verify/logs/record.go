package logs

import (
	"encoding/json"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"time"
)

// LevelFatal is the level of fatal, panic, critical and emergency lines:
// above slog.LevelError, and counted as errors everywhere.
const LevelFatal = slog.LevelError + 4

// A Record is what one log line says, as far as templates are concerned.
type Record struct {
	// Time is the line's own time stamp, or the zero time when it has none
	// that Parse reads (plain text lines, for instance).
	Time time.Time
	// Level is the line's level: slog's levels, with LevelFatal above
	// Error.
	Level slog.Level
	// Message is what the template is mined from: the message, followed
	// by ": " and the error where the line has both.
	Message string
}

// Parse reads one log line (without its newline). It never fails: a line
// it cannot read as structured is plain text.
//
// A JSON object (what slog's JSONHandler, zap, zerolog, logrus, pino and
// bunyan write) gives its message from "msg", "message" or "@m", its error
// from "error", "err", "exception", "error.message" or "@x", its level from
// "level", "lvl", "severity", "@l" or "log.level" (a name, or a number as
// pino and bunyan write them: 50 and up an error, 40 a warning), and its
// time from "time", "ts", "timestamp", "@t" or "@timestamp" (RFC 3339, or
// seconds, milliseconds or nanoseconds since 1970). A line of logfmt pairs
// with a msg or level key (what slog's TextHandler and logrus write) is
// read with the same keys. A structured line without a level is an error
// if it has an error field, else info.
//
// A plain text line is its own message, and its level is found as follows.
// Among its first 12 tokens, a level word — ERROR, ERR, WARN, WARNING,
// INFO, NOTICE, DEBUG, TRACE, FATAL, PANIC, CRITICAL, CRIT, SEVERE, EMERG,
// ALERT, in any case, with brackets or a colon around it — or the glog and
// klog prefix (E0102, W0102, I0102) or an Android-style lone E, W or F,
// sets it. Failing that, the words panic, fatal, exception, traceback,
// critical or error anywhere in the line (as whole words, in any case)
// make it an error; warn, warning, failed, failure, refused, denied,
// timeout or deprecated a warning; anything else is info.
func Parse(line string) Record {
	trimmed := strings.TrimSpace(line)
	if len(trimmed) >= 2 && trimmed[0] == '{' && trimmed[len(trimmed)-1] == '}' {
		if r, ok := parseJSON(trimmed); ok {
			return r
		}
	}
	if r, ok := parseLogfmt(trimmed); ok {
		return r
	}
	return Record{Level: plainLevel(line), Message: line}
}

// fields collects the values of the keys Parse reads.
type fields struct {
	msg, err, level, time string
	levelNum              float64
	hasLevelNum           bool
	timeNum               float64
	hasTimeNum            bool
	hasErr                bool
}

// Kinds of keys Parse reads.
const (
	keyOther = iota
	keyMsg
	keyErr
	keyLevel
	keyTime
)

func keyKind(key string) int {
	if len(key) > 16 {
		return keyOther
	}
	switch strings.ToLower(key) {
	case "msg", "message", "@m":
		return keyMsg
	case "error", "err", "exception", "error.message", "@x":
		return keyErr
	case "level", "lvl", "severity", "@l", "log.level", "loglevel":
		return keyLevel
	case "time", "ts", "timestamp", "@t", "@timestamp":
		return keyTime
	}
	return keyOther
}

func (f *fields) set(kind int, value string) {
	switch kind {
	case keyMsg:
		if f.msg == "" {
			f.msg = value
		}
	case keyErr:
		if f.err == "" {
			f.err = value
		}
		f.hasErr = f.hasErr || value != ""
	case keyLevel:
		f.level = value
	case keyTime:
		f.time = value
	}
}

func (f *fields) record(line string) Record {
	r := Record{Message: f.msg}
	switch {
	case f.err != "" && r.Message != "":
		r.Message += ": " + f.err
	case f.err != "":
		r.Message = f.err
	case r.Message == "":
		r.Message = line
	}
	switch {
	case f.level != "":
		lv, ok := levelWord(f.level)
		if !ok {
			lv = slog.LevelInfo
			if f.hasErr {
				lv = slog.LevelError
			}
		}
		r.Level = lv
	case f.hasLevelNum:
		r.Level = numericLevel(f.levelNum)
	case f.hasErr:
		r.Level = slog.LevelError
	default:
		r.Level = slog.LevelInfo
	}
	switch {
	case f.time != "":
		if t, err := time.Parse(time.RFC3339Nano, f.time); err == nil {
			r.Time = t
		} else if v, err := strconv.ParseFloat(f.time, 64); err == nil {
			r.Time = epoch(v)
		}
	case f.hasTimeNum:
		r.Time = epoch(f.timeNum)
	}
	return r
}

// numericLevel maps pino's and bunyan's numeric levels.
func numericLevel(v float64) slog.Level {
	switch {
	case v >= 60:
		return LevelFatal
	case v >= 50:
		return slog.LevelError
	case v >= 40:
		return slog.LevelWarn
	case v >= 30:
		return slog.LevelInfo
	default:
		return slog.LevelDebug
	}
}

// epoch reads seconds, milliseconds or nanoseconds since 1970, by size.
func epoch(v float64) time.Time {
	switch {
	case !(v > 0) || math.IsInf(v, 0):
		return time.Time{}
	case v > 1e17:
		return time.Unix(0, int64(v))
	case v > 1e12:
		return time.UnixMilli(int64(v))
	default:
		sec, frac := math.Modf(v)
		return time.Unix(int64(sec), int64(frac*1e9))
	}
}

// parseJSON reads the top-level keys of a JSON object that Parse uses.
func parseJSON(s string) (Record, bool) {
	var f fields
	i := skipWS(s, 1)
	if i < len(s) && s[i] == '}' {
		return Record{}, false
	}
	for {
		i = skipWS(s, i)
		if i >= len(s) || s[i] != '"' {
			return Record{}, false
		}
		kEnd := skipString(s, i)
		if kEnd < 0 {
			return Record{}, false
		}
		key := s[i+1 : kEnd-1]
		if strings.IndexByte(key, '\\') >= 0 {
			key = unquote(s[i:kEnd])
		}
		i = skipWS(s, kEnd)
		if i >= len(s) || s[i] != ':' {
			return Record{}, false
		}
		i = skipWS(s, i+1)
		vEnd := skipValue(s, i)
		if vEnd < 0 {
			return Record{}, false
		}
		raw := s[i:vEnd]
		kind := keyKind(key)
		switch {
		case kind == keyOther:
		case raw[0] == '"':
			f.set(kind, unquote(raw))
		case raw[0] == '-' || '0' <= raw[0] && raw[0] <= '9':
			if v, err := strconv.ParseFloat(raw, 64); err == nil {
				switch kind {
				case keyLevel:
					f.levelNum, f.hasLevelNum = v, true
				case keyTime:
					f.timeNum, f.hasTimeNum = v, true
				}
			}
		case raw[0] == '{' && kind == keyErr:
			// An error object: {"error": {"message": "…"}}.
			var obj struct {
				Message string `json:"message"`
			}
			if json.Unmarshal([]byte(raw), &obj) == nil && obj.Message != "" {
				f.set(kind, obj.Message)
			}
		}
		i = skipWS(s, vEnd)
		if i >= len(s) {
			return Record{}, false
		}
		switch s[i] {
		case ',':
			i++
		case '}':
			return f.record(s), true
		default:
			return Record{}, false
		}
	}
}

func skipWS(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index after the JSON string starting at s[i], or
// -1.
func skipString(s string, i int) int {
	for j := i + 1; j < len(s); j++ {
		switch s[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return -1
}

// skipValue returns the index after the JSON value starting at s[i], or -1.
func skipValue(s string, i int) int {
	if i >= len(s) {
		return -1
	}
	switch s[i] {
	case '"':
		return skipString(s, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(s); j++ {
			switch s[j] {
			case '"':
				k := skipString(s, j)
				if k < 0 {
					return -1
				}
				j = k - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1
				}
			}
		}
		return -1
	default:
		j := i
		for j < len(s) && s[j] != ',' && s[j] != '}' && s[j] != ']' && s[j] != ' ' && s[j] != '\t' && s[j] != '\n' && s[j] != '\r' {
			j++
		}
		if j == i {
			return -1
		}
		return j
	}
}

// unquote decodes a JSON string literal; a malformed one is returned as it
// is, without its quotes.
func unquote(raw string) string {
	if strings.IndexByte(raw, '\\') < 0 {
		return raw[1 : len(raw)-1]
	}
	var s string
	if err := json.Unmarshal([]byte(raw), &s); err != nil {
		return raw[1 : len(raw)-1]
	}
	return s
}

// parseLogfmt reads a line of key=value pairs that has a msg or level key.
func parseLogfmt(s string) (Record, bool) {
	var f fields
	found := false
	for i := 0; i < len(s); {
		for i < len(s) && s[i] == ' ' {
			i++
		}
		k := i
		for i < len(s) && s[i] != '=' && s[i] != ' ' && s[i] != '"' {
			i++
		}
		if i >= len(s) || s[i] != '=' || i == k {
			return Record{}, false
		}
		key := s[k:i]
		i++
		var value string
		if i < len(s) && s[i] == '"' {
			end := skipString(s, i)
			if end < 0 {
				return Record{}, false
			}
			v, err := strconv.Unquote(s[i:end])
			if err != nil {
				v = s[i+1 : end-1]
			}
			value, i = v, end
		} else {
			v := i
			for i < len(s) && s[i] != ' ' {
				i++
			}
			value = s[v:i]
		}
		if i < len(s) && s[i] != ' ' {
			return Record{}, false
		}
		if kind := keyKind(key); kind != keyOther {
			f.set(kind, value)
			found = found || kind == keyMsg || kind == keyLevel
		}
	}
	if !found {
		return Record{}, false
	}
	return f.record(s), true
}

// levelWord maps a level name (any case, brackets and colons around it
// ignored) to its level.
func levelWord(w string) (slog.Level, bool) {
	w = strings.Trim(w, "[]():<>|")
	if len(w) > 9 || w == "" {
		return 0, false
	}
	var buf [9]byte
	for i := 0; i < len(w); i++ {
		c := w[i]
		if 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		}
		buf[i] = c
	}
	switch string(buf[:len(w)]) {
	case "FATAL", "PANIC", "CRITICAL", "CRIT", "EMERG", "EMERGENCY", "ALERT", "DPANIC":
		return LevelFatal, true
	case "ERROR", "ERR", "SEVERE", "EROR":
		return slog.LevelError, true
	case "WARN", "WARNING":
		return slog.LevelWarn, true
	case "INFO", "NOTICE", "INFORMATION":
		return slog.LevelInfo, true
	case "DEBUG", "TRACE", "FINE", "FINER", "FINEST", "VERBOSE", "DBUG", "TRCE":
		return slog.LevelDebug, true
	}
	return 0, false
}

// headerTokens is how many leading tokens of a plain text line may hold its
// level: time stamps, hosts and components come first.
const headerTokens = 12

// plainLevel is the level heuristic for plain text lines (see Parse).
func plainLevel(line string) slog.Level {
	rest := line
	for n := 0; n < headerTokens; n++ {
		tok, more := nextToken(rest)
		if tok == "" {
			break
		}
		rest = more
		if lv, ok := levelWord(tok); ok {
			return lv
		}
		if t := strings.Trim(tok, "[]():"); len(t) == 1 {
			switch t {
			case "E":
				return slog.LevelError
			case "W":
				return slog.LevelWarn
			case "F":
				return LevelFatal
			}
		}
		if n == 0 && len(tok) == 5 && allDigits(tok[1:]) {
			switch tok[0] {
			case 'E':
				return slog.LevelError
			case 'W':
				return slog.LevelWarn
			case 'F':
				return LevelFatal
			case 'I':
				return slog.LevelInfo
			}
		}
	}
	level := slog.LevelInfo
	for rest := line; ; {
		w, more := nextWord(rest)
		if w == "" {
			return level
		}
		rest = more
		switch strings.ToLower(w) {
		case "panic", "fatal", "exception", "traceback", "critical", "error":
			return slog.LevelError
		case "warn", "warning", "failed", "failure", "refused", "denied", "timeout", "deprecated":
			level = slog.LevelWarn
		}
	}
}

func nextToken(s string) (tok, rest string) {
	i := 0
	for i < len(s) && isSpace(s[i]) {
		i++
	}
	j := i
	for j < len(s) && !isSpace(s[j]) {
		j++
	}
	return s[i:j], s[j:]
}

// nextWord returns the next run of ASCII letters in s.
func nextWord(s string) (word, rest string) {
	i := 0
	for i < len(s) && !isLetter(s[i]) {
		i++
	}
	j := i
	for j < len(s) && isLetter(s[j]) {
		j++
	}
	return s[i:j], s[j:]
}

func isLetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}
