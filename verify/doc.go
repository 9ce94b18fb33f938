// Package verify reads how a new version behaves and judges it against the
// old one.
//
// A MetricSource answers one question: what did version V do over the
// window [Start, End)? The answer is an Observation — requests (the
// exposure), errors, business events and a latency Histogram — so that
// evidence is weighed by traffic. "No data" (ErrNoData) and a failure to
// answer are distinct errors; neither is ever read as a pass.
// MetricSourceFunc adapts a function, and package verifytest scripts
// sources for tests and checks your own with a conformance suite.
//
// Before anything changes, the executor captures a Baseline: the old
// version over Policy.BaselineWindow. Then, at every Policy.Interval of an
// observed step, it hands the Judge an Interval: the new version, and the
// old one over the same interval where it still serves (the concurrent
// control). Judges are pure — observations in, Verdict out — so recorded
// data replays through them at full speed. Begin starts each step's window;
// Observe returns Continue or Fail; Conclude, at the end of the window,
// returns Pass, Fail or Inconclusive.
//
// The default judge, NewThresholdJudge, applies the seed's rollback policy
// to the new version's totals over the window against the baseline; a
// Policy's zero fields mean:
//
//	error rate      fails above 2× the baseline (baseline floored at 0.1%)
//	latency         "significantly up" means P50 > 1.2×, P95 > 1.25× or
//	                P99 > 1.5× the baseline's, and by at least 10ms
//	business rate   fails when events per request drop by more than 20%
//	probes          any critical-path Probe failure fails at the end of
//	                its interval, without waiting for the window
//	min requests    no verdict before 100 requests; a window that ends
//	                with fewer is Inconclusive
//	source errors   3 failed reads in a row fail
//	windows         5 min per canary step, 15 min otherwise, 24 h for the
//	                final step of a significant feature; read every 1 min
//	inconclusive    rolls back, unless Policy.Escalate says to go on
//
// Policy.Judge replaces the judge while keeping the policy.
//
// Every Verdict carries the Measurements that produced it — value,
// baseline, threshold, requests and window — and a *Verdict is an error, so
// a failed deployment's error yields it to errors.As.
package verify
