package kubernetes

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"regexp"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v4"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilnet "k8s.io/apimachinery/pkg/util/net"
)

// Kinds of failure an [*Error] can be, for errors.Is.
var (
	// ErrForbidden: the API server refused the verb on the resource (RBAC).
	// Grant it in the Role (see the package doc's minimal Role).
	ErrForbidden = errors.New("forbidden")
	// ErrNoAPI: the API server does not serve the resource, as when the
	// Gateway API CRDs are not installed.
	ErrNoAPI = errors.New("resource not served by the API server")
	// ErrNoNamespace: the namespace does not exist.
	ErrNoNamespace = errors.New("namespace not found")
	// ErrConflict: another field manager owns fields the adapter writes,
	// or an update kept conflicting with other writers.
	ErrConflict = errors.New("conflict")
	// ErrForeign: an object the adapter would use belongs to another
	// controller or manager, such as a pod its selector matches that
	// another workload owns.
	ErrForeign = errors.New("owned by another controller")
	// ErrUnavailable: the API server could not be reached, or kept
	// answering that it is unavailable, for as long as the adapter retries.
	ErrUnavailable = errors.New("API server unavailable")
	// ErrNotFound: the object, such as the instance Stop was given, does
	// not exist or is not the adapter's.
	ErrNotFound = errors.New("not found")
	// ErrInvalid: the API server rejected the object as invalid
	// (validation or admission).
	ErrInvalid = errors.New("invalid")
)

// An Error is a failed call to the Kubernetes API: which verb on which
// object, what kind of failure it was (one of the Err variables above, for
// errors.Is; nil for others), what to do about it, and the API server's
// own error. It unwraps to both Kind and Err, so apierrors.IsForbidden and
// friends work on it too.
type Error struct {
	// Verb is what the adapter tried: "get", "list", "watch", "create",
	// "patch" (server-side apply) or "delete".
	Verb string
	// Resource is the resource, with its group when not core:
	// "pods", "services", "httproutes.gateway.networking.k8s.io".
	Resource string
	// Namespace and Name name the object; Name is empty for list and watch.
	Namespace, Name string
	// Kind is one of ErrForbidden, ErrNoAPI, ErrNoNamespace, ErrConflict,
	// ErrForeign, ErrUnavailable, ErrNotFound, ErrInvalid, or nil.
	Kind error
	// Hint says what to do.
	Hint string
	// Err is the underlying error.
	Err error
}

// Error says what failed on which object, and what to do.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("kubernetes: ")
	if e.Kind != nil {
		b.WriteString(e.Kind.Error())
		b.WriteString(": ")
	}
	fmt.Fprintf(&b, "%s %s", e.Verb, e.Resource)
	if e.Name != "" {
		fmt.Fprintf(&b, " %q", e.Name)
	}
	if e.Namespace != "" {
		fmt.Fprintf(&b, " in namespace %q", e.Namespace)
	}
	if e.Err != nil {
		fmt.Fprintf(&b, ": %v", e.Err)
	}
	if e.Hint != "" {
		b.WriteString(" (")
		b.WriteString(e.Hint)
		b.WriteString(")")
	}
	return b.String()
}

// Unwrap returns Kind and Err.
func (e *Error) Unwrap() []error {
	var out []error
	for _, err := range []error{e.Kind, e.Err} {
		if err != nil {
			out = append(out, err)
		}
	}
	return out
}

// A PodError is an instance that did not become ready: the pod, and the
// reason Kubernetes gives, such as ErrImagePull, ImagePullBackOff,
// CrashLoopBackOff, Unschedulable, NotReady (running, but its readiness
// probe failing), Failed or Deleted.
type PodError struct {
	Namespace, Pod, Version string
	// Reason is Kubernetes' reason, or one of the adapter's: NotReady,
	// Deleted, Terminating.
	Reason string
	// Message is Kubernetes' message with it, if any.
	Message string
	// Err is why the wait ended early, such as the context's cause when it
	// ended before the pod was ready or failed; nil when the pod failed.
	Err error
}

// Error names the pod, its version and its reason.
func (e *PodError) Error() string {
	msg := fmt.Sprintf("kubernetes: pod %q (version %q) in namespace %q not ready", e.Pod, e.Version, e.Namespace)
	if e.Reason != "" {
		msg += ": " + e.Reason
	}
	if e.Message != "" {
		msg += ": " + e.Message
	}
	if e.Err != nil {
		msg += fmt.Sprintf(" (waiting ended: %v)", e.Err)
	}
	return msg
}

// Unwrap returns e.Err.
func (e *PodError) Unwrap() error { return e.Err }

// A ConfigError lists every invalid field of a configuration with its
// value.
type ConfigError struct {
	// Problems has one line per invalid field: "Namespace \"\": required".
	Problems []string
}

// Error lists every problem.
func (e *ConfigError) Error() string {
	return "kubernetes: invalid configuration: " + strings.Join(e.Problems, "; ")
}

// call names one API call: a verb on an object.
type call struct {
	verb, resource, namespace, name string
}

// DefaultRetryFor is how long the adapter retries a call the API server
// did not answer, or answered that it is unavailable, when the Config's
// RetryFor is zero.
const DefaultRetryFor = time.Minute

// do runs fn, retrying with exponential backoff (cenkalti/backoff) while
// the API server is unreachable or says it is unavailable, for up to
// retryFor or until ctx ends, and returns nil or an *Error.
func do(ctx context.Context, retryFor time.Duration, c call, fn func(context.Context) error) error {
	b := backoff.NewExponentialBackOff(backoff.WithInitialInterval(100*time.Millisecond), backoff.WithMaxInterval(2*time.Second), backoff.WithMaxElapsedTime(retryFor))
	var last error
	err := backoff.Retry(func() error {
		err := fn(ctx)
		if err == nil {
			return nil
		}
		last = err
		if transient(err) && ctx.Err() == nil {
			return err
		}
		return backoff.Permanent(err)
	}, backoff.WithContext(b, ctx))
	if err == nil {
		return nil
	}
	if last != nil && !errors.Is(err, last) {
		err = fmt.Errorf("%w (last error: %w)", err, last)
	}
	return c.wrap(err, last)
}

// wrap turns err, from the API server, into an *Error for c, classified by
// last (the last error the API server returned, when err is the context's).
func (c call) wrap(err, last error) *Error {
	e := &Error{Verb: c.verb, Resource: c.resource, Namespace: c.namespace, Name: c.name, Err: err}
	cause := last
	if cause == nil {
		cause = err
	}
	switch {
	case apierrors.IsForbidden(cause):
		e.Kind = ErrForbidden
		verb := c.verb
		if m := deniedVerb.FindStringSubmatch(cause.Error()); m != nil {
			verb = m[1] // a server-side apply that creates needs "create" as well as "patch"
		}
		e.Hint = fmt.Sprintf("grant verb %q on resource %q in namespace %q to the adapter's identity; the package doc lists the minimal Role", verb, c.resource, c.namespace)
	case isMissingNamespace(cause, c.namespace):
		e.Kind = ErrNoNamespace
		e.Hint = fmt.Sprintf("create namespace %q or set Config.Namespace to an existing one", c.namespace)
	case apierrors.IsNotFound(cause) && (isMissingResource(cause) || c.verb == "patch" || c.verb == "create"):
		e.Kind = ErrNoAPI
		e.Hint = "the API server does not serve " + c.resource
		if strings.Contains(c.resource, "gateway.networking.k8s.io") {
			e.Hint += "; install the Gateway API CRDs (standard channel, sigs.k8s.io/gateway-api v1.6 or later), or use a Switch instead of a Router"
		}
	case apierrors.IsNotFound(cause):
		e.Kind = ErrNotFound
	case apierrors.IsConflict(cause):
		e.Kind = ErrConflict
		if m := conflicts(cause); m != "" {
			e.Hint = m + "; "
		}
		e.Hint += "another client changed or owns the fields safedeploy writes; find it with `kubectl get " + c.resource + " " + c.name + " --show-managed-fields -o yaml`, stop it, then run the undo or deployment again"
	case apierrors.IsInvalid(cause) || apierrors.IsBadRequest(cause):
		e.Kind = ErrInvalid
		e.Hint = "the API server rejected the object; fix the Config or pod template it was built from"
	case transient(cause):
		e.Kind = ErrUnavailable
		e.Hint = "the API server did not answer; check it is up and reachable, then run again: the change may or may not have been made, and running again makes it once"
	}
	return e
}

// deniedVerb finds the verb RBAC denied in the API server's Forbidden
// message: `User "x" cannot create resource "services" in API group ""…`.
var deniedVerb = regexp.MustCompile(`cannot (\w+) resource`)

// conflicts lists the field-manager conflicts of a server-side apply's
// error: "conflict with \"flagger\" using gateway.networking.k8s.io/v1:
// .spec.rules".
func conflicts(err error) string {
	var st apierrors.APIStatus
	if !errors.As(err, &st) || st.Status().Details == nil {
		return ""
	}
	var out []string
	for _, c := range st.Status().Details.Causes {
		if c.Type == metav1.CauseTypeFieldManagerConflict {
			out = append(out, c.Message+": "+c.Field)
		}
	}
	return strings.Join(out, ", ")
}

// isMissingNamespace reports whether err is the API server's "namespaces
// <ns> not found".
func isMissingNamespace(err error, ns string) bool {
	var st apierrors.APIStatus
	if !errors.As(err, &st) || !apierrors.IsNotFound(err) {
		return false
	}
	d := st.Status().Details
	return d != nil && d.Kind == "namespaces" && d.Name == ns && ns != ""
}

// isMissingResource reports whether a NotFound err is the API server's "the
// server could not find the requested resource": the resource, not an
// object of it, is missing. (A write that creates when missing — apply,
// create — can only be NotFound for its namespace or its resource; the
// callers check those by verb.)
func isMissingResource(err error) bool {
	var st apierrors.APIStatus
	if !errors.As(err, &st) {
		return false
	}
	s := st.Status()
	if s.Details == nil || (s.Details.Name == "" && s.Details.Kind == "") {
		return true
	}
	for _, c := range s.Details.Causes {
		if c.Type == metav1.CauseTypeUnexpectedServerResponse {
			return true // a 404 without a Status: no handler for the path
		}
	}
	return false
}

// transient reports whether err is worth retrying: the API server could
// not be reached, or answered that it is busy or unavailable.
func transient(err error) bool {
	switch {
	case err == nil:
		return false
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return false
	case apierrors.IsServerTimeout(err), apierrors.IsTimeout(err), apierrors.IsTooManyRequests(err),
		apierrors.IsServiceUnavailable(err), apierrors.IsInternalError(err), apierrors.IsUnexpectedServerError(err):
		return true
	case utilnet.IsConnectionRefused(err), utilnet.IsConnectionReset(err), utilnet.IsProbableEOF(err),
		errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed):
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	var oe *net.OpError
	return errors.As(err, &oe)
}
