#!/usr/bin/env bash
# Builds versitygw (Apache-2.0 S3 server, from the Go module proxy) for the backup scenarios of the
# pod runner, once per version, into /var/cache/greenplum-k8s/versitygw-<version>/versitygw.
# Prints the binary's path.
set -euo pipefail
cd "$(dirname "$0")"
version="$(awk '$1 == "require" && $2 == "github.com/versity/versitygw" {print $3}' go.mod)"
out="${GPK_CACHE_DIR:-/var/cache/greenplum-k8s}/versitygw-${version}/versitygw"
if [[ ! -x "$out" ]]; then
  mkdir -p "$(dirname "$out")"
  go build -mod=readonly -o "$out.tmp" github.com/versity/versitygw/cmd/versitygw >&2
  mv "$out.tmp" "$out"
fi
echo "$out"
