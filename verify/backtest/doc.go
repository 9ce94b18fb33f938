// Package backtest replays recorded metrics through a judge, to see what a
// rollback policy would have decided, interval by interval, at full speed.
//
// # The replay format
//
// A replay file is CSV (RFC 4180, as encoding/csv reads it) with a header
// and one row per interval and arm:
//
//	# checkout v2, canary at 5%: 2 pre-deploy minutes, then the canary
//	time,arm,requests,errors,business,le=0.05,le=0.1,le=+Inf
//	2025-03-01T12:00:00Z,baseline,1000,10,98,510,917,1000
//	2025-03-01T12:01:00Z,baseline,1012,9,101,522,935,1012
//	2025-03-01T12:02:00Z,baseline,951,11,93,478,870,951
//	2025-03-01T12:02:00Z,canary,49,1,5,24,45,49
//	2025-03-01T12:04:00Z,baseline,948,8,95,470,868,948
//	2025-03-01T12:04:00Z,canary,52,9,4,25,46,52
//
// The columns, in any order:
//
//	time       required. The start of the interval the row counts, in
//	           RFC 3339 (2025-03-01T12:00:00Z, 2025-03-01T13:00:00.5+01:00).
//	arm        required. "canary" for the new version; "baseline" for the
//	           old one over the same interval (its concurrent control), or
//	           before the deployment.
//	requests   required. Requests served in the interval: the exposure.
//	errors     required. Failed requests among them.
//	business   optional. Business events (orders, sign-ups…) in the interval.
//	le=<s>     optional. A latency histogram bucket: how many of the
//	           interval's requests took at most s seconds (le=0.25, le=1).
//	           Counts are cumulative, as Prometheus's buckets are, but
//	           within the interval, not since the process started. With
//	           any le= column there must be an le=+Inf column, and on every
//	           row its count must equal requests.
//
// Counts are decimal numbers (fractions allowed: a rate times a duration
// is rarely whole). An empty business cell means none; the le= cells of a
// row are either all empty (no latency for that row) or all set. Blank
// lines and lines starting with # are skipped; spaces around fields are
// ignored. Column names are lower case and must not repeat; an unknown
// column is an error, so that a misspelt optional column is not silently
// ignored.
//
// Rows are in time order. The rows of one time, at most one per arm, form
// one interval; a time may have either arm alone. Every interval lasts the
// smallest spacing between two consecutive times in the file (one minute
// when the file has a single time; set Data.Length to override), so a time
// missing from the file is a gap: time with no data. Times need not be
// evenly spaced.
//
// Read checks the format, not whether the counts are possible. Negative
// counts (a counter reset written as a raw delta), more errors than
// requests, or buckets that decrease are passed through: deciding what
// they mean is the judge's job (the default judge drops such an interval
// and says so). Every error names the line, and the column when one field
// is at fault:
//
//	line 7: column "errors": "x" is not a number
//	line 9: le=+Inf 90 differs from requests 100
//	line 1: missing required column(s) "errors" in the header
//	line 12: column "time": 2025-03-01T12:04:00Z is before 2025-03-01T12:05:00Z on line 11: rows must be in time order
//	line 13: column "arm": a second canary row for 2025-03-01T12:05:00Z (the first is on line 12)
//
// Write writes the format, so a replay file can be made from any source of
// observations.
//
// # Replay
//
// Replay plays the intervals to the judge that the policy makes
// (Policy.Judge; verify.NewSequentialJudge by default) as the executor
// would have, observing one step:
//
//   - The baseline. The leading intervals in which the canary served no
//     requests are the pre-deploy period. Their baseline rows within
//     Policy.BaselineWindow (15 minutes by default) before the deployment,
//     summed, are the judge's verify.Baseline, and they are not replayed.
//     A file that begins with canary traffic uses its first baseline row
//     with requests instead (the replay still sees it as that interval's
//     control). A file with no baseline row with requests cannot be
//     replayed (ErrNoBaseline): the judge compares with the old version,
//     never with zero.
//   - The window. Begin is called once, with a verify.Window from the
//     first replayed interval to the end of the last, named "backtest".
//   - The weight. The window's Weight is Options.Weight, the share of
//     traffic the canary was meant to get; the default judge calls a
//     split far from it a sample-ratio mismatch, and the window
//     Inconclusive. Without one, it is the share the canary actually got
//     over the intervals where both arms served (100% if none), so the
//     mismatch check cannot fire.
//   - Observe is called for every interval with a canary row, with the
//     baseline row, if any, as its verify.Interval's Control. A time with
//     only a baseline row is a gap in the canary's data and is not
//     observed, as the executor observes nothing when the new version's
//     metrics are missing. The replay stops at the first Fail.
//   - Conclude is called at the end of the window unless the replay
//     stopped. A conclusion other than Pass notes the intervals without
//     canary data.
//
// Each Observe and the Conclude give a Step: the interval's time (the
// conclusion carries the last interval's), the Decision, the judge's reason
// and its Measurements. Decisions name the verify.Outcome in the words of
// a deployment:
//
//	verify.Continue      observe
//	verify.Fail          rollback
//	verify.Pass          complete
//	verify.Inconclusive  inconclusive (a real deployment with no
//	                     Policy.Escalate would roll back)
//
// Replay is pure: no clock, no I/O, the same Result for the same data.
// The command in examples/backtest runs it on a file:
//
//	go run ./examples/backtest -data replay.csv [-json] [-weight 5]
package backtest
