// Command fleet runs the demo's fleet as a long-lived process of its own:
// instances of the shop service on 127.0.0.1 (v1 to begin with), a
// weighted reverse proxy in front of them, and a load generator sending it
// requests, until interrupted. Its API (internal/demo/fleethttp) lets a
// deployer in another process start and stop instances and move traffic;
// GET /state shows what the fleet does:
//
//	go run ./examples/fleet -addr 127.0.0.1:8099 &
//	curl -s http://127.0.0.1:8099/state
//	{"instances":[{"id":"v1-1","version":"v1",…},…],"traffic":{"v1":100},…}
//
//	go run ./examples/canary -fleet http://127.0.0.1:8099 -journal sqlite:/tmp/shop.db
//
// The fleet outlives its deployers: kill one (kill -9) in the middle of a
// deployment and run it again, and the new one finds the fleet as the dead
// one left it, and the journal saying what it was doing.
//
// The API has no authentication: -addr must be a loopback address.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/safedeploy/safedeploy/internal/demo/demoapp"
	"github.com/safedeploy/safedeploy/internal/demo/fleethttp"
	"github.com/safedeploy/safedeploy/internal/demo/loopback"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout))
}

// run is the command, testable: it serves until ctx ends and returns the
// exit code: 0 after an interrupt, 1 when the fleet cannot start, 2 on a
// bad command line.
func run(ctx context.Context, args []string, w io.Writer) int {
	fs := flag.NewFlagSet("fleet", flag.ContinueOnError)
	fs.SetOutput(w)
	addr := fs.String("addr", "127.0.0.1:8099", "serve the fleet's API at this loopback `address` (port 0: any free port)")
	instances := fs.Int("instances", 4, "instances of v1 to begin with")
	rps := fs.Float64("rps", 1000, "requests per second the load generator sends through the proxy")
	startup := fs.Duration("startup", 2*time.Second, "how long a new instance takes to start and warm up")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if err := loopbackAddr(*addr); err != nil {
		fmt.Fprintln(w, "fleet: -addr:", err)
		return 2
	}
	if *instances < 1 || *instances > 64 {
		fmt.Fprintf(w, "fleet: -instances %d: want 1 to 64\n", *instances)
		return 2
	}
	if !(*rps >= 0 && *rps <= 1e5) {
		fmt.Fprintf(w, "fleet: -rps %g: want 0 to 100000\n", *rps)
		return 2
	}
	if *startup < 0 {
		fmt.Fprintf(w, "fleet: -startup %s: must not be negative\n", *startup)
		return 2
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", *addr)
	if err != nil {
		fmt.Fprintln(w, "fleet:", err)
		return 1
	}
	fleet, err := loopback.New(ctx, loopback.Config{
		Version: "v1", Instances: *instances, Startup: *startup,
		Apps: map[string]demoapp.Config{"v1": {ErrorRate: 0.005, Latency: 5 * time.Millisecond, BusinessRate: 0.05}},
	})
	if err != nil {
		ln.Close()
		fmt.Fprintln(w, "fleet:", err)
		return 1
	}
	load := loopback.Drive(ctx, fleet.URL(), *rps)
	srv := &http.Server{Handler: fleethttp.NewServer(fleet), ReadHeaderTimeout: 5 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	fmt.Fprintf(w, "Fleet of shop: %d instances of v1 behind a proxy at %s, %.0f req/s of load.\n", *instances, fleet.URL(), *rps)
	fmt.Fprintf(w, "Its API: http://%s (GET /state). Interrupt to stop.\n", ln.Addr())

	code := 0
	select {
	case <-ctx.Done():
	case err := <-served:
		fmt.Fprintln(w, "fleet: serving the API:", err)
		code = 1
	}
	sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer scancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintln(w, "fleet: stopping the API:", err)
	}
	cancel()
	load.Wait()
	sent, failed := load.Counts()
	fmt.Fprintf(w, "Stopped after %d requests, %d failed.\n", sent, failed)
	return code
}

// loopbackAddr refuses an address that is not host:port with a loopback
// host: the API lets anyone who reaches it change the fleet.
func loopbackAddr(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("%q is not a loopback address: the API has no authentication", addr)
	}
	return nil
}
