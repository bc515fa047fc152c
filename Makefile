# podflame build. `make` builds build/podflame; `make test` builds an
# ASan+UBSan variant under build/asan and runs every test; `make demo`
# installs dependencies, builds and profiles this machine for 5 seconds.

CC       ?= gcc
CLANG    ?= clang
BPFTOOL  ?= bpftool
BUILD    ?= build
OPT      ?= -O2
SANITIZE ?=

ARCH := $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')
CFLAGS   := -std=gnu11 -Wall -Wextra -Werror -g $(OPT) -D_GNU_SOURCE -I. -I$(BUILD) $(EXTRA_CFLAGS)
LDLIBS   := -lbpf -lelf -ldw -ldebuginfod -lz -lpcre2-8 -lcurl -ljansson -lmicrohttpd -lcrypto -liberty -lpthread -lm
ifneq ($(wildcard /usr/include/valgrind/valgrind.h),)
CFLAGS   += -DHAVE_VALGRIND_H
endif
ifeq ($(SANITIZE),1)
CFLAGS   += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS  += -fsanitize=address,undefined
endif

FORMATS_SRCS   := formats/htab.c formats/profile.c formats/folded.c formats/format.c \
                  formats/pprof.c formats/speedscope.c formats/perfscript.c \
                  formats/stackcount.c formats/flamegraph.c formats/buf.c formats/escape.c \
                  formats/merge.c
SYMBOLIZE_SRCS := symbolize/procmaps.c symbolize/elfsyms.c symbolize/kallsyms.c \
                  symbolize/symbolizer.c symbolize/debuginfo.c symbolize/demangle.c symbolize/perfmap.c symbolize/unwinder.c \
                  symbolize/residency.c
# every command and subsystem of the binary but main
PROFILER_SRCS  := $(filter-out profiler/main.c,$(wildcard profiler/*.c profiler/*/*.c))
LIB_SRCS       := $(FORMATS_SRCS) $(SYMBOLIZE_SRCS) $(PROFILER_SRCS)
LIB_OBJS       := $(LIB_SRCS:%.c=$(BUILD)/%.o)

UNIT_TESTS     := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(wildcard tests/unit/test_*.c))
WORKLOADS      := $(BUILD)/tests/cpuwork $(BUILD)/tests/inlined $(BUILD)/tests/cxxwork \
                  $(BUILD)/tests/chain-fp $(BUILD)/tests/chain-nofp $(BUILD)/tests/chain-lib \
                  $(BUILD)/tests/jitspin $(BUILD)/tests/memfdexec $(BUILD)/tests/waitwork
SYMFIX         := $(BUILD)/tests/symtarget-pie $(BUILD)/tests/symtarget-nopie \
                  $(BUILD)/tests/libsymtarget.so $(BUILD)/tests/symtarget-stripped

TIDY_CHECKS := -checks='-*,bugprone-*,-bugprone-easily-swappable-parameters,\
  -bugprone-reserved-identifier,-bugprone-narrowing-conversions,clang-analyzer-*,\
  -clang-analyzer-security.insecureAPI.DeprecatedOrUnsafeBufferHandling,\
  -clang-analyzer-security.insecureAPI.strcpy,performance-*' --header-filter='^$$'

.PHONY: all demo deps test unit integration rootfs deploy-check bench bench-formats bench-flamegraph bench-symbolize bench-unwind bench-agent bench-query bench-offcpu fuzz fuzz-build lint format clean
SHELL := /bin/bash
.DELETE_ON_ERROR:

all: $(BUILD)/podflame

# ---- BPF: vmlinux.h from the running kernel's BTF, object, skeleton ----
$(BUILD)/vmlinux.h:
	@mkdir -p $(@D)
	$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > $@

$(BUILD)/profile.bpf.o: bpf/profile.bpf.c bpf/profile.h $(BUILD)/vmlinux.h
	$(CLANG) -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -I$(BUILD) -Ibpf -c $< -o $@

$(BUILD)/profile.skel.h: $(BUILD)/profile.bpf.o
	$(BPFTOOL) gen skeleton $< name profile_bpf > $@

# ---- userspace ----
$(BUILD)/%.o: %.c $(BUILD)/profile.skel.h
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/podflame: $(BUILD)/profiler/main.o $(LIB_OBJS)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)

# ---- tests ----
$(BUILD)/tests/test_%: tests/unit/test_%.c $(LIB_OBJS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) $^ $(LDLIBS) -lcmocka -ldl -o $@

# The workload needs an exact frame-pointer chain: -O0, because GCC 12 drops
# leaf functions' frames at -O1 and above even with -fno-omit-frame-pointer.
$(BUILD)/tests/cpuwork: tests/workloads/cpuwork.c
	@mkdir -p $(@D)
	$(CC) -std=gnu11 -Wall -Wextra -Werror -O0 -g -fno-omit-frame-pointer $< -o $@

# -O2 -g so that GCC inlines; frame pointers in leaves too, so the caller of
# the function the loops were inlined into is not lost.
# -O0 with frame pointers too: off-CPU stacks are unwound by frame pointers.
$(BUILD)/tests/waitwork: tests/workloads/waitwork.c
	@mkdir -p $(@D)
	$(CC) -std=gnu11 -Wall -Wextra -Werror -O0 -g -fno-omit-frame-pointer -pthread $< -o $@

$(BUILD)/tests/inlined: tests/workloads/inlined.c
	@mkdir -p $(@D)
	$(CC) -std=gnu11 -Wall -Wextra -Werror -O2 -g -fno-omit-frame-pointer -fno-shrink-wrap -fno-optimize-sibling-calls $< -o $@
$(BUILD)/tests/cxxwork: tests/workloads/cxxwork.cpp
	@mkdir -p $(@D)
	$(CXX) -std=c++17 -Wall -Wextra -Werror -O2 -g -fno-omit-frame-pointer -fno-shrink-wrap -fno-optimize-sibling-calls $< -o $@

# The unwinding tests' workload three ways: frame pointers (GCC still gives
# leaves none), no frame pointers, and a PIE calling into a shared library.
CHAIN_FLAGS := -std=gnu11 -Wall -Wextra -Werror -O2 -g -pthread
$(BUILD)/tests/chain-fp: tests/workloads/chain.c
	@mkdir -p $(@D)
	$(CC) $(CHAIN_FLAGS) -fno-omit-frame-pointer $< -o $@
$(BUILD)/tests/chain-nofp: tests/workloads/chain.c
	@mkdir -p $(@D)
	$(CC) $(CHAIN_FLAGS) -fomit-frame-pointer $< -o $@
$(BUILD)/tests/libchain.so: tests/workloads/chain.c
	@mkdir -p $(@D)
	$(CC) $(CHAIN_FLAGS) -fno-omit-frame-pointer -fPIC -shared -DCHAIN_LIB $< -o $@
$(BUILD)/tests/chain-lib: tests/workloads/chain.c $(BUILD)/tests/libchain.so
	$(CC) $(CHAIN_FLAGS) -fno-omit-frame-pointer -fPIE -pie -DCHAIN_MAIN $< -L$(@D) -lchain \
		-Wl,-rpath,'$$ORIGIN' -o $@

# What hostile containers run (tests/integration/hostile.sh): code in an
# anonymous page or a crafted file, and ever new binaries from memfds, told
# apart by a build ID the program finds in itself and rewrites.
$(BUILD)/tests/jitspin: tests/workloads/jitspin.c
	@mkdir -p $(@D)
	$(CC) -std=gnu11 -Wall -Wextra -Werror -O1 -g -pthread $< -o $@
$(BUILD)/tests/memfdexec: tests/workloads/memfdexec.c
	@mkdir -p $(@D)
	$(CC) -std=gnu11 -Wall -Wextra -Werror -O1 -g \
		-Wl,--build-id=0x0df17ec0de0df17ec0de0df17ec0de0df17ec0de $< -o $@

$(BUILD)/tests/symtarget-pie: tests/workloads/symtarget.c
	@mkdir -p $(@D)
	$(CC) -std=gnu11 -O1 -g -fPIE -pie $< -o $@
$(BUILD)/tests/symtarget-nopie: tests/workloads/symtarget.c
	@mkdir -p $(@D)
	$(CC) -std=gnu11 -O1 -g -fno-PIE -no-pie $< -o $@
$(BUILD)/tests/symtarget-stripped: $(BUILD)/tests/symtarget-pie
	objcopy --strip-all $< $@
$(BUILD)/tests/libsymtarget.so: tests/workloads/symtarget.c
	@mkdir -p $(@D)
	$(CC) -std=gnu11 -O1 -g -fPIC -shared -DSYMTARGET_LIB $< -o $@

unit: $(UNIT_TESTS) $(SYMFIX)
	tests/run-unit.sh $(BUILD)

integration: $(BUILD)/podflame $(WORKLOADS)
	tests/integration/run.sh $(BUILD)

# The agent's image without a Docker engine: Debian 12 by debootstrap with
# the Dockerfile's runtime packages (cached by the list's hash), and the binary.
rootfs: $(BUILD)/podflame
	tools/deploy/build-rootfs.sh $(BUILD)/podflame $(BUILD)/rootfs

# The DaemonSet's security context run by runc on that image (make test runs it too).
deploy-check: $(BUILD)/podflame $(BUILD)/tests/cpuwork
	tests/integration/deploy.sh $(BUILD) $(BUILD)

# Tests run on the sanitized build, and the readers' unit tests once more
# under valgrind on the plain build; tests/run-all.sh sums the results.
test:
	$(MAKE) BUILD=build/asan SANITIZE=1 OPT=-O1 $(addprefix build/asan/tests/,$(notdir $(UNIT_TESTS))) \
		build/asan/podflame build/asan/tests/cpuwork build/asan/tests/inlined build/asan/tests/cxxwork \
		build/asan/tests/chain-fp build/asan/tests/chain-nofp build/asan/tests/chain-lib \
		build/asan/tests/jitspin build/asan/tests/memfdexec build/asan/tests/waitwork \
		build/asan/tools/fleet_gen \
		$(patsubst $(BUILD)/%,build/asan/%,$(SYMFIX))
	$(MAKE) BUILD=build build/podflame $(UNIT_TESTS) $(SYMFIX) fuzz-build
	FUZZ_TARGETS="$(FUZZ_TARGETS)" tests/run-all.sh build/asan build

deps:
	tools/install-deps.sh

# An idle machine makes an empty graph, so a known workload runs meanwhile.
demo: deps
	$(MAKE) all $(WORKLOADS)
	@echo "demo: profiling the whole machine for 5 s while tests/workloads/cpuwork runs"
	$(BUILD)/tests/cpuwork 6 & $(BUILD)/podflame record -F 99 -d 5 -o demo.pb.gz; wait
	$(BUILD)/podflame convert demo.pb.gz demo.svg
	$(BUILD)/podflame convert demo.pb.gz demo.folded
	@echo "demo.svg: flame graph of this machine (open it in a browser); also demo.pb.gz, demo.folded"
	@echo "the hottest stacks:"
	@awk '{ n = $$NF; sub(/ [0-9]+$$/, ""); print n, substr($$0, 1, 150) }' demo.folded | sort -rn | head -5

$(BUILD)/tools/formats_bench: tools/bench/formats_bench.c $(LIB_OBJS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) $^ $(LDLIBS) -o $@

# A synthetic fleet's bucket as `podflame agent` writes it, for query's
# benchmark and tests (usage at the top of the file).
$(BUILD)/tools/fleet_gen: tools/bench/fleet_gen.c $(LIB_OBJS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) $^ $(LDLIBS) -o $@

bench: all $(WORKLOADS) bench-formats bench-flamegraph bench-symbolize bench-unwind
	tools/bench/overhead.py $(BUILD)

$(BUILD)/tools/symbolize_bench: tools/bench/symbolize_bench.c $(LIB_OBJS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) $^ $(LDLIBS) -o $@

bench-unwind: all $(WORKLOADS)
	tools/bench/unwind.py $(BUILD)

bench-offcpu: all
	tools/bench/offcpu.py $(BUILD) --rounds 9 --loops 100000

bench-query: $(BUILD)/podflame $(BUILD)/tools/fleet_gen
	tools/bench/query.py $(BUILD)

bench-agent: all $(WORKLOADS)
	tools/bench/agent.py $(BUILD)

bench-symbolize: $(BUILD)/tools/symbolize_bench
	tools/bench/symbolize.sh $(BUILD)

bench-formats: $(BUILD)/tools/formats_bench
	tools/bench/formats.sh $(BUILD)

# FLAMEGRAPH_DIR: a checkout of brendangregg/FlameGraph to compare against
bench-flamegraph: all
	tools/bench/flamegraph.py $(BUILD) $(if $(FLAMEGRAPH_DIR),--perl-dir $(FLAMEGRAPH_DIR))

lint: $(BUILD)/profile.skel.h
	tools/lint/include-order.py
	clang-format --dry-run --Werror bpf/*.c bpf/*.h formats/*.[ch] symbolize/*.[ch] profiler/*.[ch] profiler/*/*.[ch] tests/unit/*.c tests/workloads/*.c \
		tools/bench/fleet_gen.c
	cppcheck --quiet --error-exitcode=1 --enable=warning,performance,portability \
		--inline-suppr -I . formats symbolize profiler tools/bench/fleet_gen.c
	@out=$$(clang-tidy --quiet $(TIDY_CHECKS) formats/*.c symbolize/*.c profiler/*.c profiler/*/*.c \
		tools/bench/fleet_gen.c \
		-- -std=gnu11 -D_GNU_SOURCE -I. -I$(BUILD) 2>/dev/null | grep -A2 '^[^ ]*\.c:[0-9]*:[0-9]*: warning:'); \
		if [ -n "$$out" ]; then echo "$$out"; exit 1; else echo "clang-tidy: clean"; fi

format:
	clang-format -i bpf/*.c bpf/*.h formats/*.[ch] symbolize/*.[ch] profiler/*.[ch] profiler/*/*.[ch] tests/unit/*.c tests/workloads/*.c \
		tools/bench/fleet_gen.c

clean:
	rm -rf build


# ---- fuzzing: libFuzzer (clang) with ASan+UBSan, one binary per parser of
# untrusted input (tests/fuzz/fuzz.c -DFUZZ_<NAME>); seeds in
# tests/fuzz/corpus/NAME. `make fuzz` runs each for FUZZ_SECONDS (default
# 300), two at a time; `make test` runs each for 30 s. A crash leaves its
# input in build/fuzz/crash-NAME-*, to become a regression seed.
FUZZ_TARGETS := pprof folded perfscript procmaps perfmap cgroup_path cpustat podlist webhook elf config \
                listing merge
FUZZ_SECONDS ?= 300
FUZZ_DIR     := build/fuzz
FUZZ_CFLAGS  := -std=gnu11 -g -O1 -D_GNU_SOURCE -I. -I$(FUZZ_DIR) -fsanitize=fuzzer-no-link,address,undefined \
                -fno-sanitize-recover=all -fno-omit-frame-pointer

$(FUZZ_DIR)/profile.skel.h: build/profile.skel.h
	@mkdir -p $(@D)
	cp build/profile.skel.h build/vmlinux.h $(@D)/

$(FUZZ_DIR)/obj/%.o: %.c $(FUZZ_DIR)/profile.skel.h
	@mkdir -p $(@D)
	$(CLANG) $(FUZZ_CFLAGS) -c $< -o $@

$(FUZZ_DIR)/fuzz_%: tests/fuzz/fuzz.c $(LIB_SRCS:%.c=$(FUZZ_DIR)/obj/%.o)
	$(CLANG) $(FUZZ_CFLAGS) -fsanitize=fuzzer -DFUZZ_$(shell echo $* | tr a-z A-Z) $^ $(LDLIBS) -o $@

fuzz-build: $(FUZZ_TARGETS:%=$(FUZZ_DIR)/fuzz_%)

fuzz: fuzz-build
	tests/fuzz/run.sh $(FUZZ_DIR) $(FUZZ_SECONDS) $(FUZZ_TARGETS)
