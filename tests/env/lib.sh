# Shared helpers for the environment scripts (sourced, not run).

env_die() {
  echo "$(basename "$0"): $*" >&2
  exit 1
}

# free_port: prints a TCP port on 127.0.0.1 that is free right now.
free_port() {
  python3 - <<'PY'
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
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
