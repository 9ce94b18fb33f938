package notify_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/safedeploy/safedeploy/deploy"
	"github.com/safedeploy/safedeploy/notify"
)

func ExampleNewWebhook() {
	// A receiver on loopback that prints the type of each message.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var p notify.Payload
		if err := json.NewDecoder(r.Body).Decode(&p); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if p.Data.Step != "" {
			fmt.Printf("%s (%s)\n", p.Type, p.Data.Step)
			return
		}
		fmt.Println(p.Type)
	}))
	defer srv.Close()

	n, err := notify.NewWebhook(srv.URL, notify.Config{Source: "safedeploy/shop/staging"})
	if err != nil {
		fmt.Println(err)
		return
	}
	// In a deployment: plan.Observers = append(plan.Observers, n), and
	// deploy.Run flushes it at the end. Here, by hand:
	now := time.Now()
	for _, e := range []deploy.Event{
		{Time: now, Kind: deploy.KindPhase, Phase: deploy.PhasePreflight, Message: "pre-flight for shop v1 → v2 in staging"},
		{Time: now, Kind: deploy.KindStep, Phase: deploy.PhaseDeploy, Step: "canary 5%", Message: "5% on v2; observing for 5m0s"},
		{Time: now, Kind: deploy.KindMeasurement, Phase: deploy.PhaseVerify, Step: "canary 5%", Message: "continue: not sent"},
		{Time: now, Kind: deploy.KindOutcome, Phase: deploy.PhaseDecide, Message: "completed: v2 serves all traffic in staging"},
	} {
		n.Observe(context.Background(), e)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	fmt.Println("flush:", n.Flush(ctx))
	// Output:
	// io.safedeploy.run.started
	// io.safedeploy.step.reached (canary 5%)
	// io.safedeploy.run.completed
	// flush: <nil>
}
