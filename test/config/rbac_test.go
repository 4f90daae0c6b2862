package config_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// leaseName is the leader-election Lease (app.LeaderElectionID).
const leaseName = "endpoints-controller.kube-endpoints.io"

// rbacSyncTimeout bounds the wait for the API server's RBAC authorizer, which
// reads roles and bindings from an informer, to see the ones just created.
const rbacSyncTimeout = 30 * time.Second

// TestServiceAccountPermissions creates the RBAC objects of config/default for
// real and asks the API server's own authorizer what the manager's
// ServiceAccount may do: everything the controller needs, and nothing of a
// sample of what it must not.
func TestServiceAccountPermissions(t *testing.T) {
	objs := render(t, configDir("default"))
	c, _ := newClient(t)
	apply(t, c, find(t, objs, "Namespace", namespace))
	for _, kind := range []string{"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"} {
		for _, obj := range ofKind(objs, kind) {
			apply(t, c, obj)
		}
	}

	// The identity the manager's Pods run as.
	dep := typed[appsv1.Deployment](t, find(t, objs, "Deployment", deploymentName))
	ns, sa := dep.Namespace, dep.Spec.Template.Spec.ServiceAccountName
	user := fmt.Sprintf("system:serviceaccount:%s:%s", ns, sa)
	groups := []string{"system:serviceaccounts", "system:serviceaccounts:" + ns, "system:authenticated"}

	// A namespace of some application whose Services the controller serves.
	const app = "shop"
	allowed := []authorizationv1.ResourceAttributes{
		{Verb: "list", Resource: "services"},
		{Verb: "watch", Resource: "services"},
		{Verb: "list", Resource: "pods"},
		{Verb: "watch", Resource: "pods"},
		{Verb: "list", Resource: "endpoints"},
		{Verb: "watch", Resource: "endpoints"},
		{Namespace: app, Verb: "create", Resource: "endpoints"},
		{Namespace: app, Verb: "update", Resource: "endpoints"},
		{Namespace: app, Verb: "delete", Resource: "endpoints"},
		{Namespace: app, Verb: "create", Group: "events.k8s.io", Resource: "events"},
		// Leader election: its own Lease only.
		{Namespace: ns, Verb: "get", Group: "coordination.k8s.io", Resource: "leases", Name: leaseName},
		{Namespace: ns, Verb: "create", Group: "coordination.k8s.io", Resource: "leases"},
		{Namespace: ns, Verb: "update", Group: "coordination.k8s.io", Resource: "leases", Name: leaseName},
		// Authenticating and authorizing metrics scrapes.
		{Verb: "create", Group: "authentication.k8s.io", Resource: "tokenreviews"},
		{Verb: "create", Group: "authorization.k8s.io", Resource: "subjectaccessreviews"},
	}
	denied := []authorizationv1.ResourceAttributes{
		{Verb: "list", Resource: "secrets"},
		{Namespace: ns, Verb: "get", Resource: "secrets"},
		{Namespace: app, Verb: "get", Resource: "secrets"},
		{Namespace: app, Verb: "update", Resource: "services"},
		{Namespace: app, Verb: "update", Resource: "pods"},
		{Namespace: app, Verb: "delete", Resource: "pods"},
		{Namespace: app, Verb: "create", Group: "discovery.k8s.io", Resource: "endpointslices"},
		{Namespace: "kube-system", Verb: "update", Group: "coordination.k8s.io", Resource: "leases", Name: leaseName},
		// Another component's Lease in the same namespace.
		{Namespace: ns, Verb: "get", Group: "coordination.k8s.io", Resource: "leases", Name: "other"},
		{Namespace: ns, Verb: "update", Group: "coordination.k8s.io", Resource: "leases", Name: "other"},
		// Leader election needs no more than get, create and update.
		{Namespace: ns, Verb: "list", Group: "coordination.k8s.io", Resource: "leases"},
		{Namespace: ns, Verb: "watch", Group: "coordination.k8s.io", Resource: "leases"},
		{Namespace: ns, Verb: "patch", Group: "coordination.k8s.io", Resource: "leases"},
		{Namespace: ns, Verb: "delete", Group: "coordination.k8s.io", Resource: "leases"},
		{Verb: "create", Group: "rbac.authorization.k8s.io", Resource: "clusterrolebindings"},
		// Events go through events.k8s.io only: no core-group events.
		{Namespace: app, Verb: "create", Resource: "events"},
		{Namespace: ns, Verb: "create", Resource: "events"},
	}

	// Allowed answers are awaited, since the authorizer may not have seen the
	// new bindings yet; once they all came, a denial is final.
	pending := slices.Clone(allowed)
	err := wait.PollUntilContextTimeout(t.Context(), 250*time.Millisecond, rbacSyncTimeout, true,
		func(ctx context.Context) (bool, error) {
			var still []authorizationv1.ResourceAttributes
			for _, attrs := range pending {
				ok, err := canI(ctx, c, user, groups, attrs)
				if err != nil {
					return false, err
				}
				if !ok {
					still = append(still, attrs)
				}
			}
			pending = still
			return len(pending) == 0, nil
		})
	if err != nil {
		missing := make([]string, 0, len(pending))
		for _, attrs := range pending {
			missing = append(missing, describeAttrs(attrs))
		}
		t.Fatalf("%s may not:\n  %s\n(%v)", sa, strings.Join(missing, "\n  "), err)
	}
	for _, attrs := range denied {
		ok, err := canI(t.Context(), c, user, groups, attrs)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			t.Errorf("%s may %s", sa, describeAttrs(attrs))
		}
	}
}

// canI asks the API server whether user may do what attrs describe.
func canI(ctx context.Context, c client.Client, user string, groups []string,
	attrs authorizationv1.ResourceAttributes) (bool, error) {
	review := &authorizationv1.SubjectAccessReview{
		Spec: authorizationv1.SubjectAccessReviewSpec{User: user, Groups: groups, ResourceAttributes: &attrs},
	}
	if err := c.Create(ctx, review); err != nil {
		return false, fmt.Errorf("creating a SubjectAccessReview: %w", err)
	}
	return review.Status.Allowed, nil
}

func describeAttrs(a authorizationv1.ResourceAttributes) string {
	where := "in all namespaces"
	if a.Namespace != "" {
		where = "in namespace " + a.Namespace
	}
	resource := a.Resource
	if a.Group != "" {
		resource += "." + a.Group
	}
	if a.Name != "" {
		resource += " " + a.Name
	}
	return fmt.Sprintf("%s %s %s", a.Verb, resource, where)
}
