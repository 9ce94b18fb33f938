// Package notify tells a team's channel what a deployment is doing while it
// runs: a Slack incoming webhook (a Block Kit message) or any HTTP endpoint
// taking JSON (a CloudEvents 1.0 event, see Payload).
//
// A Notifier is a deploy.Observer — more exactly a deploy.Flusher — to add
// to a plan:
//
//	slack, err := notify.NewSlack(os.Getenv("SLACK_WEBHOOK_URL"), notify.Config{})
//	if err != nil {
//		return err
//	}
//	plan.Observers = append(plan.Observers, slack)
//
// It sends the events people act on: the start, each step reached, a
// failing or inconclusive verdict with its numbers, the decision after a
// failure (roll back, turn the kill switch off, roll forward, fix forward)
// and the outcome (completed, rolled back, roll forward required…).
// Measurements, checks and changes to the fleet are not sent: there are too
// many of them for a channel.
//
// # A notifier never holds up a deployment
//
// Observe formats the message and puts it in a bounded queue; it never
// waits for the network. One goroutine per Notifier sends the queue in
// order, each request bounded by Config.Timeout, retrying 5xx and 429
// answers and failed connections with exponential backoff (at least as long
// as a Retry-After header asks) for Config.RetryFor. When the queue is full
// the oldest message is dropped. When the run ends, deploy.Run calls Flush
// with a deadline (deploy.Plan.FlushTimeout): whatever is not delivered by
// then is abandoned, and the run's record says how many messages were
// dropped, failed or left unsent. A receiver that is slow, down, or answers
// with errors thus costs a deployment nothing but that final flush, and
// never changes its outcome.
//
// # The webhook payload, version 1
//
// A webhook receives one POST per message, Content-Type
// application/cloudevents+json, whose body is a Payload: the CloudEvents
// attributes (specversion "1.0", id, source, type, subject, time,
// datacontenttype, dataschema "urn:safedeploy:notify:1") and the event in
// data: its version (PayloadVersion), sequence number, phase, kind, step,
// message and error, the outcome token on outcomes, the actions on
// decisions, and the verdict with its numbers (runbook.Number's JSON) where
// there is one. The type says what happened: TypeStarted, TypeStep,
// TypeVerdictFail, TypeInconclusive, TypeDecision, or TypeRunPrefix and the
// outcome ("io.safedeploy.run.rolled_back"). A receiver can route on the
// type alone. Fields may be added within a version, never changed.
package notify
