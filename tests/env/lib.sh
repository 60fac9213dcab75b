# Shared helpers for the environment scripts (sourced, not run).

env_die() {
  echo "$(basename "$0"): $*" >&2
  exit 1
}

# free_port: prints a TCP port on 127.0.0.1 that is free right now.
#
# By default the kernel picks it, from the ephemeral range. KVTEST_ENV_PORTS
# (LOW-HIGH) makes it pick a random free port in that range instead: for a
# server that is killed and restarted on the same port while clients keep
# reconnecting (tests/robustness), a port outside the ephemeral range
# (/proc/sys/net/ipv4/ip_local_port_range) cannot be taken meanwhile by a
# client's own outgoing connection (a TCP self-connect to 127.0.0.1:PORT).
# (Not a KVSTREAM_* name: consumer replicas inherit the environment and warn
# about KVSTREAM_* variables that are no setting.)
free_port() {
  python3 - "${KVTEST_ENV_PORTS:-}" <<'PY'
import random, socket, sys
spec = sys.argv[1]
if not spec:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    print(s.getsockname()[1])
    s.close()
    sys.exit(0)
low, high = (int(x) for x in spec.split("-"))
for _ in range(500):
    port = random.randint(low, high)
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
    except OSError:
        continue
    finally:
        s.close()
    print(port)
    sys.exit(0)
sys.exit("no free port in KVTEST_ENV_PORTS=" + spec)
PY
}

# stop_pid PID [SECONDS]: SIGTERM, wait up to SECONDS (default 20), then SIGKILL.
# Only ever called with the pid of a process these scripts started.
stop_pid() {
  local pid=$1 limit=${2:-20} i
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < limit * 10; i++)); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
}
