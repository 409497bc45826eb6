#!/usr/bin/env bash
# The project's test command (README, .ci/run): formatting, vet, staticcheck, and the whole
# suite with the race detector. Fuzz targets run their seed corpora here;
# run them for longer with `go test -fuzz=FuzzName ./pkg/`.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v go >/dev/null 2>&1; then
	echo "Go is required (https://go.dev/dl/); install Go 1.26 or newer." >&2
	exit 1
fi
# -race needs cgo and a C compiler; the console's browser tests (admin/)
# drive headless Chromium, and fail in CI without it. Debian's packages.
missing=()
command -v gcc >/dev/null 2>&1 || missing+=(gcc)
if ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1; then
	missing+=(chromium)
fi
if [ ${#missing[@]} -gt 0 ] && command -v apt-get >/dev/null 2>&1; then
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# PostgreSQL and NATS JetStream for the cluster packages (scripts/services.sh).
source scripts/services.sh

unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
	echo "gofmt needed on:" >&2
	echo "$unformatted" >&2
	exit 1
fi
go vet ./...
# staticcheck is pinned in go.mod's tool block (honnef.co/go/tools).
go tool staticcheck ./...
CGO_ENABLED=1 go test -race -timeout 20m "$@" ./...
