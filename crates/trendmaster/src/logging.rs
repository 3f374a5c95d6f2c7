//! Logs go to stderr (and optionally a file), never to stdout, which carries data only.

use std::fs::File;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry};

use crate::cli::LogFormat;

type BoxedLayer = Box<dyn Layer<Registry> + Send + Sync>;

/// Level: `-v`/`-vv` if given, else `RUST_LOG` (full directives), else `LOG_LEVEL`, else info.
pub fn filter(verbose: u8, lookup: &dyn Fn(&str) -> Option<String>) -> Result<EnvFilter, String> {
    let directives = match verbose {
        0 => match lookup("RUST_LOG").filter(|d| !d.trim().is_empty()) {
            Some(directives) => directives,
            // kube logs every failed request at ERROR before returning it; the error is
            // reported once, as one line, at the edge, and `-v` or RUST_LOG show kube's events.
            None => format!(
                "{},kube_client=off",
                lookup("LOG_LEVEL")
                    .filter(|level| !level.trim().is_empty())
                    .map_or("info".into(), |level| level.to_ascii_lowercase())
            ),
        },
        1 => "debug".into(),
        _ => "trace".into(),
    };
    EnvFilter::try_new(&directives).map_err(|e| {
        format!("log level `{directives}` (from -v, RUST_LOG or LOG_LEVEL) is invalid: {e}")
    })
}

/// Installs the global subscriber. `log_file` is the `--log-file` flag: absent, given without a
/// value (default name), or given a path.
pub fn init(
    filter: EnvFilter,
    format: LogFormat,
    log_file: Option<Option<&Path>>,
    environment: &str,
) -> Result<Option<PathBuf>, String> {
    let stderr = std::io::stderr;
    let ansi = std::io::stderr().is_terminal();
    let stderr_layer: BoxedLayer = match format {
        LogFormat::Text => tracing_subscriber::fmt::layer()
            .with_writer(stderr)
            .with_ansi(ansi)
            .with_target(false)
            .boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .with_writer(stderr)
            .boxed(),
    };

    let (file_layer, path): (Option<BoxedLayer>, Option<PathBuf>) = match log_file {
        None => (None, None),
        Some(path) => {
            let path = path.map(Path::to_path_buf).unwrap_or_else(|| {
                let stamp = crate::files::stamp(chrono::Utc::now());
                PathBuf::from(format!("logs/trendmaster_{environment}_{stamp}.log"))
            });
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)
                    .map_err(|e| format!("--log-file: cannot create {}: {e}", dir.display()))?;
            }
            let file = File::create(&path)
                .map_err(|e| format!("--log-file: cannot create {}: {e}", path.display()))?;
            let writer = Mutex::new(file);
            let layer: BoxedLayer = match format {
                LogFormat::Text => tracing_subscriber::fmt::layer()
                    .with_writer(writer)
                    .with_ansi(false)
                    .boxed(),
                LogFormat::Json => tracing_subscriber::fmt::layer()
                    .json()
                    .with_writer(writer)
                    .boxed(),
            };
            (Some(layer), Some(path))
        }
    };

    let layers: Vec<BoxedLayer> = std::iter::once(stderr_layer).chain(file_layer).collect();
    tracing_subscriber::registry()
        .with(layers)
        .with(filter)
        .try_init()
        .map_err(|e| format!("cannot install the logger: {e}"))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verbosity_beats_environment_variables() {
        let vars = |name: &str| match name {
            "RUST_LOG" => Some("warn".to_string()),
            "LOG_LEVEL" => Some("ERROR".to_string()),
            _ => None,
        };
        assert_eq!(filter(0, &vars).unwrap().to_string(), "warn");
        assert_eq!(filter(1, &vars).unwrap().to_string(), "debug");
        assert_eq!(filter(2, &vars).unwrap().to_string(), "trace");
        let only_level = |name: &str| (name == "LOG_LEVEL").then(|| "ERROR".to_string());
        assert_eq!(
            filter(0, &only_level).unwrap().to_string(),
            "kube_client=off,error"
        );
        assert_eq!(
            filter(0, &|_| None).unwrap().to_string(),
            "kube_client=off,info"
        );
        let bad = |name: &str| (name == "LOG_LEVEL").then(|| "loud[".to_string());
        assert!(filter(0, &bad).unwrap_err().contains("loud["));
    }
}
