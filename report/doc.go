// Package report renders the record of a deployment as one HTML page, for
// people who want to see what happened rather than read its events.
//
// [Write] takes a runbook.Record — the one deploy.Run returns, or one read
// back from JSON long after the run — and writes a self-contained page:
// styles, charts and its one short script are inside it, so that it opens
// without a network, from a mail or an incident ticket, on a laptop, on a
// phone, and on paper. It shows:
//
//   - the outcome, with the decision and its reason;
//   - the plan and the runbook's eight fields;
//   - a timeline: the phases, each step with its traffic weight, window
//     and verdict, and the new version's share of traffic over time;
//   - for every judged metric, a chart per step. Above: the new version's
//     rate in each interval and since the deployment began, what it is
//     compared with (the old version serving alongside, else the pre-deploy
//     baseline) since the deployment began, the limit, and the pre-deploy
//     baseline. Below: the ratio new ÷ old the judge estimates, with its
//     anytime-valid confidence interval, the ratio's limit, and the moment
//     the judge became sure — the evidence crossing the bar (red), or the
//     interval lying wholly within the limit (green);
//   - the last numbers judged, in a table;
//   - the migrations applied;
//   - every event, collapsed, each measurement's numbers one line each.
//
// [WriteFile] writes the page to a file, replacing it whole or not at all.
//
// The charts are drawn with gonum.org/v1/plot as inline SVG.
//
// The record's numbers are cumulative since the deployment began, as the
// judge weighs them: the new version's rate in each interval is recovered
// from the change in its counts, but the old version's is not (the record
// does not carry its exposure), so the old version is drawn since the
// deployment began. The pre-deploy baseline is read from the baseline
// entry's numbers when it has them, and otherwise, for the error rate only,
// from its message.
//
// Outcomes are read both as stable tokens ("rolled_back") and as the
// prose older records hold ("rolled back").
package report
