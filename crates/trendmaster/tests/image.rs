//! The image, built and run: `scripts/build-image.sh` (what `make image` runs on the release
//! binary) builds the container image twice from this test's binary, in two separate stores, and
//! both builds must give the same image ID and byte-identical archives. The docker-archive is
//! loaded with podman and run with runc exactly as the CronJob runs it: its container args and
//! security context from `deploy/kubernetes/cronjob.yaml` (user 65532, read-only root, no
//! capabilities, no privilege escalation, the memory limit), its volume at its mount path (a
//! host directory here), no network but loopback, and a Kubernetes API there: testkit's
//! `KubeFake`, in a network namespace of its own that the container joins. Traffic is the demo
//! source (`TRENDMASTER_SOURCE=demo`, the environment overriding the production Prometheus); the
//! Pushgateway cannot be reached, which is a warning only. The run applies the ConfigMap to the
//! fake and leaves the ConfigMaps and its metrics on the volume, owned by 65532.
//!
//! Needs root, buildah, podman, runc, `unshare` and `ip` (scripts/install-test-deps.sh installs
//! the first three); it fails when they are missing. It skips, saying so, only when a trivial
//! container (the image's `--version`) cannot be started at all.
//!
//! Flags this sandbox needs, and why: `--runtime runc` (crun refuses hybrid cgroups v1/v2);
//! `--cgroup-manager cgroupfs` (no systemd); explicit `--ulimit nofile` and `--ulimit nproc`
//! (podman asks for limits above the current hard limits otherwise, which needs
//! CAP_SYS_RESOURCE, absent here; podman 4.3 lowers its own RLIMIT_NPROC to 32768 first, so
//! nproc must not exceed that); `--events-backend none` and `--tmpdir` with
//! `--root`/`--runroot`/`--storage-driver vfs` (nothing in /run/libpod or /var/lib/containers
//! but containers/image's blob-info cache, which has no flag).

mod common;

use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::root;
use serde_json::{Value, json};
use trendmaster_testkit::KubeFake;

/// Set for the helper process that serves the Kubernetes API fake: the directory where it writes
/// its kubeconfig, `ready`, and at the end `received.json`.
const FAKE_DIR: &str = "TRENDMASTER_IMAGE_TEST_KUBE_FAKE_DIR";
/// Where the kubeconfig is mounted in the container (read through `KUBECONFIG`).
const KUBECONFIG_IN_CONTAINER: &str = "/etc/trendmaster/kubeconfig";
/// The non-root user the image and the CronJob run as.
const USER: u32 = 65532;

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// podman on its own storage under `store`: vfs, our root, run root and temporary directory;
/// runc through cgroupfs; no event log.
fn podman(store: &Path) -> Command {
    let mut command = Command::new("podman");
    command
        .arg("--root")
        .arg(store.join("storage"))
        .arg("--runroot")
        .arg(store.join("run"))
        .arg("--tmpdir")
        .arg(store.join("tmp"))
        .args([
            "--storage-driver",
            "vfs",
            "--runtime",
            "runc",
            "--cgroup-manager",
            "cgroupfs",
            "--events-backend",
            "none",
        ]);
    command
}

/// `--ulimit` flags at this process's own limits: podman would ask for more (1048576 open
/// files, 4194304 processes), which needs CAP_SYS_RESOURCE. podman lowers its own RLIMIT_NPROC
/// to 32768 before it starts the runtime, so no more than that.
fn ulimits() -> Vec<String> {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap();
    let limit = |name: &str| -> (u64, u64) {
        let line = limits
            .lines()
            .find(|line| line.starts_with(name))
            .unwrap_or_else(|| panic!("{name} in /proc/self/limits"));
        let words: Vec<&str> = line[name.len()..].split_whitespace().collect();
        let value = |word: &str| word.parse().unwrap_or(u64::MAX);
        (value(words[0]), value(words[1]))
    };
    let (files_soft, files_hard) = limit("Max open files");
    let (_, processes) = limit("Max processes");
    let processes = processes.min(32768);
    vec![
        "--ulimit".into(),
        format!("nofile={files_soft}:{files_hard}"),
        "--ulimit".into(),
        format!("nproc={processes}:{processes}"),
    ]
}

/// What one `scripts/build-image.sh` run printed.
struct Build {
    id: String,
    uncompressed: u64,
    compressed: u64,
    docker_archive: PathBuf,
    oci_archive: PathBuf,
    seconds: f64,
}

/// `scripts/build-image.sh BINARY OUTDIR` with buildah's storage in `store`.
fn build_image(binary: &Path, store: &Path, outdir: &Path) -> Build {
    let started = Instant::now();
    let output = Command::new("bash")
        .arg(root().join("scripts/build-image.sh"))
        .arg(binary)
        .arg(outdir)
        .env("TRENDMASTER_CONTAINERS", store)
        .output()
        .unwrap();
    let stdout = text(&output.stdout);
    assert!(
        output.status.success(),
        "build-image.sh failed:\n{stdout}\n{}",
        text(&output.stderr)
    );
    let field = |name: &str| {
        stdout
            .lines()
            .find_map(|line| line.strip_prefix(&format!("{name}: ")))
            .unwrap_or_else(|| panic!("no `{name}:` in\n{stdout}"))
            .to_owned()
    };
    // "size: 117.0 MB uncompressed (116990000 bytes), 40.1 MB compressed (40100000 bytes)"
    let bytes: Vec<u64> = field("size")
        .split('(')
        .skip(1)
        .map(|part| part.split_whitespace().next().unwrap().parse().unwrap())
        .collect();
    let path = |name: &str| PathBuf::from(field(name).split(" (").next().unwrap());
    Build {
        id: field("id"),
        uncompressed: bytes[0],
        compressed: bytes[1],
        docker_archive: path("docker-archive"),
        oci_archive: path("oci-archive"),
        seconds: started.elapsed().as_secs_f64(),
    }
}

/// "1Gi" → 1073741824 (the suffixes a memory limit uses here).
fn quantity(text: &str) -> u64 {
    let (number, unit) = text.split_at(
        text.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len()),
    );
    let number: u64 = number.parse().unwrap();
    number
        * match unit {
            "" => 1,
            "Ki" => 1 << 10,
            "Mi" => 1 << 20,
            "Gi" => 1 << 30,
            other => panic!("unit {other}"),
        }
}

/// The CronJob's one container, and its pod's security context.
fn cronjob() -> (serde_yaml::Value, serde_yaml::Value) {
    let manifest: serde_yaml::Value = serde_yaml::from_str(
        &std::fs::read_to_string(root().join("deploy/kubernetes/cronjob.yaml")).unwrap(),
    )
    .unwrap();
    let pod = &manifest["spec"]["jobTemplate"]["spec"]["template"]["spec"];
    let containers = pod["containers"].as_sequence().unwrap();
    assert_eq!(containers.len(), 1, "one container");
    (containers[0].clone(), pod["securityContext"].clone())
}

/// The Kubernetes API fake, served by a copy of this test executable (the `kube_fake_process`
/// "test") in a network namespace that has only loopback: `unshare --net`, then `ip link set lo
/// up`, then exec. A container joining that namespace has no network but loopback, and finds
/// the fake there. Closing its stdin stops it; it then writes what it received.
struct FakeInNamespace {
    child: std::process::Child,
    dir: PathBuf,
}

impl FakeInNamespace {
    fn start(dir: &Path) -> Self {
        let exe = std::env::current_exe().unwrap();
        let child = Command::new("unshare")
            .args([
                "--net",
                "--",
                "sh",
                "-c",
                r#"ip link set lo up && exec "$0" "$@""#,
            ])
            .arg(exe)
            .args([
                "--exact",
                "kube_fake_process",
                "--nocapture",
                "--test-threads",
                "1",
            ])
            .env(FAKE_DIR, dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let mut fake = Self {
            child,
            dir: dir.to_path_buf(),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !dir.join("ready").exists() {
            if let Some(status) = fake.child.try_wait().unwrap() {
                panic!("the API fake's process exited with {status} before it was ready");
            }
            assert!(Instant::now() < deadline, "the API fake is not ready");
            std::thread::sleep(Duration::from_millis(20));
        }
        fake
    }

    /// `/proc/PID/ns/net`: for `podman run --network ns:…`.
    fn namespace(&self) -> String {
        format!("/proc/{}/ns/net", self.child.id())
    }

    fn kubeconfig(&self) -> PathBuf {
        self.dir.join("kubeconfig")
    }

    /// Stops it; what it received: `{"requests": […], "object": …}`.
    fn stop(mut self) -> Value {
        drop(self.child.stdin.take());
        let status = self.child.wait().unwrap();
        assert!(status.success(), "the API fake's process: {status}");
        serde_json::from_str(&std::fs::read_to_string(self.dir.join("received.json")).unwrap())
            .unwrap()
    }
}

/// Not a test of its own: the body of the API fake's process ([`FakeInNamespace`]). When this
/// executable runs as a test suite, it returns at once.
#[test]
fn kube_fake_process() {
    let Some(dir) = std::env::var_os(FAKE_DIR).map(PathBuf::from) else {
        return;
    };
    let config: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(root().join("config/config.yaml")).unwrap())
            .unwrap();
    let namespace = config["COMMON"]["CONFIGMAP"]["namespace"].as_str().unwrap();
    let name = config["COMMON"]["CONFIGMAP"]["name"].as_str().unwrap();
    let fake = KubeFake::start();
    fake.kubeconfig(&dir);
    std::fs::write(dir.join("ready"), "").unwrap();
    // Serve until the test closes stdin.
    std::io::stdin().read_to_end(&mut Vec::new()).unwrap();
    let requests: Vec<Value> = fake
        .requests()
        .iter()
        .map(|r| {
            json!({"method": r.method, "path": r.path, "query": r.query,
                   "content_type": r.content_type, "status": r.status})
        })
        .collect();
    let received = json!({"requests": requests, "object": fake.object(namespace, name)});
    std::fs::write(dir.join("received.json"), received.to_string()).unwrap();
}

#[test]
fn the_image_builds_reproducibly_and_runs_the_cronjob() {
    let started = Instant::now();
    for tool in ["buildah", "podman", "runc", "unshare", "ip", "strip"] {
        assert!(
            have(tool),
            "{tool} is not on PATH: run scripts/install-test-deps.sh"
        );
    }
    let uid = std::fs::metadata("/proc/self").unwrap().uid();
    assert_eq!(
        uid, 0,
        "building and running the image here needs root (buildah mount, podman with its own root)"
    );
    let work = tempfile::tempdir().unwrap();
    let work = work.path();
    let binary = Path::new(env!("CARGO_BIN_EXE_trendmaster"));

    // Two builds, each in a store of its own: the same ID, the same bytes.
    let first = build_image(binary, &work.join("store-1"), &work.join("image-1"));
    let second = build_image(binary, &work.join("store-2"), &work.join("image-2"));
    eprintln!(
        "image {}: {:.1} MB uncompressed, {:.1} MB compressed; built in {:.1} s and {:.1} s",
        first.id,
        first.uncompressed as f64 / 1e6,
        first.compressed as f64 / 1e6,
        first.seconds,
        second.seconds
    );
    assert_eq!(first.id, second.id, "two builds, two image IDs");
    for (a, b) in [
        (&first.docker_archive, &second.docker_archive),
        (&first.oci_archive, &second.oci_archive),
    ] {
        assert!(
            std::fs::read(a).unwrap() == std::fs::read(b).unwrap(),
            "{} and {} differ",
            a.display(),
            b.display()
        );
    }
    // The size: the stripped binary and little else (the C library, libm, libgcc_s, the
    // loader, the CA bundle: about 3.5 MB).
    let stripped = work.join("stripped");
    assert!(
        Command::new("strip")
            .arg("--strip-all")
            .arg("-o")
            .arg(&stripped)
            .arg(binary)
            .status()
            .unwrap()
            .success()
    );
    let binary_size = std::fs::metadata(&stripped).unwrap().len();
    let rest = first.uncompressed - binary_size;
    eprintln!(
        "stripped binary {:.1} MB, the rest of the image {:.1} MB",
        binary_size as f64 / 1e6,
        rest as f64 / 1e6
    );
    assert!(
        rest < 8_000_000,
        "the image holds {rest} bytes besides the binary"
    );
    assert!(first.compressed < first.uncompressed / 2);

    // podman loads the docker-archive under the same ID.
    let store = work.join("podman");
    let load = podman(&store)
        .args(["load", "--quiet", "--input"])
        .arg(&first.docker_archive)
        .output()
        .unwrap();
    assert!(load.status.success(), "{}", text(&load.stderr));
    let reference = text(&load.stdout)
        .trim()
        .strip_prefix("Loaded image: ")
        .unwrap_or_else(|| panic!("podman load: {}", text(&load.stdout)))
        .to_owned();
    let inspect = podman(&store)
        .args(["image", "inspect", "--format", "{{.Id}} {{.Config.User}}"])
        .arg(&reference)
        .output()
        .unwrap();
    assert_eq!(
        text(&inspect.stdout).trim(),
        format!("{} {USER}:{USER}", first.id),
        "{}",
        text(&inspect.stderr)
    );

    // The probe: can a container start here at all?
    let probe = podman(&store)
        .args(["run", "--rm", "--pull", "never", "--network", "none"])
        .args(ulimits())
        .arg(&reference)
        .arg("--version")
        .output()
        .unwrap();
    if !probe.status.success() {
        eprintln!(
            "SKIPPED: the image builds reproducibly ({}), but no container can be started here \
             (`podman run {reference} --version` exited {}):\n{}",
            first.id,
            probe.status,
            text(&probe.stderr)
        );
        return;
    }
    assert!(
        text(&probe.stdout).starts_with("trendmaster "),
        "{}",
        text(&probe.stdout)
    );

    // The CronJob, as written.
    let (container, pod_security) = cronjob();
    let args: Vec<String> = container["args"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_owned())
        .collect();
    for flag in [
        "--cluster",
        "--apply",
        "--confirm-production",
        "--pushgateway",
    ] {
        assert!(args.iter().any(|a| a == flag), "{flag} in {args:?}");
    }
    let mount = container["volumeMounts"][0]["mountPath"]
        .as_str()
        .unwrap()
        .to_owned();
    let security = &container["securityContext"];
    assert_eq!(pod_security["runAsUser"].as_u64(), Some(u64::from(USER)));
    assert_eq!(security["readOnlyRootFilesystem"].as_bool(), Some(true));
    assert_eq!(security["allowPrivilegeEscalation"].as_bool(), Some(false));
    assert_eq!(security["capabilities"]["drop"][0].as_str(), Some("ALL"));
    let memory = quantity(container["resources"]["limits"]["memory"].as_str().unwrap());

    // The volume: a host directory the pod's fsGroup would give to 65532.
    let output_dir = work.join("output");
    std::fs::create_dir(&output_dir).unwrap();
    std::os::unix::fs::chown(&output_dir, Some(USER), Some(USER)).unwrap();
    let fake_dir = work.join("kube-fake");
    std::fs::create_dir(&fake_dir).unwrap();
    let fake = FakeInNamespace::start(&fake_dir);

    let run_started = Instant::now();
    let mut run = podman(&store);
    run.args(["run", "--rm", "--pull", "never"])
        .arg("--network")
        .arg(format!("ns:{}", fake.namespace()))
        .args(["--user", &format!("{USER}:{USER}")])
        // readOnlyRootFilesystem, and nothing writable that Kubernetes would not give either.
        .args(["--read-only", "--read-only-tmpfs=false"])
        .args(["--cap-drop", "all", "--security-opt", "no-new-privileges"])
        .args(["--memory", &memory.to_string()])
        .args(ulimits())
        .arg("--volume")
        .arg(format!("{}:{mount}", output_dir.display()))
        .arg("--volume")
        .arg(format!(
            "{}:{KUBECONFIG_IN_CONTAINER}:ro",
            fake.kubeconfig().display()
        ))
        .args(["--env", &format!("KUBECONFIG={KUBECONFIG_IN_CONTAINER}")])
        .args(["--env", "TRENDMASTER_SOURCE=demo"])
        .arg(&reference)
        .args(&args);
    let output: Output = run.output().unwrap();
    let run_seconds = run_started.elapsed().as_secs_f64();
    let received = fake.stop();
    let stderr = text(&output.stderr);
    eprintln!(
        "the CronJob's run in the container: exit {:?} in {run_seconds:.1} s",
        output.status.code()
    );
    assert!(
        matches!(output.status.code(), Some(0 | 2)),
        "exit {:?}:\n{stderr}",
        output.status.code()
    );
    // No Pushgateway without a network: a warning, not a failure.
    assert!(
        stderr.lines().any(|line| line.contains("\"WARN\"")
            && line.contains("--pushgateway http://pushgateway.monitoring.svc:9091")),
        "{stderr}"
    );

    // On the volume, written by 65532: the ConfigMaps and the run's metrics.
    let latest = output_dir.join("latest_configmap.yaml");
    let stamped = common::only_file(&output_dir, "production_configmap_2", ".yaml");
    let metrics = output_dir.join("trendmaster.prom");
    for path in [&latest, &stamped, &metrics] {
        let metadata =
            std::fs::metadata(path).unwrap_or_else(|e| panic!("{}: {e}\n{stderr}", path.display()));
        assert_eq!(
            (metadata.uid(), metadata.gid()),
            (USER, USER),
            "{}",
            path.display()
        );
    }
    let code = output.status.code().unwrap();
    assert!(
        std::fs::read_to_string(&metrics)
            .unwrap()
            .lines()
            .any(|line| line.starts_with("trendmaster_last_run_exit_code")
                && line.ends_with(&format!(" {code}"))),
        "{}",
        std::fs::read_to_string(&metrics).unwrap()
    );

    // The cluster saw a read, a server dry run, then the apply; it holds latest_configmap.yaml.
    let requests = received["requests"].as_array().unwrap();
    let calls: Vec<(String, bool)> = requests
        .iter()
        .map(|r| {
            (
                r["method"].as_str().unwrap().to_owned(),
                r["query"]["dryRun"] == "All",
            )
        })
        .collect();
    assert!(
        calls.ends_with(&[("PATCH".into(), true), ("PATCH".into(), false)]),
        "{requests:?}"
    );
    assert_eq!(calls[0].0, "GET", "{requests:?}");
    let latest: Value = serde_yaml::from_str(&std::fs::read_to_string(&latest).unwrap()).unwrap();
    assert_eq!(
        received["object"]["data"], latest["data"],
        "the cluster holds latest_configmap.yaml"
    );
    eprintln!(
        "the image test took {:.1} s",
        started.elapsed().as_secs_f64()
    );
}
