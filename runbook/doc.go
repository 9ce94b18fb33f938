// Package runbook describes a deployment before it happens and records what
// happened while it ran.
//
// A [Runbook] is the page a team reads before and during a significant
// deployment. Every significant deployment has one, because the questions it
// answers are the ones asked when something goes wrong, and they are
// answered best beforehand, calmly:
//
//   - Date/time: when it happens, so that anyone seeing a change in the
//     graphs can tell whether a deployment explains it.
//   - Engineer: who is responsible, and who to call.
//   - What changes: the change in the words of the people making it;
//     deploy.Plan.Runbook copies the plan's Change.What. The service and
//     versions are in the page's title, not here.
//   - Why: the reason for the change, to weigh against its risk.
//   - Expected behaviour: what users and operators should see, so that
//     anything else stands out.
//   - How to verify: the rules, windows and probes that decide whether the
//     new version is healthy, written down before anyone is tempted to
//     explain a bad number away.
//   - Rollback plan: the steps back to the previous version, in order.
//   - Time to roll back: how long those steps take, which bounds how long
//     users can be hurt once a problem is seen.
//
// A [Record] is what happened during one run: the runbook it followed, one
// [Entry] per event with its time, the [Number]s behind every verdict and
// decision, and how the run ended and why.
//
// Nothing here deploys anything. deploy.Plan.Runbook fills in a Runbook from
// a plan, and the deploy executor fills in a Record from its events; this
// package imports neither, so that a runbook can also be written by hand or
// read by tools that know nothing of deployments.
//
// Both render for people as Markdown, with [Runbook.Markdown] and
// [Record.Markdown], and for machines as JSON, with encoding/json or
// [Record.JSON]. A field left empty shows on the Markdown page as
// "_(not given)_", so that a gap in a runbook is seen rather than missed.
package runbook
