#!/usr/bin/env bash
# Builds radar's image from an application already staged by radar/image/stage.ts (a folder, or a tar of one,
# gzipped or not) and imports it into the Docker engine the docker CLI reaches, with no registry pull.
# build-offline.sh runs it on a checkout; an installed kx (npm package or single executable) runs the copy it
# carries (build/radar-image-files.ts stages the app at pack time).
# The image carries a kx.content-hash label (its root filesystem) and the given kx.source-hash label (the sources
# the app was staged from); when the tag already holds identical content from the same sources, nothing is
# re-imported.
#
#   build-staged.sh <node 24 binary> <staged app dir or .tar[.gz]> <source hash> <version> <image>
set -euo pipefail
[ $# -eq 5 ] || { echo "usage: build-staged.sh <node binary> <staged app dir or .tar[.gz]> <source hash> <version> <image>" >&2; exit 2; }
node_bin=$1 app=$2 source_hash=$3 version=$4 image=$5
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
for tool in docker tar sha256sum ldd; do
  command -v "$tool" >/dev/null || { echo "radar image: needs the $tool command on PATH" >&2; exit 1; }
done
[ -x "$node_bin" ] || { echo "radar image: no Node binary at $node_bin" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if [ -f "$app" ]; then
  mkdir "$work/app"
  tar -C "$work/app" -xf "$app"
  app=$work/app
fi
bash "$here/rootfs.sh" "$node_bin" "$app" "$work/rootfs"

# A reproducible tar (sorted names, fixed times and owners) so the hash names the content, not the build.
tar -C "$work/rootfs" --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -cf "$work/rootfs.tar" .
hash=$(sha256sum "$work/rootfs.tar" | cut -c1-64)

current=$(docker image inspect --format '{{ index .Config.Labels "kx.content-hash" }} {{ index .Config.Labels "kx.source-hash" }}' "$image" 2>/dev/null || true)
if [ "$current" = "$hash $source_hash" ]; then
  echo "radar image: $image is up to date (content $hash)"
  exit 0
fi
docker import \
  -c 'WORKDIR /app' \
  -c 'ENV PATH=/usr/local/bin:/usr/bin:/bin NODE_ENV=production GLIBC_TUNABLES=glibc.malloc.mmap_threshold=131072:glibc.malloc.trim_threshold=131072' \
  -c 'CMD ["node", "dist/radar.mjs"]' \
  -c "LABEL kx.content-hash=$hash kx.source-hash=$source_hash org.opencontainers.image.version=$version org.opencontainers.image.title=kx-radar" \
  "$work/rootfs.tar" "$image" >/dev/null

# V8's compile cache of radar's modules, made by the image's own Node at the paths it runs them from and committed
# into the image: radar's root is read-only, so it could never write one itself, and starting from it halves the
# CPU radar spends before it listens (measured ~0.5 s -> ~0.25 s). It covers what radar loads before it serves,
# in each mode. Without it (the run fails) the image works the same, only slower to start.
cache=/app/.compile-cache
warm='process.argv = [process.argv[0], "/app/dist/radar.mjs", "--help"];
for (const m of ["/app/dist/docker-target.mjs", "/app/dist/node.mjs", "/app/dist/radar.mjs"]) await import(m);'
# Node keys the cache by V8's flags, and --expose-gc is one that counts: the warm-up runs with RADAR_COMMAND's flags
# (proto/radar-pod.ts), or radar would find no cache for its own.
if warmer=$(docker create -e "NODE_COMPILE_CACHE=$cache" "$image" node --max-semi-space-size=2 --expose-gc --input-type=module -e "$warm" 2>/dev/null); then
  if docker start -a "$warmer" >/dev/null 2>&1; then
    docker commit -c "ENV NODE_COMPILE_CACHE=$cache" -c 'CMD ["node", "dist/radar.mjs"]' "$warmer" "$image" >/dev/null ||
      echo "radar image: could not add the compile cache to $image (it starts a little slower)" >&2
  else
    echo "radar image: could not make the compile cache for $image (it starts a little slower)" >&2
  fi
  docker rm -f "$warmer" >/dev/null 2>&1 || true
fi
echo "radar image: built $image (content $hash)"
