//! Scale-out: `--shard I/N` analyses a deterministic part of the fleet and writes a shard file;
//! `trendmaster merge` reads the N shard files and emits them as one run would have.
//!
//! Partners are assigned by a stable hash (FNV-1a, 64 bit) of their id, so a partner's APIs
//! stay together (its queries, its report section, its local rate-limit bucket) and the same
//! fleet always splits the same way, on any machine and with any Rust version.
//!
//! A merge refuses shard files that do not fit together: another window, configuration,
//! environment, shard count or fleet, a shard missing or present twice. It never emits a
//! ConfigMap from part of a fleet.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use trendmaster_config::ResolvedConfig;
use trendmaster_fetch::FetchStats;
use trendmaster_types::{
    AnalysisWindow, RateRecommendation, SeriesChart, SeriesKey, SkippedSeries,
};

use crate::error::AppError;

use crate::fleet::{Analysed, BusyTime, ChartPolicy, keep_best_charts};
use crate::result::TOOL_VERSION;

/// `--shard I/N`: part `index` (0-based, as Kubernetes' `JOB_COMPLETION_INDEX`) of `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl Shard {
    /// Whether `partner`'s series belong to this shard.
    pub fn owns(&self, partner: &str) -> bool {
        fnv1a(partner.as_bytes()) % u64::from(self.count) == u64::from(self.index)
    }
}

impl std::str::FromStr for Shard {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        let parsed = text.split_once('/').and_then(|(i, n)| {
            Some((i.trim().parse::<u32>().ok()?, n.trim().parse::<u32>().ok()?))
        });
        match parsed {
            Some((index, count)) if count >= 1 && index < count => Ok(Self { index, count }),
            _ => Err(format!(
                "`{text}` is not I/N with 0 <= I < N, e.g. 0/4 (I is the 0-based index, as JOB_COMPLETION_INDEX)"
            )),
        }
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl TryFrom<String> for Shard {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        text.parse()
    }
}

impl From<Shard> for String {
    fn from(shard: Shard) -> String {
        shard.to_string()
    }
}

/// FNV-1a: tiny, stable across platforms and releases (unlike `std`'s hasher), and spreads
/// short numeric ids well.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// What one shard run leaves for `merge`.
#[derive(Debug, Serialize, Deserialize)]
struct ShardFile {
    /// Bumped when the layout changes; a merge refuses other formats.
    format: u32,
    tool_version: String,
    environment: String,
    /// The settings that shape the results; shards made with different ones do not merge.
    config_fingerprint: String,
    shard: Shard,
    window: AnalysisWindow,
    /// The series this shard was given (its part of the fleet, exclusions included).
    keys: Vec<SeriesKey>,
    recommendations: Vec<RateRecommendation>,
    skipped: Vec<SkippedSeries>,
    fetch: FetchStats,
    busy: BusyTime,
    /// The shard's best-ranked charts (at most `COMMON.OUTPUT.max_charts`); the merge keeps
    /// the best of all shards.
    charts: Vec<KeyedChart>,
}

#[derive(Debug, Serialize, Deserialize)]
struct KeyedChart {
    key: SeriesKey,
    chart: SeriesChart,
}

const FORMAT: u32 = 1;

/// `OUTPUT/shards/<window end>/`: one directory per fleet run, so that a merge never mixes
/// nights.
pub fn shard_dir(output_dir: &Path, window: &AnalysisWindow) -> PathBuf {
    output_dir
        .join("shards")
        .join(window.end.format("%Y%m%dT%H%M%SZ").to_string())
}

fn file_name(shard: Shard) -> String {
    format!("shard-{}-of-{}.json", shard.index, shard.count)
}

/// Writes this shard's results (atomically) and returns the path.
pub(crate) fn write(
    config: &ResolvedConfig,
    window: &AnalysisWindow,
    shard: Shard,
    keys: &[SeriesKey],
    analysed: &Analysed,
) -> Result<PathBuf, AppError> {
    let mut recommendations = analysed.recommendations.clone();
    let charts = recommendations
        .iter_mut()
        .filter_map(|rec| {
            rec.analysis.chart.take().map(|chart| KeyedChart {
                key: rec.key.clone(),
                chart,
            })
        })
        .collect();
    let mut keys = keys.to_vec();
    keys.extend(analysed.skipped.iter().map(|s| s.key.clone()));
    keys.sort();
    keys.dedup();
    let file = ShardFile {
        format: FORMAT,
        tool_version: TOOL_VERSION.to_string(),
        environment: config.environment.name.clone(),
        config_fingerprint: fingerprint(config),
        shard,
        window: *window,
        keys,
        recommendations,
        skipped: analysed.skipped.clone(),
        fetch: analysed.fetch,
        busy: analysed.busy,
        charts,
    };
    let path = shard_dir(&config.output_dir, window).join(file_name(shard));
    let json = serde_json::to_vec(&file)
        .map_err(|e| AppError::Output(format!("cannot serialise shard {shard}: {e}")))?;
    trendmaster_emit::write_atomic(&path, &json)?;
    tracing::info!(path = %path.display(), "wrote shard {shard}");
    Ok(path)
}

/// Shard files that fit together.
pub(crate) struct Shards {
    pub window: AnalysisWindow,
    files: Vec<(PathBuf, ShardFile)>,
    max_charts: usize,
}

/// Reads the shard files given, or with none given those of `--as-of`'s window in
/// `OUTPUT/shards/`, and checks that they fit together.
pub(crate) fn read_all(
    config: &ResolvedConfig,
    as_of: Option<DateTime<Utc>>,
    given: &[PathBuf],
) -> Result<Shards, AppError> {
    let paths = if given.is_empty() {
        let as_of = as_of.ok_or_else(|| {
            AppError::Usage(
                "merge: give the shard files, or --as-of (the same as the shard runs') to read them from OUTPUT/shards/".into(),
            )
        })?;
        let window = AnalysisWindow::ending_at(as_of, config.days, config.step_secs);
        let dir = shard_dir(&config.output_dir, &window);
        let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map_err(|e| AppError::ShardsIncomplete(format!("merge: {}: {e}", dir.display())))?
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        paths.sort();
        paths
    } else {
        given.to_vec()
    };
    let mut files = Vec::new();
    for path in paths {
        let bytes = std::fs::read(&path)
            .map_err(|e| AppError::ShardsIncomplete(format!("merge: {}: {e}", path.display())))?;
        let file: ShardFile = serde_json::from_slice(&bytes).map_err(|e| {
            AppError::Usage(format!(
                "merge: {}: not a trendmaster shard file: {e}",
                path.display()
            ))
        })?;
        files.push((path, file));
    }
    let Some((first_path, first)) = files.first() else {
        return Err(AppError::ShardsIncomplete(
            "merge: no shard files to merge".into(),
        ));
    };
    let expected = fingerprint(config);
    let mut seen = BTreeMap::new();
    for (path, file) in &files {
        let mismatch = |what: &str| {
            AppError::Usage(format!(
                "merge: {} does not fit {}: different {what}",
                path.display(),
                first_path.display()
            ))
        };
        if file.format != FORMAT {
            return Err(AppError::Usage(format!(
                "merge: {}: shard file format {} (this trendmaster reads {FORMAT})",
                path.display(),
                file.format
            )));
        }
        if file.config_fingerprint != expected || file.environment != config.environment.name {
            return Err(AppError::Usage(format!(
                "merge: {} was made with another configuration or environment than this merge's (`{}`); run the shards and the merge with the same flags and files",
                path.display(),
                config.environment.name
            )));
        }
        if file.window != first.window {
            return Err(mismatch("window (give every shard run the same --as-of)"));
        }
        if file.shard.count != first.shard.count {
            return Err(mismatch("shard count"));
        }
        if let Some(other) = seen.insert(file.shard.index, path) {
            return Err(AppError::Usage(format!(
                "merge: shard {} twice: {} and {}",
                file.shard,
                other.display(),
                path.display()
            )));
        }
    }
    let missing: Vec<String> = (0..first.shard.count)
        .filter(|i| !seen.contains_key(i))
        .map(|i| format!("{i}/{}", first.shard.count))
        .collect();
    if !missing.is_empty() {
        return Err(AppError::ShardsIncomplete(format!(
            "merge: shard {} missing (found {} of {}); nothing was written",
            missing.join(", "),
            seen.len(),
            first.shard.count
        )));
    }
    Ok(Shards {
        window: first.window,
        files,
        max_charts: config.max_charts,
    })
}

impl Shards {
    /// The shards' results as one analysis, after checking that together they are exactly the
    /// fleet this merge selects (`keys`, the selection of an unsharded run). Charts are ranked
    /// against `deployed` as an unsharded run ranks them.
    pub(crate) fn into_analysed(
        self,
        keys: &[SeriesKey],
        window: &AnalysisWindow,
        deployed: Option<&BTreeMap<SeriesKey, u64>>,
    ) -> Result<Analysed, AppError> {
        if *window != self.window {
            return Err(AppError::Usage(format!(
                "merge: the shards cover {} to {}, but this merge's window is {} to {}",
                self.window.start, self.window.end, window.start, window.end
            )));
        }
        let mut covered = BTreeSet::new();
        let mut recommendations = Vec::new();
        let mut skipped = Vec::new();
        let mut charts = BTreeMap::new();
        let mut fetch = FetchStats::default();
        let mut busy = BusyTime::default();
        for (_, file) in self.files {
            covered.extend(file.keys);
            recommendations.extend(file.recommendations);
            skipped.extend(file.skipped);
            charts.extend(file.charts.into_iter().map(|c| (c.key, c.chart)));
            fetch += file.fetch;
            busy.analysis_seconds += file.busy.analysis_seconds;
            busy.calculation_seconds += file.busy.calculation_seconds;
        }
        let wanted: BTreeSet<SeriesKey> = keys.iter().cloned().collect();
        if let Some(key) = wanted.difference(&covered).next() {
            return Err(AppError::Usage(format!(
                "merge: no shard analysed {key}, which this merge's selection includes; the shards were run for another fleet (partners, APIs or the deployed entries changed)"
            )));
        }
        for rec in &mut recommendations {
            rec.analysis.chart = charts.remove(&rec.key);
        }
        keep_best_charts(
            &mut recommendations,
            &ChartPolicy {
                max: self.max_charts,
                deployed,
            },
        );
        recommendations.sort_by(|a, b| a.key.cmp(&b.key));
        skipped.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(Analysed {
            recommendations,
            skipped,
            fetch,
            busy,
            analyse_seconds: 0.0,
        })
    }
}

/// A short hash of the settings that decide the results, so that shards made with other
/// settings are refused rather than merged into a ConfigMap nobody ran.
fn fingerprint(config: &ResolvedConfig) -> String {
    let relevant = serde_json::json!({
        "source": config.source.to_string(),
        "days": config.days,
        "step": config.step_secs,
        "seed": config.demo_seed,
        "rate": config.rate,
        "cache": config.cache,
        "confidence": config.confidence,
        "prime_time": config.prime_time,
        "anomaly": config.anomaly,
        "forecast": config.forecast,
        "multipliers": config.multipliers,
        "exclusions": config.exclusions,
        "configmap": config.configmap,
    });
    format!("{:016x}", fnv1a(relevant.to_string().as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_parse_as_zero_based_index_over_count() {
        assert_eq!("0/4".parse::<Shard>(), Ok(Shard { index: 0, count: 4 }));
        assert_eq!(" 3 / 4 ".parse::<Shard>(), Ok(Shard { index: 3, count: 4 }));
        for bad in ["4/4", "1/0", "a/4", "2", "-1/4", ""] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
    }

    #[test]
    fn every_partner_is_in_exactly_one_shard_and_the_split_is_stable() {
        let partners: Vec<String> = (1000..1500).map(|p| p.to_string()).collect();
        let count = 4;
        let mut sizes = [0usize; 4];
        for partner in &partners {
            let owners: Vec<u32> = (0..count)
                .filter(|&index| Shard { index, count }.owns(partner))
                .collect();
            assert_eq!(owners.len(), 1, "{partner}: {owners:?}");
            sizes[owners[0] as usize] += 1;
        }
        // Balanced within ±20 % of 125 on these ids.
        assert!(sizes.iter().all(|&n| (100..=150).contains(&n)), "{sizes:?}");
        // Pinned (computed independently): a change here would reshuffle every deployed
        // fleet's shards.
        assert_eq!(fnv1a(b"111"), 0x456c_3c18_181f_ab52);
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
    }
}
