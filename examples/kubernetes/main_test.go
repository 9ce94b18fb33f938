package main

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/safedeploy/safedeploy/internal/testserver/kubetest"
)

// TestLocal runs the example on a local control plane: a good v2
// completes, a bad one is rolled back.
func TestLocal(t *testing.T) {
	if _, err := kubetest.Dir(); err != nil {
		skip(t, err)
	}
	if _, err := kubetest.Etcd(); err != nil {
		skip(t, err)
	}
	for _, c := range []struct {
		name string
		args []string
		code int
		want []string
	}{
		{"good", []string{"-local", "-pods", "2", "-step", "1s"}, 0, []string{"completed after", "pods now: map[v2:2]", "HTTPRoute now: 100% to v2"}},
		{"bad", []string{"-local", "-pods", "2", "-step", "1s", "-bad"}, 1, []string{"rolled back after", "the verdict that decided it: error-rate", "pods now: map[v1:2]", "HTTPRoute now: 0% to v2"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var out bytes.Buffer
			if code := run(t.Context(), c.args, &out); code != c.code {
				t.Errorf("exit code %d, want %d", code, c.code)
			}
			for _, w := range c.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, out.String())
				}
			}
		})
	}
}

func skip(t *testing.T, err error) {
	t.Helper()
	msg := "kubetest: " + err.Error() + "; run `bash internal/testserver/kubetest/build-kube.sh` and install etcd-server"
	if os.Getenv(kubetest.Require) == "1" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}
