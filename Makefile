# Two commands on a fresh Debian 12 machine:
#   make run    installs what is missing, builds, starts shoppulse on http://localhost:8000
#   make test   installs what is missing, builds, runs every test
# Everything else here is a step of those two.

BUILD_PACKAGES := cmake ninja-build g++ ccache pkg-config libboost1.81-all-dev librocksdb-dev \
                  libsimdjson-dev libfmt-dev zlib1g-dev catch2 libsqlite3-dev sqlite3 gzip libssl-dev libhiredis-dev librdkafka-dev libmongoc-dev libjemalloc-dev
# ccache hits across checkouts in different folders.
export CCACHE_BASEDIR := $(CURDIR)
export CCACHE_NOHASHDIR := 1

SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
JOBS ?= $(shell nproc)

TEST_PACKAGES := tzdata chromium fonts-wqy-microhei python3-venv redis-server openjdk-17-jre-headless maven postgresql
# make package (dpkg-shlibdeps) and its test in a debootstrap root.
PACKAGE_PACKAGES := dpkg-dev
PACKAGE_TEST_PACKAGES := debootstrap python3
# Debian's clang and its libFuzzer/sanitizer runtimes, for the fuzz targets.
FUZZ_PACKAGES := clang-14 libclang-rt-14-dev

.PHONY: run test deps deps-node deps-test deps-package deps-package-test deps-fuzz dashboard build build-dev \
        build-tsan build-fuzz test-release test-asan test-tsan test-fuzz test-load fuzz-long package test-package \
        install-packages bench clean

run: build
	./build/release/src/app/shoppulse --config config/shoppulse.conf

deps:
	@$(MAKE) --no-print-directory install-packages PACKAGES="$(BUILD_PACKAGES)"

# Debian 12's own Node.js (18) is enough for the dashboard build; a newer one
# already on the machine is used as it is.
deps-node:
	@command -v npm >/dev/null || { $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq nodejs npm; }

deps-test:
	@$(MAKE) --no-print-directory install-packages PACKAGES="$(TEST_PACKAGES)"

deps-fuzz:
	@$(MAKE) --no-print-directory install-packages PACKAGES="$(FUZZ_PACKAGES)"

# Installs whichever of PACKAGES is missing.
install-packages:
	@missing=""; for p in $(PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi

deps-package:
	@$(MAKE) --no-print-directory install-packages PACKAGES="$(PACKAGE_PACKAGES)"

deps-package-test:
	@$(MAKE) --no-print-directory install-packages PACKAGES="$(PACKAGE_PACKAGES) $(PACKAGE_TEST_PACKAGES)"

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

# The ASan+UBSan build: unit tests, and the binary with the integration
# and adapter tests that run against it.
build-dev: deps dashboard
	cmake --preset dev >/dev/null
	cmake --build --preset dev -j $(JOBS) --target unit_tests asan_integration_tests asan_adapter_tests

build-tsan: deps dashboard
	cmake --preset tsan >/dev/null
	cmake --build --preset tsan -j $(JOBS) --target concurrency_tests

# libFuzzer targets with clang 14, ASan+UBSan (tests/fuzz).
build-fuzz: deps deps-fuzz
	cmake --preset fuzz >/dev/null
	cmake --build --preset fuzz -j $(JOBS) --target fuzz_targets

# The whole suite in Release (it installs into a temporary prefix and builds
# examples/ against it); the unit, integration and adapter tests (Redis,
# Kafka, MongoDB against real servers) again under ASan+UBSan; the concurrency tests under ThreadSanitizer; a short run
# of every fuzz target; and the Debian package installed in a debootstrap
# root.
test: test-release test-asan test-tsan test-fuzz test-package

test-release: build deps-test
	ctest --preset release -j 2

# The adapter tests start Redis, Kafka and FerretDB (deps-test installs them).
test-asan: build-dev deps-test
	ctest --preset dev -L 'unit|asan_integration|asan_adapters' -j 2

test-tsan: build-tsan
	ctest --preset tsan -j 2

# build/release/shoppulse_<version>_<arch>.deb
package: build deps-package
	cd build/release && cpack -G DEB

# Needs root (chroot, mounts). The Debian 12 minbase root is cached in
# ~/.cache/shoppulse (first run: about 2 minutes to download; then ~40 s).
test-package: package deps-package-test
	$(SUDO) packaging/test_deb.sh build/release/shoppulse_$$(sed -n 's/^project(shoppulse VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt)_$$(dpkg --print-architecture).deb

# FUZZ_SECONDS per target (default 20; 13 targets two at a time: about 2.5 min).
FUZZ_SECONDS ?= 20
test-fuzz: build-fuzz
	cmake --preset fuzz -DSHOPPULSE_FUZZ_SECONDS=$(FUZZ_SECONDS) >/dev/null
	ctest --preset fuzz -j 2

# FUZZ_LONG_SECONDS per target; figures in tests/fuzz/README.md.
fuzz-long: build-fuzz
	./tests/fuzz/run_long.sh build/fuzz $(FUZZ_LONG_SECONDS)

# The release suite with four tests at a time while a CPU-heavy job runs
# beside it (tests/load/with_cpu_load.sh starts it and stops it).
test-load: build deps-test
	./tests/load/with_cpu_load.sh ctest --preset release -j 4 -LE not_under_load

bench: build
	./bench/run_all.sh build/release

clean:
	rm -rf build static/dist static/node_modules
