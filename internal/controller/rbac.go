package controller

// The controller's permissions, least privilege: it reads Services and Pods,
// owns Endpoints, reports through Events and elects its leader with a Lease.
// `make manifests` turns these markers into config/rbac/role.yaml. Events
// are recorded through the events.k8s.io API only (the manager's
// GetEventRecorder), so the core group's events are not granted (issue 16);
// the Lease's Role is config/rbac/leader_election_role.yaml.

// +kubebuilder:rbac:groups="",resources=services;pods,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=endpoints,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
