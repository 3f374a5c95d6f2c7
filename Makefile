# trendmaster — common tasks. `make demo` and `make test` are the two commands of the README.
CARGO ?= cargo

.PHONY: build build-prophet demo report-screenshot test bench quality fuzz lint fmt clean

## build: release binary at target/release/trendmaster
build:
	$(CARGO) build --release --locked -p trendmaster

## build-prophet: release binary with Prophet as a forecaster (wasmtime: ~15 min more build)
build-prophet:
	$(CARGO) build --release --locked -p trendmaster --features prophet

## demo: the main job on built-in demo traffic; writes a ConfigMap and a report to output/
demo:
	$(CARGO) run --release --locked -p trendmaster -- --env environment

## report-screenshot: the newest HTML report in output/, rendered offline by headless Chromium
## into output/report-screenshot.png (after `make demo`)
report-screenshot:
	bash scripts/screenshot-report.sh "$$(ls -1t output/analysis_report_*.html | head -n 1)" output/report-screenshot.png

## test: the whole test suite (unit, end-to-end on the real binary, a real Prometheus and a
## real Envoy, doc tests, and the Prophet forecaster); installs Prometheus, Chromium and Envoy
## first when they are missing, and removes superseded test executables from the target
## directory (scripts/prune-target.sh: a reused one otherwise fills the disk)
test:
	bash scripts/install-test-deps.sh
	bash scripts/prune-target.sh
	$(CARGO) test --workspace --locked
	$(CARGO) test --locked -p trendmaster-analyze --features prophet

## bench: the whole run on 100 and 1,000 series (14 days at one minute) from Parquet and from a
## real Prometheus, each case 3 times (median and min–max of wall, CPU and peak RSS; stage
## medians). BENCH_ARGS='--large' adds Parquet at 10,000 and Prometheus at 5,000 series (the
## first backfill of 5,000 takes about 15 minutes; fleets are kept in ~/.cache/trendmaster/bench);
## BENCH_ARGS='--sizes 1000 --sources parquet --runs 5' narrows it.
bench:
	bash scripts/install-test-deps.sh
	$(CARGO) bench --locked -p trendmaster --bench fleet -- $(BENCH_ARGS)

## quality: the recommendation-quality benchmark (issue 16): rolling backtests (train 14 days, test
## the next 7, weekly) of the v1 rule, the original v3 and trendmaster on the NAB Twitter series
## and demo series with legitimate bursts; prints the tables, every window and the time taken
quality:
	$(CARGO) bench --locked -p trendmaster-testkit --bench quality

## fuzz: each fuzz target (config, ratelimit, prometheus_answer) for FUZZ_SECONDS (600) with
## libFuzzer, starting from the committed seeds in fuzz/seeds. Needs the nightly toolchain and
## cargo-fuzz (`rustup toolchain install nightly && cargo install cargo-fuzz`); not part of
## `make test`, which replays the seeds on stable.
FUZZ_SECONDS ?= 600
FUZZ_TARGETS ?= config ratelimit prometheus_answer
fuzz:
	cd fuzz && for target in $(FUZZ_TARGETS); do \
		mkdir -p corpus/$$target && \
		$(CARGO) +nightly fuzz run --fuzz-dir . --features libfuzzer -O $$target corpus/$$target seeds/$$target -- -max_total_time=$(FUZZ_SECONDS) || exit 1; \
	done

## lint: formatting and clippy, warnings are errors
lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

fmt:
	$(CARGO) fmt --all

## clean: build artefacts and generated outputs (output/ itself is kept)
clean:
	$(CARGO) clean
	find output -mindepth 1 -maxdepth 1 ! -name .gitkeep ! -name README.md -exec rm -rf {} +
	rm -rf logs
