//! What a run analyses, decided before anything is fetched: what is deployed (read first, so
//! that a wrong file or an unreachable cluster fails fast), the source, the window, the series
//! and the approvals that name them.

use chrono::Utc;
use tracing::{debug, info};
use trendmaster_config::ResolvedConfig;
use trendmaster_emit::Deployed;
use trendmaster_fetch::{FetchOptions, FileOptions, PrometheusOptions, Source};
use trendmaster_plan::Approvals;
use trendmaster_types::{AnalysisWindow, SeriesKey, SkippedSeries};

use crate::cluster::{self, ClusterState, DeployedState};
use crate::error::AppError;
use crate::fleet::FleetSelection;
use crate::request::RunRequest;

/// What a run analyses: the deployed state, the source, the window and the series.
pub struct Selection {
    pub deployed: Option<Deployed>,
    pub deployed_from: Option<String>,
    pub cluster: Option<ClusterState>,
    pub source: Source,
    pub window: AnalysisWindow,
    pub keys: Vec<SeriesKey>,
    pub excluded: Vec<SkippedSeries>,
    pub approvals: Approvals,
}

impl Selection {
    pub fn fleet(&self) -> FleetSelection<'_> {
        FleetSelection {
            source: &self.source,
            keys: &self.keys,
            window: &self.window,
            deployed: self.deployed.as_ref().map(|d| &d.limits),
            excluded: &self.excluded,
        }
    }
}

/// The configured data source, with this run's fetch options.
pub(crate) fn open_source(
    config: &ResolvedConfig,
    request: &RunRequest,
) -> Result<Source, AppError> {
    let options = FetchOptions {
        demo_seed: config.demo_seed,
        prometheus: PrometheusOptions {
            url: config.prometheus_url.clone(),
            token: config.prometheus_token.clone(),
            extra_headers: Vec::new(),
            settings: Some(config.prometheus.clone()),
        },
        file: FileOptions {
            step_secs: request.step_given.then_some(config.step_secs),
            sum_duplicates: request.sum_duplicates,
        },
        cache_dir: request.cache_dir.clone(),
        offline: request.offline,
        progress: request.progress,
    };
    Ok(Source::open(&config.source, &options)?)
}

/// Reads what is deployed (first, so that a wrong file or an unreachable cluster fails before
/// anything is fetched), opens the source and decides the window and the series.
pub fn select(config: &ResolvedConfig, request: &RunRequest) -> Result<Selection, AppError> {
    let DeployedState {
        deployed,
        origin: deployed_from,
        cluster,
    } = cluster::read_deployed(config, request)?;
    let source = open_source(config, request)?;
    let step_secs = match source.native_step_secs() {
        Some(native) if !request.step_given => native,
        _ => config.step_secs,
    };
    let as_of = request.as_of.or(source.data_end()).unwrap_or_else(Utc::now);
    let window = AnalysisWindow::ending_at(as_of, config.days, step_secs);
    let (keys, excluded) = match &deployed {
        // `partners: auto` / `apis: auto`: what the data has, narrowed by what is listed.
        _ if config.discovery.any() => {
            let found = source.discover(&window, config.listed_apis())?;
            let found_count = found.len();
            let (keys, excluded) = config
                .discovered_keys(found)
                .map_err(|message| AppError::Invalid(vec![message]))?;
            let partners: std::collections::BTreeSet<&str> =
                keys.iter().map(|k| k.partner.as_str()).collect();
            let apis: std::collections::BTreeSet<&str> =
                keys.iter().map(|k| k.api.as_str()).collect();
            info!(
                found = found_count,
                series = keys.len(),
                partners = partners.len(),
                apis = apis.len(),
                "discovered {} series in {} ({} partners, {} APIs; {} excluded by configuration)",
                keys.len(),
                config.source,
                partners.len(),
                apis.len(),
                excluded.len()
            );
            (keys, excluded)
        }
        // As the original did in testing and production: analyse what is deployed.
        Some(deployed) if config.discover_from_deployed && !deployed.limits.is_empty() => {
            info!(
                entries = deployed.limits.len(),
                "analysing the {} partner x API entries of {} (DISCOVER_FROM_DEPLOYED)",
                deployed.limits.len(),
                deployed.origin
            );
            config.series_keys_among(deployed.limits.keys().cloned())
        }
        _ => config.series_keys(),
    };
    let keys = match &request.only {
        Some(only) if keys.contains(only) => vec![only.clone()],
        Some(only) => {
            return Err(AppError::Usage(format!(
                "--explain {}:{}: not among the {} partner x API pairs this run analyses (check --partners, --apis and PARTNER_CONFIGS)",
                only.partner,
                only.api,
                keys.len()
            )));
        }
        None => keys,
    };
    let approvals = Approvals::parse(&request.approve, &keys)?;
    info!(
        environment = %config.environment.name,
        source = %config.source,
        series = keys.len(),
        start = %window.start,
        end = %window.end,
        "analysing {} series over {} days",
        keys.len(),
        config.days
    );
    for skipped in &excluded {
        debug!(series = %skipped.key, reason = %skipped.reason, "excluded");
    }
    Ok(Selection {
        deployed,
        deployed_from,
        cluster,
        source,
        window,
        keys,
        excluded,
        approvals,
    })
}
