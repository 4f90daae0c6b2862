package controller

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kube-endpoints/endpoints-controller/internal/podcache"
)

// cacheReader is how a sync reads the world. Objects it returns may belong to
// the cache: they are never modified. A missing object is nil, not an error.
type cacheReader interface {
	service(ctx context.Context, key types.NamespacedName) (*corev1.Service, error)
	endpoints(ctx context.Context, key types.NamespacedName) (*corev1.Endpoints, error)
	// pods returns the Pods of namespace that selector (non-nil) selects.
	pods(ctx context.Context, namespace string, selector map[string]string) ([]*podcache.Pod, error)
}

// indexReader reads the informers' stores by pointer, through podcache.Index:
// no copies, and a Service's Pods are found without scanning its namespace.
type indexReader struct{ index *podcache.Index }

func (r indexReader) service(_ context.Context, key types.NamespacedName) (*corev1.Service, error) {
	return r.index.Service(key), nil
}

func (r indexReader) endpoints(_ context.Context, key types.NamespacedName) (*corev1.Endpoints, error) {
	return r.index.Endpoints(key), nil
}

func (r indexReader) pods(_ context.Context, namespace string, selector map[string]string) ([]*podcache.Pod, error) {
	pods, err := r.index.PodsSelectedBy(namespace, selector)
	if err != nil {
		return nil, fmt.Errorf("listing Pods of namespace %s for selector %v: %w", namespace, selector, err)
	}
	return pods, nil
}

// clientReader reads through a client.Reader: deep copies and a label
// selector List over the namespace. It serves reconcilers built without a
// podcache.Index (tests with a fake client); the controller uses indexReader.
type clientReader struct{ client client.Reader }

func (r clientReader) service(ctx context.Context, key types.NamespacedName) (*corev1.Service, error) {
	svc := &corev1.Service{}
	if err := r.client.Get(ctx, key, svc); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("getting Service %s: %w", key, err)
	}
	return svc, nil
}

func (r clientReader) endpoints(ctx context.Context, key types.NamespacedName) (*corev1.Endpoints, error) {
	ep := &corev1.Endpoints{}
	if err := r.client.Get(ctx, key, ep); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("getting Endpoints %s: %w", key, err)
	}
	return ep, nil
}

func (r clientReader) pods(ctx context.Context, namespace string, selector map[string]string) ([]*podcache.Pod, error) {
	list := &corev1.PodList{}
	if err := r.client.List(ctx, list, client.InNamespace(namespace),
		client.MatchingLabelsSelector{Selector: labels.SelectorFromSet(selector)}); err != nil {
		return nil, fmt.Errorf("listing Pods of namespace %s for selector %v: %w", namespace, selector, err)
	}
	pods := make([]*podcache.Pod, len(list.Items))
	for i := range list.Items {
		compact, _ := podcache.CompactPod(&list.Items[i])
		pods[i] = compact.(*podcache.Pod)
	}
	return pods, nil
}
