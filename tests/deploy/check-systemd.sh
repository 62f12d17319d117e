#!/usr/bin/env bash
# Checks deploy/systemd/yunxiao-flow-exporter.service:
#  - the hardening the deployment promises is there (DynamicUser, ProtectSystem=strict,
#    LoadCredential for the token, no capabilities, ...)
#  - `systemd-analyze verify` accepts it (ExecStart pointed at a binary that exists here)
#  - `systemd-analyze security --offline` rates its exposure at most 2.0 (of 10)
# systemd-analyze checks are skipped where systemd-analyze is not installed.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

unit="$REPO_ROOT/deploy/systemd/yunxiao-flow-exporter.service"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

hardening() {
  local missing=0 setting
  for setting in 'DynamicUser=yes' 'ProtectSystem=strict' 'ProtectHome=yes' 'PrivateTmp=yes' \
    'PrivateDevices=yes' 'NoNewPrivileges=yes' 'CapabilityBoundingSet=' 'RestrictAddressFamilies=' \
    'SystemCallFilter=@system-service' 'MemoryDenyWriteExecute=yes' 'RestrictNamespaces=yes' \
    'LoadCredential=yunxiao-token:' 'Restart=on-failure' 'UMask=0077' \
    'StateDirectory=yunxiao-flow-exporter'; do
    grep -q "^${setting}" "$unit" || { echo "missing: $setting"; missing=1; }
  done
  grep -Eq '^(Environment|EnvironmentFile)=.*YUNXIAO_TOKEN' "$unit" && { echo "the token must come from LoadCredential, not the environment"; missing=1; }
  # The documented token path must be where LoadCredential puts it.
  local name
  name="$(sed -n 's/^LoadCredential=\([^:]*\):.*/\1/p' "$unit")"
  grep -q "/run/credentials/yunxiao-flow-exporter.service/${name}\$" "$unit" ||
    { echo "the comment must give api.token_file as /run/credentials/yunxiao-flow-exporter.service/${name}"; missing=1; }
  # collect.state_dir as documented in the unit is where StateDirectory= puts it.
  local state
  state="$(sed -n 's/^StateDirectory=\(.*\)$/\1/p' "$unit")"
  grep -q "state_dir: /var/lib/${state}}" "$unit" ||
    { echo "the comment must give collect.state_dir as /var/lib/${state}"; missing=1; }
  return $missing
}
check "unit has the promised hardening and takes the token from LoadCredential" hardening

if command -v systemd-analyze >/dev/null 2>&1; then
  # verify wants ExecStart's binary to exist: use the built one, else any executable.
  bin="${YFE_EXPORTER_BIN:-$(ls -t "$REPO_ROOT"/build*/exporter/yunxiao-flow-exporter 2>/dev/null | head -n 1)}"
  [[ -x "$bin" ]] || bin=/bin/true
  sed "s#/usr/local/bin/yunxiao-flow-exporter#${bin}#" "$unit" >"$work/yunxiao-flow-exporter.service"
  verify() {
    local out
    out="$(systemd-analyze verify --man=no "$work/yunxiao-flow-exporter.service" 2>&1)"
    local rc=$?
    echo "$out"
    # verify exits 0 on some warnings: treat any line about our unit as a failure.
    [[ $rc -eq 0 ]] && ! grep -q 'yunxiao-flow-exporter.service' <<<"$out"
  }
  check "systemd-analyze verify" verify
  check "systemd-analyze security --offline: exposure <= 2.0" \
    systemd-analyze security --offline=true --threshold=20 --no-pager "$work/yunxiao-flow-exporter.service"
else
  skip "systemd-analyze verify and security" "systemd-analyze is not installed"
fi

finish
