package kubernetes

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// core lists the packages that must build without client-go: only this
// adapter (and what imports it) pays for Kubernetes' dependencies.
var core = []string{"./deploy", "./strategy", "./verify", "./migrate", "./flags", "./runbook", "./journal"}

// kubeDeps returns the Kubernetes modules' packages among pkgs'
// dependencies, as `go list -deps` run at the module's root lists them.
func kubeDeps(t *testing.T, pkgs ...string) []string {
	t.Helper()
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command in PATH to list dependencies with")
	}
	out, err := exec.Command(gobin, "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(out)))
	cmd := exec.Command(gobin, append([]string{"list", "-deps", "-f", "{{.ImportPath}}\t{{.Dir}}\t{{.Standard}}"}, pkgs...)...)
	cmd.Dir = root
	out, err = cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v", cmd, err)
	}
	var kube []string
	for line := range strings.Lines(string(out)) {
		path, rest, _ := strings.Cut(strings.TrimSpace(line), "\t")
		dir, std, _ := strings.Cut(rest, "\t")
		if strings.HasPrefix(path, "k8s.io/") || strings.HasPrefix(path, "sigs.k8s.io/") {
			kube = append(kube, path)
		}
		if std == "false" && strings.HasPrefix(dir, root) {
			// Read the module's own Go files among the dependencies, so
			// that go test's cache, which sees the files a test opens but
			// not those go list reads, runs this test again when an import
			// changes.
			files, _ := filepath.Glob(filepath.Join(dir, "*.go"))
			for _, f := range files {
				os.ReadFile(f)
			}
		}
	}
	os.ReadFile(filepath.Join(root, "go.mod"))
	return kube
}

// TestCoreDoesNotImportClientGo guards that the core packages do not
// depend on client-go or any other Kubernetes module.
func TestCoreDoesNotImportClientGo(t *testing.T) {
	if kube := kubeDeps(t, core...); len(kube) > 0 {
		t.Errorf("the core packages %v depend on %d Kubernetes package(s), want none: %v", core, len(kube), kube)
	}
	// The check itself: this package's dependencies do include client-go.
	if kube := kubeDeps(t, "./strategy/kubernetes"); !strings.Contains(strings.Join(kube, " "), "k8s.io/client-go/kubernetes") {
		t.Errorf("go list -deps ./strategy/kubernetes lists no k8s.io/client-go/kubernetes: the check cannot see an import")
	}
}
