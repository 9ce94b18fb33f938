package kubetest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"sigs.k8s.io/yaml"
)

// ReadyAnnotation is the pod annotation that makes kwok's simulated
// kubelet fail a pod instead of making it Ready. Put it on a pod
// template's metadata.annotations (a Deployment's or ReplicaSet's) or on a
// pod; its value says how the pod fails:
//
//   - NeverReady: the pod runs (phase Running, an IP, containers running)
//     but never becomes Ready, as when a readiness probe keeps failing;
//   - CrashLoop: the pod runs, its containers wait in CrashLoopBackOff
//     after three restarts, their last state terminated with exit code 1;
//   - ImagePull: the pod stays Pending, its containers waiting in
//     ImagePullBackOff.
//
// Any other value is ignored: the pod becomes Ready at once.
const ReadyAnnotation = "kubetest.safedeploy.dev/ready"

// Values of ReadyAnnotation.
const (
	NeverReady = "never"
	CrashLoop  = "crash-loop"
	ImagePull  = "image-pull"
)

// ReadyAfterAnnotation is the pod annotation that delays a pod's
// readiness: its value is a Go duration ("20s"); the pod runs at once, with
// an IP, not Ready, and becomes Ready that long after. A value that is not
// a duration makes it Ready at once. ReadyAnnotation, when set too, wins.
const ReadyAfterAnnotation = "kubetest.safedeploy.dev/ready-after"

// stageFiles lists the Stage files kwok runs: the node and pod stages
// build-kube.sh copied from kwok's module into the cache (node/fast,
// node/heartbeat, pod/fast), the pod-ready stage among them narrowed so
// that it leaves alone the pods the annotations above name, and the
// stages that act on those annotations, written into dir.
func stageFiles(cacheStage, dir string) ([]string, error) {
	names, err := filepath.Glob(filepath.Join(cacheStage, "*.yaml"))
	if err != nil {
		return nil, err
	}
	var out []string
	var haveReady, haveNode bool
	for _, name := range names {
		base := filepath.Base(name)
		switch {
		case strings.HasPrefix(base, "node-"):
			haveNode = true
			out = append(out, name)
		case base == "pod-fast-pod-ready.yaml":
			haveReady = true
			p, err := narrowPodReady(name, filepath.Join(dir, base))
			if err != nil {
				return nil, err
			}
			out = append(out, p)
		case strings.HasPrefix(base, "pod-fast-"):
			out = append(out, name)
		}
	}
	if !haveReady || !haveNode {
		return nil, fmt.Errorf("%s lacks kwok's node stages or pod-fast-pod-ready.yaml; rebuild it with build-kube.sh", cacheStage)
	}
	for _, s := range ownStages {
		p := filepath.Join(dir, "kubetest-"+s.name+".yaml")
		if err := os.WriteFile(p, []byte(s.yaml()), 0o644); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// narrowPodReady rewrites kwok's pod-ready Stage from src into dst, with
// two more selector requirements: no failure named by ReadyAnnotation and
// no ReadyAfterAnnotation.
func narrowPodReady(src, dst string) (string, error) {
	b, err := os.ReadFile(src)
	if err != nil {
		return "", err
	}
	var stage map[string]any
	if err := yaml.Unmarshal(b, &stage); err != nil {
		return "", fmt.Errorf("%s: %w", src, err)
	}
	spec, _ := stage["spec"].(map[string]any)
	selector, _ := spec["selector"].(map[string]any)
	exprs, ok := selector["matchExpressions"].([]any)
	if !ok {
		return "", fmt.Errorf("%s: no spec.selector.matchExpressions in the pod-ready Stage; kwok's format changed", src)
	}
	selector["matchExpressions"] = append(exprs,
		map[string]any{"key": annotationKey(ReadyAnnotation), "operator": "NotIn", "values": []any{NeverReady, CrashLoop, ImagePull}},
		map[string]any{"key": annotationKey(ReadyAfterAnnotation), "operator": "DoesNotExist"},
	)
	out, err := yaml.Marshal(stage)
	if err != nil {
		return "", err
	}
	return dst, os.WriteFile(dst, out, 0o644)
}

// annotationKey is the JQ expression of a pod annotation's value.
func annotationKey(name string) string {
	return fmt.Sprintf(".metadata.annotations[%q]", name)
}

// A stage is one of kubetest's own kwok Stages for pods.
type stage struct {
	name string
	// selector holds the YAML of matchExpressions items beyond "not
	// being deleted".
	selector string
	// delay, if set, is the YAML of spec.delay.
	delay  string
	status string
}

func (s stage) yaml() string {
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: kwok.x-k8s.io/v1alpha1\nkind: Stage\nmetadata:\n  name: kubetest-%s\nspec:\n", s.name)
	b.WriteString("  resourceRef:\n    apiGroup: v1\n    kind: Pod\n")
	b.WriteString("  selector:\n    matchExpressions:\n    - key: '.metadata.deletionTimestamp'\n      operator: DoesNotExist\n")
	b.WriteString(indent(s.selector, "    "))
	if s.delay != "" {
		b.WriteString("  delay:\n" + indent(s.delay, "    "))
	}
	b.WriteString("  next:\n    statusTemplate: |\n" + indent(s.status, "      "))
	return b.String()
}

func indent(s, prefix string) string {
	var b strings.Builder
	for _, line := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		b.WriteString(prefix + line + "\n")
	}
	return b.String()
}

// Status template pieces. Strategic merge keeps the conditions the
// scheduler set (PodScheduled).
const (
	podIP = `{{ $ip := PodIPWith .spec.nodeName ( or .spec.hostNetwork false ) ( or .metadata.uid "" ) ( or .metadata.name "" ) ( or .metadata.namespace "" ) }}
hostIP: {{ NodeIPWith .spec.nodeName | Quote }}
podIP: {{ $ip | Quote }}
podIPs:
- ip: {{ $ip | Quote }}
`
	notReadyConditions = `conditions:
- lastTransitionTime: {{ $now | Quote }}
  status: "True"
  type: Initialized
- lastTransitionTime: {{ $now | Quote }}
  reason: ContainersNotReady
  status: "False"
  type: Ready
- lastTransitionTime: {{ $now | Quote }}
  reason: ContainersNotReady
  status: "False"
  type: ContainersReady
`
	runningNotReady = `{{ $now := Now }}
` + notReadyConditions + `containerStatuses:
{{ range .spec.containers }}
- image: {{ .image | Quote }}
  name: {{ .name | Quote }}
  ready: false
  started: true
  restartCount: 0
  state:
    running:
      startedAt: {{ $now | Quote }}
{{ end }}
` + podIP + `phase: Running
startTime: {{ $now | Quote }}
`
	pendingPhase = `- key: '.status.phase'
  operator: In
  values: [Pending]
`
)

// ownStages act on ReadyAnnotation and ReadyAfterAnnotation. Each
// selects pods in a state its own result leaves, so that it applies once.
var ownStages = []stage{
	{
		name: "never-ready",
		selector: pendingPhase + `- key: '` + annotationKey(ReadyAnnotation) + `'
  operator: In
  values: [` + NeverReady + `]
`,
		status: runningNotReady,
	},
	{
		name: "crash-loop",
		selector: pendingPhase + `- key: '` + annotationKey(ReadyAnnotation) + `'
  operator: In
  values: [` + CrashLoop + `]
`,
		status: `{{ $now := Now }}
` + notReadyConditions + `containerStatuses:
{{ range .spec.containers }}
- image: {{ .image | Quote }}
  name: {{ .name | Quote }}
  ready: false
  started: false
  restartCount: 3
  lastState:
    terminated:
      exitCode: 1
      reason: Error
      startedAt: {{ $now | Quote }}
      finishedAt: {{ $now | Quote }}
  state:
    waiting:
      reason: CrashLoopBackOff
      message: {{ printf "back-off 40s restarting failed container=%s" .name | Quote }}
{{ end }}
` + podIP + `phase: Running
startTime: {{ $now | Quote }}
`,
	},
	{
		name: "image-pull",
		selector: pendingPhase + `- key: '` + annotationKey(ReadyAnnotation) + `'
  operator: In
  values: [` + ImagePull + `]
- key: '.status.containerStatuses.[].state.waiting.reason'
  operator: NotIn
  values: [ImagePullBackOff]
`,
		status: `{{ $now := Now }}
` + notReadyConditions + `containerStatuses:
{{ range .spec.containers }}
- image: {{ .image | Quote }}
  name: {{ .name | Quote }}
  ready: false
  started: false
  restartCount: 0
  state:
    waiting:
      reason: ImagePullBackOff
      message: {{ printf "Back-off pulling image %q" .image | Quote }}
{{ end }}
` + `hostIP: {{ NodeIPWith .spec.nodeName | Quote }}
startTime: {{ $now | Quote }}
`,
	},
	{
		name: "ready-after-start",
		selector: pendingPhase + `- key: '` + annotationKey(ReadyAfterAnnotation) + `'
  operator: Exists
- key: '` + annotationKey(ReadyAnnotation) + `'
  operator: NotIn
  values: [` + NeverReady + `, ` + CrashLoop + `, ` + ImagePull + `]
`,
		status: runningNotReady,
	},
	{
		name: "ready-after",
		selector: `- key: '.status.phase'
  operator: In
  values: [Running]
- key: '` + annotationKey(ReadyAfterAnnotation) + `'
  operator: Exists
- key: '` + annotationKey(ReadyAnnotation) + `'
  operator: NotIn
  values: [` + NeverReady + `, ` + CrashLoop + `, ` + ImagePull + `]
- key: '.status.conditions.[] | select( .type == "Ready" ) | .status'
  operator: NotIn
  values: ["True"]
`,
		delay: `durationMilliseconds: 0
durationFrom:
  jq:
    expression: '` + annotationKey(ReadyAfterAnnotation) + `'
`,
		status: `{{ $now := Now }}
conditions:
- lastTransitionTime: {{ $now | Quote }}
  status: "True"
  type: Ready
- lastTransitionTime: {{ $now | Quote }}
  status: "True"
  type: ContainersReady
containerStatuses:
{{ range .spec.containers }}
- image: {{ .image | Quote }}
  name: {{ .name | Quote }}
  ready: true
  started: true
  restartCount: 0
  state:
    running:
      startedAt: {{ $now | Quote }}
{{ end }}
`,
	},
}
