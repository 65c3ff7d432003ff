# A thin wrapper over CMake.  `make demo` and `make test` install what is
# missing (scripts/install-deps.sh), configure, build and run.
JOBS ?= $(shell nproc)
SCALE ?= 1.0
THREADS ?= 2
CMAKE_FLAGS ?=

.PHONY: all deps build demo test test-plain test-asan test-tsan test-long build-matrix bench fuzz clean

all: build

deps:
	@./scripts/install-deps.sh

build/Makefile: | deps
	cmake -S . -B build $(CMAKE_FLAGS) >/dev/null

build: deps build/Makefile
	cmake --build build -j $(JOBS)

# The bank: 100 journaled accounts under a supervisor, 100,000 transfers
# from 8 threads while a chaos thread makes accounts fail; prints the
# invariants it checked.  Data goes to build/bank-data (fresh each time).
demo: build
	./build/bank --fresh --data build/bank-data

# Three builds: plain, ASan+UBSan, TSan.  Every suite must pass in each.
test: test-plain test-asan test-tsan

test-plain: build
	cd build && ctest --output-on-failure -j $(JOBS)

test-asan: deps
	cmake -S . -B build-asan -DACTO_ASAN=ON $(CMAKE_FLAGS) >/dev/null
	cmake --build build-asan -j $(JOBS)
	cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  CK_TIMEOUT_MULTIPLIER=4 ctest --output-on-failure -j $(JOBS)

test-tsan: deps
	cmake -S . -B build-tsan -DACTO_TSAN=ON $(CMAKE_FLAGS) >/dev/null
	cmake --build build-tsan -j $(JOBS)
	cd build-tsan && TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
	  CK_TIMEOUT_MULTIPLIER=10 ctest --output-on-failure -j $(JOBS)

# Long soak and stress runs (not part of `make test`): tests/test_soak.c
# runs SOAK seconds (default 600: ten minutes) of mixed load under failures,
# in the plain and the TSan build, and prints its RSS every 30 s; the plain
# build also fails if RSS after the first 60 s grows by more than 1 MB.
# The other suites run as usual.
SOAK ?= 600
test-long: deps
	cmake -S . -B build -DACTO_LONG_TESTS=ON $(CMAKE_FLAGS) >/dev/null
	cmake --build build -j $(JOBS)
	cd build && ACTO_SOAK_SECONDS=$(SOAK) ctest --output-on-failure
	cmake -S . -B build-tsan -DACTO_TSAN=ON -DACTO_LONG_TESTS=ON $(CMAKE_FLAGS) >/dev/null
	cmake --build build-tsan -j $(JOBS) --target test_soak
	cd build-tsan && ACTO_SOAK_SECONDS=$(SOAK) TSAN_OPTIONS=halt_on_error=1 \
	  CK_TIMEOUT_MULTIPLIER=10 ctest --output-on-failure -R test_soak

# libFuzzer targets (clang): each runs FUZZ_SECONDS (default 60) on its
# checked-in corpus; new inputs land in build-fuzz/corpus-<name>/.
FUZZ_SECONDS ?= 60
fuzz: deps
	@command -v clang >/dev/null || { echo "make fuzz needs clang"; exit 1; }
	@dpkg-query -W -f='$${Status}' libclang-rt-14-dev 2>/dev/null | grep -q "install ok" || \
	  { [ "$$(id -u)" = 0 ] && apt-get install -y -qq libclang-rt-14-dev >/dev/null; } || true
	CC=clang cmake -S . -B build-fuzz -DACTO_FUZZ=ON $(CMAKE_FLAGS) >/dev/null
	cmake --build build-fuzz -j $(JOBS)
	@for f in build-fuzz/fuzz_*; do n=$${f##*/fuzz_}; mkdir -p build-fuzz/corpus-$$n; \
	  echo "== fuzz $$n ($(FUZZ_SECONDS) s)"; \
	  $$f -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=2048 build-fuzz/corpus-$$n tests/fuzz/corpus/$$n || exit 1; done

# Every standard build type (Debug, Release, RelWithDebInfo, MinSizeRel)
# with gcc and clang, everything built with -Werror: optimisation levels
# change what the compilers warn about.  CI runs it after make test.
build-matrix: deps
	./scripts/build-matrix.sh

bench: build
	./bench/run.sh $(SCALE) $(THREADS)

clean:
	rm -rf build build-asan build-tsan build-fuzz build-matrix
