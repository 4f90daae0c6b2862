package main

import (
	"errors"
	"fmt"
	"os"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// loadConfig returns the config of the cluster to manage, in the order of
// controller-runtime's ctrl.GetConfig: --kubeconfig, $KUBECONFIG, the
// in-cluster config, ~/.kube/config. Unlike ctrl.GetConfig it logs nothing:
// a missing kubeconfig is one error line, not an error log with a stack
// trace before it. explicit is --kubeconfig.
func loadConfig(explicit string) (*rest.Config, error) {
	cfg, err := clusterConfig(explicit)
	if err != nil {
		return nil, err
	}
	// No client-side rate limit unless --kube-api-qps: the API server's
	// priority and fairness decides (as controller-runtime's GetConfig).
	if cfg.QPS == 0 {
		cfg.QPS = -1
	}
	return cfg, nil
}

// clusterConfig resolves the config; explicit is --kubeconfig.
func clusterConfig(explicit string) (*rest.Config, error) {
	if explicit != "" {
		if _, err := os.Stat(explicit); err != nil {
			return nil, fmt.Errorf("--kubeconfig: %w", err)
		}
		cfg, err := clientcmd.BuildConfigFromFlags("", explicit)
		if err != nil {
			return nil, fmt.Errorf("--kubeconfig %s: %w", explicit, err)
		}
		return cfg, nil
	}
	if os.Getenv(clientcmd.RecommendedConfigPathEnvVar) == "" {
		if cfg, err := rest.InClusterConfig(); err == nil {
			return cfg, nil
		}
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).ClientConfig()
	if clientcmd.IsEmptyConfig(err) || errors.Is(err, clientcmd.ErrEmptyConfig) {
		return nil, errors.New("no cluster configured: none of --kubeconfig, $KUBECONFIG, the in-cluster config or ~/.kube/config")
	}
	if err != nil {
		return nil, fmt.Errorf("loading kubeconfig: %w", err)
	}
	return cfg, nil
}
