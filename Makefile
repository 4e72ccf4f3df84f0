# Two commands on a fresh Debian 12 machine:
#   make run    installs what is missing, builds, starts shoppulse on http://localhost:8000
#   make test   installs what is missing, builds, runs every test
# Everything else here is a step of those two.

BUILD_PACKAGES := cmake ninja-build g++ ccache pkg-config libboost1.81-all-dev librocksdb-dev \
                  libsimdjson-dev libfmt-dev catch2 libsqlite3-dev sqlite3 gzip libhiredis-dev librdkafka-dev libmongoc-dev
# ccache hits across checkouts in different folders.
export CCACHE_BASEDIR := $(CURDIR)
export CCACHE_NOHASHDIR := 1

SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
JOBS ?= $(shell nproc)

TEST_PACKAGES := chromium fonts-wqy-microhei redis-server openjdk-17-jre-headless maven postgresql

.PHONY: run test deps deps-node deps-test dashboard build build-dev build-tsan test-release test-asan test-tsan bench clean

run: build
	./build/release/src/app/shoppulse --config config/shoppulse.conf

deps:
	@missing=""; for p in $(BUILD_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi

# Debian 12's own Node.js (18) is enough for the dashboard build; a newer one
# already on the machine is used as it is.
deps-node:
	@command -v npm >/dev/null || { $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq nodejs npm; }

deps-test:
	@missing=""; for p in $(TEST_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi

# The dashboard (static/) is built before CMake configures, which embeds
# static/dist into the binary. npm packages come from package-lock.json.
DASHBOARD_SOURCES := $(shell find static/src static/index.html static/vite.config.ts static/tsconfig.json -type f 2>/dev/null)

static/node_modules/.package-lock.json: static/package-lock.json static/package.json | deps-node
	cd static && npm ci --no-audit --no-fund

static/dist/index.html: static/node_modules/.package-lock.json $(DASHBOARD_SOURCES)
	cd static && npm run build

dashboard: static/dist/index.html

build: deps dashboard
	cmake --preset release >/dev/null
	cmake --build --preset release -j $(JOBS)

build-dev: deps dashboard
	cmake --preset dev >/dev/null
	cmake --build --preset dev -j $(JOBS) --target unit_tests

build-tsan: deps dashboard
	cmake --preset tsan >/dev/null
	cmake --build --preset tsan -j $(JOBS) --target concurrency_tests

# The whole suite in Release, the unit tests again under ASan+UBSan, and the
# concurrency tests under ThreadSanitizer.
test: test-release test-asan test-tsan

test-release: build deps-test
	ctest --preset release -j 2

test-asan: build-dev
	ctest --preset dev -L unit -j 2

test-tsan: build-tsan
	ctest --preset tsan -j 2

bench: build
	./bench/run_all.sh build/release

clean:
	rm -rf build static/dist static/node_modules
