// Package operator holds the tests of what an operator installs and watches:
// the Helm chart in dist/chart and the Grafana dashboard and Prometheus alerts
// in config/monitoring. It is a module of its own, so that Helm's and
// Prometheus's dependencies stay out of the controller's go.mod.
package operator
