#!/usr/bin/env bash
# Builds the synproxy image from docker/Dockerfile and runs it as a sidecar for real, with podman, as
# root. Exits non-zero if anything fails. No registry is reachable where this runs, so the base image
# is built here: a Debian root file system from the configured apt mirror (mmdebstrap, cached in
# docker/.cache, ignored by git) plus a jlinked JRE from the installed JDK 25, imported with podman
# and passed to the real Dockerfile as --build-arg BASE=localhost/...
#
# What it shows, in order: the image refuses to run without CAP_NET_ADMIN/CAP_NET_RAW in one sentence;
# 200 connections through the published port from another network namespace; a spoofed SYN flood
# (hping3 --rand-source, bounded in time) from that namespace while real clients are still served and
# the app's namespace holds no SYN-RECV socket; the Kubernetes sidecar Deployment under
# `podman kube play`; docker/compose.yaml through docker-compose against `podman system service`
# (skipped, and said so, without docker-compose); SIGTERM drains and removes the guard table.
#
# Podman gets a containers.conf, a storage.conf and a network directory of the test's own (runc,
# explicit ulimits: this VM refuses the defaults), so the host's podman config and images are not
# touched; everything it made is removed on exit, also on failure, and the nftables tables and
# forwarding sysctls that netavark changes on the host are put back as they were.
#
# Needs: podman runc buildah mmdebstrap nftables iproute2 hping3 curl (apt), docker-compose optional,
# JDK 25 (SYNPROXY_JDK, default /usr/lib/jvm/temurin-25-jdk-amd64), the jar (built if missing).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")
cache="$here/.cache"
start=$SECONDS
jdk=${SYNPROXY_JDK:-/usr/lib/jvm/temurin-25-jdk-amd64}
suite=${SYNPROXY_TEST_SUITE:-bookworm}
# Modules the jar needs (jdeps --print-module-deps proxy-cli/target/synproxy.jar).
jre_modules=java.base,java.logging,java.naming,jdk.jfr,jdk.unsupported

log() { printf '[docker/test.sh %3ds] %s\n' $((SECONDS - start)) "$*"; }
fail() { log "FAIL: $*"; exit 1; }

[ "$(id -u)" = 0 ] || fail "needs root (network namespaces, nftables, rootful podman)"
for tool in podman runc mmdebstrap nft ip nsenter ss hping3 curl tar; do
  command -v "$tool" >/dev/null || fail "$tool is missing (apt-get install podman runc buildah mmdebstrap nftables iproute2 hping3 curl)"
done
[ -x "$jdk/bin/jlink" ] || fail "no JDK 25 at $jdk (set SYNPROXY_JDK)"
jar="$repo/proxy-cli/target/synproxy.jar"
if [ ! -f "$jar" ]; then
  log "building $jar"
  (cd "$repo" && mvn -B -q -o -DskipTests package)
fi

# Unique names, as the Java ITs' TestNet does: several runs may share the host.
id="sp$$"
n=$(( $$ % 250 + 2 ))
cli_ns="spc-$id"                    # the clients' and the attacker's namespace
veth="spv-$id"                      # host side of the veth to it
host_ip="10.211.$n.1"; cli_ip="10.211.$n.2"
net="spnet-$id"; bridge="spb-$id"; subnet="10.212.$n.0/24"
rt_table=$(( 20000 + n )); rt_pref=$(( 20000 + n ))
port=18080                          # published port, protected by the sidecar
compose_port=18081
base_image="localhost/synproxy-test-base-$id:latest"
image="localhost/synproxy-test-$id:latest"

work=$(mktemp -d /tmp/synproxy-docker-test.XXXXXX)
mkdir -p "$work/nft" "$work/networks" "$work/tmp"
cat >"$work/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=65536:65536", "nproc=65536:65536"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
tmp_dir = "$work/tmp"
[network]
network_config_dir = "$work/networks"
EOF
cat >"$work/storage.conf" <<EOF
[storage]
driver = "overlay"
graphroot = "$work/storage"
runroot = "$work/run"
EOF
export CONTAINERS_CONF="$work/containers.conf" CONTAINERS_STORAGE_CONF="$work/storage.conf"
ulimits=(--ulimit nofile=65536:65536 --ulimit nproc=65536:65536)

# The host as it is now, to put back what netavark changes (it adds nat/filter tables, sets ip_forward).
nft list tables >"$work/nft/tables.before"
while read -r _ family name; do
  nft list table "$family" "$name" >"$work/nft/$family.$name"
done <"$work/nft/tables.before"
forward4=$(cat /proc/sys/net/ipv4/ip_forward)
forward6=$(cat /proc/sys/net/ipv6/conf/all/forwarding)
service_pid=""
compose_up=""

restore_host() {
  local family name
  nft list tables >"$work/nft/tables.after" || true
  while read -r _ family name; do
    if ! grep -qx "table $family $name" "$work/nft/tables.before"; then
      nft delete table "$family" "$name"
    elif ! nft list table "$family" "$name" | cmp -s - "$work/nft/$family.$name"; then
      nft delete table "$family" "$name" && nft -f "$work/nft/$family.$name"
    fi
  done <"$work/nft/tables.after"
  while read -r _ family name; do
    nft list table "$family" "$name" >/dev/null 2>&1 || nft -f "$work/nft/$family.$name"
  done <"$work/nft/tables.before"
  echo "$forward4" >/proc/sys/net/ipv4/ip_forward
  echo "$forward6" >/proc/sys/net/ipv6/conf/all/forwarding
}

cleanup() {
  local rc=$?
  set +e
  trap - EXIT INT TERM
  log "cleaning up"
  if [ -n "$compose_up" ]; then
    DOCKER_HOST="unix://$work/podman.sock" docker-compose -p "$id" -f "$here/compose.yaml" down -t 5 >/dev/null 2>&1
  fi
  [ -f "$work/k8s.yaml" ] && podman kube play --down "$work/k8s.yaml" >/dev/null 2>&1
  podman pod rm -f -a >/dev/null 2>&1
  podman rm -f -a -t 0 >/dev/null 2>&1
  podman network rm -f "$net" >/dev/null 2>&1
  podman network prune -f >/dev/null 2>&1
  podman rmi -f -a >/dev/null 2>&1
  if [ -n "$service_pid" ]; then kill "$service_pid" 2>/dev/null; wait "$service_pid" 2>/dev/null; fi
  # Only this test's storage is ever used: reset it, then delete it.
  podman system reset -f >/dev/null 2>&1
  ip rule del pref "$rt_pref" 2>/dev/null
  ip route flush table "$rt_table" 2>/dev/null
  ip netns del "$cli_ns" 2>/dev/null
  ip link del "$veth" 2>/dev/null
  restore_host
  if ! nft list tables | cmp -s - "$work/nft/tables.before"; then
    log "the host's nftables tables differ from before: $(nft list tables | tr '\n' ' ')"; rc=1
  fi
  if ip netns list | grep -q -- "$id"; then log "namespaces left: $(ip netns list | grep -- "$id")"; rc=1; fi
  findmnt -rn -o TARGET | grep "^$work/" | sort -r | xargs -r -n1 umount -l 2>/dev/null
  rm -rf "$work"
  log "done, exit $rc"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- 1. the base image: Debian + nft + iproute2 + busybox (the test's HTTP app) + a jlinked JRE ----
jdk_version=$(sed -n 's/^JAVA_VERSION="\(.*\)"/\1/p' "$jdk/release")
base_tar="$cache/base-$suite-jre-$jdk_version.tar"
if [ ! -f "$base_tar" ]; then
  log "building the base root file system (mmdebstrap $suite, cached in ${cache#"$repo"/})"
  mkdir -p "$cache"
  rm -f "$cache"/base-*.tar
  # No documentation, manual pages or translations: a third of an essential system, useless here.
  mmdebstrap --quiet --variant=essential --include=nftables,iproute2,busybox \
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/locale/*' \
    --dpkgopt='path-exclude=/usr/share/info/*' "$suite" "$work/rootfs.tar"
  log "jlink $jre_modules from $jdk ($jdk_version)"
  mkdir -p "$work/jre/opt/java"
  "$jdk/bin/jlink" --add-modules "$jre_modules" --strip-debug --no-man-pages --no-header-files \
    --compress=zip-6 --output "$work/jre/opt/java/openjdk"
  tar -rf "$work/rootfs.tar" -C "$work/jre" --owner=0 --group=0 ./opt
  rm -rf "$work/jre"
  mv "$work/rootfs.tar" "$base_tar"
else
  log "base root file system from the cache: ${base_tar#"$repo"/}"
fi
podman import -q --change 'ENV PATH=/opt/java/openjdk/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV JAVA_HOME=/opt/java/openjdk' "$base_tar" "$base_image" >/dev/null

# ---- 2. the real Dockerfile on it -------------------------------------------------------------------
log "podman build -f docker/Dockerfile --build-arg BASE=$base_image"
podman build -q --pull=never --network=none "${ulimits[@]}" --build-arg "BASE=$base_image" \
  -f "$here/Dockerfile" -t "$image" "$repo" >/dev/null
size() { podman image inspect -f '{{.Size}}' "$1" | awk '{printf "%.0f MB", $1 / 1000000}'; }
log "image sizes: base (Debian essential + nft + iproute2 + busybox + jlinked JRE) $(size "$base_image"), synproxy $(size "$image")"

# ---- 3. the network: a podman bridge of our own, and a namespace for clients and attacker ----------
ip netns add "$cli_ns"
ip link add "$veth" type veth peer name eth0 netns "$cli_ns"
ip addr add "$host_ip/30" dev "$veth"
ip link set "$veth" up
ip -n "$cli_ns" addr add "$cli_ip/30" dev eth0
ip -n "$cli_ns" link set eth0 up
ip -n "$cli_ns" link set lo up
ip -n "$cli_ns" route add default via "$host_ip"
# Everything that leaves our bridge for anywhere but the host goes back to the clients' namespace: the
# SYN/ACKs to the flood's spoofed sources must not leave this machine.
ip route add default via "$cli_ip" dev "$veth" table "$rt_table"
ip rule add pref "$rt_pref" iif "$bridge" lookup "$rt_table"
podman network create --disable-dns --subnet "$subnet" --interface-name "$bridge" "$net" >/dev/null

# ---- 4. app + synproxy sidecar ----------------------------------------------------------------------
app_cmd='mkdir -p /www && echo "hello from the app" >/www/index.html && exec busybox httpd -f -p 8080 -h /www'
podman run -d -q --name "app-$id" --network "$net" -p "$host_ip:$port:80" --entrypoint sh "$base_image" -c "$app_cmd" >/dev/null
app_pid=$(podman inspect -f '{{.State.Pid}}' "app-$id")
in_app() { nsenter -t "$app_pid" -n "$@"; }

log "without NET_ADMIN/NET_RAW the image says why in one sentence"
set +e
nocap=$(podman run --rm --network "container:app-$id" "$image" run --listen 0.0.0.0:80 --backend 127.0.0.1:8080 2>&1)
nocap_rc=$?
set -e
echo "    exit $nocap_rc: $nocap"
[ "$nocap_rc" = 1 ] || fail "expected exit 1 without capabilities, got $nocap_rc"
[ "$(printf '%s\n' "$nocap" | wc -l)" = 1 ] && [[ "$nocap" == *"needs CAP_NET_RAW and CAP_NET_ADMIN"* ]] \
  || fail "expected one sentence about the capabilities"

log "synproxy sidecar: --network container:app-$id --cap-add NET_ADMIN --cap-add NET_RAW, options from SYNPROXY_*"
podman run -d -q --name "synproxy-$id" --network "container:app-$id" --cap-add NET_ADMIN --cap-add NET_RAW \
  -e SYNPROXY_LISTEN=0.0.0.0:80 -e SYNPROXY_BACKEND=127.0.0.1:8080 -e SYNPROXY_STATS_INTERVAL=1s \
  -e SYNPROXY_DRAIN_TIMEOUT=2s "$image" >/dev/null
wait_guard() { # pid table
  for _ in $(seq 1 100); do
    nsenter -t "$1" -n nft list table inet "$2" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  return 1
}
wait_guard "$app_pid" synproxy_any_80 || { podman logs "synproxy-$id"; fail "no guard table in the app's namespace"; }
podman logs "synproxy-$id" 2>&1 | grep 'protecting' | sed 's/^/    /'

stat_of() { # name: the counter in synproxy's last stats line
  podman logs "synproxy-$id" 2>&1 | grep '^stats:' | tail -1 | tr ' ' '\n' | sed -n "s/^$1=//p"
}
clients() { # count url: real HTTP clients, one connection each, from the clients' namespace
  local ok=0
  for _ in $(seq 1 "$1"); do
    if ip netns exec "$cli_ns" curl -s -m 5 -H 'Connection: close' "$2" | grep -q 'hello from the app'; then
      ok=$((ok + 1))
    fi
  done
  echo "$ok"
}

log "200 connections through the published port $host_ip:$port from namespace $cli_ns"
ok=$(clients 200 "http://$host_ip:$port/")
sleep 1.2
echo "    served $ok/200; synproxy: handoffs=$(stat_of handoffs) syn=$(stat_of syn)"
[ "$ok" = 200 ] || fail "only $ok of 200 connections succeeded"
[ "$(stat_of handoffs)" -ge 200 ] || fail "the connections did not go through synproxy"

log "spoofed SYN flood (hping3 --rand-source, 5 s, about 20k/s) with real clients at the same time"
syn_before=$(stat_of syn)
ip netns exec "$cli_ns" timeout 5 hping3 -q -S -p "$port" --rand-source -i u50 "$host_ip" >/dev/null 2>&1 &
flood=$!
sleep 0.5
ok=$(clients 40 "http://$host_ip:$port/")
synrecv=0
for _ in 1 2 3; do
  s=$(in_app ss -Htn state syn-recv | wc -l)
  [ "$s" -gt "$synrecv" ] && synrecv=$s
  sleep 0.3
done
wait "$flood" || true
sleep 1.2
syn_after=$(stat_of syn)
echo "    real clients served under the flood: $ok/40; SYNs seen by synproxy during it: $((syn_after - syn_before));" \
  "SYN-RECV sockets in the app's namespace: $synrecv"
[ "$ok" = 40 ] || fail "only $ok of 40 real clients were served under the flood"
[ $((syn_after - syn_before)) -gt 1000 ] || fail "the flood did not reach synproxy"
[ "$synrecv" = 0 ] || fail "$synrecv SYN-RECV sockets in the app's namespace"

log "SIGTERM (podman stop): drain, then the guard table is gone from the app's namespace"
podman stop -t 20 "synproxy-$id" >/dev/null
code=$(podman inspect -f '{{.State.ExitCode}}' "synproxy-$id")
podman logs "synproxy-$id" 2>&1 | grep -E '^synproxy: (draining|drained|stopped)' | sed 's/^/    /'
[ "$code" = 143 ] || fail "exit code after SIGTERM: $code"
podman logs "synproxy-$id" 2>&1 | grep -q 'guard removed' || fail "no 'guard removed' in the log"
if in_app nft list tables | grep -q synproxy; then fail "guard table still in the app's namespace"; fi
echo "    exit $code; tables in the app's namespace now: $(in_app nft list tables | tr '\n' ' ')"
podman rm -f -t 0 "synproxy-$id" "app-$id" >/dev/null

# ---- 5. the Kubernetes sidecar Deployment under podman kube play -----------------------------------
log "podman kube play docker/k8s/sidecar-deployment.yaml (images replaced by the local ones)"
sed -e "s#docker.io/library/busybox:stable#$base_image#" -e "s#docker.io/synproxy/synproxy:latest#$image#" \
  "$here/k8s/sidecar-deployment.yaml" >"$work/k8s.yaml"
grep -q "$base_image" "$work/k8s.yaml" && grep -q "$image" "$work/k8s.yaml" || fail "could not set the images in the Deployment"
podman kube play -q --network "$net" "$work/k8s.yaml" >/dev/null
kube_sp=$(podman ps -q --filter "label=io.kubernetes.container.name=synproxy" | head -1)
[ -n "$kube_sp" ] || kube_sp=$(podman ps --format '{{.Names}}' | grep -- '-synproxy$' | head -1)
[ -n "$kube_sp" ] || { podman ps -a; fail "no synproxy container from kube play"; }
kube_pid=$(podman inspect -f '{{.State.Pid}}' "$kube_sp")
wait_guard "$kube_pid" synproxy_any_80 || { podman logs "$kube_sp"; fail "no guard table in the pod"; }
pod_ip=$(nsenter -t "$kube_pid" -n ip -4 -o addr show dev eth0 | awk '{sub(/\/.*/, "", $4); print $4; exit}')
ok=$(clients 20 "http://$pod_ip:80/")
echo "    pod $pod_ip: served $ok/20 from namespace $cli_ns; $(podman logs "$kube_sp" 2>&1 | grep protecting)"
[ "$ok" = 20 ] || fail "only $ok of 20 connections through the kube play pod"
podman kube play --down "$work/k8s.yaml" >/dev/null
rm -f "$work/k8s.yaml"

# ---- 6. docker/compose.yaml through docker-compose and the podman API ------------------------------
if command -v docker-compose >/dev/null; then
  log "docker-compose up docker/compose.yaml against podman system service"
  podman system service --time=0 "unix://$work/podman.sock" >"$work/service.log" 2>&1 &
  service_pid=$!
  for _ in $(seq 1 50); do [ -S "$work/podman.sock" ] && break; sleep 0.2; done
  compose() {
    DOCKER_HOST="unix://$work/podman.sock" APP_IMAGE="$base_image" SYNPROXY_IMAGE="$image" \
      PUBLISH="$host_ip:$compose_port" docker-compose -p "$id" -f "$here/compose.yaml" "$@"
  }
  compose_up=1
  compose up -d --no-build >"$work/compose.log" 2>&1 || { cat "$work/compose.log"; fail "docker-compose up failed"; }
  compose_sp=$(podman ps --format '{{.Names}}' | grep -- 'synproxy' | head -1)
  compose_app=$(podman ps --format '{{.Names}}' | grep -- '_app_' | head -1)
  compose_pid=$(podman inspect -f '{{.State.Pid}}' "$compose_app")
  wait_guard "$compose_pid" synproxy_any_80 || { compose logs; fail "no guard table in the compose app"; }
  ok=$(clients 20 "http://$host_ip:$compose_port/")
  echo "    served $ok/20 through the published port $host_ip:$compose_port"
  [ "$ok" = 20 ] || fail "only $ok of 20 connections through compose"
  compose down -t 15 >>"$work/compose.log" 2>&1
  compose_up=""
  kill "$service_pid"; wait "$service_pid" 2>/dev/null || true; service_pid=""
else
  log "SKIPPED docker/compose.yaml: no docker-compose here (Debian's docker-compose against 'podman system service' supports network_mode: service:)"
fi

log "all shown"
