//! Output files, written so that a reader (CI, `kubectl apply -f`, a person) never sees half a
//! file: each is written to a temporary file beside the target, flushed to disk, then renamed
//! over it, and a rename within one directory is atomic.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;
use tempfile::NamedTempFile;

use trendmaster_types::{Profile, SeriesKey};

use crate::error::EmitError;

/// Replaces `path` with `bytes` atomically, creating its directory if needed.
///
/// On any error the previous file is untouched and no temporary file is left behind (the
/// temporary file removes itself when dropped).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), EmitError> {
    write_atomic_with(path, |file| file.write_all(bytes))
}

/// [`write_atomic`] with the writing step supplied, so tests can make it fail half-way.
fn write_atomic_with(
    path: &Path,
    fill: impl FnOnce(&mut File) -> io::Result<()>,
) -> Result<(), EmitError> {
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    fs::create_dir_all(dir).map_err(|source| EmitError::CreateDir {
        path: dir.to_path_buf(),
        source,
    })?;
    let write_error = |source| EmitError::Write {
        path: path.to_path_buf(),
        source,
    };

    // Same directory as the target: a rename across file systems is a copy, not atomic.
    let mut temp = temp_file_in(dir).map_err(write_error)?;
    fill(temp.as_file_mut()).map_err(write_error)?;
    temp.as_file().sync_all().map_err(write_error)?;
    temp.persist(path).map_err(|err| write_error(err.error))?;
    sync_dir(dir);
    Ok(())
}

/// Temporary files are created private (0600); ask for 0666 instead so that, after the umask,
/// the output gets the same permissions as any other file the user creates.
fn temp_file_in(dir: &Path) -> io::Result<NamedTempFile> {
    let mut builder = tempfile::Builder::new();
    // A dot-file, so that directory watchers that skip those (the ratelimit service with
    // RUNTIME_IGNOREDOTFILES) never pick up a half-written file.
    builder.prefix(".trendmaster-").suffix(".tmp");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(fs::Permissions::from_mode(0o666));
    }
    builder.tempfile_in(dir)
}

/// Makes the rename itself durable. Best effort: the data is already safe, and some file
/// systems refuse to sync a directory.
fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Ok(handle) = File::open(dir) {
        let _ = handle.sync_all();
    }
    #[cfg(not(unix))]
    let _ = dir;
}

/// Paths of the files one run wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WrittenFiles {
    /// `<environment>_configmap_<stamp>.yaml`: the normal profile.
    pub configmap: PathBuf,
    /// `<environment>_configmap_degraded_<stamp>.yaml`: the load-shedding profile.
    pub degraded_configmap: PathBuf,
    /// `latest_configmap.yaml`, a copy of the selected profile's bytes.
    pub latest_configmap: PathBuf,
    /// Which profile `latest_configmap.yaml` holds.
    pub latest_profile: Profile,
    /// `analysis_report_<stamp>.md`
    pub report: PathBuf,
    /// `<environment>_envoyfilter_<stamp>.yaml`, when local rate limits are enabled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub envoyfilter: Option<PathBuf>,
    /// `<environment>_global_envoyfilter_<stamp>.yaml`, when the global wiring is enabled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub global_envoyfilter: Option<PathBuf>,
    /// `<environment>_rules_<stamp>.yaml`: Prometheus rules (`COMMON.ALERTS`), when enabled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rules: Option<PathBuf>,
    /// `<environment>_prometheusrule_<stamp>.yaml`: the same rules as a `PrometheusRule`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prometheus_rule: Option<PathBuf>,
    /// `analysis_report_<stamp>.html`, when written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub html_report: Option<PathBuf>,
    /// `plots/<stamp>/`: one PNG and one SVG per series.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plots: Option<PathBuf>,
}

/// The ConfigMaps and report of one run, as text.
#[derive(Debug, Clone, Copy)]
pub struct RunFiles<'a> {
    /// The normal profile's ConfigMap file.
    pub configmap: &'a str,
    /// The degraded (load-shedding) profile's ConfigMap file.
    pub degraded_configmap: &'a str,
    /// The Markdown report.
    pub report: &'a str,
    /// The local rate-limit EnvoyFilter, when enabled.
    pub envoyfilter: Option<&'a str>,
    /// The global rate-limit wiring EnvoyFilter, when enabled.
    pub global_envoyfilter: Option<&'a str>,
    /// The Prometheus rule file, when enabled.
    pub rules: Option<&'a str>,
    /// The same rules as a `PrometheusRule` object, when enabled.
    pub prometheus_rule: Option<&'a str>,
    /// The HTML report, when written.
    pub html_report: Option<&'a str>,
    /// Charts, each under [`plot_path`].
    pub plots: &'a [ChartFiles<'a>],
}

/// One series' chart, drawn by the reports, to be written under [`plot_path`].
#[derive(Debug, Clone, Copy)]
pub struct ChartFiles<'a> {
    /// The series charted.
    pub key: &'a SeriesKey,
    /// `<plot_path>.svg`.
    pub svg: &'a str,
    /// `<plot_path>.png`.
    pub png: &'a [u8],
}

/// Where the chart of `key` goes, relative to the output directory, without extension. The
/// writer puts the chart there and the binary gives the same path to the Markdown report's
/// link, so both take it from here.
pub fn plot_path(stamp: &str, key: &SeriesKey) -> String {
    let api: String = key
        .api
        .trim_matches('/')
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let partner: String = key
        .partner
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("plots/{stamp}/{partner}__{api}")
}

/// Writes a run's files into one output directory, with the original's file names.
#[derive(Debug, Clone)]
pub struct OutputWriter {
    dir: PathBuf,
}

impl OutputWriter {
    /// A writer into `dir`, which is created on the first write.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The output directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes the timestamped ConfigMaps (both profiles) and report, then
    /// `latest_configmap.yaml` holding the `latest` profile.
    ///
    /// `latest` is a regular file rather than a symlink so that CI artifact uploads keep it,
    /// and it is written last so that it only ever points at a run whose files all exist.
    pub fn write_run(
        &self,
        environment: &str,
        stamp: &str,
        run: &RunFiles<'_>,
        latest: Profile,
    ) -> Result<WrittenFiles, EmitError> {
        check_file_name_part("environment", environment)?;
        check_stamp(stamp)?;
        let files = WrittenFiles {
            configmap: self
                .dir
                .join(format!("{environment}_configmap_{stamp}.yaml")),
            degraded_configmap: self
                .dir
                .join(format!("{environment}_configmap_degraded_{stamp}.yaml")),
            latest_configmap: self.dir.join("latest_configmap.yaml"),
            latest_profile: latest,
            report: self.dir.join(format!("analysis_report_{stamp}.md")),
            envoyfilter: run.envoyfilter.map(|_| {
                self.dir
                    .join(format!("{environment}_envoyfilter_{stamp}.yaml"))
            }),
            global_envoyfilter: run.global_envoyfilter.map(|_| {
                self.dir
                    .join(format!("{environment}_global_envoyfilter_{stamp}.yaml"))
            }),
            rules: run
                .rules
                .map(|_| self.dir.join(format!("{environment}_rules_{stamp}.yaml"))),
            prometheus_rule: run.prometheus_rule.map(|_| {
                self.dir
                    .join(format!("{environment}_prometheusrule_{stamp}.yaml"))
            }),
            html_report: run
                .html_report
                .map(|_| self.dir.join(format!("analysis_report_{stamp}.html"))),
            plots: (!run.plots.is_empty()).then(|| self.dir.join("plots").join(stamp)),
        };
        remove_stale_temp_files(&self.dir);
        let mut undo = Undo::new(&[self.dir.join("plots"), self.dir.join("plots").join(stamp)]);
        let result = self.write_run_files(stamp, &files, run, latest, &mut undo);
        if result.is_err() {
            undo.run();
        }
        result.map(|()| files)
    }

    /// [`Self::write_run`]'s files, in order, each recorded in `undo` once it is written.
    fn write_run_files(
        &self,
        stamp: &str,
        files: &WrittenFiles,
        run: &RunFiles<'_>,
        latest: Profile,
        undo: &mut Undo,
    ) -> Result<(), EmitError> {
        let mut write = |path: &Path, bytes: &[u8]| {
            write_atomic(path, bytes)?;
            undo.written.push(path.to_path_buf());
            Ok::<(), EmitError>(())
        };
        // Charts before the reports that link to them.
        for chart in run.plots {
            let base = self.dir.join(plot_path(stamp, chart.key));
            write(&base.with_extension("svg"), chart.svg.as_bytes())?;
            write(&base.with_extension("png"), chart.png)?;
        }
        if let (Some(path), Some(html)) = (&files.html_report, run.html_report) {
            write(path, html.as_bytes())?;
        }
        write(&files.report, run.report.as_bytes())?;
        write(&files.configmap, run.configmap.as_bytes())?;
        write(&files.degraded_configmap, run.degraded_configmap.as_bytes())?;
        if let (Some(path), Some(yaml)) = (&files.envoyfilter, run.envoyfilter) {
            write(path, yaml.as_bytes())?;
        }
        if let (Some(path), Some(yaml)) = (&files.global_envoyfilter, run.global_envoyfilter) {
            write(path, yaml.as_bytes())?;
        }
        for (path, yaml) in [
            (&files.rules, run.rules),
            (&files.prometheus_rule, run.prometheus_rule),
        ] {
            if let (Some(path), Some(yaml)) = (path, yaml) {
                write(path, yaml.as_bytes())?;
            }
        }
        // `latest_configmap.yaml` last, and never undone: once it is replaced the run has
        // nothing left that can fail.
        let latest_bytes = match latest {
            Profile::Normal => run.configmap,
            Profile::Degraded => run.degraded_configmap,
        };
        write_atomic(&files.latest_configmap, latest_bytes.as_bytes())
    }
}

/// Removes the temporary files (`.trendmaster-*.tmp`) a killed run left in the output
/// directory, its `plots/` stamps and its `history/`. Only a run that holds the output
/// directory's lock writes, so any found here belong to a run that is gone: `write_atomic`
/// removes its own on every error, but SIGKILL runs no destructor (the soak kills a night
/// while it writes, and its temporary files stayed for good). Best effort, like the undo.
fn remove_stale_temp_files(dir: &Path) {
    let plots = fs::read_dir(dir.join("plots"))
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .map(|entry| entry.path());
    let dirs = [dir.to_path_buf(), dir.join("history")]
        .into_iter()
        .chain(plots);
    for dir in dirs {
        for entry in fs::read_dir(&dir)
            .into_iter()
            .flatten()
            .filter_map(Result::ok)
        {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with(".trendmaster-") && name.ends_with(".tmp") {
                let _ = fs::remove_file(entry.path());
            }
        }
    }
}

/// What a run wrote so far, to remove when a later file fails: a failed run leaves the output
/// directory as it was. (Each file of a run has the run's stamp in its name, so none of them
/// replaced an older file; `latest_configmap.yaml`, the one that does, is written last.)
///
/// Why: the soak (`crates/trendmaster/tests/soak.rs`) ran a night under a file size limit;
/// the first chart failed, and the night left an empty `plots/<stamp>/` behind (with a later
/// chart failing, it would have left the earlier ones).
struct Undo {
    written: Vec<PathBuf>,
    /// Directories that did not exist before the run, outermost first.
    created: Vec<PathBuf>,
}

impl Undo {
    /// `dirs`: the directories the run may create, outermost first.
    fn new(dirs: &[PathBuf]) -> Self {
        Self {
            written: Vec::new(),
            created: dirs.iter().filter(|d| !d.exists()).cloned().collect(),
        }
    }

    /// Removes what was written, then the directories created, if empty. Best effort: the
    /// run is failing already, and its error is the one to report.
    fn run(self) {
        for path in self.written.iter().rev() {
            let _ = fs::remove_file(path);
        }
        for dir in self.created.iter().rev() {
            let _ = fs::remove_dir(dir);
        }
    }
}

/// The environment ends up in a file name; it must not climb out of the output directory.
fn check_file_name_part(what: &'static str, value: &str) -> Result<(), EmitError> {
    let reason = if value.is_empty() {
        Some("it is empty")
    } else if value.starts_with('.') {
        Some("it starts with '.'")
    } else if !value
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        Some("only letters, digits, '-', '_' and '.' are allowed")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(EmitError::InvalidFileName {
            what,
            value: value.to_owned(),
            reason,
        }),
        None => Ok(()),
    }
}

/// `YYYYmmdd_HHMMSS`, so that file names sort by time.
fn check_stamp(stamp: &str) -> Result<(), EmitError> {
    let bytes = stamp.as_bytes();
    let well_formed = bytes.len() == 15
        && bytes.iter().enumerate().all(|(i, b)| match i {
            8 => *b == b'_',
            _ => b.is_ascii_digit(),
        });
    if well_formed {
        Ok(())
    } else {
        Err(EmitError::InvalidFileName {
            what: "timestamp",
            value: stamp.to_owned(),
            reason: "expected YYYYmmdd_HHMMSS",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn write_replaces_the_content_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out.yaml");
        write_atomic(&target, b"first").unwrap();
        write_atomic(&target, b"second").unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"second");
        assert_eq!(entries(dir.path()), ["out.yaml"]);
    }

    #[test]
    fn missing_directories_are_created() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("a/b/out.yaml");
        write_atomic(&target, b"x").unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"x");
    }

    #[cfg(unix)]
    #[test]
    fn written_files_get_the_same_permissions_as_ordinarily_created_ones() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out.yaml");
        write_atomic(&target, b"x").unwrap();
        let plain = dir.path().join("plain");
        fs::write(&plain, b"x").unwrap();
        let mode = |path: &Path| fs::metadata(path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&target), mode(&plain));
    }

    #[test]
    fn a_failure_while_writing_keeps_the_previous_file() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out.yaml");
        write_atomic(&target, b"previous").unwrap();

        let err = write_atomic_with(&target, |file| {
            file.write_all(b"half")?;
            Err(io::Error::other("disk full"))
        })
        .unwrap_err();
        let message = err.to_string();
        assert!(message.contains(&target.display().to_string()), "{message}");
        assert!(message.contains("disk full"), "{message}");
        assert_eq!(fs::read(&target).unwrap(), b"previous");
        assert_eq!(entries(dir.path()), ["out.yaml"]);
    }

    #[test]
    fn a_parent_that_is_a_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let blocker = dir.path().join("not-a-dir");
        fs::write(&blocker, b"previous").unwrap();

        let err = write_atomic(&blocker.join("out.yaml"), b"x").unwrap_err();
        assert!(matches!(err, EmitError::CreateDir { .. }), "{err}");
        assert!(err.to_string().contains("not-a-dir"), "{err}");
        assert_eq!(fs::read(&blocker).unwrap(), b"previous");
    }

    #[test]
    fn a_target_that_is_a_directory_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out.yaml");
        fs::create_dir(&target).unwrap();
        fs::write(target.join("keep"), b"kept").unwrap();

        let err = write_atomic(&target, b"x").unwrap_err();
        assert!(matches!(err, EmitError::Write { .. }), "{err}");
        assert!(err.to_string().contains("out.yaml"), "{err}");
        assert_eq!(fs::read(target.join("keep")).unwrap(), b"kept");
        assert_eq!(entries(dir.path()), ["out.yaml"]);
    }

    #[test]
    fn a_run_writes_four_files_and_latest_is_a_regular_copy_of_its_profile() {
        let dir = tempfile::tempdir().unwrap();
        let writer = OutputWriter::new(dir.path().join("output"));
        let run = |configmap, report| RunFiles {
            configmap,
            degraded_configmap: "kind: ConfigMap # degraded\n",
            report,
            envoyfilter: None,
            global_envoyfilter: None,
            rules: None,
            prometheus_rule: None,
            html_report: None,
            plots: &[],
        };
        let files = writer
            .write_run(
                "testing",
                "20261115_123400",
                &run("kind: ConfigMap\n", "# Report\n"),
                Profile::Normal,
            )
            .unwrap();
        let out = dir.path().join("output");
        assert_eq!(
            files.configmap,
            out.join("testing_configmap_20261115_123400.yaml")
        );
        assert_eq!(files.report, out.join("analysis_report_20261115_123400.md"));
        assert_eq!(files.latest_configmap, out.join("latest_configmap.yaml"));
        assert_eq!(
            fs::read_to_string(&files.configmap).unwrap(),
            "kind: ConfigMap\n"
        );
        assert_eq!(fs::read_to_string(&files.report).unwrap(), "# Report\n");
        let latest = fs::symlink_metadata(&files.latest_configmap).unwrap();
        assert!(latest.file_type().is_file());
        assert_eq!(
            fs::read_to_string(&files.latest_configmap).unwrap(),
            "kind: ConfigMap\n"
        );

        assert_eq!(
            fs::read_to_string(&files.degraded_configmap).unwrap(),
            "kind: ConfigMap # degraded\n"
        );

        writer
            .write_run(
                "testing",
                "20261116_000000",
                &run("kind: ConfigMap # v2\n", "# Report 2\n"),
                Profile::Normal,
            )
            .unwrap();
        let latest = fs::read_to_string(&files.latest_configmap).unwrap();
        assert_eq!(latest, "kind: ConfigMap # v2\n");
        assert_eq!(entries(&out).len(), 7);

        // `--profile degraded`: latest holds the degraded variant.
        writer
            .write_run(
                "testing",
                "20261116_010000",
                &run("kind: ConfigMap # v3\n", "# Report 3\n"),
                Profile::Degraded,
            )
            .unwrap();
        let latest = fs::read_to_string(&files.latest_configmap).unwrap();
        assert_eq!(latest, "kind: ConfigMap # degraded\n");
    }

    /// A run with `plots` and an HTML report.
    fn run_with<'a>(plots: &'a [ChartFiles<'a>]) -> RunFiles<'a> {
        RunFiles {
            configmap: "kind: ConfigMap\n",
            degraded_configmap: "kind: ConfigMap # degraded\n",
            report: "# Report\n",
            envoyfilter: None,
            global_envoyfilter: None,
            rules: None,
            prometheus_rule: None,
            html_report: Some("<html></html>"),
            plots,
        }
    }

    #[test]
    fn a_run_that_fails_half_way_removes_what_it_had_written() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("output");
        let writer = OutputWriter::new(&out);
        let key = SeriesKey::new("111", "/api");
        let plots = [ChartFiles {
            key: &key,
            svg: "<svg/>",
            png: b"png",
        }];
        writer
            .write_run(
                "testing",
                "20261115_000000",
                &run_with(&plots),
                Profile::Normal,
            )
            .unwrap();
        let before = entries(&out);
        // The next run's ConfigMap cannot be written (a directory is in its place), after its
        // chart, HTML and Markdown reports were.
        let stamp = "20261116_000000";
        fs::create_dir(out.join(format!("testing_configmap_{stamp}.yaml"))).unwrap();
        let err = writer
            .write_run("testing", stamp, &run_with(&plots), Profile::Normal)
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("testing_configmap_20261116_000000.yaml"),
            "{err}"
        );
        let mut expected = before.clone();
        expected.push(format!("testing_configmap_{stamp}.yaml"));
        expected.sort();
        assert_eq!(
            entries(&out),
            expected,
            "the chart and both reports are gone"
        );
        assert_eq!(
            entries(&out.join("plots")),
            ["20261115_000000"],
            "its plots directory too"
        );
        assert_eq!(
            fs::read_to_string(out.join("latest_configmap.yaml")).unwrap(),
            "kind: ConfigMap\n"
        );
    }

    #[test]
    fn temporary_files_of_a_killed_run_are_removed_by_the_next() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("output");
        let left = [
            out.join(".trendmaster-AbC123.tmp"),
            out.join("plots/20261115_000000/.trendmaster-x.tmp"),
            out.join("history/.trendmaster-y.tmp"),
        ];
        for path in &left {
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, b"half").unwrap();
        }
        // Not ours: kept.
        fs::write(out.join(".keep.tmp"), b"x").unwrap();
        OutputWriter::new(&out)
            .write_run(
                "testing",
                "20261116_000000",
                &run_with(&[]),
                Profile::Normal,
            )
            .unwrap();
        for path in &left {
            assert!(!path.exists(), "{}", path.display());
        }
        assert!(out.join(".keep.tmp").exists());
    }

    #[test]
    fn unsafe_file_name_parts_are_refused_before_writing() {
        let dir = tempfile::tempdir().unwrap();
        let writer = OutputWriter::new(dir.path());
        for (environment, stamp) in [
            ("../etc", "20261115_123400"),
            ("", "20261115_123400"),
            ("prod/eu", "20261115_123400"),
            ("testing", "2026-11-15"),
            ("testing", "20261115-123400"),
        ] {
            let run = RunFiles {
                configmap: "x",
                degraded_configmap: "x",
                report: "y",
                envoyfilter: None,
                global_envoyfilter: None,
                rules: None,
                prometheus_rule: None,
                html_report: None,
                plots: &[],
            };
            let err = writer
                .write_run(environment, stamp, &run, Profile::Normal)
                .unwrap_err();
            assert!(matches!(err, EmitError::InvalidFileName { .. }), "{err}");
        }
        assert_eq!(entries(dir.path()), Vec::<String>::new());
    }
}
