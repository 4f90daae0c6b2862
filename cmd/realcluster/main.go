// Command realcluster runs the controller in the realistic local cluster of
// internal/realcluster (kube-apiserver, kube-scheduler, kube-controller-manager
// without its endpoints controller, kwok Nodes) with a demo Deployment that
// rolls every --roll-every, until interrupted: `make run-cluster`.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"

	"github.com/kube-endpoints/endpoints-controller/internal/realcluster"
)

// The demo's namespace, and the name of its Service and Deployment.
const (
	demoNamespace = "demo"
	demoName      = "web"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "Error:", err)
		os.Exit(1)
	}
}

func run() error {
	fs := flag.NewFlagSet("realcluster", flag.ContinueOnError)
	assets := fs.String("assets", os.Getenv("KUBEBUILDER_ASSETS"),
		"Directory of etcd, kube-apiserver, kube-scheduler, kube-controller-manager and kwok (make run-cluster builds them).")
	controller := fs.String("controller", "bin/endpoints-controller", "The controller's binary.")
	dir := fs.String("dir", ".local/realcluster", "Directory for the kubeconfig and the components' logs.")
	nodes := fs.Int("nodes", 3, "kwok Nodes.")
	replicas := fs.Int("replicas", 4, "Replicas of the demo Deployment.")
	rollEvery := fs.Duration("roll-every", 30*time.Second, "How often the demo Deployment rolls; 0 never.")
	if err := fs.Parse(os.Args[1:]); err != nil {
		os.Exit(2)
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "realcluster: unexpected argument %q\n", fs.Arg(0))
		os.Exit(2)
	}
	if *nodes < 1 || *replicas < 1 || *rollEvery < 0 {
		fmt.Fprintln(os.Stderr, "realcluster: --nodes and --replicas must be at least 1, --roll-every not negative")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	abs, err := filepath.Abs(*dir)
	if err != nil {
		return err
	}
	if err := os.RemoveAll(abs); err != nil {
		return err
	}
	fmt.Printf("Starting the realistic cluster (%d kwok Nodes); logs in %s\n", *nodes, abs)
	cluster, err := realcluster.Start(ctx, realcluster.Options{AssetsDir: *assets, Dir: abs, Nodes: *nodes})
	if err != nil {
		return err
	}
	defer func() {
		fmt.Println("Stopping the cluster")
		_ = cluster.Stop()
	}()
	ctrl := exec.CommandContext(ctx, *controller, "--kubeconfig="+cluster.KubeconfigPath, "--metrics-bind-address=127.0.0.1:8080",
		"--metrics-secure=false", "--health-probe-bind-address=127.0.0.1:8081")
	ctrl.Stdout, ctrl.Stderr = os.Stdout, os.Stderr
	ctrl.Cancel = func() error { return ctrl.Process.Signal(syscall.SIGTERM) }
	ctrl.WaitDelay = 20 * time.Second
	if err := ctrl.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", *controller, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- ctrl.Wait() }()
	if err := demo(ctx, cluster.Client, int32(*replicas)); err != nil {
		return err
	}
	fmt.Printf("\nThe cluster runs. Try:\n  export KUBECONFIG=%s\n  kubectl get endpoints,endpointslices,pods -n %s -o wide -w\n"+
		"  metrics: http://127.0.0.1:8080/metrics\nThe demo Deployment rolls every %s. Ctrl-C stops everything.\n\n",
		cluster.KubeconfigPath, demoNamespace, *rollEvery)
	var tick <-chan time.Time
	if *rollEvery > 0 {
		t := time.NewTicker(*rollEvery)
		defer t.Stop()
		tick = t.C
	}
	for round := 1; ; round++ {
		select {
		case <-ctx.Done():
			if err := <-exited; err != nil {
				fmt.Fprintln(os.Stderr, "The controller stopped:", err)
			}
			return nil
		case err := <-exited:
			return fmt.Errorf("the controller exited: %w", err)
		case <-tick:
			if err := roll(ctx, cluster.Client, round); err != nil && !errors.Is(err, context.Canceled) {
				fmt.Fprintln(os.Stderr, "Rolling the demo Deployment:", err)
			}
		}
	}
}

// demo creates namespace demo with a Service and a Deployment behind it.
func demo(ctx context.Context, cs kubernetes.Interface, replicas int32) error {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: demoNamespace}}
	if _, err := cs.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	labels := map[string]string{"app": demoName}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: demoName, Namespace: demoNamespace},
		Spec: corev1.ServiceSpec{Selector: labels, Ports: []corev1.ServicePort{
			{Name: "http", Port: 80, TargetPort: intstr.FromString("http")},
		}},
	}
	if _, err := cs.CoreV1().Services(demoNamespace).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("creating the demo Service: %w", err)
	}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: demoName, Namespace: demoNamespace},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: demoName, Image: "registry.example/web:1",
					Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
				}}},
			},
		},
	}
	if _, err := cs.AppsV1().Deployments(demoNamespace).Create(ctx, d, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("creating the demo Deployment: %w", err)
	}
	return nil
}

// roll starts a rolling update of the demo Deployment.
func roll(ctx context.Context, cs kubernetes.Interface, round int) error {
	d, err := cs.AppsV1().Deployments(demoNamespace).Get(ctx, demoName, metav1.GetOptions{})
	if err != nil {
		return err
	}
	d.Spec.Template.Annotations = map[string]string{"demo/round": strconv.Itoa(round)}
	if _, err := cs.AppsV1().Deployments(demoNamespace).Update(ctx, d, metav1.UpdateOptions{}); err != nil {
		return err
	}
	fmt.Printf("Rolling the demo Deployment (round %d)\n", round)
	return nil
}
