package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"testing"

	"github.com/safedeploy/safedeploy/internal/testserver/kubetest"
)

// startLocal starts kubetest's control plane for the -local flag, and
// returns it with the function that stops it.
//
// kubetest is made for tests and takes a testing.TB; localTB is the part of
// one it uses, outside a test.
func startLocal(w io.Writer) (c *kubetest.Cluster, done func(), err error) {
	dir, err := os.MkdirTemp("", "safedeploy-kubernetes")
	if err != nil {
		return nil, nil, err
	}
	tb := &localTB{w: w, dir: dir}
	done = func() {
		tb.cleanup()
		os.RemoveAll(dir)
	}
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(stopped); !ok {
				panic(r)
			}
			done()
			c, done, err = nil, nil, errors.New("the local control plane did not start")
		}
	}()
	fmt.Fprintln(w, "Starting a local control plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok)…")
	c = kubetest.Start(tb)
	return c, done, nil
}

// stopped is what a localTB panics with to stop, as a test's FailNow
// would, and startLocal recovers.
type stopped struct{}

// A localTB is the testing.TB kubetest.Start needs, outside a test: it
// prints what a test would log, and stops on Fatal or Skip. Methods
// kubetest does not call are left to the nil embedded TB.
type localTB struct {
	testing.TB
	w        io.Writer
	dir      string
	failed   bool
	cleanups []func()
}

func (t *localTB) Helper()                    {}
func (t *localTB) Name() string               { return "examples-kubernetes" }
func (t *localTB) Context() context.Context   { return context.Background() }
func (t *localTB) TempDir() string            { return t.dir }
func (t *localTB) Failed() bool               { return t.failed }
func (t *localTB) Cleanup(f func())           { t.cleanups = append(t.cleanups, f) }
func (t *localTB) Logf(f string, args ...any) { fmt.Fprintf(t.w, f+"\n", args...) }
func (t *localTB) Errorf(f string, args ...any) {
	t.failed = true
	t.Logf(f, args...)
}
func (t *localTB) Fatalf(f string, args ...any) {
	t.Errorf(f, args...)
	panic(stopped{})
}
func (t *localTB) Skip(args ...any) {
	fmt.Fprintln(t.w, args...)
	t.failed = true
	panic(stopped{})
}

// cleanup runs the clean-ups, last registered first.
func (t *localTB) cleanup() {
	for _, f := range slices.Backward(t.cleanups) {
		f()
	}
	t.cleanups = nil
}
