#!/usr/bin/env bash
# The shell side of `npm test`: shellcheck on every script, then the bats suites (bats from npm).
set -euo pipefail
cd "$(dirname "$0")/../.."
if ! command -v shellcheck >/dev/null 2>&1; then
    echo "shellcheck is not installed: apt-get install -y shellcheck (Debian/Ubuntu) or brew install shellcheck" >&2
    exit 1
fi
# Every shell file: the pod scripts, the user's commands, and the tests' helpers and stand-ins.
mapfile -t scripts < <(ls components/greenplum/scripts/*.sh components/storage/*.sh components/backup/scripts/*.sh bin/gp-failover bin/gp-backup tools/*.sh \
    test/scripts/*.bash test/scripts/*.sh test/scripts/*/*.bash test/scripts/*/stubs/* .ci/run 2>/dev/null)
shellcheck -x -P SCRIPTDIR "${scripts[@]}"
echo "shellcheck: ${#scripts[@]} shell files clean"
exec node_modules/bats/bin/bats -r test/scripts
