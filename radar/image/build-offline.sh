#!/usr/bin/env bash
# `npm run image:offline`: builds radar's image from this checkout with no registry pull and loads it into the
# local Docker engine as kx-radar:<package.json version> (override with KX_RADAR_IMAGE). Same content as
# radar/Dockerfile (the same stage.ts and rootfs.sh), but with the Node 24 binary npm installed into node_modules.
# The image's labels and the import are build-staged.sh's: the kx.source-hash label names the sources it was built
# from (pkg/docker/radar-source-hash.ts), which kx compares to decide whether to build on first use.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$repo"
# KX_NODE_BIN: another Node 24 binary for the image, where node_modules has none.
node_bin=$(readlink -f "${KX_NODE_BIN:-node_modules/node/bin/node}")
[ -x "$node_bin" ] || { echo "image:offline: no Node binary at ${KX_NODE_BIN:-node_modules/node/bin/node} (run npm install, or set KX_NODE_BIN)" >&2; exit 1; }
version=$("$node_bin" -p 'require("./package.json").version')
image=${KX_RADAR_IMAGE:-kx-radar:$version}
source_hash=$("$node_bin" pkg/docker/radar-source-hash.ts "$repo")

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$node_bin" radar/image/stage.ts "$repo" "$work/app" >/dev/null
bash radar/image/build-staged.sh "$node_bin" "$work/app" "$source_hash" "$version" "$image"
