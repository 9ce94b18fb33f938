// Package kubernetes runs a service on Kubernetes as a strategy.Target: a
// [Fleet] of pods, a [Router] that splits traffic with a Gateway API
// HTTPRoute, and a [Switch] that flips a Service's selector, all written
// with client-go. It is the only safedeploy package that imports client-go;
// the core packages (deploy, strategy, verify…) do not, and a test keeps
// it so.
//
//	cfg := kubernetes.Config{
//		Client: clientset, Gateway: gatewayClientset,
//		Namespace: "shop", Service: "checkout",
//		Template:   podTemplate, // func(version string) (corev1.PodTemplateSpec, error)
//		Ports:      []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080)}},
//		ParentRefs: []gatewayv1.ParentReference{{Name: "public"}},
//	}
//	fleet, err := kubernetes.NewFleet(cfg)
//	router, err := kubernetes.NewRouter(cfg)
//	target := strategy.Target{Fleet: fleet, Router: router}
//
// # One pod per instance, no controller between
//
// A strategy asks a Fleet for exactly one more instance of a version and
// waits for that instance to be ready, and asks it to remove exactly the
// instance it names. Kubernetes' workload controllers do not offer either:
// scaling a ReplicaSet up gives a pod but not which one, and scaling it
// down deletes the pod its ranking picks — unscheduled before scheduled,
// pending before running, not ready before ready, and only then the
// controller.kubernetes.io/pod-deletion-cost annotation — so a named ready
// pod is stopped only when no other pod is less far along. A Deployment
// adds its own rolling update on top, which would race the strategy's.
//
// So the Fleet creates and deletes the pods itself, as Argo Rollouts
// manages ReplicaSets itself rather than through a Deployment, one step
// further: [Fleet.Start] creates one pod from the version's template and
// watches that pod until it is Ready or fails, and [Fleet.Stop] deletes the
// named pod, with its UID as a precondition so that nothing else can be
// deleted in its place. Each version has a ControllerRevision (named after
// the service and the version, holding the pod template its first pod was
// made from) that is its pods' controller owner: other controllers do not
// adopt them, and deleting it has the garbage collector delete them.
// Instances are pods; an instance's ID is its pod's name.
//
// The price is self-healing: the kubelet restarts a pod's crashed
// containers as usual, but a pod lost with its node or evicted is not
// replaced until the next deployment. Run at least two instances, with a
// PodDisruptionBudget over the service's pods if nodes are drained.
//
// # Start and readiness
//
// Start returns once the pod's Ready condition is true, so give its
// containers a readiness probe. It fails with a [*PodError] carrying
// Kubernetes' reason: at once for ImagePullBackOff, InvalidImageName,
// ErrImageNeverPull, CrashLoopBackOff, CreateContainerConfigError, a
// Failed pod or one deleted meanwhile; for reasons that can pass
// (Unschedulable, while a cluster autoscaler adds a node; PodInitializing,
// an init container still running; NotReady, a readiness probe failing,
// a sidecar's included; a pull in progress) it waits for ctx, which
// the strategies bound by their ReadyTimeout, and then names the last
// reason seen. It returns the pod's name in both cases so that the
// strategy's undo can stop it.
//
// # Labels, names and what the adapter owns
//
// Everything the adapter creates is labelled app.kubernetes.io/name=<Service>
// and app.kubernetes.io/managed-by=safedeploy ([LabelName],
// [LabelManagedBy]); pods and per-version Services also
// app.kubernetes.io/version=<version> ([LabelVersion]), from which
// Instances reads each pod's version. Versions must therefore be valid
// label values (63 characters of letters, digits, '-', '_' and '.').
// Instances lists pods in pages of 500; when the API server says a page's
// continue token expired, it lists again from the start (at most 3 times).
// Names: pods <service>-<version>-<random>, ControllerRevisions and
// per-version Services <service>-<version> (the version lower-cased, other
// characters turned into '-', plus a hash of the version when that
// changed it), the Switch's Service and the HTTPRoute <service>.
//
// The Fleet lists pods by the name and managed-by labels and refuses to go
// on, with an [*Error] of kind [ErrForeign] naming them, when a pod those
// labels select has a controller other than its version's
// ControllerRevision: a workload that copies the labels would otherwise be
// counted, and stopped, as the fleet's. Stop deletes only the fleet's own
// pods. The Services select on all three labels, so they never send
// traffic to another workload's pods.
//
// To remove everything the adapter made for a service:
//
//	kubectl delete -n shop controllerrevisions,services,httproutes -l app.kubernetes.io/managed-by=safedeploy,app.kubernetes.io/name=checkout
//
// # Writes
//
// The Router and Switch write with server-side apply as field manager
// "safedeploy" ([FieldManager]), never forcing: if another manager (a
// person's kubectl edit, Flagger, a GitOps tool) has taken the HTTPRoute's
// rules or the Service's selector, the write fails with an [*Error] of kind
// [ErrConflict] that names the other manager and the field, and the
// strategy stops and undoes what it did; safedeploy never overwrites
// another owner's change. Writes to fields no one else owns, and the
// status updates of a Gateway controller, do not conflict. Pods are
// created (under a client-made name, with a token annotation so that a
// create retried after a lost answer finds its own pod) and deleted; the
// ControllerRevision is applied once and never changed.
//
// Every call is retried with exponential backoff (cenkalti/backoff) while
// the API server cannot be reached or answers that it is unavailable or
// overloaded, for up to Config.RetryFor (a minute by default) or until ctx
// ends; Start's watch of its pod reconnects the same way. So an API server
// restarting in the middle of a step delays the step rather than failing
// it. The API server is asked to end each watch after 30 s; one still open
// 15 s after that lost its connection without a word, and Start reads the
// pod afresh instead of waiting on it. A watch that ends as soon as it
// opens (a proxy closing it) is reopened after the same backoff, not at
// once.
//
// # Errors
//
// A failed call is an [*Error]: the verb, the resource, the namespace and
// name, a Kind to test with errors.Is and a hint saying what to do.
//
//   - [ErrForbidden]: RBAC refused the verb; the message names the verb
//     and resource to grant (see the Role below).
//   - [ErrNoAPI]: the API server does not serve the resource: install the
//     Gateway API CRDs for a Router.
//   - [ErrNoNamespace]: the namespace does not exist.
//   - [ErrConflict]: another field manager owns a field the adapter
//     writes.
//   - [ErrForeign]: pods the fleet's labels select belong to another
//     controller, or the route or Service was changed by someone else.
//   - [ErrUnavailable]: the API server did not answer for RetryFor; the
//     write may or may not have happened, and running again makes it once.
//   - [ErrNotFound], [ErrInvalid]: no such instance; an object the API
//     server rejected.
//
// A bad Config is a [*ConfigError] from NewFleet, NewRouter or NewSwitch,
// naming every invalid field with its value, before any call is made.
//
// # The minimal Role
//
// The adapter needs, in its namespace, exactly [Rules]:
//
//	apiVersion: rbac.authorization.k8s.io/v1
//	kind: Role
//	metadata: {name: safedeploy, namespace: shop}
//	rules:
//	- apiGroups: [""]
//	  resources: [pods]
//	  verbs: [get, list, watch, create, delete]
//	- apiGroups: [""]
//	  resources: [services]
//	  verbs: [get, create, patch]
//	- apiGroups: [apps]
//	  resources: [controllerrevisions]
//	  verbs: [get, create, patch]
//	- apiGroups: [gateway.networking.k8s.io]
//	  resources: [httproutes]
//	  verbs: [get, create, patch]
//
// (create as well as patch, because a server-side apply that creates its
// object needs both). Without a Router, the httproutes rule can go; without
// a Router or Switch, the services rule.
//
// # Verification: scrape targets and PromQL labels
//
// [Fleet.Targets] lists the metrics pages of the ready pods, with their
// versions, for the embedded verify/scrape Source:
//
//	src := &scrape.Source{Targets: fleet.Targets}
//
// For verify/prometheus, carry the pod labels into series in the scrape
// configuration (kubernetes_sd_configs with role pod):
//
//	relabel_configs:
//	- source_labels: [__meta_kubernetes_pod_label_app_kubernetes_io_version]
//	  target_label: version
//	- source_labels: [__meta_kubernetes_pod_label_app_kubernetes_io_name]
//	  target_label: app
//	- source_labels: [__meta_kubernetes_namespace]
//	  target_label: namespace
//
// and select the service's series with them; "version" is the Prometheus
// source's default VersionLabel:
//
//	src := &prometheus.Source{URL: promURL, Labels: map[string]string{"app": "checkout", "namespace": "shop"}}
//
// With the Prometheus Operator, a PodMonitor's podTargetLabels:
// [app.kubernetes.io/version] keeps the label under its own name; set
// VersionLabel to "app_kubernetes_io_version" then.
//
// # Recovery
//
// The Router is a strategy.RouterState and the Switch a
// strategy.SwitchState: after a crash, deploy's recovery reads the weights
// the HTTPRoute really has ([Router.Routing]) and the version the Service
// really selects ([Switch.Current]), and the pods of each version from
// Instances, rather than trusting the journal alone.
package kubernetes
