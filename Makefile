# dcd-broker: the two entry points are `make demo` and `make check`.
# Both install what a fresh Debian 12 machine lacks, then build.

BUILD ?= build
MESON ?= meson

.PHONY: all deps check demo bench clean qemu

all: $(BUILD)/build.ninja
	ninja -C $(BUILD)

deps:
	@./scripts/install-deps.sh

$(BUILD)/build.ninja: meson.build
	@$(MAKE) --no-print-directory deps
	$(MESON) setup $(BUILD) --reconfigure 2>/dev/null || $(MESON) setup $(BUILD)

check: deps all
	$(MESON) test -C $(BUILD) --print-errorlogs

demo: deps all
	./examples/demo.sh $(BUILD)

bench: deps all
	./bench/run.sh $(BUILD)

clean:
	rm -rf $(BUILD)
