# endpoints-controller Makefile, in the kubebuilder layout.

# Image for docker-build and deploy.
IMG ?= endpoints-controller:latest

# gomodver prints the version of module $(2) that go.mod file $(1) requires.
gomodver = $(shell awk '$$1 == "$(2)" && $$2 ~ /^v/ { print $$2; exit }' $(1))

# Kubernetes version of the control plane built for envtest and `make run`: the
# k8s.io/kubernetes that the tools module hack/envtest builds it from.
ENVTEST_K8S_VERSION ?= $(patsubst v%,%,$(call gomodver,hack/envtest/go.mod,k8s.io/kubernetes))

GOOS ?= $(shell go env GOOS)
GOARCH ?= $(shell go env GOARCH)

SHELL = /usr/bin/env bash -o pipefail
.SHELLFLAGS = -ec

.PHONY: all
all: build

##@ General

.PHONY: help
help: ## Display this help.
	@awk 'BEGIN {FS = ":.*##"; printf "\nUsage:\n  make \033[36m<target>\033[0m\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) } ' $(MAKEFILE_LIST)

##@ Development

.PHONY: manifests
manifests: controller-gen ## Generate the RBAC ClusterRole from the +kubebuilder:rbac markers.
	"$(CONTROLLER_GEN)" rbac:roleName=manager-role paths="./internal/controller/..." output:rbac:artifacts:config=config/rbac

.PHONY: fmt
fmt: ## Run go fmt against code.
	go fmt ./...

.PHONY: vet
vet: ## Run go vet against code.
	go vet ./...

.PHONY: lint
lint: golangci-lint ## Run golangci-lint.
	"$(GOLANGCI_LINT)" run

.PHONY: lint-fix
lint-fix: golangci-lint ## Run golangci-lint and fix what it can.
	"$(GOLANGCI_LINT)" run --fix

# FUZZTIME bounds the short fuzz run that `make test` does; `make fuzz` runs longer.
FUZZTIME ?= 20s

.PHONY: test
test: vet envtest realcluster kustomize controller-gen ## Run unit, envtest and end-to-end tests (the rollout test in the realistic cluster too), and a short fuzz run.
	@# The rollout test runs beside the others, verbose, so that its latency table is printed.
	KUBEBUILDER_ASSETS="$(ENVTEST_ASSETS)" go test ./test/rollout/ -count=1 -v -timeout 30m > "$(LOCALBIN)/rollout-test.log" 2>&1 & \
	rollout=$$!; \
	KUBEBUILDER_ASSETS="$(ENVTEST_ASSETS)" go test $$(go list ./... | grep -v '/test/rollout$$') -count=1 -coverprofile cover.out; \
	status=$$?; wait $$rollout; rollout_status=$$?; \
	echo "--- the rollout test (test/rollout), its output:"; cat "$(LOCALBIN)/rollout-test.log"; \
	test $$status -eq 0 && test $$rollout_status -eq 0
	cd test/operator && KUSTOMIZE="$(KUSTOMIZE)" KUBEBUILDER_ASSETS="$(ENVTEST_ASSETS)" go test ./... -count=1 -timeout 30m
	$(MAKE) --no-print-directory test-k8s-oldest
	go test ./internal/endpoints -run '^$$' -fuzz '^FuzzCompute$$' -fuzztime $(FUZZTIME)

# The oldest supported Kubernetes minor: the k8s.io/kubernetes of the tools
# module hack/envtest-1.33, whose etcd and kube-apiserver are built from source
# as those of ENVTEST_K8S_VERSION are. `make test` runs OLDEST_TEST_PKGS (the
# controller's envtest suite, its take-over tests included) against it too.
ENVTEST_K8S_OLDEST_VERSION ?= $(patsubst v%,%,$(call gomodver,hack/envtest-1.33/go.mod,k8s.io/kubernetes))
ENVTEST_OLDEST_ASSETS ?= $(LOCALBIN)/k8s/$(ENVTEST_K8S_OLDEST_VERSION)-$(GOOS)-$(GOARCH)
OLDEST_TEST_PKGS ?= ./internal/controller/...
# Left out against 1.33 only: there kube-apiserver itself deletes a Service's
# Endpoints with the Service (measured: the user's Endpoints of a selectorless
# Service are gone although this controller never deleted them), so spec 1.2's
# "unlabelled Endpoints survive their Service" cannot hold on that server.
OLDEST_TEST_SKIP ?= ^TestUnmanagedEndpointsKeptWhenServiceDeleted$$

.PHONY: test-k8s-oldest
test-k8s-oldest: envtest-oldest ## Run the controller's envtest suite against the oldest supported Kubernetes (hack/envtest-1.33).
	KUBEBUILDER_ASSETS="$(ENVTEST_OLDEST_ASSETS)" go test $(OLDEST_TEST_PKGS) -count=1 -skip '$(OLDEST_TEST_SKIP)'

.PHONY: helm-lint
helm-lint: ## Lint the Helm chart in dist/chart with Helm's linter (strict), through Helm's Go library.
	cd test/operator && go run ./helmlint ../../dist/chart

.PHONY: test-unit
test-unit: ## Run the unit tests only (no control plane needed).
	go test ./internal/...

.PHONY: test-e2e
test-e2e: envtest kube-controller-manager build ## Run the end-to-end tests of the built binary (leader election, failover, hand-back to kube-controller-manager).
	KUBEBUILDER_ASSETS="$(ENVTEST_ASSETS)" go test ./test/e2e/... -count=1 -v

# ROLLOUT_DEPLOYMENTS and ROLLOUT_REPLICAS size the rollout test (10 x 6 in make test).
.PHONY: test-rollout
test-rollout: realcluster ## Run the rollout test alone: Deployments rolled in the realistic cluster, Endpoints vs EndpointSlices.
	KUBEBUILDER_ASSETS="$(ENVTEST_ASSETS)" go test ./test/rollout/ -count=1 -v -timeout 30m

.PHONY: bench-rollout
bench-rollout: realcluster build ## Rollout latency side by side: KCM's endpoints controller vs this controller, each beside KCM's EndpointSlice controller.
	KUBEBUILDER_ASSETS="$(ENVTEST_ASSETS)" go run ./test/bench --controller "$(LOCALBIN)/endpoints-controller" \
		--rollout "$(ROLLOUT_SIZE)" --runs $(BENCH_RUNS) $(BENCH_ARGS)

# ROLLOUT_SIZE is the load of `make bench-rollout`: DEPLOYMENTSxREPLICAS.
ROLLOUT_SIZE ?= 20x10

.PHONY: fuzz
fuzz: ## Fuzz the Endpoints computation for FUZZTIME (default 20s; try FUZZTIME=10m).
	go test ./internal/endpoints -run '^$$' -fuzz '^FuzzCompute$$' -fuzztime $(FUZZTIME)

.PHONY: bench
bench: envtest ## Run the micro-benchmarks (Endpoints computation, index lookups, steady-state sync).
	KUBEBUILDER_ASSETS="$(ENVTEST_ASSETS)" go test ./internal/... -run '^$$' -bench . -benchmem

# BENCH_SIZES are the loads of `make bench-e2e`: SERVICESxPODS[/NAMESPACES].
BENCH_SIZES ?= 200x25,1000x10,2000x25
BENCH_RUNS ?= 2
BENCH_ARGS ?=

.PHONY: bench-e2e
bench-e2e: envtest build kube-controller-manager ## Side-by-side benchmark against kube-controller-manager's endpoints controller (not part of test).
	KUBEBUILDER_ASSETS="$(ENVTEST_ASSETS)" go run ./test/bench --controller "$(LOCALBIN)/endpoints-controller" \
		--sizes "$(BENCH_SIZES)" --runs $(BENCH_RUNS) $(BENCH_ARGS)

##@ Build

# VERSION and REVISION are stamped into the binary (--version, the start-up log,
# endpoints_controller_build_info) and into the image's OCI labels. The version
# has one source, the VERSION file (also the chart's and install.yaml's).
VERSION ?= $(shell cat VERSION)
REVISION ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
VERSION_PKG = github.com/kube-endpoints/endpoints-controller/internal/version
LDFLAGS = -X $(VERSION_PKG).Version=$(VERSION) -X $(VERSION_PKG).Revision=$(REVISION)

.PHONY: build
build: ## Build the controller binary as bin/endpoints-controller, with VERSION and REVISION stamped in.
	go build -ldflags "$(LDFLAGS)" -o "$(LOCALBIN)/endpoints-controller" ./cmd/endpoints-controller

# ARGS are passed to the controller by `make run`, e.g. ARGS="--demo=static --dry-run".
ARGS ?=

# `make run` builds only what it runs: devrun first checks the configured
# cluster (as the binary resolves it: --kubeconfig, KUBECONFIG, in-cluster,
# ~/.kube/config); only when there is none are the control plane binaries
# fetched or built. A broken or unreachable cluster fails here, naming its
# kubeconfig.
.PHONY: run
run: | $(LOCALBIN) ## Run the controller: against the configured cluster in shadow mode (ARGS=--dry-run=false writes), else a local demo.
	@go build -o "$(LOCALBIN)/devrun" ./cmd/devrun
	@cluster="$$("$(LOCALBIN)/devrun" --check-cluster $(ARGS))"; \
	if [ "$$cluster" = none ]; then $(MAKE) --no-print-directory envtest kubectl; fi; \
	KUBEBUILDER_ASSETS="$(ENVTEST_ASSETS)" exec "$(LOCALBIN)/devrun" $(ARGS)

# `make run-cluster` runs the controller in the realistic local cluster
# (kube-scheduler, KCM without its endpoints controller, kwok Nodes) with a
# Deployment that rolls every 30 s. Its binaries are built on first use (a
# cold build takes several minutes). RUN_CLUSTER_ARGS: see go run ./cmd/realcluster --help.
RUN_CLUSTER_ARGS ?=

.PHONY: run-cluster
run-cluster: realcluster build ## Run the controller in a realistic local cluster (scheduler, KCM, kwok Nodes) with a rolling demo Deployment.
	KUBEBUILDER_ASSETS="$(ENVTEST_ASSETS)" go run ./cmd/realcluster --controller "$(LOCALBIN)/endpoints-controller" $(RUN_CLUSTER_ARGS)

# `make demo` always starts the local control plane and the demo, even when a
# cluster is configured.
.PHONY: demo
demo: | $(LOCALBIN) ## Run the controller against a local control plane with a live demo, whatever cluster is configured.
	@go build -o "$(LOCALBIN)/devrun" ./cmd/devrun
	@$(MAKE) --no-print-directory envtest kubectl
	KUBEBUILDER_ASSETS="$(ENVTEST_ASSETS)" exec "$(LOCALBIN)/devrun" --local $(ARGS)

.PHONY: docker-build
docker-build: ## Build the controller image.
	$(CONTAINER_TOOL) build --build-arg VERSION=$(VERSION) --build-arg REVISION=$(REVISION) -t $(IMG) .

.PHONY: docker-push
docker-push: ## Push the controller image.
	$(CONTAINER_TOOL) push $(IMG)

CONTAINER_TOOL ?= docker

##@ Release

# RELEASE_DIR receives the artifacts of `make release` (git-ignored; dist/chart
# is the chart's source). The version is the VERSION file's.
RELEASE_DIR ?= $(CURDIR)/dist/release
RELEASE_PLATFORMS ?= linux/amd64,linux/arm64
# IMAGE_REPOSITORY names the image in the OCI archive and install.yaml; the
# tag is the version. Unqualified, it is found once loaded into a node's
# container runtime (kind load image-archive, ctr import, docker load).
IMAGE_REPOSITORY ?= endpoints-controller
# The release tool lives in test/operator, beside the chart tests, so that Helm
# and go-containerregistry stay out of the controller's go.mod.
RELEASE_TOOL = cd test/operator && go run ./release --root ../.. --out "$(RELEASE_DIR)" \
	--kustomize "$(KUSTOMIZE)" --platforms "$(RELEASE_PLATFORMS)" --image-repository "$(IMAGE_REPOSITORY)"

.PHONY: release
release: kustomize ## Build every artifact of VERSION into dist/release: binaries, SHA256SUMS, install.yaml, chart, OCI image, SBOM (clean tree only).
	$(RELEASE_TOOL) --require-clean

.PHONY: build-installer
build-installer: kustomize ## Generate dist/release/install.yaml from config/default, with the image of VERSION.
	$(RELEASE_TOOL) --only installer

##@ Deployment

.PHONY: deploy
deploy: kustomize ## Deploy the controller to the cluster in KUBECONFIG.
	cd config/manager && "$(KUSTOMIZE)" edit set image controller=$(IMG)
	"$(KUSTOMIZE)" build config/default | kubectl apply -f -

.PHONY: undeploy
undeploy: kustomize ## Remove the controller from the cluster in KUBECONFIG.
	"$(KUSTOMIZE)" build config/default | kubectl delete --ignore-not-found -f -

##@ Dependencies

LOCALBIN ?= $(CURDIR)/bin
$(LOCALBIN):
	mkdir -p "$(LOCALBIN)"

CONTROLLER_GEN ?= $(LOCALBIN)/controller-gen
KUSTOMIZE ?= $(LOCALBIN)/kustomize
GOLANGCI_LINT ?= $(LOCALBIN)/golangci-lint

CONTROLLER_TOOLS_VERSION ?= v0.23.0
# kustomize v5.8.3 needs go >= 1.27; v5.8.2 is the newest that builds with our go 1.26.
KUSTOMIZE_VERSION ?= v5.8.2
GOLANGCI_LINT_VERSION ?= v2.15.0

# The control plane (etcd, kube-apiserver, kubectl) for envtest and `make run`
# comes from setup-envtest (prebuilt downloads, the kubebuilder way) and, when
# that fails (downloads blocked), is built from source by the tools module in
# hack/envtest (several minutes cold); hack/envtest-binaries.sh says which.
# Either way it lands in bin/k8s/<version>-<os>-<arch>, KUBEBUILDER_ASSETS.
# ENVTEST_NO_DOWNLOAD=true skips setup-envtest.
ENVTEST_ASSETS ?= $(LOCALBIN)/k8s/$(ENVTEST_K8S_VERSION)-$(GOOS)-$(GOARCH)
# setup-envtest of controller-runtime's minor (v0.25.2 -> v0.25: the newest
# v0.25.x), as kubebuilder derives it; its release branches are not served by
# the module proxy, its tags are.
SETUP_ENVTEST_VERSION ?= $(shell echo '$(call gomodver,go.mod,sigs.k8s.io/controller-runtime)' | sed -E 's/^(v[0-9]+\.[0-9]+)\..*/\1/')
ENVTEST_BINARIES = ENVTEST_ASSETS="$(ENVTEST_ASSETS)" ENVTEST_K8S_VERSION="$(ENVTEST_K8S_VERSION)" \
	LOCALBIN="$(LOCALBIN)" SETUP_ENVTEST_VERSION="$(SETUP_ENVTEST_VERSION)" hack/envtest-binaries.sh

.PHONY: envtest
envtest: | $(LOCALBIN) ## Get etcd and kube-apiserver for envtest into bin/k8s: setup-envtest, else built from source.
	@$(ENVTEST_BINARIES) etcd kube-apiserver

.PHONY: envtest-oldest
envtest-oldest: | $(LOCALBIN) ## Get etcd and kube-apiserver of ENVTEST_K8S_OLDEST_VERSION into bin/k8s, as `make envtest` does.
	@ENVTEST_ASSETS="$(ENVTEST_OLDEST_ASSETS)" ENVTEST_K8S_VERSION="$(ENVTEST_K8S_OLDEST_VERSION)" ENVTEST_MODULE=hack/envtest-1.33 \
		LOCALBIN="$(LOCALBIN)" SETUP_ENVTEST_VERSION="$(SETUP_ENVTEST_VERSION)" hack/envtest-binaries.sh etcd kube-apiserver

.PHONY: kubectl
kubectl: | $(LOCALBIN) ## Get kubectl beside the envtest binaries.
	@$(ENVTEST_BINARIES) kubectl

.PHONY: kube-controller-manager
kube-controller-manager: $(ENVTEST_ASSETS)/kube-controller-manager ## Build kube-controller-manager: the baseline of bench-e2e, and the hand-back test of test-e2e.

$(ENVTEST_ASSETS)/kube-controller-manager: | hack/envtest/go.mod
	@echo "Building kube-controller-manager $(ENVTEST_K8S_VERSION) for bench-e2e (a cold build takes several minutes)"
	cd hack/envtest && go build -trimpath -o "$@.tmp" k8s.io/kubernetes/cmd/kube-controller-manager && mv "$@.tmp" "$@"

# The realistic cluster (internal/realcluster): kube-scheduler and kwok beside
# kube-controller-manager, all built from source through the Go module proxy.
.PHONY: kube-scheduler
kube-scheduler: $(ENVTEST_ASSETS)/kube-scheduler ## Build kube-scheduler for the realistic cluster.

$(ENVTEST_ASSETS)/kube-scheduler: | hack/envtest/go.mod
	@echo "Building kube-scheduler $(ENVTEST_K8S_VERSION) for the realistic cluster (a cold build takes a few minutes)"
	cd hack/envtest && go build -trimpath -o "$@.tmp" k8s.io/kubernetes/cmd/kube-scheduler && mv "$@.tmp" "$@"

.PHONY: kwok
kwok: $(ENVTEST_ASSETS)/kwok ## Build kwok (simulated Nodes and kubelets) for the realistic cluster.

$(ENVTEST_ASSETS)/kwok: hack/kwok/go.mod
	@echo "Building kwok $$(cd hack/kwok && go list -m -f '{{.Version}}' sigs.k8s.io/kwok) for the realistic cluster"
	cd hack/kwok && go build -trimpath -o "$@.tmp" sigs.k8s.io/kwok/cmd/kwok && mv "$@.tmp" "$@"

.PHONY: realcluster
realcluster: envtest kube-controller-manager kube-scheduler kwok ## Build every binary of the realistic cluster (etcd, kube-apiserver, kube-scheduler, KCM, kwok).

.PHONY: controller-gen
controller-gen: $(CONTROLLER_GEN) ## Install controller-gen under bin/.
$(CONTROLLER_GEN): | $(LOCALBIN)
	$(call go-install-tool,$(CONTROLLER_GEN),sigs.k8s.io/controller-tools/cmd/controller-gen,$(CONTROLLER_TOOLS_VERSION))

.PHONY: kustomize
kustomize: $(KUSTOMIZE) ## Install kustomize under bin/.
$(KUSTOMIZE): | $(LOCALBIN)
	$(call go-install-tool,$(KUSTOMIZE),sigs.k8s.io/kustomize/kustomize/v5,$(KUSTOMIZE_VERSION))

.PHONY: golangci-lint
golangci-lint: $(GOLANGCI_LINT) ## Install golangci-lint under bin/.
$(GOLANGCI_LINT): | $(LOCALBIN)
	$(call go-install-tool,$(GOLANGCI_LINT),github.com/golangci/golangci-lint/v2/cmd/golangci-lint,$(GOLANGCI_LINT_VERSION))

# go-install-tool installs package $2 at version $3 as $1, keeping the version in
# the file name so that a version bump installs afresh.
define go-install-tool
@[ -f "$(1)-$(3)" ] && [ "$$(readlink -- "$(1)" 2>/dev/null)" = "$(notdir $(1))-$(3)" ] || { \
set -e; \
package=$(2)@$(3) ;\
echo "Downloading $${package}" ;\
rm -f "$(1)" ;\
GOBIN="$(LOCALBIN)" go install $${package} ;\
mv "$(LOCALBIN)/$$(basename "$(1)")" "$(1)-$(3)" ;\
} ;\
ln -sf "$$(basename "$(1)")-$(3)" "$(1)"
endef
