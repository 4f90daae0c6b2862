package realcluster

import (
	"fmt"
	"time"
)

// kwokConfig returns kwok's --config: the Stages that play the kubelet.
//
//   - node-ready: a new Node reports Ready, an internal IP and its resources
//     (kwok then renews its Lease, so the node lifecycle controller keeps it
//     Ready and untainted).
//   - pod-started: a scheduled Pod gets its IP and runs, not yet ready (a
//     sandbox and containers starting take a moment: 1/4 of the ready delay).
//   - pod-ready: readyDelay later (up to 1.5 times, spread), its readiness
//     probe passes.
//   - pod-gone: a deleted Pod stays terminating for deleteDelay, then is
//     removed (its containers stopped).
//
// Pods that never get their IP, crash or complete are not simulated: the
// rollouts of the tests need none.
func kwokConfig(readyDelay, deleteDelay time.Duration) string {
	ms := func(d time.Duration) int64 { return d.Milliseconds() }
	return fmt.Sprintf(kwokStages,
		ms(readyDelay/4), ms(readyDelay/2),
		ms(readyDelay), ms(readyDelay*3/2),
		ms(deleteDelay))
}

// kwokStages is written for this project from kwok's Stage API
// (kwok.x-k8s.io/v1alpha1): selectors are jq-like expressions over the
// object, statusTemplate is a Go template whose output is merged into the
// status. NodeIPsWith and PodIPsWith are kwok's address allocators (Pod IPs
// from the Node's podCIDR).
const kwokStages = `apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: node-ready
spec:
  resourceRef:
    apiGroup: v1
    kind: Node
  selector:
    matchExpressions:
    - key: '.status.conditions.[] | select( .type == "Ready" ) | .status'
      operator: 'NotIn'
      values: ['True']
  next:
    statusTemplate: |
      {{ $now := Now }}
      conditions:
      - type: Ready
        status: "True"
        reason: KubeletReady
        message: simulated by kwok
        lastHeartbeatTime: {{ $now | Quote }}
        lastTransitionTime: {{ $now | Quote }}
      {{ with NodeIP }}
      addresses:
      - type: InternalIP
        address: {{ . | Quote }}
      {{ end }}
      allocatable:
        cpu: "1000"
        memory: 1Ti
        pods: "1000"
      capacity:
        cpu: "1000"
        memory: 1Ti
        pods: "1000"
      phase: Running
---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: pod-started
spec:
  resourceRef:
    apiGroup: v1
    kind: Pod
  selector:
    matchExpressions:
    - key: '.metadata.deletionTimestamp'
      operator: 'DoesNotExist'
    - key: '.status.podIP'
      operator: 'DoesNotExist'
  delay:
    durationMilliseconds: %d
    jitterDurationMilliseconds: %d
  next:
    statusTemplate: |
      {{ $now := Now }}
      conditions:
      - type: PodScheduled
        status: "True"
        lastTransitionTime: {{ $now | Quote }}
      - type: Initialized
        status: "True"
        lastTransitionTime: {{ $now | Quote }}
      - type: ContainersReady
        status: "False"
        reason: ContainersNotReady
        lastTransitionTime: {{ $now | Quote }}
      - type: Ready
        status: "False"
        reason: ContainersNotReady
        lastTransitionTime: {{ $now | Quote }}
      containerStatuses:
      {{ range .spec.containers }}
      - name: {{ .name | Quote }}
        image: {{ .image | Quote }}
        ready: false
        started: true
        restartCount: 0
        state:
          running:
            startedAt: {{ $now | Quote }}
      {{ end }}
      {{ with NodeIPsWith .spec.nodeName }}
      hostIP: {{ index . 0 | Quote }}
      hostIPs:
      {{ range . }}
      - ip: {{ . | Quote }}
      {{ end }}
      {{ end }}
      {{ $m := .metadata }}
      {{ with PodIPsWith .spec.nodeName ( or .spec.hostNetwork false ) ( or $m.uid "" ) ( or $m.name "" ) ( or $m.namespace "" ) }}
      podIP: {{ index . 0 | Quote }}
      podIPs:
      {{ range . }}
      - ip: {{ . | Quote }}
      {{ end }}
      {{ end }}
      phase: Running
      startTime: {{ $now | Quote }}
---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: pod-ready
spec:
  resourceRef:
    apiGroup: v1
    kind: Pod
  selector:
    matchExpressions:
    - key: '.metadata.deletionTimestamp'
      operator: 'DoesNotExist'
    - key: '.status.podIP'
      operator: 'Exists'
    - key: '.status.conditions.[] | select( .type == "Ready" ) | .status'
      operator: 'NotIn'
      values: ['True']
  delay:
    durationMilliseconds: %d
    jitterDurationMilliseconds: %d
  next:
    statusTemplate: |
      {{ $now := Now }}
      conditions:
      - type: PodScheduled
        status: "True"
        lastTransitionTime: {{ $now | Quote }}
      - type: Initialized
        status: "True"
        lastTransitionTime: {{ $now | Quote }}
      - type: ContainersReady
        status: "True"
        lastTransitionTime: {{ $now | Quote }}
      - type: Ready
        status: "True"
        lastTransitionTime: {{ $now | Quote }}
      containerStatuses:
      {{ range .spec.containers }}
      - name: {{ .name | Quote }}
        image: {{ .image | Quote }}
        ready: true
        started: true
        restartCount: 0
        state:
          running:
            startedAt: {{ $now | Quote }}
      {{ end }}
---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: pod-gone
spec:
  resourceRef:
    apiGroup: v1
    kind: Pod
  selector:
    matchExpressions:
    - key: '.metadata.deletionTimestamp'
      operator: 'Exists'
    - key: '.metadata.finalizers'
      operator: 'DoesNotExist'
  delay:
    durationMilliseconds: %d
  next:
    delete: true
`
