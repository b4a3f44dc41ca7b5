#!/usr/bin/env bash
# `npm run image:offline`: builds radar's image from this checkout with no registry pull and loads it into the
# local Docker engine as kx-radar:<package.json version> (override with KX_RADAR_IMAGE). Same content as
# radar/Dockerfile (the same stage.ts and rootfs.sh), but with the Node 24 binary npm installed into node_modules.
# The image carries a kx.content-hash label (its root filesystem) and a kx.source-hash label (the sources it was
# built from, pkg/docker/radar-source-hash.ts: kx compares it to decide whether to build on first use); when the
# tag already holds identical content from the same sources, nothing is re-imported.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$repo"
# KX_NODE_BIN: another Node 24 binary for the image (e.g. an installed kx's own), where node_modules has none.
node_bin=$(readlink -f "${KX_NODE_BIN:-node_modules/node/bin/node}")
[ -x "$node_bin" ] || { echo "image:offline: no Node binary at ${KX_NODE_BIN:-node_modules/node/bin/node} (run npm install, or set KX_NODE_BIN)" >&2; exit 1; }
version=$("$node_bin" -p 'require("./package.json").version')
image=${KX_RADAR_IMAGE:-kx-radar:$version}
source_hash=$("$node_bin" pkg/docker/radar-source-hash.ts "$repo")

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$node_bin" radar/image/stage.ts "$repo" "$work/app" >/dev/null
bash radar/image/rootfs.sh "$node_bin" "$work/app" "$work/rootfs"

# A reproducible tar (sorted names, fixed times and owners) so the hash names the content, not the build.
tar -C "$work/rootfs" --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -cf "$work/rootfs.tar" .
hash=$(sha256sum "$work/rootfs.tar" | cut -c1-64)

current=$(docker image inspect --format '{{ index .Config.Labels "kx.content-hash" }} {{ index .Config.Labels "kx.source-hash" }}' "$image" 2>/dev/null || true)
if [ "$current" = "$hash $source_hash" ]; then
  echo "image:offline: $image is up to date (content $hash)"
  exit 0
fi
docker import \
  -c 'WORKDIR /app' \
  -c 'ENV PATH=/usr/local/bin:/usr/bin:/bin NODE_ENV=production' \
  -c 'CMD ["node", "radar/main.ts"]' \
  -c "LABEL kx.content-hash=$hash kx.source-hash=$source_hash org.opencontainers.image.version=$version org.opencontainers.image.title=kx-radar" \
  "$work/rootfs.tar" "$image" >/dev/null
echo "image:offline: built $image (content $hash)"
