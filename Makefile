# dcd-broker: the two entry points are `make demo` and `make check`.
# Both install what a fresh Debian 12 machine lacks, then build.

BUILD ?= build
MESON ?= meson

.PHONY: all deps check-deps check check-sanitize fuzz guest demo demo-cluster demo-qtest demo-hostsim bench bench-save storm soak cluster-storm cluster-scale clean qemu qemu-series-check

all: $(BUILD)/build.ninja
	ninja -C $(BUILD)

deps:
	@./scripts/install-deps.sh

# The tests also need etcd (the cluster suite runs its own members).
check-deps:
	@./scripts/install-deps.sh --cluster

$(BUILD)/build.ninja: meson.build
	@$(MAKE) --no-print-directory deps
	$(MESON) setup $(BUILD) --reconfigure 2>/dev/null || $(MESON) setup $(BUILD)

# The patched QEMU (cached: a no-op when neither source nor series changed).
qemu: deps
	./qemu/build.sh

# Every patch passes QEMU's checkpatch; every prefix of the series builds
# and passes its qtests.
qemu-series-check: qemu
	./qemu/checkpatch.sh
	./qemu/series-check.sh

# The guest rig (guest/README.md): a Debian kernel, firmware and busybox,
# fetched once and cached in guest/cache (refetched when the suite's
# kernel changes).
guest: deps
	./guest/rig/rig.sh

# On failure, each failed test's first error lines come last, where
# whoever reads only the end of the output sees them.
DIGEST = || { ./scripts/failure-digest.py $(1); exit 1; }
check: check-deps all qemu guest
	$(MESON) test -C $(BUILD) --print-errorlogs $(call DIGEST,$(BUILD))

# The suites that need no QEMU, built with AddressSanitizer and
# UndefinedBehaviorSanitizer; the broker processes they start are
# sanitized too, and a report fails the test (halt_on_error).  The
# cluster suite starts its own etcd (installed by check-deps).
SAN := $(BUILD)-sanitize
check-sanitize: check-deps
	@test -f $(SAN)/build.ninja || $(MESON) setup $(SAN) \
		-Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug
	ninja -C $(SAN)
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:abort_on_error=1 \
		$(MESON) test -C $(SAN) --suite unit --suite broker --suite fuzz \
		--suite cluster --print-errorlogs $(call DIGEST,$(SAN))

# libFuzzer with ASan and UBSan (fuzz/README.md): every target for
# FUZZ_SECONDS, one after the other, from the committed corpus.  New
# inputs and crashes stay in $(FUZZ_BUILD), never in the tree.
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := fuzz-proto fuzz-host-session fuzz-control fuzz-state fuzz-acpi fuzz-guest-files fuzz-etcd
fuzz:
	@./scripts/install-deps.sh --fuzz
	@test -f $(FUZZ_BUILD)/build.ninja || CC=clang $(MESON) setup $(FUZZ_BUILD) \
		-Dfuzzing=true -Db_sanitize=address,undefined -Db_lundef=false
	ninja -C $(FUZZ_BUILD) $(addprefix fuzz/,$(FUZZ_TARGETS))
	./fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_SECONDS) $(FUZZ_TARGETS)

# The demo boots two Linux guests on the patched QEMU: $(DCD_QEMU) if
# set, else qemu/build's.
demo: deps all $(if $(DCD_QEMU),,qemu) guest
	./examples/demo.sh $(BUILD)

# The same flow under qtest, with dcd-host playing each guest.
# Two brokers sharing one device through etcd, a real guest on each
# (docs/cluster.md); etcd comes with check-deps.
demo-cluster: check-deps all $(if $(DCD_QEMU),,qemu) guest
	./examples/demo-cluster.sh $(BUILD)

demo-qtest: deps all $(if $(DCD_QEMU),,qemu)
	./examples/demo-qtest.sh $(BUILD)

# The same flow with simulated hosts (no QEMU).
demo-hostsim: deps all
	./examples/demo-hostsim.sh $(BUILD)

# Results (JSON, tables, PNG plots) go to $(BUILD)/bench-results;
# bench-save copies them over the committed ones in bench/results, on
# purpose only.
bench: deps all
	@./scripts/install-deps.sh --bench
	./bench/run.sh $(BUILD)

bench-save:
	cp $(BUILD)/bench-results/*.json $(BUILD)/bench-results/*.png bench/results/

# SIGKILL storm and soak against the build's broker (bench/README.md):
# a table, and storm.json / soak.json in $(BUILD).  Replay a storm with
# STORM_ARGS="--seed N".
storm: deps all
	$(BUILD)/bench/dcd-storm --out=$(BUILD) $(STORM_ARGS)

soak: deps all
	$(BUILD)/bench/dcd-soak --out=$(BUILD) $(SOAK_ARGS)

# Brokers sharing a device through etcd, under broker kills, etcd member
# kills and pauses past the lease (bench/README.md); cluster-storm.json
# in $(BUILD).  Needs etcd (check-deps).
cluster-storm: check-deps all
	$(BUILD)/bench/dcd-cluster-storm --out=$(BUILD) $(STORM_ARGS)

# Extent adds against 1, 3, 8 and 32 brokers on one etcd it starts
# (bench/README.md): a table, cluster-scale.json and its plots in
# $(BUILD)/bench-results.
cluster-scale: check-deps all
	@./scripts/install-deps.sh --bench
	mkdir -p $(BUILD)/bench-results
	$(BUILD)/bench/cluster-scale \
	    --output=$(BUILD)/bench-results/cluster-scale.json $(SCALE_ARGS)
	./bench/plot.sh $(BUILD)/bench-results

clean:
	rm -rf $(BUILD) $(SAN)
