# trendmaster — common tasks. `make demo` and `make test` are the two commands of the README.
CARGO ?= cargo

.PHONY: build build-prophet image demo report-screenshot test bench soak quality fuzz lint fmt clean

## build: release binary at target/release/trendmaster
build:
	$(CARGO) build --release --locked -p trendmaster

## build-prophet: release binary with Prophet as a forecaster (wasmtime: ~15 min more build)
build-prophet:
	$(CARGO) build --release --locked -p trendmaster --features prophet

## image: the container image from the release binary, without any base image or registry
## (scripts/build-image.sh: FROM scratch with buildah; reproducible: the same binary gives the
## same image ID); writes output/image/trendmaster-<version>.docker.tar and .oci.tar for
## `podman load` / `docker load` and prints the ID and size. Needs root and buildah
## (scripts/install-test-deps.sh installs it)
IMAGE_DIR ?= output/image
image:
	$(CARGO) build --release --locked -p trendmaster
	bash scripts/build-image.sh "$${CARGO_TARGET_DIR:-target}/release/trendmaster" $(IMAGE_DIR)

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

## soak: a month of unattended nights (issue 20): the release binary runs the CronJob's
## arguments once per simulated night for 30 nights against a real Prometheus (six weeks of demo
## traffic) and the Kubernetes fake, with every fault of tests/soak.rs injected (Prometheus
## refusing, slow and dying; missing days, scrape gaps, a partner at zero; hand edits, another
## field manager, the ConfigMap deleted; SIGKILL, two runs at once, a full and a read-only output
## volume; bad configuration), the invariants checked after every night; prints the nights ×
## outcome table (`make test` runs the same test over 7 nights with the test binary)
soak:
	bash scripts/install-test-deps.sh
	$(CARGO) build --release --locked -p trendmaster
	SOAK_NIGHTS=30 TRENDMASTER_BIN="$${CARGO_TARGET_DIR:-$(CURDIR)/target}/release/trendmaster" \
		$(CARGO) test --locked -p trendmaster --test soak -- --nocapture

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
