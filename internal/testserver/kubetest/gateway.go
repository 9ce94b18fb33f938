package kubetest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/dynamic"
)

// GatewayAPIModule is the module whose standard-channel CRDs Start
// installs, at the version this module's go.mod requires.
const GatewayAPIModule = "sigs.k8s.io/gateway-api"

var crdResource = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// GatewayAPICRDs returns the paths of the Gateway API's standard-channel
// CRD files, config/crd/standard/*.yaml in the module's directory in the
// module cache, found (and downloaded if need be) with
// `go mod download -json sigs.k8s.io/gateway-api`, run in the current
// directory: the version is that of the enclosing module's go.mod. It
// fails if the go command does, or if the directory holds no YAML.
func GatewayAPICRDs() ([]string, error) {
	cmd := exec.Command("go", "mod", "download", "-json", GatewayAPIModule)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("finding the %s module: go mod download: %w: %s", GatewayAPIModule, err, bytes.TrimSpace(stderr.Bytes()))
	}
	var mod struct{ Dir, Version, Error string }
	if err := json.Unmarshal(out, &mod); err != nil {
		return nil, fmt.Errorf("finding the %s module: %w", GatewayAPIModule, err)
	}
	if mod.Error != "" || mod.Dir == "" {
		return nil, fmt.Errorf("finding the %s module: %s", GatewayAPIModule, mod.Error)
	}
	files, err := filepath.Glob(filepath.Join(mod.Dir, "config", "crd", "standard", "*.yaml"))
	if err == nil && len(files) == 0 {
		err = fmt.Errorf("no CRD files in %s", filepath.Join(mod.Dir, "config", "crd", "standard"))
	}
	return files, err
}

// installGatewayAPI applies the CustomResourceDefinitions among
// GatewayAPICRDs' files (the other objects there, a validating admission
// policy against downgrades, are left out) and waits until each is
// Established.
func (c *Cluster) installGatewayAPI(ctx context.Context) error {
	files, err := GatewayAPICRDs()
	if err != nil {
		return err
	}
	dyn, err := dynamic.NewForConfig(c.admin)
	if err != nil {
		return err
	}
	crds := dyn.Resource(crdResource)
	var names []string
	for _, f := range files {
		objs, err := readObjects(f)
		if err != nil {
			return err
		}
		for _, obj := range objs {
			if obj.GetKind() != "CustomResourceDefinition" {
				continue
			}
			if _, err := crds.Apply(ctx, obj.GetName(), obj, metav1.ApplyOptions{FieldManager: "kubetest", Force: true}); err != nil {
				return fmt.Errorf("installing CRD %s from %s: %w", obj.GetName(), f, err)
			}
			names = append(names, obj.GetName())
		}
	}
	for _, name := range names {
		var last string
		err := c.poll(ctx, "CRD "+name+" to be Established", func() (bool, error) {
			obj, err := crds.Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				last = err.Error()
				return false, nil
			}
			conds, _, _ := unstructured.NestedSlice(obj.Object, "status", "conditions")
			for _, cond := range conds {
				m, _ := cond.(map[string]any)
				if m["type"] == "Established" && m["status"] == "True" {
					return true, nil
				}
			}
			last = fmt.Sprint(conds)
			return false, nil
		}, func() string { return last })
		if err != nil {
			return err
		}
	}
	return nil
}

// readObjects decodes the YAML documents of a file.
func readObjects(path string) ([]*unstructured.Unstructured, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	dec := utilyaml.NewYAMLOrJSONDecoder(f, 64<<10)
	var out []*unstructured.Unstructured
	for {
		var m map[string]any
		err := dec.Decode(&m)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if len(m) == 0 {
			continue
		}
		out = append(out, &unstructured.Unstructured{Object: m})
	}
}
