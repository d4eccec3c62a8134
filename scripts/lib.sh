# shellcheck shell=bash
# Helpers sourced by scripts/run, scripts/test and scripts/stop.
#
# Every ensure_* function is idempotent: it checks first and only does work
# that is missing. Safe under `set -euo pipefail`. Fatal errors exit the
# calling script (these helpers are meant for scripts, not interactive shells).
#
#   ensure_venv      .venv with the project installed: the contracts, the client, the
#                    worker (dev extras) and the bench, all editable
#   ensure_rabbitmq  RabbitMQ on 127.0.0.1:5672 unless AMQP_URL is set
#   ensure_mongo     mongo-java-server (MongoDB wire protocol, in memory with a
#                    snapshot in .data/mongo/) on 127.0.0.1:27017 unless MONGODB_URL
#                    is set; built from tools/mongo-java-server with Debian's Java 17
#                    and Maven
#   ensure_services  both of the above
#   ensure_browser   Debian's chromium and chromium-driver, for the operator
#                    console's browser tests (Selenium drives them headless)

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV_DIR="$REPO_ROOT/.venv"
MONGO_SRC="$REPO_ROOT/tools/mongo-java-server"
MONGO_BUILD="$REPO_ROOT/.cache/mongo-java-server"
MONGO_DATA="$REPO_ROOT/.data/mongo"
MONGO_LOG="$REPO_ROOT/.data/mongo.log"
MONGO_PID="$REPO_ROOT/.data/mongo.pid"
MONGO_ADDR="127.0.0.1:27017"
MONGO_HEAP="${PIZZERIA_MONGO_HEAP:-2g}"

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
	for f in pyproject.toml contracts/pyproject.toml client/pyproject.toml bench/pyproject.toml; do
		[[ -f "$REPO_ROOT/$f" ]] || die "$f is missing"
	done
	hash="$(cat "$REPO_ROOT/pyproject.toml" "$REPO_ROOT/contracts/pyproject.toml" \
		"$REPO_ROOT/client/pyproject.toml" "$REPO_ROOT/bench/pyproject.toml" | sha256sum | cut -c1-16)"
	stamp="$VENV_DIR/.installed-$hash"
	if [[ -e "$stamp" ]]; then
		log ".venv is up to date"
		return 0
	fi
	log "installing project into .venv (pip)"
	(cd "$REPO_ROOT" && "$VENV_DIR/bin/pip" install -q --disable-pip-version-check \
		-e ./contracts -e ./client -e ".[dev]" -e ./bench)
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

# The fault tests raise a memory alarm (watermark 0) and put the watermark back when
# they end; a run killed meanwhile leaves every publisher blocked, and the next run
# hangs. A watermark of exactly 0 is only ever theirs: put Debian's default back.
_lift_test_memory_alarm() {
	local watermark
	watermark=$(timeout 20 rabbitmqctl -q eval 'vm_memory_monitor:get_vm_memory_high_watermark().' 2>/dev/null || true)
	if [[ "$watermark" == "0" || "$watermark" == "0.0" ]]; then
		log "RabbitMQ's memory watermark is 0 (left by an interrupted fault test): setting 0.4"
		timeout 20 rabbitmqctl -q set_vm_memory_high_watermark 0.4 >/dev/null 2>&1 || true
	fi
}

ensure_rabbitmq() {
	if [[ -n "${AMQP_URL:-}" ]]; then
		log "AMQP_URL is set; not managing a local RabbitMQ"
		return 0
	fi
	if port_open 127.0.0.1 5672; then
		log "RabbitMQ is already listening on 127.0.0.1:5672"
		_lift_test_memory_alarm
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

_mongo_running() {
	local pid
	[[ -f "$MONGO_PID" ]] || return 1
	pid="$(cat "$MONGO_PID")"
	[[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null &&
		grep -q pizzeria.mongo.Main "/proc/$pid/cmdline" 2>/dev/null
}

# ensure_java: Java 17 and Maven from Debian, unless both are on PATH already.
ensure_java() {
	command -v java >/dev/null 2>&1 && command -v mvn >/dev/null 2>&1 && return 0
	command -v apt-get >/dev/null 2>&1 || die "java and mvn not found and no apt-get; install Java 17 and Maven, or set MONGODB_URL"
	log "installing openjdk-17-jdk-headless and maven (apt-get)"
	as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jdk-headless maven >/dev/null
}

# build_mongo: tools/mongo-java-server -> .cache/mongo-java-server (Maven Central),
# again only when its sources changed.
build_mongo() {
	local jar="$MONGO_BUILD/pizzeria-mongo.jar"
	if [[ -f "$jar" && -z "$(find "$MONGO_SRC" -type f -newer "$jar" -print -quit)" ]]; then
		return 0
	fi
	ensure_java
	mkdir -p "$REPO_ROOT/.cache"
	log "building mongo-java-server -> .cache/mongo-java-server (Maven; the first build downloads for about 30 s)"
	mvn -q -B -f "$MONGO_SRC/pom.xml" package >"$REPO_ROOT/.cache/mongo-build.log" 2>&1 || {
		tail -n 30 "$REPO_ROOT/.cache/mongo-build.log" >&2
		die "building tools/mongo-java-server failed (log: .cache/mongo-build.log)"
	}
	touch "$jar"
}

# _retire_ferretdb: the FerretDB that earlier versions of these scripts started, if it
# still runs, would answer on the database's port instead of mongo-java-server.
_retire_ferretdb() {
	local pid_file="$REPO_ROOT/.data/ferretdb.pid" pid i
	[[ -f "$pid_file" ]] || return 0
	pid="$(cat "$pid_file")"
	if [[ "$pid" =~ ^[0-9]+$ ]] && grep -q ferretdb "/proc/$pid/cmdline" 2>/dev/null; then
		log "stopping the FerretDB an earlier version started (pid $pid); its data stays in .data/ferretdb/ and is not carried over"
		kill -TERM "$pid" 2>/dev/null || true
		for ((i = 0; i < 40; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.25
		done
	fi
	rm -f "$pid_file"
}

ensure_mongo() {
	if [[ -n "${MONGODB_URL:-}" ]]; then
		log "MONGODB_URL is set; not managing a local database"
		return 0
	fi
	_retire_ferretdb
	if port_open 127.0.0.1 27017; then
		log "a MongoDB-protocol server is already listening on $MONGO_ADDR"
		return 0
	fi
	if ! _mongo_running; then
		build_mongo
		mkdir -p "$MONGO_DATA"
		rm -f "$MONGO_PID"
		log "starting mongo-java-server on $MONGO_ADDR (data: .data/mongo/, log: .data/mongo.log)"
		# setsid: own session, so it outlives this script and its terminal.
		# The pid is written from inside, so it is right even if setsid forks.
		# shellcheck disable=SC2016
		setsid bash -c 'echo $$ >"$1"; shift; exec "$@"' _ "$MONGO_PID" \
			nohup java "-Xmx$MONGO_HEAP" \
			-cp "$MONGO_BUILD/pizzeria-mongo.jar:$MONGO_BUILD/lib/*" pizzeria.mongo.Main \
			--host 127.0.0.1 --port 27017 --snapshot "$MONGO_DATA/snapshot.bson" --snapshot-seconds 60 \
			</dev/null >>"$MONGO_LOG" 2>&1 &
	fi
	log "waiting for mongo-java-server on $MONGO_ADDR"
	local deadline=$((SECONDS + 120))
	until port_open 127.0.0.1 27017; do
		# Give up at the deadline, or at once if the process has exited.
		if ((SECONDS >= deadline)) || { [[ -s "$MONGO_PID" ]] && ! _mongo_running; }; then
			echo "--- tail of $MONGO_LOG" >&2
			tail -n 30 "$MONGO_LOG" >&2 || true
			die "mongo-java-server did not answer on $MONGO_ADDR (see .data/mongo.log)"
		fi
		sleep 1
	done
	log "mongo-java-server is up"
}

ensure_services() {
	ensure_rabbitmq
	ensure_mongo
}

# ensure_browser: a browser the console's tests can drive. Debian's, since a browser
# build of Playwright's or Selenium Manager's own cannot be downloaded here.
ensure_browser() {
	if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
		return 0
	fi
	command -v apt-get >/dev/null 2>&1 || die "chromium and chromedriver not found and no apt-get; install Chromium and its driver"
	log "installing chromium and chromium-driver (apt-get), for the console's browser tests"
	as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
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
