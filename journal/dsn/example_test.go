package dsn_test

import (
	"context"
	"fmt"

	"github.com/safedeploy/safedeploy/journal/dsn"
)

func ExampleOpen() {
	ctx := context.Background()
	j, err := dsn.Open(ctx, "memory:") // or sqlite:/var/lib/safedeploy/journal.db, postgres://…
	if err != nil {
		fmt.Println(err)
		return
	}
	defer j.Close()

	_, err = dsn.Open(ctx, "redis://cache:6379")
	fmt.Println(err)
	// Output:
	// journal/dsn: unknown scheme "redis"; want one of sqlite:PATH, postgres://… (or postgresql://…), memory:
}
