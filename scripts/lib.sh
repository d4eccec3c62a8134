# shellcheck shell=bash
# Helpers sourced by scripts/run, scripts/test and scripts/stop.
#
# Every ensure_* function is idempotent: it checks first and only does work
# that is missing. Safe under `set -euo pipefail`. Fatal errors exit the
# calling script (these helpers are meant for scripts, not interactive shells).
#
#   ensure_venv      .venv with the project installed (editable, dev extras)
#   ensure_rabbitmq  RabbitMQ on 127.0.0.1:5672 unless AMQP_URL is set
#   ensure_ferretdb  FerretDB (MongoDB wire protocol, SQLite) on 127.0.0.1:27017
#                    unless MONGODB_URL is set
#   ensure_services  both of the above

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV_DIR="$REPO_ROOT/.venv"
FERRETDB_SRC="$REPO_ROOT/tools/ferretdb"
FERRETDB_BIN="$REPO_ROOT/.cache/bin/ferretdb"
FERRETDB_DATA="$REPO_ROOT/.data/ferretdb"
FERRETDB_LOG="$REPO_ROOT/.data/ferretdb.log"
FERRETDB_PID="$REPO_ROOT/.data/ferretdb.pid"
FERRETDB_ADDR="127.0.0.1:27017"

# rabbitmq-server and rabbitmqctl live in /usr/sbin on Debian.
case ":$PATH:" in *:/usr/sbin:*) ;; *) PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin" ;; esac

log() { printf '==> %s\n' "$*" >&2; }
die() {
	printf 'ERROR: %s\n' "$*" >&2
	exit 1
}

# port_open HOST PORT: succeeds if a TCP connection can be made.
# shellcheck disable=SC2016  # $1/$2 expand in the inner bash
port_open() { timeout 3 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$1" "$2" 2>/dev/null; }

# as_root CMD...: run CMD as root (directly, or via sudo when available).
as_root() {
	if [[ $EUID -eq 0 ]]; then
		"$@"
	elif command -v sudo >/dev/null 2>&1; then
		sudo -- "$@"
	else
		die "need root to run: $*"
	fi
}

ensure_venv() {
	local py="${PYTHON:-python3}"
	if [[ ! -x "$VENV_DIR/bin/python" ]]; then
		command -v "$py" >/dev/null 2>&1 || die "$py not found (need Python >= 3.11)"
		"$py" -c 'import sys; sys.exit(sys.version_info < (3, 11))' ||
			die "$py is $("$py" -V 2>&1); need Python >= 3.11"
		if ! "$py" -c 'import ensurepip, venv' >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
			log "installing python3-venv (apt-get)"
			as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
			as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
		fi
		log "creating .venv ($("$py" -V 2>&1))"
		rm -rf "$VENV_DIR"
		"$py" -m venv "$VENV_DIR"
	fi

	local hash stamp f
	for f in pyproject.toml contracts/pyproject.toml; do
		[[ -f "$REPO_ROOT/$f" ]] || die "$f is missing"
	done
	hash="$(cat "$REPO_ROOT/pyproject.toml" "$REPO_ROOT/contracts/pyproject.toml" | sha256sum | cut -c1-16)"
	stamp="$VENV_DIR/.installed-$hash"
	if [[ -e "$stamp" ]]; then
		log ".venv is up to date"
		return 0
	fi
	log "installing project into .venv (pip)"
	(cd "$REPO_ROOT" && "$VENV_DIR/bin/pip" install -q --disable-pip-version-check \
		-e "./contracts[client]" -e ".[dev]")
	rm -f "$VENV_DIR"/.installed-*
	touch "$stamp"
}

_rabbitmq_log_tail() {
	local f
	# shellcheck disable=SC2012  # newest log; names are plain
	f="$(ls -t /var/log/rabbitmq/*.log 2>/dev/null | head -n 1 || true)"
	[[ -n "$f" ]] && { echo "--- tail of $f" >&2; tail -n 30 "$f" >&2 || true; }
	return 0
}

ensure_rabbitmq() {
	if [[ -n "${AMQP_URL:-}" ]]; then
		log "AMQP_URL is set; not managing a local RabbitMQ"
		return 0
	fi
	if port_open 127.0.0.1 5672; then
		log "RabbitMQ is already listening on 127.0.0.1:5672"
		return 0
	fi
	if ! command -v rabbitmq-server >/dev/null 2>&1; then
		command -v apt-get >/dev/null 2>&1 || die "rabbitmq-server not installed and no apt-get; install RabbitMQ or set AMQP_URL"
		log "installing rabbitmq-server (apt-get)"
		as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
		as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rabbitmq-server >/dev/null
	fi
	# The package's postinst may already have started the node.
	if ! port_open 127.0.0.1 5672 && ! rabbitmq-diagnostics -q ping >/dev/null 2>&1; then
		log "starting RabbitMQ (rabbitmq-server -detached)"
		as_root rabbitmq-server -detached || log "rabbitmq-server -detached returned $?; waiting anyway"
	fi
	log "waiting for RabbitMQ on 127.0.0.1:5672"
	local deadline=$((SECONDS + 90))
	until port_open 127.0.0.1 5672 && timeout 20 rabbitmqctl -q await_startup >/dev/null 2>&1; do
		if ((SECONDS >= deadline)); then
			_rabbitmq_log_tail
			die "RabbitMQ did not answer on 127.0.0.1:5672 within 90 s (logs: /var/log/rabbitmq/)"
		fi
		sleep 2
	done
	log "RabbitMQ is up"
}

_ferretdb_running() {
	local pid
	[[ -f "$FERRETDB_PID" ]] || return 1
	pid="$(cat "$FERRETDB_PID")"
	[[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null &&
		grep -q ferretdb "/proc/$pid/cmdline" 2>/dev/null
}

build_ferretdb() {
	if [[ -x "$FERRETDB_BIN" && -z "$(find "$FERRETDB_SRC" -type f -newer "$FERRETDB_BIN" -print -quit)" ]]; then
		return 0
	fi
	local go
	go="$(command -v go || true)"
	[[ -n "$go" ]] || go=/usr/local/go/bin/go
	[[ -x "$go" ]] || die "Go toolchain not found (need Go >= 1.24 on PATH or at /usr/local/go/bin/go), or set MONGODB_URL"
	log "building FerretDB -> .cache/bin/ferretdb (first build takes a few minutes)"
	mkdir -p "$(dirname "$FERRETDB_BIN")"
	(
		# Go needs a cache dir; keep it in the repo if HOME is not set.
		[[ -n "${HOME:-}" ]] || export GOPATH="$REPO_ROOT/.cache/go" GOCACHE="$REPO_ROOT/.cache/go-build"
		cd "$FERRETDB_SRC" && "$go" build -o "$FERRETDB_BIN.tmp" .
	)
	mv -f "$FERRETDB_BIN.tmp" "$FERRETDB_BIN"
}

ensure_ferretdb() {
	if [[ -n "${MONGODB_URL:-}" ]]; then
		log "MONGODB_URL is set; not managing a local FerretDB"
		return 0
	fi
	if port_open 127.0.0.1 27017; then
		log "MongoDB/FerretDB is already listening on $FERRETDB_ADDR"
		return 0
	fi
	if ! _ferretdb_running; then
		build_ferretdb
		mkdir -p "$FERRETDB_DATA"
		rm -f "$FERRETDB_PID"
		log "starting FerretDB on $FERRETDB_ADDR (log: .data/ferretdb.log, pid: .data/ferretdb.pid)"
		# setsid: own session, so it outlives this script and its terminal.
		# The pid is written from inside, so it is right even if setsid forks.
		# shellcheck disable=SC2016
		setsid bash -c 'echo $$ >"$1"; shift; exec "$@"' _ "$FERRETDB_PID" \
			nohup "$FERRETDB_BIN" -listen "$FERRETDB_ADDR" -data "$FERRETDB_DATA" \
			</dev/null >"$FERRETDB_LOG" 2>&1 &
	fi
	log "waiting for FerretDB on $FERRETDB_ADDR"
	local deadline=$((SECONDS + 60))
	until port_open 127.0.0.1 27017; do
		# Give up at the deadline, or at once if the process has exited.
		if ((SECONDS >= deadline)) || { [[ -s "$FERRETDB_PID" ]] && ! _ferretdb_running; }; then
			echo "--- tail of $FERRETDB_LOG" >&2
			tail -n 30 "$FERRETDB_LOG" >&2 || true
			die "FerretDB did not answer on $FERRETDB_ADDR (see .data/ferretdb.log)"
		fi
		sleep 1
	done
	log "FerretDB is up"
}

ensure_services() {
	ensure_rabbitmq
	ensure_ferretdb
}

# ensure_test_vhost: the tests use a virtual host of their own on the local
# RabbitMQ, so a worker you run with scripts/run never competes for their
# messages. Exports AMQP_URL for the test run. Skipped when AMQP_URL is set.
TEST_VHOST="pizzeria-test"
ensure_test_vhost() {
	if [[ -n "${AMQP_URL:-}" ]]; then
		return 0
	fi
	if ! rabbitmqctl -q list_vhosts 2>/dev/null | grep -qx "$TEST_VHOST"; then
		log "creating RabbitMQ virtual host $TEST_VHOST for the tests"
		rabbitmqctl -q add_vhost "$TEST_VHOST" >/dev/null
	fi
	rabbitmqctl -q set_permissions -p "$TEST_VHOST" guest '.*' '.*' '.*' >/dev/null
	export AMQP_URL="amqp://guest:guest@127.0.0.1:5672/$TEST_VHOST"
}
