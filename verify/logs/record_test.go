package logs

import (
	"log/slog"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	at := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		line string
		want Record
	}{
		{`{"time":"2025-03-01T12:00:00Z","level":"ERROR","msg":"query failed","err":"connection pool exhausted for shard 7","user":"x"}`,
			Record{at, slog.LevelError, "query failed: connection pool exhausted for shard 7"}},
		{`time=2025-03-01T12:00:00Z level=WARN msg="slow query" duration=3.2s`, Record{at, slog.LevelWarn, "slow query"}},
		{`{"level":"error","ts":1740830400,"caller":"x.go:1","msg":"boom","error":"EOF"}`, Record{at, slog.LevelError, "boom: EOF"}},
		{`{"level":"warn","error":"disk \"full\"","time":"2025-03-01T12:00:00Z","message":"write"}`, Record{at, slog.LevelWarn, `write: disk "full"`}},
		{`{"level":50,"time":1740830400000,"msg":"pino says"}`, Record{at, slog.LevelError, "pino says"}},
		{`{"msg":"no level","error":{"message":"nested"}}`, Record{time.Time{}, slog.LevelError, "no level: nested"}},
		{`{"msg":"hello"}`, Record{time.Time{}, slog.LevelInfo, "hello"}},
		{`{not json`, Record{time.Time{}, slog.LevelInfo, "{not json"}},
		{`2015-10-18 18:05:29,570 INFO dfs.DataNode: Received block`, Record{time.Time{}, slog.LevelInfo, "2015-10-18 18:05:29,570 INFO dfs.DataNode: Received block"}},
		{`2015-10-18 18:05:29,570 [WARN] cache: evicted`, Record{time.Time{}, slog.LevelWarn, "2015-10-18 18:05:29,570 [WARN] cache: evicted"}},
		{`E0312 10:00:00.000000   1 controller.go:12] sync failed`, Record{time.Time{}, slog.LevelError, "E0312 10:00:00.000000   1 controller.go:12] sync failed"}},
		{`03-17 16:13:38.811  1702  2395 W WindowManager: oops`, Record{time.Time{}, slog.LevelWarn, "03-17 16:13:38.811  1702  2395 W WindowManager: oops"}},
		{`panic: runtime error: invalid memory address or nil pointer dereference`, Record{time.Time{}, LevelFatal, "panic: runtime error: invalid memory address or nil pointer dereference"}},
		{`Failed password for root from 1.2.3.4`, Record{time.Time{}, slog.LevelWarn, "Failed password for root from 1.2.3.4"}},
		{`nothing to see here`, Record{time.Time{}, slog.LevelInfo, "nothing to see here"}},
		{`FATAL: out of memory`, Record{time.Time{}, LevelFatal, "FATAL: out of memory"}},
	} {
		got := Parse(c.line)
		if !got.Time.Equal(c.want.Time) || got.Level != c.want.Level || got.Message != c.want.Message {
			t.Errorf("Parse(%q) = %+v, want %+v", c.line, got, c.want)
		}
	}
}
