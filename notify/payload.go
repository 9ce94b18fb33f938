package notify

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/safedeploy/safedeploy/deploy"
	"github.com/safedeploy/safedeploy/internal/outcome"
	"github.com/safedeploy/safedeploy/runbook"
	"github.com/safedeploy/safedeploy/verify"
)

// PayloadVersion is the version of the webhook payload's data (Data.Version
// and the dataschema "urn:safedeploy:notify:1"). Fields may be added within
// a version; a field's meaning never changes.
const PayloadVersion = 1

// The CloudEvents types of webhook messages. An outcome's type is
// TypeRunPrefix followed by the outcome's token: "io.safedeploy.run.completed",
// "io.safedeploy.run.rolled_back", "io.safedeploy.run.roll_forward_required",
// "io.safedeploy.run.fix_forward_required", "io.safedeploy.run.rollback_failed",
// "io.safedeploy.run.aborted", "io.safedeploy.run.incomplete".
const (
	TypeStarted      = "io.safedeploy.run.started"
	TypeStep         = "io.safedeploy.step.reached"
	TypeVerdictFail  = "io.safedeploy.verdict.failed"
	TypeInconclusive = "io.safedeploy.verdict.inconclusive"
	TypeDecision     = "io.safedeploy.decision"
	TypeRunPrefix    = "io.safedeploy.run."
)

// A Payload is the body of a webhook message: a CloudEvents 1.0 event in
// structured JSON mode (Content-Type application/cloudevents+json).
type Payload struct {
	SpecVersion     string    `json:"specversion"` // "1.0"
	ID              string    `json:"id"`          // unique per Notifier and message
	Source          string    `json:"source"`      // Config.Source
	Type            string    `json:"type"`        // one of the Type constants
	Subject         string    `json:"subject,omitempty"`
	Time            time.Time `json:"time"`
	DataContentType string    `json:"datacontenttype"` // "application/json"
	DataSchema      string    `json:"dataschema"`      // "urn:safedeploy:notify:1"
	Data            Data      `json:"data"`
}

// Data is what happened, in a Payload.
type Data struct {
	// Version is PayloadVersion.
	Version int `json:"version"`
	// Seq numbers the Notifier's messages from 1, in the order they were
	// queued; a gap means messages were dropped.
	Seq int `json:"seq"`
	// Phase and Kind are the event's (deploy.Phase, deploy.Kind).
	Phase string `json:"phase"`
	Kind  string `json:"kind"`
	// Step names the strategy step, if any.
	Step string `json:"step,omitempty"`
	// Message describes the event for people.
	Message string `json:"message"`
	// Error is the event's error, if any.
	Error string `json:"error,omitempty"`
	// Outcome is the run's outcome as a token ("rolled_back"), on the
	// outcome's message only.
	Outcome string `json:"outcome,omitempty"`
	// Actions are the decision's actions, in order ("turn the kill switch
	// off", "roll back"), on a decision's message only.
	Actions []string `json:"actions,omitempty"`
	// Verdict is the judge's verdict with its numbers, on verdicts,
	// decisions and outcomes that have one.
	Verdict *Verdict `json:"verdict,omitempty"`
}

// A Verdict is a judge's verdict in a Payload.
type Verdict struct {
	Outcome string           `json:"outcome"` // "pass", "fail", "inconclusive"
	Reason  string           `json:"reason"`
	Numbers []runbook.Number `json:"numbers"`
}

// classify returns the message type of a notable event, and false for the
// others.
func classify(e deploy.Event) (typ string, ok bool) {
	switch e.Kind {
	case deploy.KindPhase:
		return TypeStarted, e.Phase == deploy.PhasePreflight
	case deploy.KindStep:
		return TypeStep, true
	case deploy.KindVerdict:
		switch {
		case e.Verdict == nil:
		case e.Verdict.Outcome == verify.Fail:
			return TypeVerdictFail, true
		case e.Verdict.Outcome == verify.Inconclusive:
			return TypeInconclusive, true
		}
	case deploy.KindDecision:
		return TypeDecision, true
	case deploy.KindOutcome:
		if o, _ := outcome.Prefix(e.Message); o != outcome.Unknown {
			return TypeRunPrefix + string(o), true
		}
	}
	return "", false
}

// data fills a Payload's Data from e.
func data(seq int, typ string, e deploy.Event) Data {
	d := Data{Version: PayloadVersion, Seq: seq, Phase: string(e.Phase), Kind: string(e.Kind), Step: e.Step, Message: e.Message}
	if e.Err != nil {
		d.Error = e.Err.Error()
	}
	if strings.HasPrefix(typ, TypeRunPrefix) && typ != TypeStarted {
		d.Outcome = strings.TrimPrefix(typ, TypeRunPrefix)
	}
	if typ == TypeDecision {
		if acts, _, ok := strings.Cut(e.Message, ": "); ok {
			d.Actions = strings.Split(acts, ", then ")
		}
	}
	if v := e.Verdict; v != nil && (typ != TypeStep) {
		dv := &Verdict{Outcome: v.Outcome.String(), Reason: v.Reason, Numbers: make([]runbook.Number, len(v.Measurements))}
		for i, m := range v.Measurements {
			dv.Numbers[i] = runbook.Number{
				Metric: m.Metric, Unit: m.Unit, Value: m.Value, Baseline: m.Baseline, Threshold: m.Threshold,
				Requests: m.Requests, Start: m.Start, End: m.End, Failed: m.Failed, Above: m.Above,
				Ratio: m.Ratio, Lower: m.Lower, Upper: m.Upper, Limit: m.Limit, Evidence: m.Evidence, EvidenceBar: m.EvidenceBar,
			}
		}
		d.Verdict = dv
	}
	return d
}

// webhookMessage formats a notable event as a CloudEvents JSON body.
func webhookMessage(seq int, id string, e deploy.Event, c *Config) ([]byte, bool) {
	typ, ok := classify(e)
	if !ok {
		return nil, false
	}
	p := Payload{
		SpecVersion: "1.0", ID: id, Source: c.Source, Type: typ, Subject: e.Step, Time: e.Time.UTC(),
		DataContentType: "application/json", DataSchema: fmt.Sprintf("urn:safedeploy:notify:%d", PayloadVersion),
		Data: data(seq, typ, e),
	}
	if p.Time.IsZero() {
		p.Time = time.Now().UTC()
	}
	body, err := json.Marshal(p)
	if err != nil && p.Data.Verdict != nil { // a NaN or infinite number: send without the numbers
		p.Data.Verdict.Numbers = nil
		p.Data.Error = strings.TrimSpace(p.Data.Error + " (numbers left out: " + err.Error() + ")")
		body, err = json.Marshal(p)
	}
	if err != nil {
		return nil, false
	}
	return body, true
}

// Slack's limits on Block Kit text.
const (
	slackHeaderMax  = 150
	slackSectionMax = 3000
	slackFieldMax   = 2000
	slackFieldsMax  = 10
)

type slackText struct {
	Type string `json:"type"` // "plain_text" or "mrkdwn"
	Text string `json:"text"`
}

type slackBlock struct {
	Type     string      `json:"type"`
	Text     *slackText  `json:"text,omitempty"`
	Fields   []slackText `json:"fields,omitempty"`
	Elements []slackText `json:"elements,omitempty"`
}

// slackMessage formats a notable event as a Slack Block Kit message.
func slackMessage(seq int, _ string, e deploy.Event, _ *Config) ([]byte, bool) {
	typ, ok := classify(e)
	if !ok {
		return nil, false
	}
	d := data(seq, typ, e)
	var head string
	switch {
	case typ == TypeStarted:
		head = "🚀 Deployment started"
	case typ == TypeStep:
		head = "➡️ Step reached: " + e.Step
	case typ == TypeVerdictFail:
		head = "🛑 Verdict: fail in " + e.Step
	case typ == TypeInconclusive:
		head = "⚠️ Verdict: inconclusive in " + e.Step
	case typ == TypeDecision:
		head = "↩️ Decision: " + strings.Join(d.Actions, ", then ")
	default:
		o := outcome.Outcome(d.Outcome)
		icon := map[string]string{"good": "✅", "warn": "⚠️", "bad": "❌", "critical": "🔥"}[o.Tone()]
		head = strings.TrimSpace(icon + " " + o.Label(d.Outcome))
	}
	text := mrkdwn(e.Message)
	if e.Err != nil && e.Kind != deploy.KindOutcome && e.Kind != deploy.KindDecision {
		text += "\n_error:_ " + mrkdwn(e.Err.Error())
	}
	blocks := []slackBlock{
		{Type: "header", Text: &slackText{"plain_text", clip(head, slackHeaderMax)}},
		{Type: "section", Text: &slackText{"mrkdwn", clip(text, slackSectionMax)}},
	}
	if v := d.Verdict; v != nil && (typ == TypeVerdictFail || typ == TypeInconclusive) {
		var fields []slackText
		for _, n := range v.Numbers {
			if len(fields) == slackFieldsMax {
				break
			}
			fields = append(fields, slackText{"mrkdwn", clip(numberLine(n), slackFieldMax)})
		}
		if len(fields) > 0 {
			blocks = append(blocks, slackBlock{Type: "section", Fields: fields})
		}
	}
	ctx := fmt.Sprintf("%s · %s · %s", e.Phase, e.Kind, e.Time.UTC().Format("2006-01-02 15:04:05 MST"))
	blocks = append(blocks, slackBlock{Type: "context", Elements: []slackText{{"mrkdwn", mrkdwn(ctx)}}})
	body, err := json.Marshal(struct {
		Text   string       `json:"text"` // the notification's text, and the fallback
		Blocks []slackBlock `json:"blocks"`
	}{clip(head+": "+e.Message, slackSectionMax), blocks})
	if err != nil {
		return nil, false
	}
	return body, true
}

// numberLine formats a number for a Slack field: "*error-rate* ❌ 3% vs 1%
// (limit 2%), ratio 3 [2, 4.76] of 2, evidence 1170/111".
func numberLine(n runbook.Number) string {
	mark := "✓"
	if n.Failed {
		mark = "❌"
	}
	f := func(v float64) string {
		if n.Unit == runbook.UnitSeconds {
			return time.Duration(v * float64(time.Second)).Round(time.Microsecond).String()
		}
		return fmt.Sprintf("%.3g%%", 100*v)
	}
	s := fmt.Sprintf("*%s* %s %s vs %s (limit %s)", mrkdwn(n.Metric), mark, f(n.Value), f(n.Baseline), f(n.Threshold))
	if n.EvidenceBar > 0 {
		s += fmt.Sprintf(", ratio %.3g [%.3g, %.3g] of %.3g, evidence %.3g/%.3g", n.Ratio, n.Lower, n.Upper, n.Limit, n.Evidence, n.EvidenceBar)
	}
	return s + fmt.Sprintf(", %.0f requests", n.Requests)
}

// mrkdwn escapes the three characters Slack's mrkdwn gives meaning to.
func mrkdwn(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// clip shortens s to at most n characters, ending it with "…" when cut.
func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}
