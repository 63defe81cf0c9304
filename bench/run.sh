#!/usr/bin/env bash
# bench/run.sh — throughput and latency of the embedded proxy against real
# nginx (gen-nginx's site), Caddy and two calibration cores, all in front
# of the same hello app, with wrk at 32 connections. Writes bench/RESULTS.md.
#
#   bench/run.sh            # 10s per contender, 5 interleaved rounds
#   DURATION=5s ROUNDS=1 bench/run.sh
#   ONLY="nginx-static-small stackctl-static-small" bench/run.sh   # some rows
#
# Needs: go, wrk, nginx, caddy (apt-get install wrk nginx caddy).
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10s}
ROUNDS=${ROUNDS:-5}
CONNS=${CONNS:-32}
for tool in go wrk nginx caddy; do
	command -v "$tool" >/dev/null || { echo "bench: $tool is not installed (apt-get install wrk nginx caddy)" >&2; exit 1; }
done

WORK=$(mktemp -d /tmp/stackctl-bench.XXXXXX)
chmod 755 "$WORK"
PIDS=()
cleanup() {
	for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() {
	for _ in $(seq 200); do
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
		sleep 0.05
	done
	echo "bench: nothing listens on port $1" >&2; exit 1
}

echo "building…" >&2
go build -o "$WORK/hello" ./bench/hello
go build -o "$WORK/stackctl" .
(cd bench/contenders && go build -o "$WORK/fasthttpproxy" ./fasthttpproxy && go build -o "$WORK/nethttpproxy" ./nethttpproxy)

APP=$(free_port)
"$WORK/hello" -addr "127.0.0.1:$APP" & PIDS+=($!)
wait_port "$APP"

# One stack.toml drives both fronts, as in production: nginx runs the site
# gen-nginx writes, the embedded proxy is `stackctl serve --no-app`. Access
# logs are off on both sides (nginx.access_log = "off", serve --quiet).
"$WORK/stackctl" new bench --yes --dir "$WORK" >/dev/null
CONF="$WORK/bench/stack.toml"
# Static rows: a 321-byte stylesheet and a 1 MB file in the project's
# [[proxy.static]] folder (/static/ -> static/), served by both fronts.
mkdir -p "$WORK/bench/static"
head -c 321 /dev/zero | tr '\0' 'a' > "$WORK/bench/static/small.css"
head -c 1048576 /dev/urandom > "$WORK/bench/static/large.bin"
chmod -R a+rX "$WORK/bench"
sed -i -e "s#^access_log .*#access_log = \"off\"#" -e "s#^error_log .*#error_log = \"$WORK/error.log\"#" "$CONF"

P_PROXY=$(free_port)
"$WORK/stackctl" serve --no-app --quiet --config "$CONF" --listen "127.0.0.1:$P_PROXY" --upstream "127.0.0.1:$APP" >"$WORK/serve.log" 2>&1 & PROXY_PID=$!; PIDS+=($PROXY_PID)

# The same proxy on one P: on a small shared machine Go's scheduler spends
# time stealing work between Ps; this row measures what that costs.
P_PROXY1=$(free_port)
GOMAXPROCS=1 "$WORK/stackctl" serve --no-app --quiet --config "$CONF" --listen "127.0.0.1:$P_PROXY1" --upstream "127.0.0.1:$APP" >"$WORK/serve1.log" 2>&1 & PIDS+=($!)

P_NGINX=$(free_port)
"$WORK/stackctl" gen-nginx --config "$CONF" --listen "127.0.0.1:$P_NGINX" --upstream "127.0.0.1:$APP" --app-dir "$WORK/bench" >"$WORK/site.conf"
sed -e "s#@PREFIX@#$WORK#g" bench/nginx.conf.tmpl > "$WORK/nginx.conf"
nginx -p "$WORK" -c "$WORK/nginx.conf" & NGINX_PID=$!; PIDS+=($NGINX_PID)

P_CADDY=$(free_port)
cat > "$WORK/Caddyfile" <<CADDY
{
	admin off
	auto_https off
}
http://127.0.0.1:$P_CADDY {
	reverse_proxy 127.0.0.1:$APP
}
CADDY
HOME=$WORK XDG_DATA_HOME=$WORK XDG_CONFIG_HOME=$WORK caddy run --config "$WORK/Caddyfile" --adapter caddyfile >"$WORK/caddy.log" 2>&1 & PIDS+=($!)

P_FAST=$(free_port)
"$WORK/fasthttpproxy" -listen "127.0.0.1:$P_FAST" -upstream "127.0.0.1:$APP" & PIDS+=($!)
P_NETHTTP=$(free_port)
"$WORK/nethttpproxy" -listen "127.0.0.1:$P_NETHTTP" -upstream "127.0.0.1:$APP" & PIDS+=($!)

for p in "$P_PROXY" "$P_PROXY1" "$P_NGINX" "$P_CADDY" "$P_FAST" "$P_NETHTTP"; do wait_port "$p"; done
rss() { awk -v k="$2:" '$1==k {print $2}' "/proc/$1/status"; }
curl -fsS "http://127.0.0.1:$P_PROXY/" >/dev/null
sleep 1
IDLE_RSS=$(rss "$PROXY_PID" VmRSS)

NAMES=(app nginx stackctl stackctl-gomaxprocs1 caddy fasthttp-minimal nethttp-tuned
	nginx-static-small stackctl-static-small nginx-static-1m stackctl-static-1m)
declare -A PORT=([app]=$APP [nginx]=$P_NGINX [stackctl]=$P_PROXY [stackctl-gomaxprocs1]=$P_PROXY1 [caddy]=$P_CADDY [fasthttp-minimal]=$P_FAST [nethttp-tuned]=$P_NETHTTP
	[nginx-static-small]=$P_NGINX [stackctl-static-small]=$P_PROXY [nginx-static-1m]=$P_NGINX [stackctl-static-1m]=$P_PROXY)
# ONLY="nginx-static-small stackctl-static-small" bench/run.sh runs a subset.
if [ -n "${ONLY:-}" ]; then
	read -ra NAMES <<<"$ONLY"
	for n in "${NAMES[@]}"; do
		[ -n "${PORT[$n]:-}" ] || { echo "bench: ONLY names an unknown row '$n' (rows: ${!PORT[*]})" >&2; exit 2; }
	done
fi
# The path each row asks for, and the row its ratios are computed against.
declare -A URLPATH=([nginx-static-small]=/static/small.css [stackctl-static-small]=/static/small.css [nginx-static-1m]=/static/large.bin [stackctl-static-1m]=/static/large.bin)
declare -A REF=([nginx-static-small]=nginx-static-small [stackctl-static-small]=nginx-static-small [nginx-static-1m]=nginx-static-1m [stackctl-static-1m]=nginx-static-1m)
declare -A BEST RPS P50 P99 ALL_RPS ALL_P50 ALL_P99
ROUND_LINES=()

to_ms() { # wrk latency such as 812.00us, 1.20ms, 1.01s -> ms
	awk -v v="$1" 'BEGIN { n=v+0; if (v ~ /us$/) n/=1000; else if (v ~ /ms$/) n=n; else if (v ~ /s$/) n*=1000; printf "%.2f", n }'
}
for round in $(seq "$ROUNDS"); do
	for name in "${NAMES[@]}"; do
		url="http://127.0.0.1:${PORT[$name]}${URLPATH[$name]:-/}"
		timeout 10 wrk -t2 -c"$CONNS" -d1s "$url" >/dev/null 2>&1 || true # warm up
		out=$(timeout 120 wrk -t2 -c"$CONNS" -d"$DURATION" --latency "$url")
		rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
		p50=$(to_ms "$(awk '$1=="50%" {print $2}' <<<"$out")")
		p99=$(to_ms "$(awk '$1=="99%" {print $2}' <<<"$out")")
		if grep -q "Non-2xx\|Socket errors" <<<"$out"; then
			echo "bench: $name had errors:" >&2; grep "Non-2xx\|Socket errors" <<<"$out" >&2
		fi
		line=$(printf 'round %d %-17s %10s req/s  p50 %7s ms  p99 %7s ms' "$round" "$name" "$rps" "$p50" "$p99")
		echo "  $line" >&2
		ROUND_LINES+=("$line")
		ALL_RPS[$name]+="$rps "; ALL_P50[$name]+="$p50 "; ALL_P99[$name]+="$p99 "
	done
done
median() { tr ' ' '\n' <<<"$1" | grep . | sort -g | awk '{v[NR]=$1} END {print (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }
best() { tr ' ' '\n' <<<"$1" | grep . | sort -g | tail -1; }
for name in "${NAMES[@]}"; do
	RPS[$name]=$(median "${ALL_RPS[$name]}"); P50[$name]=$(median "${ALL_P50[$name]}"); P99[$name]=$(median "${ALL_P99[$name]}")
	BEST[$name]=$(best "${ALL_RPS[$name]}")
done
PEAK_RSS=$(rss "$PROXY_PID" VmHWM)
sleep 2
AFTER_RSS=$(rss "$PROXY_PID" VmRSS)

CPU=$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)
{
	echo "# Benchmark results"
	echo
	echo "Hello route (\`GET /\`, 18-byte text/plain body) of a Go net/http app, through each front;"
	echo "\`wrk -t2 -c$CONNS -d$DURATION --latency\`, $ROUNDS rounds interleaved over the fronts (each after a 1s warm-up);"
	echo "the table gives the median of the rounds (and the best round's req/s). All processes share the same machine."
	echo
	echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "- machine: $(nproc) cores, $CPU, $(uname -sr), $(awk '/MemTotal/ {printf "%.0f GB", $2/1048576}' /proc/meminfo) RAM; load average before the run: $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "- nginx $(nginx -v 2>&1 | sed 's#.*/##') (worker_processes auto, the site gen-nginx writes from the same stack.toml: upstream keepalive 16, gzip, security headers), caddy $(caddy version | cut -d' ' -f1) (reverse_proxy), $(go version | cut -d' ' -f3)"
	echo
	echo "| front | req/s (median) | p50 ms | p99 ms | throughput vs nginx | p99 vs nginx | best round req/s (vs nginx's best) |"
	echo "|---|---:|---:|---:|---:|---:|---:|"
	for name in "${NAMES[@]}"; do
		ref=${REF[$name]:-nginx}
		echo "| $name | ${RPS[$name]} | ${P50[$name]} | ${P99[$name]} | $(awk -v a="${RPS[$name]}" -v b="${RPS[$ref]}" 'BEGIN{printf "%.2f×", a/b}') | $(awk -v a="${P99[$name]}" -v b="${P99[$ref]}" 'BEGIN{printf "%.2f×", a/b}') | ${BEST[$name]} ($(awk -v a="${BEST[$name]}" -v b="${BEST[$ref]}" 'BEGIN{printf "%.2f×", a/b}')) |"
	done
	echo
	echo "stackctl proxy RSS: idle ${IDLE_RSS} kB at start, peak ${PEAK_RSS} kB under load, ${AFTER_RSS} kB idle after the run."
	echo
	echo "The \`*-static-small\` and \`*-static-1m\` rows ask both fronts for a 321-byte stylesheet and a 1 MB file of the"
	echo "project's [[proxy.static]] folder (gzip off for them: wrk sends no Accept-Encoding); their ratios are against the"
	echo "nginx row of the same file."
	echo
	echo "\`app\` is the app without a front (the ceiling). \`stackctl\` is \`stackctl serve --no-app\` (internal/proxy),"
	echo "\`stackctl-gomaxprocs1\` the same binary with GOMAXPROCS=1;"
	echo "\`fasthttp-minimal\` and \`nethttp-tuned\` are the calibration cores in bench/contenders, which set"
	echo "the same request headers but none of nginx's other semantics."
	echo
	echo "Every round:"
	echo
	echo '```'
	printf '%s\n' "${ROUND_LINES[@]}"
	echo '```'
} > bench/RESULTS.md
cat bench/RESULTS.md
