package podcache

import (
	"slices"
	"strconv"
	"sync"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/kube-endpoints/endpoints-controller/internal/endpoints"
)

// Pod is what the cache keeps of a Pod: the fields the controller reads
// (see endpoints.TrimPod), in a struct a third the size of a corev1.Pod. The cache holds
// every Pod of the cluster, and a corev1.Pod costs its 1.2 KB struct however
// little it keeps, so at 10,000 Pods this is about 15 MB less live heap, twice
// that at the heap's peak.
//
// The computation takes corev1.Pods: a sync that computes fills views of its
// Pods (Views), which share this object's strings, maps and slices. Like
// every cached object, a Pod and its views are never modified.
type Pod struct {
	// ObjectMeta keeps the name, namespace, UID, resourceVersion, labels and
	// deletion timestamp only.
	metav1.ObjectMeta
	nodeName, hostname, subdomain string
	phase                         corev1.PodPhase
	podIP                         string
	podIPs                        []corev1.PodIP
	// conditions holds the Ready condition alone, when the Pod has one.
	conditions []corev1.PodCondition
	// containers and initContainers keep the name, ports and restart policy
	// of the containers that may serve a port; slices equal between Pods
	// (the Pods of one template) are shared (internContainers).
	containers, initContainers []corev1.Container
}

var _ runtime.Object = &Pod{}

// GetObjectKind is part of runtime.Object; a Pod carries no type
// information (the informer it sits in is for Pods).
func (p *Pod) GetObjectKind() schema.ObjectKind { return schema.EmptyObjectKind }

// DeepCopyObject is part of runtime.Object.
func (p *Pod) DeepCopyObject() runtime.Object {
	out := *p
	p.DeepCopyInto(&out.ObjectMeta)
	out.podIPs = slices.Clone(p.podIPs)
	out.conditions = slices.Clone(p.conditions) // a PodCondition holds values only
	out.containers = deepCopyContainers(p.containers)
	out.initContainers = deepCopyContainers(p.initContainers)
	return &out
}

func deepCopyContainers(cs []corev1.Container) []corev1.Container {
	if cs == nil {
		return nil
	}
	out := make([]corev1.Container, len(cs))
	for i := range cs {
		cs[i].DeepCopyInto(&out[i])
	}
	return out
}

// newPod keeps of pod what the controller reads: identity, labels,
// deletion, the node, hostname and subdomain, the ports of the containers
// that can serve one (of init containers, only sidecars: restartPolicy
// Always), the phase, the IPs and the Ready condition.
func newPod(pod *corev1.Pod) *Pod {
	p := &Pod{
		nodeName:       pod.Spec.NodeName,
		hostname:       pod.Spec.Hostname,
		subdomain:      pod.Spec.Subdomain,
		phase:          pod.Status.Phase,
		podIP:          pod.Status.PodIP,
		podIPs:         pod.Status.PodIPs,
		containers:     internContainers(pod.Spec.Containers, false),
		initContainers: internContainers(pod.Spec.InitContainers, true),
	}
	p.Name = pod.Name
	p.Namespace = pod.Namespace
	p.UID = pod.UID
	p.ResourceVersion = pod.ResourceVersion
	p.Labels = pod.Labels
	p.DeletionTimestamp = pod.DeletionTimestamp
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			p.conditions = []corev1.PodCondition{{Type: c.Type, Status: c.Status, LastTransitionTime: c.LastTransitionTime}}
			break
		}
	}
	return p
}

// Into fills dst with the Pod that p keeps, sharing p's memory.
func (p *Pod) Into(dst *corev1.Pod) {
	// p's ObjectMeta holds only what newPod kept.
	*dst = corev1.Pod{ObjectMeta: p.ObjectMeta}
	dst.Spec.NodeName = p.nodeName
	dst.Spec.Hostname = p.hostname
	dst.Spec.Subdomain = p.subdomain
	dst.Spec.Containers = p.containers
	dst.Spec.InitContainers = p.initContainers
	dst.Status.Phase = p.phase
	dst.Status.PodIP = p.podIP
	dst.Status.PodIPs = p.podIPs
	dst.Status.Conditions = p.conditions
}

// CompactPod is the cache transform of Pods: it replaces each Pod with a
// Pod. Objects that are not Pods (the informer's tombstones) pass
// unchanged.
func CompactPod(obj any) (any, error) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return obj, nil
	}
	return newPod(pod), nil
}

// Views holds the corev1.Pod views of one sync's cached Pods. They are
// pooled: a sync that computes borrows them and gives them back when done,
// so that computing costs no Pod-sized allocation in the steady state.
type Views struct {
	slab []corev1.Pod
	ptrs []*corev1.Pod
}

var podViewPool = sync.Pool{New: func() any { return &Views{} }}

// ViewsOf returns views of pods; release them when the sync is done with
// them.
func ViewsOf(pods []*Pod) *Views {
	v := podViewPool.Get().(*Views)
	if cap(v.slab) < len(pods) {
		v.slab = make([]corev1.Pod, len(pods))
		v.ptrs = make([]*corev1.Pod, len(pods))
	}
	v.slab, v.ptrs = v.slab[:len(pods)], v.ptrs[:len(pods)]
	for i, p := range pods {
		p.Into(&v.slab[i])
		v.ptrs[i] = &v.slab[i]
	}
	return v
}

// Pods returns the views, in the order of the cached Pods.
func (v *Views) Pods() []*corev1.Pod { return v.ptrs }

// Release gives the views back to the pool; they must not be used after.
func (v *Views) Release() {
	// Drop the references to cached objects, so that a pooled slab keeps no
	// deleted Pod's memory alive.
	clear(v.slab)
	clear(v.ptrs)
	podViewPool.Put(v)
}

// containerIntern shares the trimmed container slices between Pods: the Pods
// of one template have equal ones, so a cluster has about as many distinct
// slices as Pod templates. It is bounded: when full, it starts afresh (the
// slices already shared stay with their Pods).
var containerIntern = struct {
	sync.Mutex
	byKey map[string][]corev1.Container
}{byKey: map[string][]corev1.Container{}}

const maxInternedContainers = 10000

// internContainers returns the name, ports and restart policy of the
// containers that have ports (of init containers, only sidecars, restartPolicy
// Always, since only they can serve one), as a slice shared with the Pods
// whose containers are equal. It never returns containers' memory: the
// decoded Pod it comes from can be freed.
func internContainers(containers []corev1.Container, sidecarsOnly bool) []corev1.Container {
	var key []byte
	n := 0
	for i := range containers {
		c := &containers[i]
		if !endpoints.ServesPorts(c, sidecarsOnly) {
			continue
		}
		n++
		key = append(key, c.Name...)
		key = append(key, 0)
		if c.RestartPolicy != nil {
			key = append(key, *c.RestartPolicy...)
		}
		key = append(key, 0)
		for _, p := range c.Ports {
			key = append(key, p.Name...)
			key = append(key, 0)
			key = strconv.AppendInt(key, int64(p.ContainerPort), 10)
			key = append(key, 0)
			key = strconv.AppendInt(key, int64(p.HostPort), 10)
			key = append(key, 0)
			key = append(key, p.Protocol...)
			key = append(key, 0)
			key = append(key, p.HostIP...)
			key = append(key, 0)
		}
		key = append(key, 1)
	}
	if n == 0 {
		return nil
	}
	containerIntern.Lock()
	defer containerIntern.Unlock()
	if shared, ok := containerIntern.byKey[string(key)]; ok {
		return shared
	}
	out := make([]corev1.Container, 0, n)
	for i := range containers {
		c := &containers[i]
		if !endpoints.ServesPorts(c, sidecarsOnly) {
			continue
		}
		kept := corev1.Container{Name: c.Name, Ports: append([]corev1.ContainerPort(nil), c.Ports...)}
		if c.RestartPolicy != nil {
			policy := *c.RestartPolicy
			kept.RestartPolicy = &policy
		}
		out = append(out, kept)
	}
	if len(containerIntern.byKey) >= maxInternedContainers {
		clear(containerIntern.byKey)
	}
	containerIntern.byKey[string(key)] = out
	return out
}

// View fills dst with the Pod of a Pod event's object, a compact Pod (the
// cache's transform, CompactPod, stores nothing else); it shares the
// object's memory. It reports false for any other object.
func View(obj any, dst *corev1.Pod) bool {
	pod, ok := obj.(*Pod)
	if !ok || pod == nil {
		return false
	}
	pod.Into(dst)
	return true
}
