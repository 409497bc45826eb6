#!/usr/bin/env bash
# Sourced by scripts/test.sh: makes sure PostgreSQL (127.0.0.1:5432, trust
# auth, database "test") and NATS with JetStream (127.0.0.1:4222) answer,
# for the cluster packages (postgres/, jetstream/) and their tests. The
# project's machines run both; on a machine without them this starts what is
# missing: PostgreSQL from Debian's package (its "main" cluster, with trust
# auth on loopback for this machine's tests), NATS from the nats-server
# module pinned in go.mod, in the background with its data in a temporary
# directory. Tests then fail rather than skip when a service is missing
# (TVBRIDGE_REQUIRE_SERVICES=1).

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port() {
	for _ in $(seq 1 100); do
		port_open "$1" && return 0
		sleep 0.2
	done
	echo "nothing answers on 127.0.0.1:$1 after 20 s" >&2
	return 1
}

ensure_postgres() {
	port_open 5432 && return 0
	echo "PostgreSQL is not running on 127.0.0.1:5432: starting Debian's" >&2
	if ! command -v pg_ctlcluster >/dev/null 2>&1; then
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
	fi
	local ver conf
	ver=$(ls /etc/postgresql | sort -V | tail -1)
	conf=/etc/postgresql/$ver/main
	# Trust on loopback only: the tests connect as root or postgres
	# without a password, as on the project's machines.
	if ! grep -q '^host all all 127.0.0.1/32 trust' "$conf/pg_hba.conf"; then
		sed -i '1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$conf/pg_hba.conf"
	fi
	pg_ctlcluster "$ver" main start || pg_ctlcluster "$ver" main restart
	wait_port 5432
	su postgres -c "psql -q -c \"do \\\$\\\$ begin create role root superuser login; exception when duplicate_object then null; end \\\$\\\$\"" >/dev/null
	su postgres -c "createdb -O root test" 2>/dev/null || true
}

ensure_nats() {
	port_open 4222 && return 0
	echo "NATS is not running on 127.0.0.1:4222: starting one with JetStream" >&2
	local dir
	dir=$(mktemp -d)
	if command -v nats-server >/dev/null 2>&1; then
		nohup nats-server -a 127.0.0.1 -p 4222 -js -sd "$dir" >"$dir/log" 2>&1 &
	else
		go build -o "$dir/nats-server" github.com/nats-io/nats-server/v2
		nohup "$dir/nats-server" -a 127.0.0.1 -p 4222 -js -sd "$dir" >"$dir/log" 2>&1 &
	fi
	wait_port 4222
}

ensure_postgres
ensure_nats
export TVBRIDGE_REQUIRE_SERVICES=1
