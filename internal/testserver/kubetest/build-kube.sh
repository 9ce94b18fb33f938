#!/usr/bin/env bash
# Builds the Kubernetes control-plane binaries the kubetest package runs —
# kube-apiserver, kube-controller-manager and kube-scheduler from
# k8s.io/kubernetes, and kwok (simulated nodes and pods) — from the Go module
# proxy into a cache directory keyed by version, once; prints the directory.
#
#   bash internal/testserver/kubetest/build-kube.sh
#   KUBE_VERSION=v1.37.2 KWOK_VERSION=v0.8.0 bash internal/testserver/kubetest/build-kube.sh
#
# The cache is ${XDG_CACHE_HOME:-$HOME/.cache}/safedeploy/kubernetes-VERSION,
# holding the four binaries and kwok's Stage files (stage/*.yaml: node/fast,
# node/heartbeat and pod/fast);
# internal/testserver/kubetest looks there (or in $SAFEDEPLOY_KUBE). etcd comes
# from Debian (etcd-server). On 2 idle cores kube-apiserver takes about 20
# minutes, the rest a few more; the build runs under nice so that it yields to
# other work.
set -euo pipefail

kube=${KUBE_VERSION:-v1.37.2}
kwok=${KWOK_VERSION:-v0.8.0}
staging=v0.${kube#v1.}
cache=${XDG_CACHE_HOME:-$HOME/.cache}/safedeploy/kubernetes-$kube
bins=(kube-apiserver kube-controller-manager kube-scheduler kwok)

done=1
for b in "${bins[@]}"; do [ -x "$cache/$b" ] || done=0; done
[ -f "$cache/stage/.complete" ] || done=0
if [ $done = 1 ]; then
	echo "$cache"
	exit 0
fi
command -v go >/dev/null || { echo "build-kube: go is not installed" >&2; exit 1; }
mkdir -p "$cache/stage"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# k8s.io/kubernetes points its staging modules at its own tree
# (./staging/src/k8s.io/NAME); a module requiring it must point them at the
# published modules of the same release (v0.MINOR.PATCH) instead.
mkdir "$work/kube"
cd "$work/kube"
gomod=$(go mod download -json "k8s.io/kubernetes@$kube" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p')
[ -f "$gomod" ] || { echo "build-kube: no go.mod for k8s.io/kubernetes@$kube" >&2; exit 1; }
{
	echo "module safedeploy.invalid/kubebuild"
	echo
	echo "go $(go env GOVERSION | sed 's/^go//')"
	echo
	echo "require k8s.io/kubernetes $kube"
	echo
	sed -n 's|^[[:space:]]*\(k8s.io/[a-z0-9-]*\) => ./staging/src/k8s.io/[a-z0-9-]*[[:space:]]*$|replace \1 => \1 '"$staging"'|p' "$gomod"
} >go.mod
nice -n 19 go mod tidy >/dev/null 2>&1 || true
# The version the binaries report (/version, kubectl version), which the
# release process stamps into them.
v=k8s.io/component-base/version
minor=${kube#v1.}
minor=${minor%%.*}
ldflags="-X $v.gitVersion=$kube -X $v.gitMajor=1 -X $v.gitMinor=$minor -X $v.gitTreeState=clean"
for b in kube-apiserver kube-controller-manager kube-scheduler; do
	[ -x "$cache/$b" ] && continue
	nice -n 19 go get "k8s.io/kubernetes/cmd/$b@$kube"
	CGO_ENABLED=0 nice -n 19 go build -trimpath -ldflags "$ldflags" -o "$cache/$b.tmp" "k8s.io/kubernetes/cmd/$b"
	mv "$cache/$b.tmp" "$cache/$b"
done

# kwok builds as an ordinary module; its stage files ship in the same module.
if [ ! -x "$cache/kwok" ]; then
	GOBIN="$work/bin" CGO_ENABLED=0 nice -n 19 go install -trimpath "sigs.k8s.io/kwok/cmd/kwok@$kwok"
	mv "$work/bin/kwok" "$cache/kwok"
fi
dir=$(go mod download -json "sigs.k8s.io/kwok@$kwok" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')
for s in node/fast node/heartbeat pod/fast; do
	for f in "$dir/kustomize/stage/$s/"*.yaml; do
		[ "$(basename "$f")" = kustomization.yaml ] && continue
		cp "$f" "$cache/stage/${s%/*}-${s#*/}-$(basename "$f")"
	done
done
chmod -R u+w "$cache/stage"
touch "$cache/stage/.complete"
echo "$cache"
