package kubernetes

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v4"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	klabels "k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	appsv1ac "k8s.io/client-go/applyconfigurations/apps/v1"

	"github.com/safedeploy/safedeploy/strategy"
)

// A Fleet is a strategy.Fleet of pods: each instance is one pod, created
// and deleted by the adapter itself, owned by the version's
// ControllerRevision (see the package doc for why). It is safe for
// concurrent use.
type Fleet struct {
	cfg Config

	mu      sync.Mutex
	anchors map[string]types.UID // version → its ControllerRevision's UID
}

var _ strategy.Fleet = (*Fleet)(nil)

// NewFleet returns a Fleet for cfg, which needs Client, Namespace, Service
// and Template. It makes no call to the cluster; it fails with a
// *ConfigError naming every missing or invalid field.
func NewFleet(cfg Config) (*Fleet, error) {
	if err := cfg.validate(need{template: true}); err != nil {
		return nil, err
	}
	return &Fleet{cfg: cfg, anchors: map[string]types.UID{}}, nil
}

// selector selects the pods of the fleet, of every version.
func (f *Fleet) selector() string {
	return klabels.SelectorFromSet(labels(f.cfg.Service, "")).String()
}

// Instances lists the fleet's pods that are not being deleted and have not
// ended (phase Failed or Succeeded), ready or not, each with the version of its app.kubernetes.io/version label, in
// name order. It fails with an *Error of kind ErrForeign naming the pods
// when a pod the fleet's labels select was not made by the fleet (another
// controller owns it, or it has no version), since counting it would make
// strategies move pods they do not own.
func (f *Fleet) Instances(ctx context.Context) ([]strategy.Instance, error) {
	pods, err := f.list(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]strategy.Instance, 0, len(pods))
	for _, p := range pods {
		// A pod being deleted, or one whose containers have ended for good
		// (evicted, or Failed or Succeeded under restartPolicy Never), is
		// no running instance.
		if p.DeletionTimestamp == nil && p.Status.Phase != corev1.PodFailed && p.Status.Phase != corev1.PodSucceeded {
			out = append(out, strategy.Instance{ID: p.Name, Version: p.Labels[LabelVersion]})
		}
	}
	return out, nil
}

// maxRelists bounds how often list starts over when the API server says
// its continue token expired (410 Gone: the fleet is listed in pages of
// 500, and etcd compacted the snapshot the first page came from).
const maxRelists = 3

// list returns every pod the fleet's labels select, in name order, after
// checking each is the fleet's own.
func (f *Fleet) list(ctx context.Context) ([]corev1.Pod, error) {
	ns := f.cfg.Namespace
	pods := f.cfg.Client.CoreV1().Pods(ns)
	var all []corev1.Pod
	opts := metav1.ListOptions{LabelSelector: f.selector(), Limit: 500}
	for restarts := 0; ; {
		var list *corev1.PodList
		err := do(ctx, f.cfg.retryFor(), call{"list", "pods", ns, ""}, func(ctx context.Context) (err error) {
			list, err = pods.List(ctx, opts)
			return err
		})
		if err != nil && opts.Continue != "" && apierrors.IsResourceExpired(err) && restarts < maxRelists {
			// The pages so far came from a snapshot etcd has compacted
			// away: list again from the start, for one consistent list.
			all, opts.Continue = nil, ""
			restarts++
			continue
		}
		if err != nil {
			return nil, err
		}
		all = append(all, list.Items...)
		if list.Continue == "" {
			break
		}
		opts.Continue = list.Continue
	}
	var foreign []string
	for _, p := range all {
		if why := f.notOurs(&p); why != "" {
			foreign = append(foreign, fmt.Sprintf("%s (%s)", p.Name, why))
		}
	}
	if len(foreign) > 0 {
		return nil, &Error{Verb: "list", Resource: "pods", Namespace: ns, Kind: ErrForeign,
			Err:  fmt.Errorf("label selector %s matches %d pod(s) the fleet did not create: %s", f.selector(), len(foreign), strings.Join(foreign, ", ")),
			Hint: fmt.Sprintf("remove the label %s=%s from the other workload's pod template, or give this Config another Service name", LabelManagedBy, ManagedBy)}
	}
	slices.SortFunc(all, func(a, b corev1.Pod) int { return strings.Compare(a.Name, b.Name) })
	return all, nil
}

// notOurs says why p, which carries the fleet's labels, is not one of its
// pods; "" when it is.
func (f *Fleet) notOurs(p *corev1.Pod) string {
	v := p.Labels[LabelVersion]
	if v == "" {
		return "no " + LabelVersion + " label"
	}
	c := metav1.GetControllerOf(p)
	switch {
	case c == nil:
		return "no controller"
	case c.Kind != "ControllerRevision" || c.Name != versionName(f.cfg.Service, v):
		return fmt.Sprintf("controlled by %s %s", c.Kind, c.Name)
	}
	return ""
}

// Start creates one pod of version from the Config's Template and returns
// its name once the pod is Ready. The first Start of a version creates the
// version's ControllerRevision, which owns its pods.
//
// When the pod cannot become ready Start returns its name with a
// *PodError giving Kubernetes' reason: at once for ImagePullBackOff,
// InvalidImageName, ErrImageNeverPull, CrashLoopBackOff,
// CreateContainerConfigError, a Failed pod or one deleted meanwhile; when
// ctx ends for the reasons that may pass (Unschedulable, NotReady for a
// failing readiness probe, a pull still in progress), with the last
// reason seen. A failure to write fails with an *Error and no name, unless
// the create may have happened (the API server went away meanwhile).
func (f *Fleet) Start(ctx context.Context, version string) (string, error) {
	if err := checkVersion(version); err != nil {
		return "", err
	}
	if err := context.Cause(ctx); err != nil {
		return "", fmt.Errorf("kubernetes: start %s: %w", version, err)
	}
	tpl, err := f.cfg.Template(version)
	if err != nil {
		return "", fmt.Errorf("kubernetes: pod template of version %q: %w", version, err)
	}
	uid, err := f.anchor(ctx, version, &tpl)
	if err != nil {
		return "", err
	}
	pod, token := f.pod(version, uid, &tpl)
	ns, name := f.cfg.Namespace, pod.Name
	pods := f.cfg.Client.CoreV1().Pods(ns)
	var created *corev1.Pod
	err = do(ctx, f.cfg.retryFor(), call{"create", "pods", ns, name}, func(ctx context.Context) (err error) {
		created, err = pods.Create(ctx, pod, metav1.CreateOptions{FieldManager: FieldManager})
		if apierrors.IsAlreadyExists(err) { // an earlier try that went unanswered may have made it
			got, gerr := pods.Get(ctx, name, metav1.GetOptions{})
			switch {
			case gerr != nil:
				return gerr // retried while it may pass; the pod exists, so its name is returned
			case got.Annotations[AnnotationStart] == token:
				created, err = got, nil
			}
		}
		return err
	})
	if err != nil {
		var e *Error
		if errors.As(err, &e) && (e.Kind == ErrUnavailable || ctx.Err() != nil) {
			return name, err // it may exist: the caller stops it
		}
		return "", err
	}
	return name, f.wait(ctx, created, version)
}

// anchor returns the UID of version's ControllerRevision, creating it with
// server-side apply the first time. It is created once and never changed
// (a ControllerRevision's data is immutable): it records the template the
// version's first pod was made from.
func (f *Fleet) anchor(ctx context.Context, version string, tpl *corev1.PodTemplateSpec) (types.UID, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if uid, ok := f.anchors[version]; ok {
		return uid, nil
	}
	ns, name := f.cfg.Namespace, versionName(f.cfg.Service, version)
	revs := f.cfg.Client.AppsV1().ControllerRevisions(ns)
	var rev *appsv1.ControllerRevision
	err := do(ctx, f.cfg.retryFor(), call{"get", "controllerrevisions.apps", ns, name}, func(ctx context.Context) (err error) {
		rev, err = revs.Get(ctx, name, metav1.GetOptions{})
		return err
	})
	var e *Error
	switch {
	case errors.As(err, &e) && e.Kind == ErrNotFound:
		data, jerr := json.Marshal(tpl)
		if jerr != nil {
			return "", fmt.Errorf("kubernetes: pod template of version %q: %w", version, jerr)
		}
		ac := appsv1ac.ControllerRevision(name, ns).WithLabels(labels(f.cfg.Service, version)).WithRevision(1)
		ac.WithData(runtime.RawExtension{Raw: data})
		err = do(ctx, f.cfg.retryFor(), call{"patch", "controllerrevisions.apps", ns, name}, func(ctx context.Context) (err error) {
			rev, err = revs.Apply(ctx, ac, metav1.ApplyOptions{FieldManager: FieldManager})
			return err
		})
		if err != nil {
			return "", err
		}
	case err != nil:
		return "", err
	case rev.Labels[LabelManagedBy] != ManagedBy || rev.Labels[LabelVersion] != version:
		return "", &Error{Verb: "get", Resource: "controllerrevisions.apps", Namespace: ns, Name: name, Kind: ErrForeign,
			Err:  fmt.Errorf("it exists without labels %s=%s, %s=%s", LabelManagedBy, ManagedBy, LabelVersion, version),
			Hint: "delete it or give this Config another Service name"}
	case metav1.GetControllerOf(rev) != nil:
		// A StatefulSet or DaemonSet whose selector matches the labels
		// adopts an ownerless ControllerRevision; deleting it, or trimming
		// its history, would then delete this version's pods.
		o := metav1.GetControllerOf(rev)
		return "", &Error{Verb: "get", Resource: "controllerrevisions.apps", Namespace: ns, Name: name, Kind: ErrForeign,
			Err:  fmt.Errorf("it was adopted by %s %s, whose selector matches its labels", o.Kind, o.Name),
			Hint: fmt.Sprintf("narrow the selector of %s %s so that it does not match %s=%s", o.Kind, o.Name, LabelName, f.cfg.Service)}
	}
	f.anchors[version] = rev.UID
	return rev.UID, nil
}

// pod returns the pod to create for version, and the token that marks it
// as this Start's.
func (f *Fleet) pod(version string, owner types.UID, tpl *corev1.PodTemplateSpec) (*corev1.Pod, string) {
	token := strings.ToLower(rand.Text())[:10]
	meta := *tpl.ObjectMeta.DeepCopy()
	anchor := versionName(f.cfg.Service, version)
	meta.Name, meta.GenerateName, meta.Namespace = anchor+"-"+token[:6], "", f.cfg.Namespace
	if meta.Labels == nil {
		meta.Labels = map[string]string{}
	}
	for k, v := range labels(f.cfg.Service, version) {
		meta.Labels[k] = v
	}
	if meta.Annotations == nil {
		meta.Annotations = map[string]string{}
	}
	meta.Annotations[AnnotationStart] = token
	yes := true
	meta.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ControllerRevision", Name: anchor, UID: owner, Controller: &yes}}
	meta.ResourceVersion, meta.UID = "", ""
	return &corev1.Pod{ObjectMeta: meta, Spec: *tpl.Spec.DeepCopy()}, token
}

// Bounds on a pod's watch, so that a watch that stops delivering cannot make
// Start miss its pod becoming ready, and one that keeps ending cannot make
// it spin.
const (
	// resync is the timeout the API server is asked to end each watch at.
	resync = 30 * time.Second
	// silentAfter is when a watch the API server has not ended counts as
	// lost (a connection dropped without a reset): it is given up and the
	// pod read afresh.
	silentAfter = resync + 15*time.Second
	// quickEnd: a watch that ends without error sooner than this after it
	// opened (a proxy closing it) is reopened after a backoff, not at once.
	quickEnd = time.Second
)

// errSilent is follow's error for a watch open past silentAfter.
var errSilent = errors.New("the watch delivered nothing and did not end past its timeout")

// wait returns nil once p is Ready, or a *PodError when it fails or ctx
// ends, reading the pod again and watching it from there each time its
// watch ends (the API server restarted, or resync passed), with a backoff
// when the watch could not start, ended in error, went silent or ended at
// once.
func (f *Fleet) wait(ctx context.Context, p *corev1.Pod, version string) error {
	ns, name := f.cfg.Namespace, p.Name
	pods := f.cfg.Client.CoreV1().Pods(ns)
	last := p
	ended := func() error {
		st := podStatus(last)
		return &PodError{Namespace: ns, Pod: name, Version: version, Reason: st.reason, Message: st.message, Err: context.Cause(ctx)}
	}
	b := backoff.NewExponentialBackOff(backoff.WithInitialInterval(100*time.Millisecond), backoff.WithMaxInterval(2*time.Second), backoff.WithMaxElapsedTime(0))
	for {
		if st := podStatus(last); st.ready {
			return nil
		} else if st.fatal {
			return &PodError{Namespace: ns, Pod: name, Version: version, Reason: st.reason, Message: st.message}
		}
		if ctx.Err() != nil {
			return ended()
		}
		w, err := pods.Watch(ctx, metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("metadata.name", name).String(), ResourceVersion: last.ResourceVersion, TimeoutSeconds: ptr(int64(resync / time.Second))})
		if err == nil {
			opened := time.Now()
			gone, err := f.follow(ctx, w, name, &last)
			if gone {
				return &PodError{Namespace: ns, Pod: name, Version: version, Reason: "Deleted", Message: "the pod was deleted before it was ready"}
			}
			long := time.Since(opened) >= quickEnd
			if long {
				b.Reset()
			}
			if st := podStatus(last); err == nil && (long || st.ready || st.fatal || ctx.Err() != nil) {
				continue // the loop's top returns, or watches again
			}
		} else if !transient(err) && !apierrors.IsResourceExpired(err) && !apierrors.IsGone(err) && ctx.Err() == nil {
			return call{"watch", "pods", ns, name}.wrap(err, nil)
		}
		// The watch could not start, ended in error, went silent or ended
		// at once: read the pod afresh, after a backoff.
		select {
		case <-ctx.Done():
			return ended()
		case <-time.After(b.NextBackOff()):
		}
		var got *corev1.Pod
		err = do(ctx, f.cfg.retryFor(), call{"get", "pods", ns, name}, func(ctx context.Context) (err error) {
			got, err = pods.Get(ctx, name, metav1.GetOptions{})
			return err
		})
		var e *Error
		switch {
		case ctx.Err() != nil:
			return ended()
		case errors.As(err, &e) && e.Kind == ErrNotFound:
			return &PodError{Namespace: ns, Pod: name, Version: version, Reason: "Deleted", Message: "the pod was deleted before it was ready"}
		case err != nil:
			return err
		}
		last = got
	}
}

// follow reads w until it ends, the pod is ready or fails, or it is
// deleted (gone), keeping the newest state of pod name in last. It returns
// an error when the watch reported one or stayed open silentAfter, so that
// the caller reads the pod again.
func (f *Fleet) follow(ctx context.Context, w watch.Interface, name string, last **corev1.Pod) (gone bool, err error) {
	defer w.Stop()
	silent := time.NewTimer(silentAfter)
	defer silent.Stop()
	for {
		select {
		case <-ctx.Done():
			return false, nil
		case <-silent.C:
			return false, errSilent
		case ev, ok := <-w.ResultChan():
			if !ok {
				return false, nil
			}
			switch ev.Type {
			case watch.Error:
				return false, apierrors.FromObject(ev.Object)
			case watch.Bookmark:
				continue
			}
			p, ok := ev.Object.(*corev1.Pod)
			if !ok || p.Name != name {
				continue
			}
			if ev.Type == watch.Deleted {
				return true, nil
			}
			*last = p
			if st := podStatus(p); st.ready || st.fatal {
				return false, nil
			}
		}
	}
}

// status is what the adapter makes of a pod's status.
type status struct {
	ready, fatal    bool
	reason, message string
}

// fatalWaiting are the reasons a container waits that do not pass
// without a change to the pod or its image.
var fatalWaiting = map[string]bool{
	"ImagePullBackOff": true, "InvalidImageName": true, "ErrImageNeverPull": true,
	"CrashLoopBackOff": true, "CreateContainerConfigError": true,
}

// sidecar reports whether p's init container name is a sidecar (restart
// policy Always): one that keeps running beside the app, with a readiness
// of its own.
func sidecar(p *corev1.Pod, name string) bool {
	i := slices.IndexFunc(p.Spec.InitContainers, func(c corev1.Container) bool { return c.Name == name })
	return i >= 0 && p.Spec.InitContainers[i].RestartPolicy != nil && *p.Spec.InitContainers[i].RestartPolicy == corev1.ContainerRestartPolicyAlways
}

// podStatus reads p's status.
func podStatus(p *corev1.Pod) status {
	if p.DeletionTimestamp != nil {
		return status{fatal: true, reason: "Terminating", message: "the pod is being deleted"}
	}
	switch p.Status.Phase {
	case corev1.PodFailed, corev1.PodSucceeded:
		return status{fatal: true, reason: string(p.Status.Phase) + reasonSuffix(p.Status.Reason), message: p.Status.Message}
	}
	for _, c := range p.Status.Conditions {
		switch {
		case c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue:
			return status{ready: true}
		case c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse:
			return status{reason: cmpOr(c.Reason, "Unschedulable"), message: c.Message}
		}
	}
	var notReady []string
	for i, cs := range slices.Concat(p.Status.InitContainerStatuses, p.Status.ContainerStatuses) {
		switch {
		case i < len(p.Status.InitContainerStatuses) && cs.State.Running != nil && !sidecar(p, cs.Name):
			// An init container has no readiness: it runs to its end.
			return status{reason: "PodInitializing", message: fmt.Sprintf("init container %s running", cs.Name)}
		case cs.State.Waiting != nil && cs.State.Waiting.Reason != "":
			w := cs.State.Waiting
			return status{fatal: fatalWaiting[w.Reason], reason: w.Reason, message: fmt.Sprintf("container %s: %s", cs.Name, w.Message)}
		case cs.State.Terminated != nil && cs.State.Terminated.ExitCode != 0:
			t := cs.State.Terminated
			return status{reason: cmpOr(t.Reason, "Error"), message: fmt.Sprintf("container %s exited with code %d: %s", cs.Name, t.ExitCode, t.Message)}
		case cs.State.Running != nil && !cs.Ready:
			notReady = append(notReady, cs.Name)
		}
	}
	if len(notReady) > 0 {
		return status{reason: "NotReady", message: fmt.Sprintf("container(s) %s running but not ready: the readiness probe is failing", strings.Join(notReady, ", "))}
	}
	if p.Spec.NodeName == "" {
		return status{reason: "Pending", message: "not yet scheduled"}
	}
	return status{reason: cmpOr(string(p.Status.Phase), "Pending"), message: "on node " + p.Spec.NodeName + ", not yet ready"}
}

func reasonSuffix(r string) string {
	if r == "" {
		return ""
	}
	return " (" + r + ")"
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func ptr[T any](v T) *T { return &v }

// Stop deletes the pod named id, exactly that pod (the delete carries its
// UID as a precondition), and returns once the API server has accepted the
// deletion: the pod leaves its Services' endpoints, gets its termination
// grace period to drain, and Instances no longer lists it. It fails with
// an *Error of kind ErrNotFound when no pod of the fleet has that name,
// including a pod with that name that the fleet did not create.
func (f *Fleet) Stop(ctx context.Context, id string) error {
	ns := f.cfg.Namespace
	pods := f.cfg.Client.CoreV1().Pods(ns)
	var p *corev1.Pod
	err := do(ctx, f.cfg.retryFor(), call{"get", "pods", ns, id}, func(ctx context.Context) (err error) {
		p, err = pods.Get(ctx, id, metav1.GetOptions{})
		return err
	})
	if err != nil {
		var e *Error
		if errors.As(err, &e) && e.Kind == ErrNotFound {
			e.Hint = "no instance of service " + f.cfg.Service + " has that name"
		}
		return err
	}
	if p.Labels[LabelName] != f.cfg.Service || p.Labels[LabelManagedBy] != ManagedBy || f.notOurs(p) != "" {
		return &Error{Verb: "delete", Resource: "pods", Namespace: ns, Name: id, Kind: ErrNotFound,
			Err:  errors.New("the pod is not an instance of this fleet"),
			Hint: fmt.Sprintf("only pods with labels %s=%s,%s=%s made by the fleet are stopped", LabelName, f.cfg.Service, LabelManagedBy, ManagedBy)}
	}
	if p.DeletionTimestamp != nil {
		return nil
	}
	uid := p.UID
	err = do(ctx, f.cfg.retryFor(), call{"delete", "pods", ns, id}, func(ctx context.Context) error {
		err := pods.Delete(ctx, id, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
		if apierrors.IsNotFound(err) {
			return nil // gone already, perhaps by an earlier try
		}
		return err
	})
	return err
}
