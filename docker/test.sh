#!/usr/bin/env bash
# Builds the synproxy image from docker/Dockerfile and runs it as a sidecar for real, with podman, as
# root. Exits non-zero if anything fails. No registry is reachable where this runs, so the base image
# is built here: a Debian root file system from the configured apt mirror (mmdebstrap, cached in
# docker/.cache, ignored by git) plus a jlinked JRE from the installed JDK 25, imported with podman
# and passed to the real Dockerfile as --build-arg BASE=localhost/...
#
# What it shows, in order: the image refuses to run without CAP_NET_ADMIN/CAP_NET_RAW in one sentence;
# 200 connections through the published port from another network namespace; 24 from 12 client ports (tuples
# reused while synproxy's side still holds their TIME_WAIT); a spoofed SYN flood
# (hping3 --rand-source, bounded in time) from that namespace while real clients are still served and
# the app's namespace holds no SYN-RECV socket; the Kubernetes sidecar Deployment under
# `podman kube play`; docker/compose.yaml through docker-compose against `podman system service`
# (skipped, and said so, without docker-compose); SIGTERM drains and removes the guard table.
#
# Podman runs in a network namespace of the test's own (sph-<pid>): the script builds what needs the
# real network on the host (the jar if missing, the cached root file system), then runs itself in that
# namespace (nsenter --net, not `ip netns exec`, which remounts /sys and hides the cgroup tree podman
# needs). netavark's nat and filter tables, ip_forward, the podman bridge, the published ports' DNAT,
# routes and rules all live there, never on the host: conmon starts `podman container cleanup`
# asynchronously after a container exits, and with netavark 1.4's iptables driver that late cleanup
# set up its nat table again after any cleanup of the host's (seen in CI). Afterwards the namespace's
# late processes get 30 s, what is left is killed, the namespace is deleted, and the host's nftables
# ruleset and forwarding sysctls must be as before, else it fails.
# Podman also gets a containers.conf, a storage.conf and a network directory of the test's own (runc,
# explicit ulimits: this VM refuses the defaults), so the host's podman config and images are not
# touched, and everything it made is removed on exit, also on failure. Names are unique per run:
# several runs may share the host (/run/netns is the host's).
#
# Needs: podman runc buildah mmdebstrap nftables iproute2 hping3 curl (apt), docker-compose optional,
# JDK 25 (SYNPROXY_JDK, default /usr/lib/jvm/temurin-25-jdk-amd64), the jar (built if missing).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")
cache="$here/.cache"
# Inside the namespace (SYNPROXY_DOCKER_TEST_NETNS set), times still count from the start on the host.
t0=${SYNPROXY_DOCKER_TEST_T0:-$EPOCHSECONDS}
jdk=${SYNPROXY_JDK:-/usr/lib/jvm/temurin-25-jdk-amd64}
suite=${SYNPROXY_TEST_SUITE:-bookworm}
# Modules the jar needs (jdeps --print-module-deps proxy-cli/target/synproxy.jar).
jre_modules=java.base,java.logging,java.naming,jdk.jfr,jdk.unsupported

log() { printf '[docker/test.sh %3ds] %s\n' $((EPOCHSECONDS - t0)) "$*"; }
fail() { log "FAIL: $*"; exit 1; }

[ "$(id -u)" = 0 ] || fail "needs root (network namespaces, nftables, rootful podman)"
for tool in podman runc mmdebstrap nft ip nsenter ss hping3 curl tar findmnt; do
  command -v "$tool" >/dev/null || fail "$tool is missing (apt-get install podman runc buildah mmdebstrap nftables iproute2 hping3 curl)"
done
[ -x "$jdk/bin/jlink" ] || fail "no JDK 25 at $jdk (set SYNPROXY_JDK)"
jar="$repo/proxy-cli/target/synproxy.jar"
jdk_version=$(sed -n 's/^JAVA_VERSION="\(.*\)"/\1/p' "$jdk/release")
base_tar="$cache/base-$suite-jre-$jdk_version.tar"

if [ -z "${SYNPROXY_DOCKER_TEST_NETNS:-}" ]; then
  # ==== on the host: what needs the real network, then the rest in a network namespace of our own ====
  ns="sph-$$"
  work=$(mktemp -d /tmp/synproxy-docker-test.XXXXXX)
  child=""
  ruleset_taken=""
  forwarding() { cat /proc/sys/net/ipv4/ip_forward /proc/sys/net/ipv6/conf/all/forwarding | tr '\n' ' '; }
  tables() { nft list tables | sed 's/^table //' | paste -sd ' '; }

  # shellcheck disable=SC2317 # run by the traps
  host_cleanup() {
    local rc=$? name names pids left
    set +e
    trap - EXIT
    trap '' INT TERM
    if [ -e "/run/netns/$ns" ]; then
      # conmon, and the `podman container cleanup` it starts after a container exits, may outlive the run.
      local waited=0
      while [ -n "$(ip netns pids "$ns")" ] && [ "$waited" -lt 150 ]; do sleep 0.2; waited=$((waited + 1)); done
      [ "$waited" = 0 ] || log "waited $((waited / 5)).$((waited % 5 * 2)) s for late processes in $ns"
      pids=$(ip netns pids "$ns" | paste -sd ' ')
      if [ -n "$pids" ]; then
        log "still in $ns after 30 s, killed: $(ps -o pid=,args= -p "${pids// /,}" | cut -c1-100 | tr '\n' ';')"
        # shellcheck disable=SC2086 # pids: a list
        kill -KILL $pids 2>/dev/null
        for _ in $(seq 1 25); do [ -z "$(ip netns pids "$ns")" ] && break; sleep 0.2; done
      fi
    fi
    # The run's namespaces: ours, the clients' and the containers' (podman's files in /run/netns), which
    # the run removed unless it was killed.
    left=""
    names="$(sort -u "$work/netns" 2>/dev/null) $ns"
    for name in $names; do
      [ -e "/run/netns/$name" ] || continue
      [ "$name" = "$ns" ] || left="$left $name"
      pids=$(ip netns pids "$name" | paste -sd ' ')
      # shellcheck disable=SC2086 # pids: a list
      [ -z "$pids" ] || kill -KILL $pids 2>/dev/null
      ip netns del "$name"
    done
    [ -z "$left" ] || log "removed namespaces the run left:$left"
    findmnt -rn -o TARGET | grep "^$work/" | sort -r | xargs -r -n1 umount -l 2>/dev/null
    rm -rf "$work"
    if [ -n "$ruleset_taken" ]; then
      left=$(for name in $names; do [ -e "/run/netns/$name" ] && echo "$name"; done | tr '\n' ' ')
      if [ "$(nft -s list ruleset)" != "$ruleset" ]; then
        log "FAIL: the host's nftables ruleset is not as before the run (tables before: ${tables_before:-none}; now: $(t=$(tables); echo "${t:-none}"))"; rc=1
      elif [ "$(forwarding)" != "$forward" ]; then
        log "FAIL: the host's ip_forward, ipv6 forwarding are $(forwarding)instead of $forward"; rc=1
      elif [ -n "$left" ]; then
        log "FAIL: namespaces of this run left on the host: $left"; rc=1
      else
        log "the host's nftables ruleset and forwarding as before, no namespace left"
      fi
    fi
    log "done, exit $rc"
    exit "$rc"
  }
  trap host_cleanup EXIT
  # shellcheck disable=SC2317 # run by the traps
  stop() { # signal to the run in the namespace (DockerSidecarIT sends SIGTERM on its timeout): it cleans up
    [ -n "$child" ] || exit "$1"
    stopping=1
    kill -TERM "$child" 2>/dev/null || true
  }
  trap 'stop 130' INT
  trap 'stop 143' TERM

  if [ ! -f "$jar" ]; then
    log "building $jar"
    (cd "$repo" && mvn -B -q -o -DskipTests package)
  fi

  # ---- 1. the base root file system: Debian + nft + iproute2 + busybox (the test's HTTP app) + a jlinked JRE
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
    tar -rf "$work/rootfs.tar" -C "$work/jre" --owner=0 --group=0 ./opt/java
    rm -rf "$work/jre"
    mv "$work/rootfs.tar" "$base_tar"
  else
    log "base root file system from the cache: ${base_tar#"$repo"/}"
  fi

  # The host as it is now: nothing of the run may change it.
  ruleset=$(nft -s list ruleset)
  ruleset_taken=1
  tables_before=$(tables)
  forward=$(forwarding)
  ip netns add "$ns"
  ip -n "$ns" link set lo up
  log "podman and the rest in network namespace $ns (its tables, forwarding, bridge and routes are not the host's)"
  SYNPROXY_DOCKER_TEST_NETNS="$ns" SYNPROXY_DOCKER_TEST_WORK="$work" SYNPROXY_DOCKER_TEST_T0="$t0" \
    nsenter --net="/run/netns/$ns" bash "${BASH_SOURCE[0]}" "$@" &
  child=$!
  # A signal interrupts `wait`: then wait again, for the run's own exit code after its cleanup.
  while :; do
    stopping=""
    rc=0
    wait "$child" || rc=$?
    [ -n "$stopping" ] || break
  done
  exit "$rc"
fi

# ==== in the namespace ============================================================================
ns=$SYNPROXY_DOCKER_TEST_NETNS
work=${SYNPROXY_DOCKER_TEST_WORK:?set by the run on the host}
[ "$(stat -L -c %i "/run/netns/$ns")" = "$(stat -L -c %i /proc/self/ns/net)" ] || fail "not in network namespace $ns"

# Unique names, as the Java ITs' TestNet does: several runs may share the host.
id="sp$$"
n=$(( $$ % 250 + 2 ))
cli_ns="spc-$id"                    # the clients' and the attacker's namespace
veth="spv-$id"                      # this namespace's side of the veth to it
host_ip="10.211.$n.1"; cli_ip="10.211.$n.2"
net="spnet-$id"; bridge=""; subnet="10.212.$n.0/24"
rt_table=$(( 20000 + n )); rt_pref=$(( 20000 + n ))
port=18080                          # published port, protected by the sidecar
compose_port=18081
base_image="localhost/synproxy-test-base-$id:latest"
image="localhost/synproxy-test-$id:latest"

# Explicit ulimits: podman's defaults are higher than this VM lets root set (no CAP_SYS_RESOURCE), and
# runc then fails with "setrlimit RLIMIT_NOFILE/RLIMIT_NPROC: operation not permitted". Open files: the
# hard limit this shell has; processes: buildah's default, 32768 (higher failed here even below the hard limit).
nofile="$(ulimit -Hn):$(ulimit -Hn)"
nproc=$(ulimit -Hu); { [ "$nproc" = unlimited ] || [ "$nproc" -gt 32768 ]; } && nproc=32768; nproc="$nproc:$nproc"
mkdir -p "$work/networks" "$work/tmp"
cat >"$work/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=$nofile", "nproc=$nproc"]
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
ulimits=(--ulimit "nofile=$nofile" --ulimit "nproc=$nproc")
service_pid=""
compose_up=""
# The namespaces this run makes in the host's /run/netns (the clients', and podman's for its containers):
# the run on the host removes any left when this one is over.
echo "$cli_ns" >>"$work/netns"
note_netns() {
  podman ps -a -q | xargs -r podman inspect -f '{{.NetworkSettings.SandboxKey}}' 2>/dev/null \
    | sed -n 's#^/run/netns/##p' >>"$work/netns" || true
}

# Podman's objects, and the clients' namespace. Netavark's tables and sysctls are this namespace's: they
# go with it, whatever a late `podman container cleanup` does.
cleanup() {
  local rc=$?
  set +e
  trap - EXIT INT TERM
  log "cleaning up"
  note_netns
  if [ -n "$compose_up" ]; then
    DOCKER_HOST="unix://$work/podman.sock" docker-compose -p "$id" -f "$here/compose.yaml" down -t 5 >/dev/null 2>&1
  fi
  [ -f "$work/k8s.yaml" ] && podman kube down "$work/k8s.yaml" >/dev/null 2>&1
  podman pod rm -f -a >/dev/null 2>&1
  podman rm -f -a -t 0 >/dev/null 2>&1
  podman network rm -f "$net" >/dev/null 2>&1
  podman network prune -f >/dev/null 2>&1
  podman rmi -f -a >/dev/null 2>&1
  if [ -n "$service_pid" ]; then kill "$service_pid" 2>/dev/null; wait "$service_pid" 2>/dev/null; fi
  # Only this test's storage is ever used: reset it (the run on the host deletes it).
  podman system reset -f >/dev/null 2>&1
  local pids
  pids=$(ip netns pids "$cli_ns" 2>/dev/null | paste -sd ' ')
  # shellcheck disable=SC2086 # pids: a list
  [ -z "$pids" ] || kill -KILL $pids 2>/dev/null
  ip netns del "$cli_ns" 2>/dev/null
  log "cleaned up in $ns, exit $rc"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- 1. the base image: the root file system built on the host, imported -----------------------------
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
# Everything that leaves our bridge for anywhere but this namespace goes back to the clients' namespace: the
# SYN/ACKs to the flood's spoofed sources go nowhere else.
podman network create --disable-dns --subnet "$subnet" "$net" >/dev/null
bridge=$(podman network inspect -f '{{.NetworkInterface}}' "$net")
ip route add default via "$cli_ip" dev "$veth" table "$rt_table"
ip rule add pref "$rt_pref" iif "$bridge" lookup "$rt_table"

# ---- 4. app + synproxy sidecar ----------------------------------------------------------------------
app_cmd='mkdir -p /www && echo "hello from the app" >/www/index.html && exec busybox httpd -f -p 8080 -h /www'
podman run -d -q --name "app-$id" --network "$net" -p "$host_ip:$port:80" --entrypoint sh "$base_image" -c "$app_cmd" >/dev/null
note_netns
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

if [ "$(in_app cat /proc/sys/net/ipv4/ip_unprivileged_port_start)" -gt 80 ]; then
  log "with every capability dropped but NET_ADMIN and NET_RAW, port 80 needs NET_BIND_SERVICE: one sentence"
  set +e
  nobind=$(podman run --rm --network "container:app-$id" --cap-drop ALL --cap-add NET_ADMIN --cap-add NET_RAW "$image" \
    run --listen 0.0.0.0:80 --backend 127.0.0.1:8080 2>&1)
  nobind_rc=$?
  set -e
  echo "    exit $nobind_rc: $nobind"
  [ "$nobind_rc" = 1 ] && [ "$(printf '%s\n' "$nobind" | wc -l)" = 1 ] && [[ "$nobind" == *CAP_NET_BIND_SERVICE* ]] \
    || fail "expected exit 1 and one sentence about CAP_NET_BIND_SERVICE"
fi

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
clients() { # count url [curl options]: real HTTP clients from the clients' namespace, a connection each;
  # every transfer's outcome (status, local port, connect time, curl's error) goes to $work/transfers
  ip netns exec "$cli_ns" curl -s -m 10 -H 'Connection: close' \
    -w '\nxfer %{http_code} port=%{local_port} connect=%{time_connect}s total=%{time_total}s %{errormsg}\n' \
    "${@:3}" "$2?[1-$1]" | grep '^xfer ' >"$work/transfers"
  grep -c '^xfer 200 ' "$work/transfers" || true
}

log "200 connections through the published port $host_ip:$port from namespace $cli_ns"
ok=$(clients 200 "http://$host_ip:$port/")
sleep 1.2
echo "    served $ok/200; synproxy: handoffs=$(stat_of handoffs) syn=$(stat_of syn)"
[ "$ok" = 200 ] || fail "only $ok of 200 connections succeeded"
[ "$(stat_of handoffs)" -ge 200 ] || fail "the connections did not go through synproxy"

# synproxy's side usually closes first (the app closes, the relay passes the FIN on) and keeps the TIME_WAIT
# for 60 s. A client that reuses its port within that time must get synproxy's SYN/ACK and nothing from the
# TIME_WAIT: the old connection's ACK it used to answer with made the client reset, conntrack (the DNAT of
# the published port) then found the final ACK invalid, and the host itself reset the client, about one
# connection in four here. Twelve local ports, and TIME_WAIT reuse on the client's side too (it closes
# first now and then), make every port come round again within seconds.
log "24 connections from 12 client ports: reused tuples whose TIME_WAIT synproxy's side still holds"
ports_before=$(ip netns exec "$cli_ns" sysctl -n net.ipv4.ip_local_port_range)
ip netns exec "$cli_ns" sysctl -q -w net.ipv4.ip_local_port_range="40000 40011" net.ipv4.tcp_tw_reuse=1
ok=$(clients 24 "http://$host_ip:$port/" --rate 4/s)
reused=$(in_app ss -Htan state time-wait "( dport >= :40000 and dport <= :40011 )" | wc -l)
ip netns exec "$cli_ns" sysctl -q -w net.ipv4.ip_local_port_range="$ports_before"
echo "    served $ok/24; TIME_WAITs on those ports in the app's namespace now: $reused"
[ "$ok" = 24 ] || { grep -v '^xfer 200 ' "$work/transfers" | sed 's/^/    /'; fail "only $ok of 24 connections on reused ports"; }

log "spoofed SYN flood (hping3 --rand-source, 5 s, about 20k/s) with real clients at the same time"
syn_before=$(stat_of syn)
ip netns exec "$cli_ns" timeout 5 hping3 -q -S -p "$port" --rand-source -i u50 "$host_ip" >/dev/null 2>&1 &
flood=$!
sleep 0.5
# 40 real clients spread over 4 s of the flood, while the app's namespace is watched for SYN-RECV.
clients 40 "http://$host_ip:$port/" --rate 10/s >"$work/flood-clients" &
served=$!
synrecv=0
for _ in $(seq 1 8); do
  s=$(in_app ss -Htn state syn-recv | wc -l)
  [ "$s" -gt "$synrecv" ] && synrecv=$s
  sleep 0.5
done
wait "$flood" || true
wait "$served" || true
ok=$(cat "$work/flood-clients")
sleep 1.2
syn_after=$(stat_of syn)
echo "    real clients served under the flood: $ok/40; SYNs seen by synproxy during it: $((syn_after - syn_before));" \
  "SYN-RECV sockets in the app's namespace: $synrecv"
echo "    $(podman logs "synproxy-$id" 2>&1 | grep '^stats:' | tail -1)"
[ "$ok" = 40 ] || { grep -v '^xfer 200 ' "$work/transfers" | sed 's/^/    /'; \
  fail "only $ok of 40 real clients were served under the flood"; }
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
podman rm -f -t 0 "synproxy-$id" >/dev/null
podman rm -f -t 0 "app-$id" >/dev/null

# ---- 5. the Kubernetes sidecar Deployment under podman kube play -----------------------------------
log "podman kube play docker/k8s/sidecar-deployment.yaml (images replaced by the local ones)"
# podman 4.3 publishes every containerPort on the host (port 80 may be taken here): publish them on
# the test's own address instead, the protected one on $kube_port.
kube_port=18082
# One replica: podman would start each on the same host ports.
sed -e "s#docker.io/library/busybox:stable#$base_image#" -e "s#replicas: 2#replicas: 1#" -e "s#docker.io/synproxy/synproxy:latest#$image#" \
  -e "s#{name: http, containerPort: 80}#{name: http, containerPort: 80, hostIP: $host_ip, hostPort: $kube_port}#" \
  -e "s#{name: app, containerPort: 8080}#{name: app, containerPort: 8080, hostIP: $host_ip, hostPort: 18083}#" \
  "$here/k8s/sidecar-deployment.yaml" >"$work/k8s.yaml"
[ "$(grep -c -e "$base_image" -e "$image" -e "hostPort" -e "replicas: 1" "$work/k8s.yaml")" = 5 ] \
  || fail "could not set the images and ports in the Deployment"
podman kube play -q --network "$net" "$work/k8s.yaml" >/dev/null
note_netns
kube_sp=$(podman ps -q --filter "label=io.kubernetes.container.name=synproxy" | head -1)
[ -n "$kube_sp" ] || kube_sp=$(podman ps --format '{{.Names}}' | grep -- '-synproxy$' | head -1)
[ -n "$kube_sp" ] || { podman ps -a; fail "no synproxy container from kube play"; }
kube_pid=$(podman inspect -f '{{.State.Pid}}' "$kube_sp")
wait_guard "$kube_pid" synproxy_any_80 || { podman logs "$kube_sp"; fail "no guard table in the pod"; }
ok=$(clients 20 "http://$host_ip:$kube_port/")
echo "    served $ok/20 through the pod's published port $host_ip:$kube_port; $(podman logs "$kube_sp" 2>&1 | grep protecting)"
[ "$ok" = 20 ] || fail "only $ok of 20 connections through the kube play pod"
podman kube down "$work/k8s.yaml" >/dev/null
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
  note_netns
  compose_app=$(podman ps --format '{{.Names}}' | grep -- '_app_' | head -1)
  compose_pid=$(podman inspect -f '{{.State.Pid}}' "$compose_app")
  wait_guard "$compose_pid" synproxy_any_80 || { compose logs; fail "no guard table in the compose app"; }
  ok=$(clients 20 "http://$host_ip:$compose_port/")
  echo "    served $ok/20 through the published port $host_ip:$compose_port"
  [ "$ok" = 20 ] || fail "only $ok of 20 connections through compose"
  # Stop synproxy first (SIGTERM: drain, guard removed), then the rest: podman 4.3 refuses to remove
  # the app while it still counts the sidecar that shares its namespace as a dependent.
  compose stop -t 20 synproxy >>"$work/compose.log" 2>&1 || { tail -5 "$work/compose.log"; fail "docker-compose stop failed"; }
  compose logs synproxy 2>&1 | grep -q 'guard removed' || { compose logs synproxy | tail -5; fail "compose: no 'guard removed' after stop"; }
  compose rm -f synproxy >>"$work/compose.log" 2>&1 || { tail -5 "$work/compose.log"; fail "docker-compose rm failed"; }
  compose down -t 5 >>"$work/compose.log" 2>&1 || { tail -5 "$work/compose.log"; fail "docker-compose down failed"; }
  echo "    stopped: synproxy drained and removed its guard; down"
  compose_up=""
  kill "$service_pid" && { wait "$service_pid" 2>/dev/null || true; }; service_pid=""
else
  log "SKIPPED docker/compose.yaml: no docker-compose here (Debian's docker-compose against 'podman system service' supports network_mode: service:)"
fi

log "all shown"
