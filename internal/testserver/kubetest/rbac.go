package kubetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
)

// ConfigFor returns a client configuration whose identity may do exactly
// what rules allow in namespace, and nothing else (beyond what every
// authenticated user may: discovery, and reviewing its own access): a
// ServiceAccount kubetest-N in namespace, a Role kubetest-N holding rules
// and a RoleBinding of one to the other, and a token for the account from
// the TokenRequest API, valid for an hour. The identity's user name is
// system:serviceaccount:NAMESPACE:kubetest-N, which Forbidden errors name.
//
// It returns once the API server authorizes the first verb of each rule,
// and fails tb if the objects cannot be made (an invalid rule is refused
// by the API server). The three objects are deleted when tb ends.
func (c *Cluster) ConfigFor(tb testing.TB, namespace string, rules []rbacv1.PolicyRule) *rest.Config {
	tb.Helper()
	ctx, cancel := context.WithTimeout(tb.Context(), time.Minute)
	defer cancel()
	name := fmt.Sprintf("kubetest-%d", c.seq.Add(1))
	meta := metav1.ObjectMeta{Name: name, Namespace: namespace, Labels: map[string]string{"kubetest.safedeploy.dev/test": "true"}}
	core, rbac := c.client.CoreV1(), c.client.RbacV1()
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		for _, del := range []func() error{
			func() error { return rbac.RoleBindings(namespace).Delete(ctx, name, metav1.DeleteOptions{}) },
			func() error { return rbac.Roles(namespace).Delete(ctx, name, metav1.DeleteOptions{}) },
			func() error { return core.ServiceAccounts(namespace).Delete(ctx, name, metav1.DeleteOptions{}) },
		} {
			if err := del(); err != nil && !apierrors.IsNotFound(err) && !c.isStopped() {
				tb.Errorf("kubetest: cleaning up identity %s/%s: %v", namespace, name, err)
			}
		}
	})
	if _, err := core.ServiceAccounts(namespace).Create(ctx, &corev1.ServiceAccount{ObjectMeta: meta}, metav1.CreateOptions{}); err != nil {
		tb.Fatalf("kubetest: creating service account %s/%s: %v", namespace, name, err)
	}
	if _, err := rbac.Roles(namespace).Create(ctx, &rbacv1.Role{ObjectMeta: meta, Rules: rules}, metav1.CreateOptions{}); err != nil {
		tb.Fatalf("kubetest: creating role %s/%s: %v", namespace, name, err)
	}
	binding := &rbacv1.RoleBinding{
		ObjectMeta: meta,
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: name, Namespace: namespace}},
	}
	if _, err := rbac.RoleBindings(namespace).Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		tb.Fatalf("kubetest: creating role binding %s/%s: %v", namespace, name, err)
	}
	req := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: new(int64(3600))}}
	tok, err := core.ServiceAccounts(namespace).CreateToken(ctx, name, req, metav1.CreateOptions{})
	if err != nil {
		tb.Fatalf("kubetest: requesting a token for %s/%s: %v", namespace, name, err)
	}
	user := fmt.Sprintf("system:serviceaccount:%s:%s", namespace, name)
	// The RBAC authorizer reads roles and bindings from a cache: wait
	// until it has these.
	for _, r := range rules {
		if len(r.Verbs) == 0 || len(r.Resources) == 0 {
			continue
		}
		attrs := &authorizationv1.ResourceAttributes{Namespace: namespace, Verb: r.Verbs[0], Resource: r.Resources[0]}
		if len(r.APIGroups) > 0 && r.APIGroups[0] != "*" {
			attrs.Group = r.APIGroups[0]
		}
		if len(r.ResourceNames) > 0 {
			attrs.Name = r.ResourceNames[0]
		}
		review := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
			User:               user,
			Groups:             []string{"system:serviceaccounts", "system:serviceaccounts:" + namespace, "system:authenticated"},
			ResourceAttributes: attrs,
		}}
		var last string
		err := c.poll(ctx, fmt.Sprintf("RBAC to allow %s to %s %s", user, attrs.Verb, attrs.Resource), func() (bool, error) {
			got, err := c.client.AuthorizationV1().SubjectAccessReviews().Create(ctx, review, metav1.CreateOptions{})
			if err != nil {
				last = err.Error()
				return false, nil
			}
			last = got.Status.Reason
			return got.Status.Allowed, nil
		}, func() string { return last })
		if err != nil {
			tb.Fatalf("kubetest: %v", err)
		}
	}
	cfg := rest.AnonymousClientConfig(c.admin)
	cfg.BearerToken = tok.Status.Token
	return cfg
}
