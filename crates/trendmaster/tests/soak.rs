//! A month of nights, unattended: the binary runs once per simulated night, as the CronJob in
//! `deploy/kubernetes/cronjob.yaml` runs it (its arguments are read from that file), against a
//! real Prometheus holding six weeks of demo traffic and the Kubernetes fake, while faults are
//! injected around it. After every night the invariants below are checked and a row of the
//! nights × outcome table is printed.
//!
//! `make test` runs the short form (7 nights, 7 fault kinds); `make soak` runs 30 nights with
//! every fault kind, with the release binary (`SOAK_NIGHTS=30 TRENDMASTER_BIN=…`).
//!
//! Invariants, every night:
//! - a good night (exit 0 or 2) applied exactly what it wrote (`latest_configmap.yaml`);
//! - a failed night exited non-zero with one line naming the cause, and left `output/` (all
//!   but the run's own metrics file, written whatever the exit code) and the cluster as they
//!   were;
//! - what the cluster holds is a valid ratelimit configuration (`trendmaster check`), and no
//!   limit of ours in it is below the next day's legitimate peak (replayed from the backfill,
//!   labelled anomalies left out);
//! - what an operator wrote into the cluster is still there;
//! - a partner whose traffic is at zero is not cut while it is out.
//!
//! At the end, every good night's object is in the history, and `--rollback N` restores them.
//!
//! What is not real here: the Kubernetes API server (testkit's fake, which speaks the real
//! ConfigMap paths with server-side apply semantics) and the Pushgateway (the push is left
//! out; the metrics file is kept and checked).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use common::{files_under, root};
use serde_json::Value;
use trendmaster_fetch::DemoTraffic;
use trendmaster_testkit::fault_proxy::{FaultProxy, ProxyFault};
use trendmaster_testkit::{KubeFake, MetricShape, PrometheusServer};
use trendmaster_types::{AnalysisWindow, FetchedSeries, SeriesKey};

const SEED: u64 = 7;
const PARTNERS: [&str; 3] = ["101", "201", "301"];
const APIS: [&str; 3] = [
    "/api_v3/service/multirequest",
    "/api_v3/service/asset/action/list",
    "/api_v3/service/ottuser/action/login",
];
/// The partner whose series go missing for a day, and the one whose traffic drops to zero.
const MISSING_PARTNER: &str = "201";
const ZERO_PARTNER: &str = "301";
/// The operator's own entry, added by hand.
const OPERATOR_PARTNER: &str = "999";
const OPERATOR_API: &str = "/api_v3/service/operator/action/own";
const OPERATOR_LIMIT: u64 = 4242;
const NAMESPACE: &str = "istio-system";
const NAME: &str = "ratelimit-config";
/// The first night's `--as-of`; the history starts 15 days earlier.
const FIRST_NIGHT: &str = "2026-10-05T02:17:00Z";
const HISTORY_DAYS_BEFORE: i64 = 15;
/// The run's own metrics file, inside the output directory as on the CronJob's volume.
const METRICS_FILE: &str = "trendmaster.prom";
/// Per-query timeout of the soak's runs: the slow Prometheus answers after twice this.
const TIMEOUT_SECS: u64 = 2;

/// One thing that goes wrong on a night.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Fault {
    /// Nothing listens at the Prometheus URL.
    PrometheusRefuses,
    /// Prometheus answers after the timeout.
    PrometheusSlow,
    /// Prometheus dies while answering.
    PrometheusDies,
    /// Partner 201's series have no samples on the day before the night.
    PartnerMissingDay,
    /// No series has samples for 6 hours of the day before the night.
    ScrapeGap,
    /// Partner 301's traffic is zero on the day before this night and the two before it.
    PartnerAtZero,
    /// An operator raises one limit and adds an entry of their own with `kubectl edit`.
    OperatorEdit,
    /// The operator hands the file back: the night runs once with `--force-conflicts`.
    OperatorHandsBack,
    /// Another field manager adds a label and an annotation of its own.
    ForeignManager,
    /// The ConfigMap is deleted before the night.
    ConfigMapDeleted,
    /// The run is killed with SIGKILL while it writes its files.
    Killed,
    /// Two runs start at once on the same output directory.
    TwoRuns,
    /// The output volume is full (`prlimit --fsize`: no file may grow past 64 KiB).
    DiskFull,
    /// The output volume is read-only (the run cannot write in it).
    ReadOnly,
    /// The configuration has an unknown key.
    UnknownKey,
    /// A partner is removed from the configuration.
    PartnerRemoved,
}

impl Fault {
    /// Whether the night must fail (exit neither 0 nor 2) and change nothing.
    fn fails(self) -> bool {
        matches!(
            self,
            Self::PrometheusRefuses
                | Self::PrometheusSlow
                | Self::PrometheusDies
                | Self::OperatorEdit
                | Self::DiskFull
                | Self::ReadOnly
                | Self::UnknownKey
        )
    }

    /// Faults in the traffic itself, laid into the backfill.
    fn in_data(self) -> bool {
        matches!(
            self,
            Self::PartnerMissingDay | Self::ScrapeGap | Self::PartnerAtZero
        )
    }
}

/// The faults of each night: the short form for `make test`, 30 nights for `make soak`.
fn schedule(nights: usize) -> Vec<Vec<Fault>> {
    use Fault::*;
    let full: Vec<Vec<Fault>> = vec![
        vec![],
        vec![ForeignManager],
        vec![PrometheusRefuses],
        vec![],
        vec![OperatorEdit],
        vec![OperatorHandsBack],
        vec![PrometheusSlow],
        vec![PartnerMissingDay],
        vec![PrometheusDies],
        vec![ScrapeGap],
        vec![ConfigMapDeleted],
        vec![Killed],
        vec![TwoRuns],
        vec![DiskFull],
        vec![ReadOnly],
        vec![UnknownKey],
        vec![PartnerRemoved],
        vec![PartnerAtZero],
        vec![PartnerAtZero],
        vec![PartnerAtZero],
        vec![],
        vec![PrometheusSlow, PartnerMissingDay],
        vec![ConfigMapDeleted, ScrapeGap],
        vec![OperatorEdit, PrometheusDies],
        vec![OperatorHandsBack, ForeignManager],
        vec![Killed, PartnerRemoved],
        vec![TwoRuns, ScrapeGap],
        vec![DiskFull, ReadOnly],
        vec![UnknownKey, PrometheusRefuses],
        vec![],
    ];
    if nights >= full.len() {
        let mut all = full;
        all.resize(nights, Vec::new());
        return all;
    }
    let short: Vec<Vec<Fault>> = vec![
        vec![],
        vec![PrometheusDies],
        vec![OperatorEdit],
        vec![OperatorHandsBack, ForeignManager],
        vec![ConfigMapDeleted, PartnerMissingDay],
        vec![Killed],
        vec![UnknownKey],
        vec![DiskFull],
        vec![],
    ];
    short
        .into_iter()
        .chain(std::iter::repeat(Vec::new()))
        .take(nights.max(7))
        .collect()
}

fn first_night() -> DateTime<Utc> {
    FIRST_NIGHT.parse().unwrap()
}

fn as_of(night: usize) -> DateTime<Utc> {
    first_night() + TimeDelta::days(night as i64)
}

/// The midnight before `time`.
fn midnight(time: DateTime<Utc>) -> DateTime<Utc> {
    time.date_naive().and_hms_opt(0, 0, 0).unwrap().and_utc()
}

/// The demo traffic of every series from 15 days before the first night to a day after the
/// last, with the data faults of `plan` laid in.
fn history(plan: &[Vec<Fault>]) -> Vec<FetchedSeries> {
    let start = midnight(first_night()) - TimeDelta::days(HISTORY_DAYS_BEFORE);
    let end = midnight(as_of(plan.len())) + TimeDelta::days(1);
    let window = AnalysisWindow {
        start,
        end,
        step_secs: 60,
    };
    let demo = DemoTraffic::new(SEED);
    let mut series: Vec<FetchedSeries> = PARTNERS
        .iter()
        .flat_map(|p| APIS.iter().map(move |a| SeriesKey::new(*p, *a)))
        .map(|key| demo.series(&key, &window))
        .collect();
    let index = |time: DateTime<Utc>| ((time - start).num_seconds() / 60).max(0) as usize;
    for (night, faults) in plan.iter().enumerate() {
        let day_before = midnight(as_of(night)) - TimeDelta::days(1);
        for fault in faults.iter().filter(|f| f.in_data()) {
            let (partner, from, to, value) = match fault {
                Fault::PartnerMissingDay => (
                    Some(MISSING_PARTNER),
                    day_before,
                    day_before + TimeDelta::days(1),
                    f64::NAN,
                ),
                Fault::ScrapeGap => (
                    None,
                    day_before + TimeDelta::hours(6),
                    day_before + TimeDelta::hours(12),
                    f64::NAN,
                ),
                Fault::PartnerAtZero => (
                    Some(ZERO_PARTNER),
                    day_before,
                    day_before + TimeDelta::days(1),
                    0.0,
                ),
                _ => unreachable!(),
            };
            for s in series
                .iter_mut()
                .filter(|s| partner.is_none_or(|p| s.series.key.partner == p))
            {
                let end = index(to).min(s.series.values.len());
                for v in &mut s.series.values[index(from)..end] {
                    *v = value;
                }
                // A zero or a gap over a labelled anomaly leaves nothing of it to find.
                s.labelled_anomalies
                    .retain(|a| a.start_index + a.len <= index(from) || a.start_index >= end);
            }
        }
    }
    series
}

/// The highest legitimate minute of each series in the day after `night`'s run: the limit in
/// force must clear it.
fn next_day_peaks(series: &[FetchedSeries], night: usize) -> BTreeMap<SeriesKey, f64> {
    let from = as_of(night);
    series
        .iter()
        .map(|s| {
            let start = s.series.window.start;
            let first = ((from - start).num_seconds() / 60) as usize;
            let last = (first + 1440).min(s.series.values.len());
            let anomalous: BTreeSet<usize> = s
                .labelled_anomalies
                .iter()
                .flat_map(|a| a.start_index..a.start_index + a.len)
                .collect();
            let peak = (first..last)
                .filter(|i| !anomalous.contains(i))
                .map(|i| s.series.values[i])
                .filter(|v| !v.is_nan())
                .fold(0.0, f64::max);
            (s.series.key.clone(), peak)
        })
        .collect()
}

/// The CronJob's arguments, from `deploy/kubernetes/cronjob.yaml`, with the output directory
/// and metrics file moved into `out` and the Pushgateway left out (none runs here).
fn cronjob_args(out: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(root().join("deploy/kubernetes/cronjob.yaml")).unwrap();
    let cronjob: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    let args = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["args"]
        .as_sequence()
        .expect("the CronJob's args")
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect::<Vec<_>>();
    let volume = "/var/lib/trendmaster/output";
    let mut kept = Vec::new();
    let mut iter = args.into_iter();
    while let Some(arg) = iter.next() {
        if arg == "--pushgateway" {
            iter.next();
            continue;
        }
        kept.push(arg.replace(volume, out.to_str().unwrap()));
    }
    assert!(kept.contains(&"--apply".to_string()), "{kept:?}");
    kept
}

/// The soak's configuration: the shipped one, with production's partners and APIs cut to the
/// soak's three × three (and `change` applied).
fn write_config(path: &Path, change: impl FnOnce(&mut serde_yaml::Value)) {
    let text = std::fs::read_to_string(root().join("config/config.yaml")).unwrap();
    let mut config: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    let production = &mut config["PARTNER_CONFIGS"]["production"];
    production["partners"] = PARTNERS
        .iter()
        .map(|p| p.to_string())
        .collect::<Vec<_>>()
        .into();
    production["apis"] = APIS
        .iter()
        .map(|a| a.to_string())
        .collect::<Vec<_>>()
        .into();
    change(&mut config);
    std::fs::write(path, serde_yaml::to_string(&config).unwrap()).unwrap();
}

/// Our limits in a cluster object: partner × API → requests per minute.
fn limits(object: &Value) -> BTreeMap<(String, String), u64> {
    let file: serde_yaml::Value =
        serde_yaml::from_str(object["data"]["config.yaml"].as_str().unwrap()).unwrap();
    let per_minute = |limit: &serde_yaml::Value| {
        let n = limit["requests_per_unit"].as_u64().unwrap();
        match limit["unit"].as_str().unwrap() {
            "second" => n * 60,
            "minute" => n,
            "hour" => n / 60,
            "day" => n / 1440,
            other => panic!("unit {other}"),
        }
    };
    let mut found = BTreeMap::new();
    for partner in file["descriptors"].as_sequence().into_iter().flatten() {
        for path in partner["descriptors"].as_sequence().into_iter().flatten() {
            if path["rate_limit"].is_mapping() {
                found.insert(
                    (
                        partner["value"].as_str().unwrap().to_string(),
                        path["value"].as_str().unwrap().to_string(),
                    ),
                    per_minute(&path["rate_limit"]),
                );
            }
        }
    }
    found
}

/// The cluster object without what the server alone changes.
fn comparable(object: &Value) -> Value {
    let mut object = object.clone();
    if let Some(metadata) = object["metadata"].as_object_mut() {
        metadata.remove("managedFields");
    }
    object
}

/// The output directory's tree, without the metrics file (written by every run, whatever its
/// exit code, by design: it is how a failed night is seen).
fn snapshot(out: &Path) -> BTreeMap<PathBuf, Option<Vec<u8>>> {
    if !out.exists() {
        return BTreeMap::new();
    }
    let mut files = files_under(out);
    files.remove(Path::new(METRICS_FILE));
    files
}

/// The one line of stderr that names why a run failed (`trendmaster: error: …`), when there is
/// exactly one.
fn cause(stderr: &str) -> Option<String> {
    let errors: Vec<&str> = stderr
        .lines()
        .filter_map(|line| line.strip_prefix("trendmaster: error: "))
        .collect();
    match errors.as_slice() {
        [one] => Some(one.to_string()),
        _ => None,
    }
}

/// A run of the binary, as built by `make soak` or by the test profile.
fn binary() -> PathBuf {
    std::env::var_os("TRENDMASTER_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_trendmaster")))
}

struct Soak {
    dir: tempfile::TempDir,
    series: Vec<FetchedSeries>,
    prometheus: PrometheusServer,
    kube: KubeFake,
    kubeconfig: PathBuf,
}

impl Soak {
    fn out(&self) -> PathBuf {
        self.dir.path().join("out")
    }

    fn config(&self) -> PathBuf {
        self.dir.path().join("config.yaml")
    }

    fn object(&self) -> Option<Value> {
        self.kube.object(NAMESPACE, NAME)
    }

    /// The command of one night, through `wrapper` (e.g. `prlimit`), at `url`.
    fn command(&self, night: usize, url: &str, wrapper: &[&str], extra: &[&str]) -> Command {
        let mut command = match wrapper.split_first() {
            Some((program, args)) => {
                let mut c = Command::new(program);
                c.args(args).arg(binary());
                c
            }
            None => Command::new(binary()),
        };
        command
            .current_dir(self.dir.path())
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .arg("--config")
            .arg(self.config())
            .args(cronjob_args(&self.out()))
            .args(["--as-of", &as_of(night).to_rfc3339()])
            .args(["--prometheus-url", url])
            .args(["--prometheus-timeout", &format!("{TIMEOUT_SECS}s")])
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        command
    }

    fn run(&self, night: usize, url: &str, wrapper: &[&str], extra: &[&str]) -> Output {
        self.command(night, url, wrapper, extra).output().unwrap()
    }
}

/// What one night came to, for the table.
struct Night {
    night: usize,
    faults: Vec<Fault>,
    exit: String,
    outcome: String,
    seconds: f64,
}

/// A port on 127.0.0.1 that nothing listens on.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// Runs `command`, and kills it with SIGKILL as soon as a file appears in `out` that was not
/// there before (it is writing its files). Returns whether it was killed that way.
fn kill_while_writing(mut command: Command, out: &Path) -> (Output, bool) {
    let before: BTreeSet<PathBuf> = snapshot(out).into_keys().collect();
    let mut child: Child = command.spawn().unwrap();
    let started = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            return (child.wait_with_output().unwrap(), false);
        }
        let now: BTreeSet<PathBuf> = std::fs::read_dir(out)
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .map(|e| PathBuf::from(e.file_name()))
                    .filter(|p| p != Path::new(METRICS_FILE))
                    .collect()
            })
            .unwrap_or_default();
        if now.difference(&before).next().is_some() {
            child.kill().unwrap();
            return (child.wait_with_output().unwrap(), true);
        }
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "the run hangs"
        );
        std::thread::sleep(Duration::from_micros(500));
    }
}

#[test]
fn a_month_of_nights_with_faults_keeps_every_invariant() {
    let nights: usize = std::env::var("SOAK_NIGHTS")
        .ok()
        .map(|n| n.parse().expect("SOAK_NIGHTS: a number"))
        .unwrap_or(7);
    let plan = schedule(nights);
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    // Readable by the unprivileged user of the read-only night.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let series = history(&plan);
    let prometheus = PrometheusServer::start(&series, MetricShape::Nginx).unwrap();
    let kube = KubeFake::start();
    let kubeconfig = kube.kubeconfig(dir.path());
    let soak = Soak {
        dir,
        series,
        prometheus,
        kube,
        kubeconfig,
    };
    write_config(&soak.config(), |_| {});
    let upstream: std::net::SocketAddr = soak
        .prometheus
        .url()
        .trim_start_matches("http://")
        .parse()
        .unwrap();
    eprintln!(
        "soak: {nights} nights, {} series of {} days backfilled in {:.0} s",
        soak.series.len(),
        soak.series[0].series.values.len() / 1440,
        soak.prometheus.backfill_seconds()
    );

    let mut table: Vec<Night> = Vec::new();
    let mut violations: Vec<String> = Vec::new();
    // The object each good night replaced, to find in the history at the end.
    let mut replaced: Vec<(usize, Value)> = Vec::new();
    let mut good_nights = 0;
    // Whether the operator's own entry is in the cluster, and the limit they raised while the
    // file is theirs (until they hand it back): (entry, value).
    let mut operator_entry = false;
    let mut operator_raise: Option<((String, String), u64)> = None;
    // Partner 301's limits on the last night before its traffic stopped.
    let mut before_zero: BTreeMap<(String, String), u64> = BTreeMap::new();

    for (night, faults) in plan.iter().enumerate() {
        let night_started = Instant::now();
        let has = |fault: Fault| faults.contains(&fault);
        let mut fail = |message: String| violations.push(format!("night {}: {message}", night + 1));

        // Faults around the run.
        if has(Fault::ForeignManager) {
            soak.kube.edit(NAMESPACE, NAME, "argocd", |object| {
                object["metadata"]["labels"]["team"] = "platform".into();
                object["metadata"]["annotations"]["argocd.argoproj.io/tracking-id"] =
                    "ratelimit".into();
            });
        }
        if has(Fault::OperatorEdit) {
            let mut raised = None;
            soak.kube.edit(NAMESPACE, NAME, "kubectl-edit", |object| {
                let text = object["data"]["config.yaml"].as_str().unwrap();
                let mut file: serde_yaml::Value = serde_yaml::from_str(text).unwrap();
                let descriptors = file["descriptors"].as_sequence_mut().unwrap();
                let partner = descriptors[0]["value"].as_str().unwrap().to_string();
                let path = &mut descriptors[0]["descriptors"][0];
                let value = path["rate_limit"]["requests_per_unit"].as_u64().unwrap() * 3;
                path["rate_limit"]["requests_per_unit"] = value.into();
                raised = Some(((partner, path["value"].as_str().unwrap().to_string()), value));
                let own: serde_yaml::Value = serde_yaml::from_str(&format!(
                    "{{key: PARTNER, value: '{OPERATOR_PARTNER}', descriptors: [{{key: PATH, value: '{OPERATOR_API}', rate_limit: {{unit: minute, requests_per_unit: {OPERATOR_LIMIT}}}}}]}}"
                ))
                .unwrap();
                descriptors.push(own);
                object["data"]["config.yaml"] = serde_yaml::to_string(&file).unwrap().into();
            });
            operator_entry = raised.is_some();
            operator_raise = raised;
        }
        if has(Fault::ConfigMapDeleted) {
            soak.kube.delete(NAMESPACE, NAME);
            // The operator's work went with it.
            operator_entry = false;
            operator_raise = None;
        }
        if has(Fault::UnknownKey) || has(Fault::PartnerRemoved) {
            write_config(&soak.config(), |config| {
                if has(Fault::UnknownKey) {
                    config["COMMON"]["DATA"]["dayz"] = 14.into();
                }
                if has(Fault::PartnerRemoved) {
                    config["PARTNER_CONFIGS"]["production"]["partners"] =
                        vec!["101".to_string(), "301".to_string()].into();
                }
            });
        }
        if has(Fault::PartnerAtZero)
            && before_zero.is_empty()
            && let Some(object) = soak.object()
        {
            before_zero = limits(&object)
                .into_iter()
                .filter(|((p, _), _)| p == ZERO_PARTNER)
                .collect();
        }
        let proxy = if has(Fault::PrometheusSlow) {
            Some(
                FaultProxy::start(
                    upstream,
                    ProxyFault::Slow(Duration::from_secs(2 * TIMEOUT_SECS)),
                )
                .unwrap(),
            )
        } else if has(Fault::PrometheusDies) {
            Some(FaultProxy::start(upstream, ProxyFault::DieAfterBytes(64 * 1024)).unwrap())
        } else {
            None
        };
        let url = if has(Fault::PrometheusRefuses) {
            format!("http://127.0.0.1:{}", closed_port())
        } else {
            proxy
                .as_ref()
                .map_or_else(|| soak.prometheus.url(), FaultProxy::url)
        };
        let mut wrapper: Vec<&str> = Vec::new();
        if has(Fault::DiskFull) {
            wrapper.extend(["prlimit", "--fsize=65536"]);
        }
        let out = soak.out();
        if has(Fault::ReadOnly) {
            if nix_is_root() {
                // Root writes through permission bits: run as nobody, as a read-only volume
                // refuses the CronJob's user.
                wrapper.extend([
                    "setpriv",
                    "--reuid=65534",
                    "--regid=65534",
                    "--clear-groups",
                ]);
            } else {
                std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o555)).unwrap();
            }
        }
        let extra: Vec<&str> = if has(Fault::OperatorHandsBack) {
            vec!["--force-conflicts"]
        } else {
            Vec::new()
        };

        let out_before = snapshot(&out);
        let object_before = soak.object();

        let (output, killed, second) = if has(Fault::Killed) {
            let (output, killed) =
                kill_while_writing(soak.command(night, &url, &wrapper, &extra), &out);
            (output, killed, None)
        } else if has(Fault::TwoRuns) {
            let first = soak.command(night, &url, &wrapper, &extra).spawn().unwrap();
            let second = soak.command(night, &url, &wrapper, &extra).spawn().unwrap();
            let (first, second) = (
                first.wait_with_output().unwrap(),
                second.wait_with_output().unwrap(),
            );
            // The one that got the output directory runs; the other is turned away at once
            // (either may be first to the lock).
            if first.status.code() == Some(1) {
                (second, false, Some(first))
            } else {
                (first, false, Some(second))
            }
        } else {
            (soak.run(night, &url, &wrapper, &extra), false, None)
        };
        drop(proxy);
        if has(Fault::ReadOnly) && !nix_is_root() {
            std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        if has(Fault::UnknownKey) || has(Fault::PartnerRemoved) {
            write_config(&soak.config(), |_| {});
        }

        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        if has(Fault::OperatorHandsBack) {
            // From now on trendmaster manages the raised limit again, through governance: the
            // change from the operator's value is in the run's change table, not silent.
            if let Some(((_, api), value)) = operator_raise.take()
                && !(stderr.contains(&api) && stderr.contains(&value.to_string()))
            {
                fail(format!(
                    "the hand-back night's change table does not show {api} from {value}"
                ));
            }
        }
        let code = output.status.code();
        let good = |code: Option<i32>| matches!(code, Some(0 | 2));
        let expect_failure = faults.iter().any(|f| f.fails());
        let object_after = soak.object();
        let mut outcome = String::new();

        if has(Fault::Killed) {
            if !killed {
                fail("the run ended before it could be killed while writing".into());
            }
            // Every file it left is whole: the names it wrote are complete files, the
            // temporary files are dot-files the next run removes.
            for (path, bytes) in snapshot(&out) {
                let name = path.to_string_lossy().into_owned();
                if let Some(bytes) = bytes
                    && (name.ends_with(".yaml") || name.ends_with(".json"))
                    && !path.file_name().unwrap().to_string_lossy().starts_with('.')
                    && serde_yaml::from_slice::<serde_yaml::Value>(&bytes).is_err()
                {
                    fail(format!("a half-written file after SIGKILL: {name}"));
                }
            }
            if comparable_opt(&object_after) != comparable_opt(&object_before) {
                fail("the cluster changed although the run was killed before applying".into());
            }
            outcome = "killed while writing; cluster unchanged".into();
        } else if expect_failure {
            if good(code) {
                fail(format!("expected a failure, got exit {code:?}"));
            }
            match cause(&stderr) {
                Some(line) => outcome = short(&line),
                None => fail(format!("no error line naming the cause:\n{stderr}")),
            }
            if snapshot(&out) != out_before {
                let after = snapshot(&out);
                let changed: Vec<_> = after
                    .keys()
                    .chain(out_before.keys())
                    .filter(|k| after.get(*k) != out_before.get(*k))
                    .collect();
                fail(format!("a failed night changed output/: {changed:?}"));
            }
            if comparable_opt(&object_after) != comparable_opt(&object_before) {
                fail("a failed night changed the cluster".into());
            }
        } else {
            if !good(code) {
                fail(format!("exit {code:?}: {stderr}"));
            }
            if let Some(other) = &second {
                let busy = String::from_utf8_lossy(&other.stderr);
                if other.status.code() != Some(1)
                    || cause(&busy).is_none_or(|c| !c.contains("another trendmaster run"))
                {
                    fail(format!(
                        "the other of two runs: exit {:?}: {busy}",
                        other.status.code()
                    ));
                }
            }
            // A good night applied what it wrote.
            let latest = std::fs::read_to_string(out.join("latest_configmap.yaml")).unwrap();
            let latest: serde_yaml::Value = serde_yaml::from_str(&latest).unwrap();
            match &object_after {
                Some(object)
                    if object["data"]["config.yaml"].as_str()
                        == latest["data"]["config.yaml"].as_str() =>
                {
                    if let Some(before) = &object_before {
                        replaced.push((night, before.clone()));
                    }
                }
                _ => fail("the cluster does not hold what the night wrote".into()),
            }
            good_nights += 1;
            outcome = format!(
                "applied; {} entries",
                object_after.as_ref().map_or(0, |o| limits(o).len())
            );
            // Leftovers of a killed run are gone.
            let temps: Vec<String> = std::fs::read_dir(&out)
                .unwrap()
                .filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(".trendmaster-"))
                .collect();
            if !temps.is_empty() {
                fail(format!("temporary files left in output/: {temps:?}"));
            }
        }

        // The cluster: valid, above the next day's legitimate peaks, the operator's work kept.
        if let Some(object) = &object_after {
            let file = soak.dir.path().join("cluster-ratelimit.yaml");
            std::fs::write(&file, object["data"]["config.yaml"].as_str().unwrap()).unwrap();
            let check = Command::new(binary())
                .arg("check")
                .arg(&file)
                .env_clear()
                .output()
                .unwrap();
            if !check.status.success() {
                fail(format!(
                    "the cluster holds an invalid ratelimit file: {}",
                    String::from_utf8_lossy(&check.stderr)
                ));
            }
            let in_force = limits(object);
            for (key, peak) in next_day_peaks(&soak.series, night) {
                let entry = (key.partner.clone(), key.api.clone());
                match in_force.get(&entry) {
                    Some(&limit) if (limit as f64) < peak => fail(format!(
                        "{}/{}: limit {limit} below the next day's legitimate peak {peak}",
                        key.partner, key.api
                    )),
                    None if good_nights > 0 => fail(format!(
                        "{}/{}: no entry in the cluster",
                        key.partner, key.api
                    )),
                    _ => {}
                }
            }
            if operator_entry
                && in_force.get(&(OPERATOR_PARTNER.into(), OPERATOR_API.into()))
                    != Some(&OPERATOR_LIMIT)
            {
                fail("the operator's own entry is gone or changed".into());
            }
            if let Some((entry, value)) = &operator_raise
                && in_force.get(entry) != Some(value)
            {
                fail(format!(
                    "the operator's raised limit {entry:?} changed while the file is theirs: {:?}, not {value}",
                    in_force.get(entry)
                ));
            }
            if has(Fault::PartnerAtZero) {
                for (entry, before) in &before_zero {
                    if in_force.get(entry).is_some_and(|now| now < before) {
                        fail(format!(
                            "{entry:?}: cut from {before} to {:?} while the partner is at zero",
                            in_force.get(entry)
                        ));
                    }
                }
            }
        }
        // The metrics file records the night, whatever its exit code.
        if !has(Fault::Killed) && !has(Fault::ReadOnly) {
            let metrics = std::fs::read_to_string(out.join(METRICS_FILE)).unwrap_or_default();
            let recorded = metrics
                .lines()
                .find(|l| l.starts_with("trendmaster_last_run_exit_code"))
                .and_then(|l| l.split_whitespace().last())
                .and_then(|v| v.parse::<i32>().ok());
            if recorded != code {
                fail(format!(
                    "metrics file says exit {recorded:?}, the run {code:?}"
                ));
            }
        }

        table.push(Night {
            night,
            faults: faults.clone(),
            exit: match (code, killed) {
                (_, true) => "SIGKILL".into(),
                (Some(c), _) => c.to_string(),
                (None, _) => "signal".into(),
            },
            outcome,
            seconds: night_started.elapsed().as_secs_f64(),
        });
        let row = table.last().unwrap();
        eprintln!("{}", table_row(row));
    }

    // What every good night replaced was saved before it was replaced.
    let history_dir = soak.out().join("history");
    let saved: Vec<Value> = std::fs::read_dir(&history_dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| {
                    let text = std::fs::read_to_string(e.path()).unwrap();
                    serde_json::to_value(serde_yaml::from_str::<serde_yaml::Value>(&text).unwrap())
                        .unwrap()
                })
                .collect()
        })
        .unwrap_or_default();
    for (night, object) in &replaced {
        if !saved.iter().any(|s| s["data"] == object["data"]) {
            violations.push(format!(
                "the object night {} replaced is not in the history",
                night + 1
            ));
        }
    }
    // --rollback N returns the cluster to the Nth most recent saved object.
    let mut rollbacks = 0;
    for n in [1usize, 3, 2] {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&history_dir)
            .unwrap()
            .filter_map(Result::ok)
            .map(|e| e.path())
            .collect();
        files.sort();
        if files.len() < n {
            continue;
        }
        let expected: serde_yaml::Value =
            serde_yaml::from_str(&std::fs::read_to_string(&files[files.len() - n]).unwrap())
                .unwrap();
        let output = Command::new(binary())
            .current_dir(soak.dir.path())
            .env_clear()
            .arg("--config")
            .arg(soak.config())
            .args(["--env", "production", "--confirm-production"])
            .args(["--rollback", &n.to_string(), "--force-conflicts"])
            .arg("--output-dir")
            .arg(soak.out())
            .arg("--kubeconfig")
            .arg(&soak.kubeconfig)
            .output()
            .unwrap();
        let restored = soak.object();
        let expected_data = serde_json::to_value(&expected["data"]).unwrap();
        if !output.status.success() || restored.as_ref().map(|o| &o["data"]) != Some(&expected_data)
        {
            violations.push(format!(
                "--rollback {n} did not restore {}: {}",
                files[files.len() - n].display(),
                String::from_utf8_lossy(&output.stderr)
            ));
        }
        rollbacks += 1;
    }

    let kinds: BTreeSet<Fault> = plan.iter().flatten().copied().collect();
    let mut report = String::new();
    writeln!(report, "| night | as of | faults | exit | outcome | s |").unwrap();
    writeln!(report, "|---:|---|---|---:|---|---:|").unwrap();
    for row in &table {
        writeln!(report, "{}", table_row(row)).unwrap();
    }
    writeln!(
        report,
        "\n{} nights, {} fault kinds, {rollbacks} rollbacks checked, {} violations, {:.0} s in all",
        table.len(),
        kinds.len(),
        violations.len(),
        started.elapsed().as_secs_f64()
    )
    .unwrap();
    eprintln!("\n{report}");
    if let Ok(path) = std::env::var("SOAK_REPORT") {
        std::fs::write(path, &report).unwrap();
    }
    assert!(table.len() >= 7 && kinds.len() >= 5, "{kinds:?}");
    assert!(violations.is_empty(), "{}", violations.join("\n"));
}

fn table_row(row: &Night) -> String {
    let faults: Vec<String> = row.faults.iter().map(|f| format!("{f:?}")).collect();
    format!(
        "| {} | {} | {} | {} | {} | {:.1} |",
        row.night + 1,
        as_of(row.night).format("%m-%d"),
        if faults.is_empty() {
            "–".into()
        } else {
            faults.join(", ")
        },
        row.exit,
        row.outcome,
        row.seconds
    )
}

fn short(line: &str) -> String {
    let line = line.replace('|', "/");
    if line.chars().count() > 110 {
        format!("{}…", line.chars().take(110).collect::<String>())
    } else {
        line
    }
}

fn comparable_opt(object: &Option<Value>) -> Option<Value> {
    object.as_ref().map(comparable)
}

fn nix_is_root() -> bool {
    // The owner of a file this process creates is its effective user.
    let probe = tempfile::NamedTempFile::new().unwrap();
    std::os::unix::fs::MetadataExt::uid(&probe.as_file().metadata().unwrap()) == 0
}
