package endpoints

import corev1 "k8s.io/api/core/v1"

// TrimPod returns a Pod with only what the computation reads of pod:
// identity, labels, deletion, the node, hostname and subdomain, the name,
// ports and restart policy of the containers that can serve a port (of init
// containers, only sidecars: restartPolicy Always), the phase, the IPs and
// the Ready condition. The controller's cache keeps exactly these fields
// (internal/podcache); `diff` trims the Pods it lists with it. The result
// shares pod's labels and IP slice.
func TrimPod(pod *corev1.Pod) *corev1.Pod {
	out := &corev1.Pod{TypeMeta: pod.TypeMeta}
	out.Name = pod.Name
	out.Namespace = pod.Namespace
	out.UID = pod.UID
	out.ResourceVersion = pod.ResourceVersion
	out.Labels = pod.Labels
	out.DeletionTimestamp = pod.DeletionTimestamp
	out.Spec.NodeName = pod.Spec.NodeName
	out.Spec.Hostname = pod.Spec.Hostname
	out.Spec.Subdomain = pod.Spec.Subdomain
	out.Spec.Containers = ServingContainers(pod.Spec.Containers, false)
	out.Spec.InitContainers = ServingContainers(pod.Spec.InitContainers, true)
	out.Status.Phase = pod.Status.Phase
	out.Status.PodIP = pod.Status.PodIP
	out.Status.PodIPs = pod.Status.PodIPs
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			out.Status.Conditions = []corev1.PodCondition{{Type: c.Type, Status: c.Status, LastTransitionTime: c.LastTransitionTime}}
			break
		}
	}
	return out
}

// ServingContainers returns the name, ports and restart policy of the
// containers that can serve a port: those with ports, and among init
// containers (initContainers) only sidecars (restartPolicy Always). It is
// nil when there are none, and shares no memory with containers.
func ServingContainers(containers []corev1.Container, initContainers bool) []corev1.Container {
	var out []corev1.Container
	for i := range containers {
		c := &containers[i]
		if !ServesPorts(c, initContainers) {
			continue
		}
		kept := corev1.Container{Name: c.Name, Ports: append([]corev1.ContainerPort(nil), c.Ports...)}
		if c.RestartPolicy != nil {
			policy := *c.RestartPolicy
			kept.RestartPolicy = &policy
		}
		out = append(out, kept)
	}
	return out
}

// ServesPorts reports whether c can serve a port: it has ports, and among
// init containers (initContainer) it is a sidecar.
func ServesPorts(c *corev1.Container, initContainer bool) bool {
	if len(c.Ports) == 0 {
		return false
	}
	return !initContainer || (c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways)
}
