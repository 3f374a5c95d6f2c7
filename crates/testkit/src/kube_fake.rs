//! A local stand-in for the Kubernetes API server, for ConfigMaps only.
//!
//! There is no real API server on these machines. This one speaks the real paths and
//! semantics that trendmaster uses, and records every request so tests can check the order
//! (dry run first) and the parameters:
//! - `GET /api/v1/namespaces/{ns}/configmaps/{name}`: the object, or a 404 `Status`;
//! - `PATCH` of the same path with `application/apply-patch+yaml` (server-side apply):
//!   `fieldManager` is required; `dryRun=All` answers without storing; field ownership is
//!   tracked per data key, label and annotation, so a field owned by another manager with
//!   another value is a 409 conflict unless `force=true`, and a field this manager owned but
//!   no longer applies is removed, as the real server does; `metadata.managedFields` in the
//!   body is a 400, and a stale `resourceVersion` a 409;
//! - anything else: 404 or 405.
//!
//! It serves plain HTTP on 127.0.0.1, and [`KubeFake::kubeconfig`] writes a kubeconfig that
//! points at it.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

/// One request as the fake received it.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    /// `GET`, `PATCH`, …
    pub method: String,
    /// The path, without the query string.
    pub path: String,
    /// Query parameters (`fieldManager`, `dryRun`, `force`, …).
    pub query: BTreeMap<String, String>,
    /// The `Content-Type` header, if any.
    pub content_type: Option<String>,
    /// The `Authorization` header, if any.
    pub authorization: Option<String>,
    /// The request body.
    pub body: String,
    /// The status the fake answered.
    pub status: u16,
}

impl RecordedRequest {
    /// Whether it was a server dry run (`dryRun=All`).
    pub fn is_dry_run(&self) -> bool {
        self.query.get("dryRun").map(String::as_str) == Some("All")
    }
}

/// A stored object and who owns which of its fields.
#[derive(Debug, Clone)]
struct Stored {
    object: Value,
    /// `data.<key>`, `metadata.labels.<key>`, … → field manager.
    owners: BTreeMap<String, String>,
}

#[derive(Debug, Default)]
struct State {
    objects: BTreeMap<(String, String), Stored>,
    requests: Vec<RecordedRequest>,
    next_version: u64,
}

/// The running fake. Stops accepting when dropped (the listener thread is detached; the port
/// is only reachable from this machine).
pub struct KubeFake {
    port: u16,
    state: Arc<Mutex<State>>,
}

/// Owned maps of a ConfigMap: each key of these is one field for ownership.
const MAPS: [(&str, &str); 4] = [
    ("data", "data"),
    ("binaryData", "binaryData"),
    ("metadata.labels", "labels"),
    ("metadata.annotations", "annotations"),
];

impl KubeFake {
    /// Listens on a free port of 127.0.0.1, with no objects stored.
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let port = listener.local_addr().expect("local addr").port();
        let state = Arc::new(Mutex::new(State {
            next_version: 100,
            ..State::default()
        }));
        let shared = Arc::clone(&state);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let state = Arc::clone(&shared);
                std::thread::spawn(move || serve(stream, &state));
            }
        });
        Self { port, state }
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Writes a kubeconfig with one context, `fake`, pointing at this server.
    pub fn kubeconfig(&self, dir: &Path) -> PathBuf {
        write_kubeconfig(dir, &self.url())
    }

    /// Stores `object` (a ConfigMap as JSON) as if `manager` had created it.
    pub fn insert(&self, object: Value, manager: &str) {
        let mut state = self.state.lock().expect("state");
        let namespace = object["metadata"]["namespace"]
            .as_str()
            .expect("namespace")
            .to_string();
        let name = object["metadata"]["name"]
            .as_str()
            .expect("name")
            .to_string();
        let mut owners = BTreeMap::new();
        for field in fields(&object) {
            owners.insert(field.0, manager.to_string());
        }
        state.next_version += 1;
        let mut object = object;
        object["metadata"]["resourceVersion"] = json!(state.next_version.to_string());
        object["metadata"]["uid"] = json!(format!("uid-{namespace}-{name}"));
        let stored = Stored { object, owners };
        state.objects.insert((namespace, name), stored);
    }

    /// Changes the stored object as `kubectl edit` (an update) by `manager` does: `change` edits
    /// it, and every field whose value it changed, added or removed passes to `manager`; the
    /// others keep their owners. False when there is no such object.
    pub fn edit(
        &self,
        namespace: &str,
        name: &str,
        manager: &str,
        change: impl FnOnce(&mut Value),
    ) -> bool {
        let mut state = self.state.lock().expect("state");
        state.next_version += 1;
        let version = state.next_version;
        let key = (namespace.to_string(), name.to_string());
        let Some(stored) = state.objects.get_mut(&key) else {
            return false;
        };
        let before: BTreeMap<String, Value> = fields(&stored.object).into_iter().collect();
        change(&mut stored.object);
        let after: BTreeMap<String, Value> = fields(&stored.object).into_iter().collect();
        for (field, value) in &after {
            if before.get(field) != Some(value) {
                stored.owners.insert(field.clone(), manager.to_string());
            }
        }
        stored.owners.retain(|field, _| after.contains_key(field));
        stored.object["metadata"]["resourceVersion"] = json!(version.to_string());
        true
    }

    /// Deletes the stored object (`kubectl delete`); false when there was none.
    pub fn delete(&self, namespace: &str, name: &str) -> bool {
        let mut state = self.state.lock().expect("state");
        state
            .objects
            .remove(&(namespace.to_string(), name.to_string()))
            .is_some()
    }

    /// The stored object, as the server would return it (with `managedFields`).
    pub fn object(&self, namespace: &str, name: &str) -> Option<Value> {
        let state = self.state.lock().expect("state");
        state
            .objects
            .get(&(namespace.to_string(), name.to_string()))
            .map(rendered)
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.state.lock().expect("state").requests.clone()
    }
}

/// Writes `dir/kubeconfig` with one context, `fake`, pointing at `server`.
fn write_kubeconfig(dir: &Path, server: &str) -> PathBuf {
    let path = dir.join("kubeconfig");
    let text = format!(
        "apiVersion: v1\nkind: Config\ncurrent-context: fake\nclusters:\n- name: fake\n  cluster:\n    server: {server}\ncontexts:\n- name: fake\n  context:\n    cluster: fake\n    user: fake\n    namespace: default\nusers:\n- name: fake\n  user:\n    token: fake-token\n"
    );
    std::fs::write(&path, text).expect("write kubeconfig");
    path
}

/// A kubeconfig pointing at a loopback port nothing listens on, and that port.
pub fn unreachable_kubeconfig(dir: &Path) -> (PathBuf, u16) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
    let port = listener.local_addr().expect("local addr").port();
    drop(listener);
    (
        write_kubeconfig(dir, &format!("http://127.0.0.1:{port}")),
        port,
    )
}

/// `(field, value)` for every owned field of a ConfigMap.
fn fields(object: &Value) -> Vec<(String, Value)> {
    let mut found = Vec::new();
    for (path, _) in MAPS {
        let map = path
            .split('.')
            .try_fold(object, |value, key| value.get(key));
        if let Some(Value::Object(map)) = map {
            for (key, value) in map {
                found.push((format!("{path}.{key}"), value.clone()));
            }
        }
    }
    found
}

fn get_field<'a>(object: &'a Value, field: &str) -> Option<&'a Value> {
    let (map, key) = split_field(field);
    map.split('.')
        .try_fold(object, |value, part| value.get(part))
        .and_then(|m| m.get(key))
}

fn split_field(field: &str) -> (&str, &str) {
    let (map, _) = MAPS
        .iter()
        .find(|(path, _)| field.starts_with(&format!("{path}.")))
        .expect("a known map");
    (map, &field[map.len() + 1..])
}

fn set_field(object: &mut Value, field: &str, value: Option<Value>) {
    let (map, key) = split_field(field);
    let mut target = object;
    for part in map.split('.') {
        if target.get(part).is_none_or(Value::is_null) {
            target[part] = json!({});
        }
        target = target.get_mut(part).expect("just made");
    }
    let map = target.as_object_mut().expect("an object");
    match value {
        Some(value) => {
            map.insert(key.to_string(), value);
        }
        None => {
            map.remove(key);
        }
    }
}

/// The object with `managedFields` built from the ownership table.
fn rendered(stored: &Stored) -> Value {
    let mut object = stored.object.clone();
    let mut by_manager: BTreeMap<&str, Value> = BTreeMap::new();
    for (field, manager) in &stored.owners {
        let (map, key) = split_field(field);
        let entry = by_manager.entry(manager).or_insert_with(|| json!({}));
        let mut target = entry;
        for part in map.split('.') {
            let name = format!("f:{part}");
            if target.get(&name).is_none() {
                target[&name] = json!({});
            }
            target = target.get_mut(&name).expect("just made");
        }
        target[format!("f:{key}")] = json!({});
    }
    object["metadata"]["managedFields"] = Value::Array(
        by_manager
            .into_iter()
            .map(|(manager, fields)| {
                json!({"manager": manager, "operation": "Apply", "apiVersion": "v1",
                       "fieldsType": "FieldsV1", "fieldsV1": fields})
            })
            .collect(),
    );
    object
}

fn status(code: u16, reason: &str, message: &str) -> (u16, Value) {
    (
        code,
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
               "message": message, "reason": reason, "code": code}),
    )
}

fn serve(stream: TcpStream, state: &Mutex<State>) {
    let mut reader = BufReader::new(stream.try_clone().expect("clone stream"));
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() || request_line.is_empty() {
        return;
    }
    let mut parts = request_line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_string();
    let target = parts.next().unwrap_or_default().to_string();
    let mut headers = BTreeMap::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).is_err() || line.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_string());
        }
    }
    let length = headers
        .get("content-length")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let body = String::from_utf8_lossy(&body).into_owned();
    let (path, query) = match target.split_once('?') {
        Some((path, query)) => (path.to_string(), parse_query(query)),
        None => (target.clone(), BTreeMap::new()),
    };

    let (code, answer) = {
        let mut state = state.lock().expect("state");
        let answer = handle(&mut state, &method, &path, &query, &headers, &body);
        state.requests.push(RecordedRequest {
            method,
            path,
            query,
            content_type: headers.get("content-type").cloned(),
            authorization: headers.get("authorization").cloned(),
            body,
            status: answer.0,
        });
        answer
    };
    let text = answer.to_string();
    let mut stream = stream;
    let _ = write!(
        stream,
        "HTTP/1.1 {code} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
        reason_phrase(code),
        text.len()
    );
    let _ = stream.flush();
}

fn reason_phrase(code: u16) -> &'static str {
    match code {
        200 => "OK",
        201 => "Created",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        415 => "Unsupported Media Type",
        _ => "Error",
    }
}

fn parse_query(query: &str) -> BTreeMap<String, String> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn handle(
    state: &mut State,
    method: &str,
    path: &str,
    query: &BTreeMap<String, String>,
    headers: &BTreeMap<String, String>,
    body: &str,
) -> (u16, Value) {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let ["api", "v1", "namespaces", namespace, "configmaps", name] = segments[..] else {
        return status(
            404,
            "NotFound",
            &format!("the server could not find {path}"),
        );
    };
    let key = (namespace.to_string(), name.to_string());
    match method {
        "GET" => match state.objects.get(&key) {
            Some(stored) => (200, rendered(stored)),
            None => status(404, "NotFound", &format!("configmaps \"{name}\" not found")),
        },
        "PATCH" => {
            if headers.get("content-type").map(String::as_str)
                != Some("application/apply-patch+yaml")
            {
                return status(
                    415,
                    "UnsupportedMediaType",
                    "only server-side apply is served here",
                );
            }
            let Some(manager) = query.get("fieldManager") else {
                return status(
                    400,
                    "BadRequest",
                    "PATCH, application/apply-patch+yaml: fieldManager is required for apply requests",
                );
            };
            // JSON is YAML; kube sends JSON.
            let applied: Value = match serde_json::from_str(body) {
                Ok(value) => value,
                Err(error) => {
                    return status(400, "BadRequest", &format!("error decoding: {error}"));
                }
            };
            apply(
                state,
                &key,
                &applied,
                manager,
                query.get("force").map(String::as_str) == Some("true"),
                query.get("dryRun").map(String::as_str) == Some("All"),
            )
        }
        _ => status(
            405,
            "MethodNotAllowed",
            &format!("{method} is not served here"),
        ),
    }
}

fn apply(
    state: &mut State,
    key: &(String, String),
    applied: &Value,
    manager: &str,
    force: bool,
    dry_run: bool,
) -> (u16, Value) {
    if applied["metadata"].get("managedFields").is_some() {
        return status(400, "BadRequest", "metadata.managedFields must be nil");
    }
    if applied["kind"] != "ConfigMap" || applied["apiVersion"] != "v1" {
        return status(400, "BadRequest", "only v1 ConfigMaps are served here");
    }
    if applied["metadata"]["name"] != key.1.as_str()
        || applied["metadata"]["namespace"]
            .as_str()
            .is_some_and(|ns| ns != key.0)
    {
        return status(
            400,
            "BadRequest",
            "the name or namespace of the body does not match the URL",
        );
    }
    let existing = state.objects.get(key).cloned();
    let created = existing.is_none();
    let mut stored = existing.unwrap_or_else(|| Stored {
        object: json!({"apiVersion": "v1", "kind": "ConfigMap",
                       "metadata": {"name": key.1, "namespace": key.0,
                                    "uid": format!("uid-{}-{}", key.0, key.1)}}),
        owners: BTreeMap::new(),
    });
    if let Some(version) = applied["metadata"]["resourceVersion"].as_str()
        && stored.object["metadata"]["resourceVersion"].as_str() != Some(version)
    {
        return status(
            409,
            "Conflict",
            &format!(
                "Operation cannot be fulfilled on configmaps \"{}\": the object has been modified",
                key.1
            ),
        );
    }
    let applied_fields = fields(applied);
    let conflicts: Vec<String> = applied_fields
        .iter()
        .filter(|(field, value)| {
            stored
                .owners
                .get(field)
                .is_some_and(|owner| owner != manager)
                && get_field(&stored.object, field) != Some(value)
        })
        .map(|(field, _)| {
            format!(
                "conflict with \"{}\" using v1: .{field}",
                stored.owners[field]
            )
        })
        .collect();
    if !conflicts.is_empty() && !force {
        return status(
            409,
            "Conflict",
            &format!(
                "Apply failed with {} conflict{}: {}",
                conflicts.len(),
                if conflicts.len() == 1 { "" } else { "s" },
                conflicts.join("; ")
            ),
        );
    }
    // Fields this manager owned and no longer applies are removed (unless someone else also
    // set them, which this fake does not model: one owner per field).
    let applied_names: Vec<&String> = applied_fields.iter().map(|(f, _)| f).collect();
    let dropped: Vec<String> = stored
        .owners
        .iter()
        .filter(|(field, owner)| *owner == manager && !applied_names.contains(field))
        .map(|(field, _)| field.clone())
        .collect();
    for field in dropped {
        set_field(&mut stored.object, &field, None);
        stored.owners.remove(&field);
    }
    for (field, value) in applied_fields {
        set_field(&mut stored.object, &field, Some(value));
        stored.owners.insert(field, manager.to_string());
    }
    if let Some(immutable) = applied.get("immutable") {
        stored.object["immutable"] = immutable.clone();
    }
    if dry_run {
        return (if created { 201 } else { 200 }, rendered(&stored));
    }
    state.next_version += 1;
    stored.object["metadata"]["resourceVersion"] = json!(state.next_version.to_string());
    let answer = rendered(&stored);
    state.objects.insert(key.clone(), stored);
    (if created { 201 } else { 200 }, answer)
}
