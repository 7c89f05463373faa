#!/usr/bin/env bash
# The shell side of `npm test`: shellcheck on every script, then the bats suites (bats from npm).
set -euo pipefail
cd "$(dirname "$0")/../.."
if ! command -v shellcheck >/dev/null 2>&1; then
    echo "shellcheck is not installed: apt-get install -y shellcheck (Debian/Ubuntu) or brew install shellcheck" >&2
    exit 1
fi
mapfile -t scripts < <(ls components/greenplum/scripts/*.sh components/storage/*.sh bin/gp-failover tools/*.sh 2>/dev/null)
shellcheck -x "${scripts[@]}"
echo "shellcheck: ${#scripts[@]} scripts clean"
exec node_modules/bats/bin/bats -r test/scripts
