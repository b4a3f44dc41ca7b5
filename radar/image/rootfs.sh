#!/usr/bin/env bash
# Lays out radar's image root filesystem: a Node 24 binary with exactly the shared libraries it links (from ldd),
# minimal /etc and /tmp, and the staged application in /app (radar/image/stage.ts). The Dockerfile runs this with
# the official node:24 image's binary; build-offline.sh runs it with the binary npm installed into node_modules.
#
#   rootfs.sh <node binary> <staged app dir> <output rootfs dir>
set -euo pipefail
node_bin=$1 app=$2 out=$3

rm -rf "$out"
mkdir -p "$out/usr/local/bin" "$out/etc" "$out/tmp" "$out/app"
cp -L "$node_bin" "$out/usr/local/bin/node"
chmod 0755 "$out/usr/local/bin/node"

# Every library ldd names (the loader too), copied to the same absolute path as real files, not symlinks.
for lib in $(ldd "$node_bin" | awk '/=> \//{print $3} /^[ \t]*\/[^ ]+ \(/{print $1}'); do
  mkdir -p "$out$(dirname "$lib")"
  cp -L "$lib" "$out$lib"
done

# uid 1000 `node` as in the official image, for users who run radar tools unprivileged; radar itself runs as root
# (see the DaemonSet's securityContext for why).
printf 'root:x:0:0:root:/root:/sbin/nologin\nnode:x:1000:1000:node:/home/node:/sbin/nologin\n' >"$out/etc/passwd"
printf 'root:x:0:\nnode:x:1000:\n' >"$out/etc/group"
chmod 1777 "$out/tmp"
# The mount points of radar's pod (pkg/cluster/radar-objects.ts): the runtime sockets' directories of the known node
# layouts under /host (containerd, k3s/RKE2, Docker/cri-dockerd, MicroK8s) and the service-account token's
# directory, so the runtime needs to create none of them in a read-only root.
mkdir -p "$out/host/run/containerd" "$out/host/run/k3s/containerd" "$out/host/var/run" \
  "$out/host/var/snap/microk8s/common/run" "$out/var/run/secrets/kubernetes.io/serviceaccount"
# Hard links when possible: the staged app is a throwaway copy, and this keeps the build fast.
cp -al "$app/." "$out/app/" 2>/dev/null || cp -a "$app/." "$out/app/"
