// Package logstest helps test code on both sides of [logs.Source].
//
// To test code that reads logs — a new-pattern judge, a deploy gate — give
// it a [Script]: a timeline of templates per version, with the failures
// and gaps a real log store has.
//
//	start := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
//	source := logstest.Script{
//		"v1": {{LinesPerSecond: 100, Patterns: []logstest.Rate{
//			{Template: "upstream timeout after <*>", Level: slog.LevelError, PerSecond: 0.5},
//		}}},
//		"v2": {{At: start, LinesPerSecond: 10, Patterns: []logstest.Rate{
//			{Template: "upstream timeout after <*>", Level: slog.LevelError, PerSecond: 0.05},
//			{Template: "connection pool exhausted for shard <*>", Level: slog.LevelError, PerSecond: 0.02},
//		}}},
//	}
//
// To test a Source of your own — an adapter for Loki, Elasticsearch or
// your own store — write known lines to your backend, then call [Run] from
// one of its tests, in the manner of testing/slogtest:
//
//	logstest.Run(t, logstest.Harness{
//		Source: src,
//		Start:  start,
//		End:    end,
//		Served: map[string][]logstest.Line{"v1": v1Lines, "v2": v2Lines},
//		Missing: "v0",
//	})
//
// [Run] checks that the source counts the lines served, reports each
// warning and error line in one well-formed pattern, adds up over
// adjacent windows, gives two versions' lines of a template the same ID,
// and tells missing data, bad queries and cancellation apart. [Check]
// runs the same checks outside a test and returns one error listing every
// failure, or nil.
package logstest
