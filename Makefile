# Two commands on a fresh Debian 12 machine:
#   make run    installs what is missing, builds, starts shoppulse on http://localhost:8000
#   make test   installs what is missing, builds, runs every test
# Everything else here is a step of those two.

BUILD_PACKAGES := cmake ninja-build g++ ccache pkg-config libboost1.81-all-dev librocksdb-dev \
                  libsimdjson-dev libfmt-dev catch2 libsqlite3-dev sqlite3 gzip
# ccache hits across checkouts in different folders.
export CCACHE_BASEDIR := $(CURDIR)
export CCACHE_NOHASHDIR := 1

SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
JOBS ?= $(shell nproc)

.PHONY: run test deps build build-dev build-tsan test-release test-asan test-tsan bench clean

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

build: deps
	cmake --preset release >/dev/null
	cmake --build --preset release -j $(JOBS)

build-dev: deps
	cmake --preset dev >/dev/null
	cmake --build --preset dev -j $(JOBS) --target unit_tests

build-tsan: deps
	cmake --preset tsan >/dev/null
	cmake --build --preset tsan -j $(JOBS) --target concurrency_tests

# The whole suite in Release, the unit tests again under ASan+UBSan, and the
# concurrency tests under ThreadSanitizer.
test: test-release test-asan test-tsan

test-release: build
	ctest --preset release -j 2

test-asan: build-dev
	ctest --preset dev -L unit -j 2

test-tsan: build-tsan
	ctest --preset tsan -j 2

bench: build
	./bench/run_all.sh build/release

clean:
	rm -rf build
