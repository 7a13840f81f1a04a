#!/usr/bin/env bash
# Two ClickHouse servers on loopback: cluster `streammeter` of two shards (one replica each).
#
#   scripts/clickhouse-cluster.sh start DIR   # start both (data, config, logs under DIR)
#   scripts/clickhouse-cluster.sh stop DIR    # stop both (pid files under DIR)
#   scripts/clickhouse-cluster.sh status DIR  # exit 0 when both answer
#
# Works with Debian's clickhouse-server 18.16 (`apt-get install clickhouse-server
# clickhouse-client`) and later releases. Non-replicated MergeTree and Distributed tables need
# no ZooKeeper/Keeper, so none is configured. Ports: CH_BASE_PORT (default 19000) + offsets:
#   shard 1: tcp BASE, http BASE+123, interserver BASE+9
#   shard 2: tcp BASE+100, http BASE+223, interserver BASE+109
# On start it prints one line per shard: `shard N tcp PORT http PORT` and the URLs to use:
#   clickhouse://default@127.0.0.1:BASE/streammeter (add --cluster streammeter / ?cluster=).
set -euo pipefail

cmd=${1:-}
dir=${2:-}
if [ -z "$cmd" ] || [ -z "$dir" ]; then
  echo "usage: $0 start|stop|status DIR" >&2
  exit 2
fi
base=${CH_BASE_PORT:-19000}
server_bin=$(command -v clickhouse-server || true)
if [ -z "$server_bin" ] && command -v clickhouse >/dev/null; then
  server_bin="$(command -v clickhouse) server"
fi

tcp_port() { echo $((base + ($1 - 1) * 100)); }
http_port() { echo $((base + ($1 - 1) * 100 + 123)); }
interserver_port() { echo $((base + ($1 - 1) * 100 + 9)); }

write_config() {
  local n=$1 root=$2
  mkdir -p "$root/data" "$root/tmp" "$root/user_files" "$root/format_schemas" "$root/log"
  cat >"$root/config.xml" <<EOF
<?xml version="1.0"?>
<yandex>
    <logger>
        <level>warning</level>
        <log>$root/log/server.log</log>
        <errorlog>$root/log/server.err.log</errorlog>
        <size>100M</size>
        <count>2</count>
    </logger>
    <listen_host>127.0.0.1</listen_host>
    <tcp_port>$(tcp_port "$n")</tcp_port>
    <http_port>$(http_port "$n")</http_port>
    <interserver_http_port>$(interserver_port "$n")</interserver_http_port>
    <interserver_http_host>127.0.0.1</interserver_http_host>
    <max_connections>1024</max_connections>
    <keep_alive_timeout>3</keep_alive_timeout>
    <max_concurrent_queries>100</max_concurrent_queries>
    <uncompressed_cache_size>268435456</uncompressed_cache_size>
    <mark_cache_size>268435456</mark_cache_size>
    <path>$root/data/</path>
    <tmp_path>$root/tmp/</tmp_path>
    <user_files_path>$root/user_files/</user_files_path>
    <format_schema_path>$root/format_schemas/</format_schema_path>
    <users_config>$root/users.xml</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <timezone>UTC</timezone>
    <mlock_executable>false</mlock_executable>
    <remote_servers>
        <streammeter>
            <shard>
                <replica><host>127.0.0.1</host><port>$(tcp_port 1)</port></replica>
            </shard>
            <shard>
                <replica><host>127.0.0.1</host><port>$(tcp_port 2)</port></replica>
            </shard>
        </streammeter>
    </remote_servers>
    <macros><shard>$n</shard><replica>r1</replica></macros>
    <builtin_dictionaries_reload_interval>3600</builtin_dictionaries_reload_interval>
    <max_session_timeout>3600</max_session_timeout>
    <default_session_timeout>60</default_session_timeout>
    <distributed_ddl><path>/clickhouse/task_queue/ddl</path></distributed_ddl>
</yandex>
EOF
  cat >"$root/users.xml" <<EOF
<?xml version="1.0"?>
<yandex>
    <profiles>
        <default>
            <max_memory_usage>2000000000</max_memory_usage>
            <load_balancing>in_order</load_balancing>
        </default>
    </profiles>
    <users>
        <default>
            <password></password>
            <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
            <profile>default</profile>
            <quota>default</quota>
        </default>
    </users>
    <quotas>
        <default>
            <interval>
                <duration>3600</duration>
                <queries>0</queries><errors>0</errors><result_rows>0</result_rows>
                <read_rows>0</read_rows><execution_time>0</execution_time>
            </interval>
        </default>
    </quotas>
</yandex>
EOF
}

answers() {  # shard number -> 0 when its HTTP interface says Ok.
  local port
  port=$(http_port "$1")
  if command -v curl >/dev/null; then
    curl -sf "http://127.0.0.1:$port/ping" >/dev/null 2>&1
  else
    python3 - "$port" <<'EOF' >/dev/null 2>&1
import sys, urllib.request
urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/ping", timeout=1).read()
EOF
  fi
}

start() {
  if [ -z "$server_bin" ]; then
    echo "clickhouse-server not found: apt-get install -y clickhouse-server clickhouse-client" >&2
    exit 1
  fi
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  for n in 1 2; do
    local root="$dir/shard$n"
    if [ -f "$root/server.pid" ] && kill -0 "$(cat "$root/server.pid")" 2>/dev/null; then
      continue  # already running
    fi
    write_config "$n" "$root"
    # Foreground server in the background; we keep its pid (no daemon, no systemd needed).
    # shellcheck disable=SC2086
    $server_bin --config-file="$root/config.xml" >"$root/log/stdout.log" 2>&1 &
    echo $! >"$root/server.pid"
  done
  local deadline=$((SECONDS + ${CH_START_TIMEOUT:-60}))
  for n in 1 2; do
    until answers "$n"; do
      if ! kill -0 "$(cat "$dir/shard$n/server.pid")" 2>/dev/null; then
        echo "shard $n exited; log:" >&2
        tail -n 30 "$dir/shard$n/log/server.err.log" "$dir/shard$n/log/stdout.log" >&2 || true
        exit 1
      fi
      if [ $SECONDS -ge $deadline ]; then
        echo "shard $n did not answer on port $(http_port "$n")" >&2
        exit 1
      fi
      sleep 0.2
    done
    echo "shard $n tcp $(tcp_port "$n") http $(http_port "$n")"
  done
  echo "url clickhouse://default@127.0.0.1:$(tcp_port 1)/streammeter cluster streammeter"
}

stop() {
  local n pid
  for n in 1 2; do
    local pidfile="$dir/shard$n/server.pid"
    [ -f "$pidfile" ] || continue
    pid=$(cat "$pidfile")
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid"
      for _ in $(seq 1 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
      done
      kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
    fi
    rm -f "$pidfile"
  done
}

case "$cmd" in
  start) start ;;
  stop) stop ;;
  status) answers 1 && answers 2 ;;
  *)
    echo "usage: $0 start|stop|status DIR" >&2
    exit 2
    ;;
esac
