package flags_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/safedeploy/safedeploy/flags"
)

func ExampleMemory() {
	ctx := context.Background()
	var s flags.Memory // ready to use
	if err := s.Set(ctx, flags.Flag{Name: "checkout-v2", Enabled: true, Description: "New checkout flow"}); err != nil {
		log.Fatal(err)
	}
	f, err := s.Get(ctx, "checkout-v2")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s enabled=%t\n", f.Name, f.Enabled)

	_, err = s.Get(ctx, "search-v3")
	fmt.Println(errors.Is(err, flags.ErrNotFound), err)
	// Output:
	// checkout-v2 enabled=true
	// true flags: flag not found: "search-v3"
}

func ExampleFile() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "flags")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	path := filepath.Join(dir, "flags.json")
	s := flags.NewFile(path)
	if err := s.Set(ctx, flags.Flag{Name: "checkout-v2", Enabled: true, Description: "New checkout flow"}); err != nil {
		log.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Print(string(data))
	// Output:
	// {
	//   "flags": [
	//     {
	//       "name": "checkout-v2",
	//       "enabled": true,
	//       "description": "New checkout flow"
	//     }
	//   ]
	// }
}

func ExampleKillSwitch() {
	ctx := context.Background()
	var s flags.Memory
	if err := s.Set(ctx, flags.Flag{Name: "checkout-v2", Enabled: true, Description: "New checkout flow"}); err != nil {
		log.Fatal(err)
	}

	// The deployment went bad: turn the new code path off.
	if err := flags.KillSwitch(ctx, &s, "checkout-v2"); err != nil {
		log.Fatal(err)
	}
	f, _ := s.Get(ctx, "checkout-v2")
	fmt.Printf("%s enabled=%t (%s)\n", f.Name, f.Enabled, f.Description)

	// A kill switch that is not in the store is a failure.
	err := flags.KillSwitch(ctx, &s, "chekout-v2")
	fmt.Println(errors.Is(err, flags.ErrNotFound))
	// Output:
	// checkout-v2 enabled=false (New checkout flow)
	// true
}

func ExampleCleanup() {
	ctx := context.Background()
	var s flags.Memory
	for _, name := range []string{"checkout-v2", "checkout-v2-canary", "search-v3"} {
		if err := s.Set(ctx, flags.Flag{Name: name, Enabled: true}); err != nil {
			log.Fatal(err)
		}
	}

	// The checkout deployment completed; its flags are no longer needed.
	// A flag that is already gone is fine.
	err := flags.Cleanup(ctx, &s, "checkout-v2", "checkout-v2-canary", "checkout-v2-dark")
	fmt.Println("error:", err)

	list, _ := s.List(ctx)
	for _, f := range list {
		fmt.Println("left:", f.Name)
	}
	// Output:
	// error: <nil>
	// left: search-v3
}
