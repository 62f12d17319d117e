#!/usr/bin/env bash
# Builds the container image with podman (no Docker engine needed), runs the simulator
# and the exporter from it, scrapes /metrics from the host and checks the image.
#
#   deploy/container-test.sh            # build (cached layers reused) and test
#   KEEP=1 deploy/container-test.sh     # leave the containers running afterwards
#   MAX_IMAGE_MB=150                    # fail when the image is larger (default 150)
#   REBUILD_BASE=1                      # remake the locally made base images
#
# Needs root (or a working rootless podman), podman, runc and, when no registry is
# reachable, mmdebstrap: the debian:bookworm and debian:bookworm-slim base images are
# then made locally from Debian's packages (mmdebstrap --variant=minbase + podman import)
# under the names the Dockerfile uses, so `podman build --pull=never` finds them.
# Missing tools are installed with apt-get when running as root.
# The first run takes a while (base images, apt in the build stage, a full compile on
# all cores); it is not part of the default test command for that reason.
# Ends with "N passed, M failed"; exit status 1 if anything failed.
set -uo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
image="${IMAGE:-localhost/yunxiao-flow-exporter:test}"
build_base="docker.io/library/debian:bookworm"
runtime_base="docker.io/library/debian:bookworm-slim"
max_image_mb="${MAX_IMAGE_MB:-150}"
suffix="yfe-ct-$$"
work="$(mktemp -d)"
podman=(podman --runtime runc)
# Sandboxes like this one refuse podman's default (unlimited) rlimits: set them for every
# container, including a pod's infra container, through containers.conf.
run_limits=(--ulimit nofile=1024:1024 --ulimit nproc=1024:1024)
if [[ -z "${CONTAINERS_CONF:-}" ]]; then
  printf '[containers]\ndefault_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]\n' >"$work/containers.conf"
  export CONTAINERS_CONF="$work/containers.conf"
fi

passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok   $*"; }
bad() { failed=$((failed + 1)); echo "FAIL $*"; }
finish() {
  echo "$passed passed, $failed failed"
  [[ $failed -eq 0 ]]
  exit $?
}

cleanup() {
  if [[ -z "${KEEP:-}" ]]; then
    "${podman[@]}" rm -f -t 2 "$suffix-exporter" "$suffix-simulator" >/dev/null 2>&1
    "${podman[@]}" pod rm -f "$suffix" >/dev/null 2>&1
  else
    echo "KEEP set: containers $suffix-simulator and $suffix-exporter left running"
  fi
  rm -rf "$work"
}
trap cleanup EXIT

need() {
  local missing=()
  for tool in "$@"; do command -v "$tool" >/dev/null 2>&1 || missing+=("$tool"); done
  [[ ${#missing[@]} -eq 0 ]] && return 0
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
    echo "installing ${missing[*]}"
    apt-get -o DPkg::Lock::Timeout=600 install -y "${missing[@]}" >"$work/apt.log" 2>&1 ||
      { cat "$work/apt.log"; return 1; }
  else
    echo "missing tools: ${missing[*]} (apt-get install ${missing[*]})"
    return 1
  fi
}

# ------------------------------------------------------------------ base images
# Apt settings of this host that the base images must share to reach the same mirror
# (e.g. a snapshot mirror whose Release files are past Valid-Until, or a proxy).
apt_options() {
  apt-config dump 2>/dev/null | grep -E '^Acquire::(Check-Valid-Until|Check-Date|https?::Proxy) ' |
    sed 's/^/--aptopt=/'
}

make_base_image() {
  local name="$1" variant="$2"
  local tar="$work/${variant}.tar"
  # merged-usr hook: /usr-merged from the start, as in Debian's own images, instead of
  # the usrmerge package (which drags perl into the image).
  local -a opts=(--variant=minbase --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr)
  mapfile -t -O ${#opts[@]} opts < <(apt_options)
  if [[ "$variant" == slim ]]; then
    # What makes debian:*-slim slim: no docs, man pages or translations (dpkg filters,
    # kept in the image so that later apt-get installs honour them too).
    opts+=(
      --dpkgopt='path-exclude=/usr/share/doc/*'
      --dpkgopt='path-include=/usr/share/doc/*/copyright'
      --dpkgopt='path-exclude=/usr/share/man/*'
      --dpkgopt='path-exclude=/usr/share/info/*'
      --dpkgopt='path-exclude=/usr/share/locale/*'
      --dpkgopt='path-exclude=/usr/share/groff/*'
      --dpkgopt='path-exclude=/usr/share/lintian/*'
      --dpkgopt='path-exclude=/usr/share/linda/*'
    )
  fi
  echo "making $name with mmdebstrap ($variant)"
  mmdebstrap "${opts[@]}" bookworm "$tar" \
    "deb http://deb.debian.org/debian bookworm main" \
    "deb http://deb.debian.org/debian bookworm-updates main" \
    "deb http://deb.debian.org/debian-security bookworm-security main" \
    >"$work/mmdebstrap-$variant.log" 2>&1 || { tail -n 30 "$work/mmdebstrap-$variant.log"; return 1; }
  "${podman[@]}" import -q --change 'CMD ["bash"]' --change 'LABEL yfe.local-base=mmdebstrap' "$tar" "$name" >/dev/null || return 1
  rm -f "$tar"
}

ensure_base_image() {
  local name="$1" variant="$2"
  if [[ -n "${REBUILD_BASE:-}" ]] && [[ "$("${podman[@]}" image inspect --format '{{.Labels}}' "$name" 2>/dev/null)" == *yfe.local-base* ]]; then
    "${podman[@]}" rmi -f "$name" >/dev/null 2>&1
  fi
  "${podman[@]}" image exists "$name" && return 0
  if timeout 60 "${podman[@]}" pull -q "$name" >/dev/null 2>&1; then
    return 0
  fi
  echo "$name: no registry reachable, building it locally"
  need mmdebstrap || return 1
  make_base_image "$name" "$variant"
}

need podman runc curl promtool || { bad "tools: podman, runc, curl, promtool"; finish; }
ensure_base_image "$build_base" full && ensure_base_image "$runtime_base" slim &&
  ok "base images $build_base and $runtime_base" || { bad "base images"; finish; }

# ------------------------------------------------------------------ build
revision="$(git -C "$root" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)"
start=$(date +%s)
if "${podman[@]}" build --isolation chroot --pull=never --format docker \
  --build-arg "REVISION=$revision" -t "$image" -f "$root/Dockerfile" "$root" >"$work/build.log" 2>&1; then
  ok "image $image built in $(($(date +%s) - start))s"
else
  tail -n 40 "$work/build.log"
  bad "podman build (log above)"
  finish
fi

size_bytes="$("${podman[@]}" image inspect --format '{{.Size}}' "$image")"
size_mb=$((size_bytes / 1000 / 1000))
echo "image size: ${size_mb} MB (${size_bytes} bytes)"
if [[ $size_mb -le $max_image_mb ]]; then ok "image size ${size_mb} MB <= ${max_image_mb} MB"; else bad "image size ${size_mb} MB > ${max_image_mb} MB"; fi

inspect() { "${podman[@]}" image inspect --format "$1" "$image"; }
[[ "$(inspect '{{.Config.User}}')" == "65532:65532" ]] && ok "runs as non-root user 65532" || bad "image user is '$(inspect '{{.Config.User}}')', not 65532:65532"
[[ "$(inspect '{{json .Config.ExposedPorts}}')" == *9847/tcp* ]] && ok "exposes 9847/tcp" || bad "9847/tcp not exposed"
[[ -n "$(inspect '{{json .Config.Healthcheck}}' | grep -v '^null$')" ]] && ok "has a HEALTHCHECK" || bad "no HEALTHCHECK (built without --format docker?)"
if "${podman[@]}" run --rm "${run_limits[@]}" --entrypoint sh "$image" -c \
  'for t in gcc g++ cc make cmake curl wget; do command -v $t && exit 1; done; ls /usr/include/*.h >/dev/null 2>&1 && exit 1; exit 0' >"$work/tools.txt" 2>&1; then
  ok "no compiler, headers, curl or wget in the runtime image"
else
  bad "build tools in the runtime image: $(cat "$work/tools.txt")"
fi

# ------------------------------------------------------------------ run
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
host_port="$(free_port)"
token="ct-token-$RANDOM$RANDOM"
printf '%s\n' "$token" >"$work/token"
cat >"$work/config.yaml" <<EOF
api:
  endpoint: http://127.0.0.1:9848
  edition: central
  organization_id: ct-org
  token_file: /run/secrets/yunxiao-token
  timeout: 5s
collect:
  stages: true
  jobs: true
pipelines:
  - id: "1000001"
  - id: "1000002"
  - id: "1000003"
EOF
chmod 0755 "$work"
chmod 0644 "$work/token" "$work/config.yaml"

# One pod: the containers share its network namespace (the exporter reaches the
# simulator on 127.0.0.1:9848) and only the exporter's port is published, on 127.0.0.1.
if ! "${podman[@]}" pod create --name "$suffix" -p "127.0.0.1:${host_port}:9847" >"$work/pod.log" 2>&1; then
  cat "$work/pod.log"
  bad "podman pod create"
  finish
fi
"${podman[@]}" run -d --name "$suffix-simulator" --pod "$suffix" "${run_limits[@]}" \
  --read-only --cap-drop=ALL --security-opt=no-new-privileges --no-healthcheck \
  --entrypoint /usr/local/bin/flow-simulator "$image" \
  --web.listen-address=127.0.0.1:9848 "--token=$token" --organization-id=ct-org --pipelines=3 \
  >/dev/null 2>"$work/run-simulator.log" && ok "simulator container started" ||
  { cat "$work/run-simulator.log"; bad "simulator container did not start"; }
"${podman[@]}" run -d --name "$suffix-exporter" --pod "$suffix" "${run_limits[@]}" \
  --read-only --cap-drop=ALL --security-opt=no-new-privileges \
  -v "$work/config.yaml:/etc/yunxiao-flow-exporter/config.yaml:ro,Z" \
  -v "$work/token:/run/secrets/yunxiao-token:ro,Z" \
  "$image" >/dev/null 2>"$work/run-exporter.log" && ok "exporter container started (read-only root, no capabilities)" ||
  { cat "$work/run-exporter.log"; bad "exporter container did not start"; }
# (Without systemd, podman cannot schedule health-check timers and says so on stderr;
# the health check itself is run by hand below.)

url="http://127.0.0.1:${host_port}"
ready=0
for _ in $(seq 1 60); do
  if curl -fsS -m 2 "$url/-/ready" >/dev/null 2>&1; then ready=1; break; fi
  sleep 0.5
done
if [[ $ready -eq 1 ]]; then ok "exporter ready on $url/-/ready (from the host)"; else
  bad "exporter not ready within 30s"
  "${podman[@]}" logs "$suffix-exporter" 2>&1 | tail -n 20
  finish
fi

if curl -fsS -m 15 "$url/metrics" -o "$work/metrics.txt"; then
  ok "scraped $url/metrics ($(wc -l <"$work/metrics.txt") lines)"
else
  bad "scrape of $url/metrics failed"
fi
for series in 'yunxiao_flow_up 1' 'yunxiao_flow_latest_run_status{' 'yunxiao_flow_latest_run_stage_status{' \
  'yunxiao_flow_latest_run_job_status{' 'yunxiao_flow_fetch_success{' 'yunxiao_flow_exporter_build_info{'; do
  if grep -qF "$series" "$work/metrics.txt"; then ok "metrics contain $series"; else bad "metrics lack $series"; fi
done
for id in 1000001 1000002 1000003; do
  grep -q "yunxiao_flow_fetch_success{[^}]*pipeline_id=\"$id\"[^}]*} 1" "$work/metrics.txt" &&
    ok "pipeline $id fetched" || bad "pipeline $id not fetched successfully"
done
if lint="$(promtool check metrics <"$work/metrics.txt" 2>&1)"; then ok "promtool check metrics: clean"; else bad "promtool check metrics: $lint"; fi
if ! grep -qF "$token" "$work/metrics.txt"; then ok "token not in the metrics"; else bad "token appears in /metrics"; fi

uid="$("${podman[@]}" exec "$suffix-exporter" id -u 2>/dev/null)"
[[ "$uid" == 65532 ]] && ok "exporter process runs as uid 65532" || bad "exporter runs as uid '$uid'"
if "${podman[@]}" exec "$suffix-exporter" sh -c 'touch /probe' >/dev/null 2>&1; then bad "root filesystem is writable"; else ok "root filesystem is read-only"; fi
if "${podman[@]}" healthcheck run "$suffix-exporter" >/dev/null 2>&1; then ok "HEALTHCHECK passes (bash /dev/tcp GET /-/healthy)"; else bad "HEALTHCHECK fails"; fi
# The health check must also notice a dead endpoint: probe a port nothing listens on.
if "${podman[@]}" exec -e HEALTHCHECK_PORT=1 "$suffix-exporter" bash -c \
  "$(inspect '{{index .Config.Healthcheck.Test 3}}')" >/dev/null 2>&1; then
  bad "HEALTHCHECK command succeeds against a closed port"
else
  ok "HEALTHCHECK command fails against a closed port"
fi
if "${podman[@]}" logs "$suffix-exporter" 2>&1 | grep -qF "$token"; then bad "token appears in the exporter log"; else ok "token not in the exporter log"; fi

# Clean stop on SIGTERM.
start=$(date +%s)
"${podman[@]}" stop -t 10 "$suffix-exporter" >/dev/null 2>&1
code="$("${podman[@]}" inspect --format '{{.State.ExitCode}}' "$suffix-exporter")"
took=$(($(date +%s) - start))
if [[ "$code" == 0 && $took -lt 10 ]]; then ok "exporter stops on SIGTERM with exit 0 in ${took}s"; else bad "exporter stop: exit code $code after ${took}s"; fi

echo "image: $image, ${size_mb} MB"
finish
