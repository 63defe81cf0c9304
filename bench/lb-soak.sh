#!/usr/bin/env bash
# bench/lb-soak.sh — the lb host under sustained load (issue 25): two app
# hosts behind an lb host (systemd-nspawn test servers, internal/hosttest),
# browser-like keep-alive clients at the full rate this machine sends.
# First the hello route (/healthz) to one app host directly, then through
# the lb (same client, same run); then through the lb for DURATION while
# rolling deploys, refused releases and rollbacks go by in turn. Fails on
# any failed request, EADDRNOTAVAIL or "no live upstreams" in the lb's
# error log; prints the RESULT lines (req/s, the lb's TIME_WAIT, ports in
# use and nginx's RSS at the end). The CI's bounded version is
# TestRollingDeployBehindLB.
#
#   bench/lb-soak.sh                 # 3 minutes, 16 clients
#   DURATION=5m CLIENTS=32 bench/lb-soak.sh
#
# Needs: root, go, debootstrap and systemd-container (HOSTS.md).
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-3m}
CLIENTS=${CLIENTS:-16}
export PATH=$PATH:/usr/sbin:/sbin STACKCTL_REQUIRE_HOSTS=1 STACKCTL_REQUIRE_NGINX=1
export STACKCTL_LB_SOAK=$DURATION STACKCTL_LB_SOAK_CLIENTS=$CLIENTS
LOG=$(mktemp /tmp/stackctl-lb-soak.XXXXXX)
echo "lb soak: $DURATION, $CLIENTS clients; full log in $LOG"
status=0
go test ./internal/deploy -run '^TestLBSoak$' -count=1 -v -timeout 60m >"$LOG" 2>&1 || status=$?
grep -E 'RESULT|cycle [0-9]+|under load|Total:|TCP:|to app hosts:|nginx RSS|--- (PASS|FAIL)' "$LOG" | sed 's/^ *//' || true
exit $status
