package endpoints

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/diff"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Shared builders for the tests of this package. Every object they build is
// what the API server would store, unless an option says otherwise, so that a
// test case only spells out what it is about.

const (
	testNamespace = "ns"
	testService   = "svc"
	testNode      = "node-1"
	tcp           = corev1.ProtocolTCP
	udp           = corev1.ProtocolUDP
	sctp          = corev1.ProtocolSCTP
)

// svcCreated is the creation time of the Services built by service().
var svcCreated = time.Date(2030, 1, 2, 3, 4, 5, 600, time.UTC)

type svcOption func(*corev1.Service)

// service returns a ClusterIP Service (IPv4 cluster IP, no ipFamilies) with
// the given ports.
func service(ports []corev1.ServicePort, opts ...svcOption) *corev1.Service {
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{
			Name: testService, Namespace: testNamespace, UID: "svc-uid",
			CreationTimestamp: metav1.NewTime(svcCreated),
		},
		Spec: corev1.ServiceSpec{
			Selector:  map[string]string{"app": "web"},
			ClusterIP: "10.96.0.10",
			Ports:     ports,
		},
	}
	for _, o := range opts {
		o(svc)
	}
	return svc
}

func clusterIP(ip string) svcOption { return func(s *corev1.Service) { s.Spec.ClusterIP = ip } }

func headless() svcOption { return clusterIP(corev1.ClusterIPNone) }

func ipFamilies(f ...corev1.IPFamily) svcOption {
	return func(s *corev1.Service) { s.Spec.IPFamilies = f }
}

func publishNotReady() svcOption {
	return func(s *corev1.Service) { s.Spec.PublishNotReadyAddresses = true }
}

func svcLabels(l map[string]string) svcOption { return func(s *corev1.Service) { s.Labels = l } }

// ports is a shorthand for a list of Service ports.
func ports(p ...corev1.ServicePort) []corev1.ServicePort { return p }

// sport is a Service port; target is an int (targetPort number) or a string
// (container port name).
func sport(name string, target any, proto corev1.Protocol) corev1.ServicePort {
	sp := corev1.ServicePort{Name: name, Port: 80, Protocol: proto}
	switch t := target.(type) {
	case int:
		sp.TargetPort = intstr.FromInt32(int32(t)) //nolint:gosec // test values are small.
	case string:
		sp.TargetPort = intstr.FromString(t)
	default:
		panic(fmt.Sprintf("sport: target %T", target))
	}
	return sp
}

type podOption func(*corev1.Pod)

// pod returns a Running Pod on testNode with one container "app" serving
// "http" on 8080/TCP, and the IP ip (podIP and the one podIPs entry; none
// when ip is empty). Its UID is "uid-<name>" and its resourceVersion is set,
// so that tests can show it is not copied.
func pod(name, ip string, ready bool, opts ...podOption) *corev1.Pod {
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: testNamespace, UID: types.UID("uid-" + name),
			ResourceVersion: "42", Labels: map[string]string{"app": "web"},
		},
		Spec: corev1.PodSpec{
			NodeName: testNode,
			Containers: []corev1.Container{{
				Name:  "app",
				Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080, Protocol: tcp}},
			}},
		},
		Status: corev1.PodStatus{
			Phase:      corev1.PodRunning,
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: status}},
		},
	}
	if ip != "" {
		p.Status.PodIP = ip
		p.Status.PodIPs = []corev1.PodIP{{IP: ip}}
	}
	for _, o := range opts {
		o(p)
	}
	return p
}

// podIPs sets status.podIPs, and status.podIP to the first of them.
func podIPs(ips ...string) podOption {
	return func(p *corev1.Pod) {
		p.Status.PodIP, p.Status.PodIPs = "", nil
		for _, ip := range ips {
			p.Status.PodIPs = append(p.Status.PodIPs, corev1.PodIP{IP: ip})
		}
		if len(ips) > 0 {
			p.Status.PodIP = ips[0]
		}
	}
}

// containerPorts replaces the ports of the first container.
func containerPorts(cp ...corev1.ContainerPort) podOption {
	return func(p *corev1.Pod) { p.Spec.Containers[0].Ports = cp }
}

// addContainer appends a container with the given ports.
func addContainer(name string, cp ...corev1.ContainerPort) podOption {
	return func(p *corev1.Pod) {
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: name, Ports: cp})
	}
}

// initContainer appends an init container with the given ports; sidecar makes
// it a restartable (sidecar) container.
func initContainer(name string, sidecar bool, cp ...corev1.ContainerPort) podOption {
	return func(p *corev1.Pod) {
		c := corev1.Container{Name: name, Ports: cp}
		if sidecar {
			always := corev1.ContainerRestartPolicyAlways
			c.RestartPolicy = &always
		}
		p.Spec.InitContainers = append(p.Spec.InitContainers, c)
	}
}

func cport(name string, port int32, proto corev1.Protocol) corev1.ContainerPort {
	return corev1.ContainerPort{Name: name, ContainerPort: port, Protocol: proto}
}

func terminating() podOption {
	return func(p *corev1.Pod) {
		now := metav1.NewTime(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
		p.DeletionTimestamp = &now
	}
}

func phase(ph corev1.PodPhase) podOption { return func(p *corev1.Pod) { p.Status.Phase = ph } }

func hostname(host, subdomain string) podOption {
	return func(p *corev1.Pod) { p.Spec.Hostname, p.Spec.Subdomain = host, subdomain }
}

func nodeName(n string) podOption { return func(p *corev1.Pod) { p.Spec.NodeName = n } }

func inNamespace(ns string) podOption { return func(p *corev1.Pod) { p.Namespace = ns } }

func uid(u string) podOption { return func(p *corev1.Pod) { p.UID = types.UID(u) } }

// readySince sets the lastTransitionTime of the Ready condition.
func readySince(at time.Time) podOption {
	return func(p *corev1.Pod) {
		for i := range p.Status.Conditions {
			if p.Status.Conditions[i].Type == corev1.PodReady {
				p.Status.Conditions[i].LastTransitionTime = metav1.NewTime(at)
			}
		}
	}
}

func noConditions() podOption { return func(p *corev1.Pod) { p.Status.Conditions = nil } }

func pods(p ...*corev1.Pod) []*corev1.Pod { return p }

// addr is the address Compute publishes for pod(name, ...) with default options.
func addr(ip, podName string) corev1.EndpointAddress {
	node := testNode
	return corev1.EndpointAddress{
		IP:       ip,
		NodeName: &node,
		TargetRef: &corev1.ObjectReference{
			Kind: "Pod", Namespace: testNamespace, Name: podName, UID: types.UID("uid-" + podName),
		},
	}
}

// addrHost is addr with a hostname.
func addrHost(ip, podName, host string) corev1.EndpointAddress {
	a := addr(ip, podName)
	a.Hostname = host
	return a
}

func addrs(a ...corev1.EndpointAddress) []corev1.EndpointAddress { return a }

func eport(name string, port int32, proto corev1.Protocol) corev1.EndpointPort {
	return corev1.EndpointPort{Name: name, Port: port, Protocol: proto}
}

func eports(p ...corev1.EndpointPort) []corev1.EndpointPort { return p }

func strPtr(s string) *string { return &s }

// checkEqual fails the test with a readable diff when got and want differ
// in any way, nil and empty slices included.
func checkEqual(t *testing.T, what string, got, want any) {
	t.Helper()
	if reflect.DeepEqual(got, want) {
		return
	}
	d := diff.Diff(want, got)
	if d == "" {
		// The JSON forms agree: a nil/empty or pointer difference.
		d = fmt.Sprintf("want: %#v\n got: %#v", want, got)
	}
	t.Errorf("%s differ (-want +got):\n%s", what, d)
}

// ipFor returns a distinct IPv4 address in 10.0.0.0/8 for each i below 2^24.
func ipFor(i int) string {
	return fmt.Sprintf("10.%d.%d.%d", (i>>16)&255, (i>>8)&255, i&255)
}
