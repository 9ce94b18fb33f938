module github.com/safedeploy/safedeploy

go 1.26.0

require (
	github.com/cenkalti/backoff/v4 v4.3.0
	github.com/google/go-cmp v0.7.0
	github.com/hashicorp/go-multierror v1.1.1
	golang.org/x/sync v0.25.0
)

require github.com/hashicorp/errwrap v1.0.0 // indirect
