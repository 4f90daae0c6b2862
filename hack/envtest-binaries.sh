#!/usr/bin/env bash
# Puts the envtest control plane binaries named as arguments (etcd,
# kube-apiserver, kubectl) into ENVTEST_ASSETS, the layout setup-envtest uses
# (bin/k8s/<version>-<os>-<arch>), so that KUBEBUILDER_ASSETS points there:
#
#   1. already there: nothing to do;
#   2. setup-envtest (the kubebuilder way: installed through the Go module
#      proxy, downloads prebuilt binaries of ENVTEST_K8S_VERSION in seconds);
#   3. when that fails (downloads blocked, version not published), the build
#      from source by the tools module ENVTEST_MODULE (default hack/envtest;
#      hack/envtest-1.33 for the oldest supported Kubernetes) (minutes, cold).
#
# One line says which path was taken. Called by `make envtest` and `make kubectl`.
set -euo pipefail

: "${ENVTEST_ASSETS:?}" "${ENVTEST_K8S_VERSION:?}" "${LOCALBIN:?}" "${SETUP_ENVTEST_VERSION:?}"
# How long setup-envtest may take before the source build takes over: a
# blocked network must not hang `make test`, a slow one still gets through.
SETUP_ENVTEST_TIMEOUT="${SETUP_ENVTEST_TIMEOUT:-300}"

missing() {
	local b
	for b in "$@"; do
		[ -x "$ENVTEST_ASSETS/$b" ] || echo "$b"
	done
}

want=("$@")
[ -n "$(missing "${want[@]}")" ] || exit 0

# 2. setup-envtest, installed through the Go module proxy.
setup_envtest="$LOCALBIN/setup-envtest-$SETUP_ENVTEST_VERSION"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
if [ "${ENVTEST_NO_DOWNLOAD:-}" != "true" ]; then
	if [ ! -x "$setup_envtest" ]; then
		GOBIN="$LOCALBIN" go install "sigs.k8s.io/controller-runtime/tools/setup-envtest@$SETUP_ENVTEST_VERSION" >"$log" 2>&1 &&
			mv "$LOCALBIN/setup-envtest" "$setup_envtest" || true
	fi
	run_timeout=()
	if command -v timeout >/dev/null; then
		run_timeout=(timeout "$SETUP_ENVTEST_TIMEOUT")
	fi
	if [ -x "$setup_envtest" ] &&
		"${run_timeout[@]}" "$setup_envtest" use "$ENVTEST_K8S_VERSION" --bin-dir "$LOCALBIN" -p path >"$log" 2>&1; then
		if [ -z "$(missing "${want[@]}")" ]; then
			echo "Envtest binaries: downloaded by setup-envtest into $ENVTEST_ASSETS"
			exit 0
		fi
		reason="$ENVTEST_ASSETS lacks $(missing "${want[@]}" | xargs)"
	else
		reason="$(tail -n 1 "$log" | cut -c 1-200)"
	fi
	echo "Envtest binaries: setup-envtest failed (${reason:-no output}); building them from source in ${ENVTEST_MODULE:-hack/envtest} instead (several minutes, once)"
else
	echo "Envtest binaries: building them from source in ${ENVTEST_MODULE:-hack/envtest} (ENVTEST_NO_DOWNLOAD=true; several minutes, once)"
fi

# 3. Build from source what is still missing.
mkdir -p "$ENVTEST_ASSETS"
module="${ENVTEST_MODULE:-hack/envtest}"
cd "$(dirname "$0")/../$module"
for b in $(missing "${want[@]}"); do
	case "$b" in
	etcd) pkg=go.etcd.io/etcd/server/v3 ;;
	kube-apiserver) pkg=k8s.io/kubernetes/cmd/kube-apiserver ;;
	kubectl) pkg=k8s.io/kubernetes/cmd/kubectl ;;
	kube-controller-manager) pkg=k8s.io/kubernetes/cmd/kube-controller-manager ;;
	*) echo "unknown envtest binary $b" >&2; exit 1 ;;
	esac
	# Build beside the target and rename, so that an interrupted build never
	# leaves a truncated binary that looks installed.
	go build -trimpath -o "$ENVTEST_ASSETS/.$b.tmp" "$pkg"
	mv "$ENVTEST_ASSETS/.$b.tmp" "$ENVTEST_ASSETS/$b"
done
