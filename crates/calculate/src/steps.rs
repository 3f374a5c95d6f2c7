//! The formula as a chain of recorded steps: each step takes the running value, records input,
//! factor, output and a sentence saying why, and passes the output on.

use trendmaster_types::settings::{
    CacheSettings, MultiplierSettings, Rounding, TrafficPatternSettings,
};
use trendmaster_types::{
    AnalysisResult, AnomalyKind, CacheAdjustment, ForecastSummary, FormulaStep, RecurringBursts,
    SeriesStats, StepKind, TrafficPattern, TrendEvidence,
};

use crate::format::{self, num};

pub struct Chain {
    value: f64,
    steps: Vec<FormulaStep>,
}

impl Chain {
    /// Step 1: the effective peak, or the reason there is none.
    pub fn start(analysis: &AnalysisResult) -> Result<Chain, String> {
        let peaks = &analysis.daily_peaks;
        let prime = &analysis.prime_time;
        let prime_window = prime.describe();
        if peaks.is_empty() {
            return Err(format!(
                "no usable prime-time data: no day had enough clean points in {prime_window} ({} of {} points present, {} removed as anomalous, {} days skipped)",
                analysis.points.present,
                analysis.points.expected,
                analysis.points.removed,
                analysis.days_skipped
            ));
        }
        let peak = peaks.iter().map(|p| p.peak).sum::<f64>() / peaks.len() as f64;
        let one_off = |e: &&trendmaster_types::AnomalyEvent| e.excluded && !e.recurring;
        let removed_events = analysis.anomalies.iter().filter(one_off).count();
        let mut explanation = format!(
            "effective peak {} req/min = mean of {} daily prime-time peaks ({prime_window})",
            num(peak),
            peaks.len()
        );
        if removed_events > 0 {
            let kinds: Vec<String> = [AnomalyKind::Spike, AnomalyKind::Surge, AnomalyKind::Drop]
                .into_iter()
                .filter_map(|kind| {
                    let n = analysis
                        .anomalies
                        .iter()
                        .filter(one_off)
                        .filter(|e| e.kind == kind)
                        .count();
                    (n > 0).then(|| format!("{n} {}", plural(kind.as_str(), n)))
                })
                .collect();
            explanation.push_str(&format!(
                " after removing {} anomalous points ({})",
                analysis
                    .anomalies
                    .iter()
                    .filter(one_off)
                    .map(|e| e.points)
                    .sum::<usize>(),
                kinds.join(", ")
            ));
        } else if analysis.recurring_bursts.is_none() {
            explanation.push_str(" (no anomalous points removed)");
        }
        if let Some(bursts) = &analysis.recurring_bursts {
            explanation.push_str(&format!(
                "; {} recurring {} are demand, cleared by the burst floor instead",
                bursts.events,
                plural("burst", bursts.events)
            ));
        }
        if analysis.days_skipped > 0 {
            explanation.push_str(&format!(
                "; {} {} skipped for lack of clean prime-time data",
                analysis.days_skipped,
                plural("day", analysis.days_skipped)
            ));
        }
        Ok(Chain {
            value: peak,
            steps: vec![FormulaStep {
                step: StepKind::EffectivePeak,
                input: peak,
                factor: None,
                output: peak,
                explanation,
            }],
        })
    }

    pub fn value(&self) -> f64 {
        self.value
    }

    pub fn into_steps(self) -> Vec<FormulaStep> {
        self.steps
    }

    /// Records `value × factor` with `why` in parentheses.
    fn multiply(&mut self, step: StepKind, multiplier: f64, why: String) {
        let input = self.value;
        self.value = input * multiplier;
        self.steps.push(FormulaStep {
            step,
            input,
            factor: Some(multiplier),
            output: self.value,
            explanation: format!(
                "{} × {} ({why}) = {}",
                num(input),
                format::factor(multiplier),
                num(self.value)
            ),
        });
    }

    /// Records a non-multiplicative step that moved the value to `output`.
    fn set(&mut self, step: StepKind, output: f64, explanation: String) {
        let input = self.value;
        self.value = output;
        self.steps.push(FormulaStep {
            step,
            input,
            factor: None,
            output,
            explanation,
        });
    }

    pub fn peak_multiplier(&mut self, multiplier: f64) {
        self.multiply(
            StepKind::PeakMultiplier,
            multiplier,
            "peak multiplier".into(),
        );
    }

    pub fn cache(&mut self, hit_ratio: Option<f64>, settings: &CacheSettings) -> CacheAdjustment {
        let measured = hit_ratio.filter(|r| r.is_finite() && (0.0..=1.0).contains(r));
        let (adjustment, why) = match (settings.enable_cache_adjustment, measured) {
            (false, _) => (
                CacheAdjustment::Disabled,
                "cache adjustment disabled".to_string(),
            ),
            (true, Some(ratio)) => {
                let factor = 1.0 + ratio * settings.cache_hit_weight;
                (
                    CacheAdjustment::Measured {
                        hit_ratio: ratio,
                        factor,
                    },
                    format!(
                        "cache: 1 + measured hit ratio {} × {}",
                        format::factor(ratio),
                        format::factor(settings.cache_hit_weight)
                    ),
                )
            }
            (true, None) => {
                let why = match hit_ratio {
                    Some(bad) => {
                        format!("cache: measured hit ratio {bad} is not in [0, 1], fallback factor")
                    }
                    None => "cache: no measured hit ratio, fallback factor".to_string(),
                };
                (
                    CacheAdjustment::Fallback {
                        factor: settings.cache_adjustment_factor,
                    },
                    why,
                )
            }
        };
        self.multiply(StepKind::CacheAdjustment, adjustment.factor(), why);
        adjustment
    }

    pub fn traffic_pattern(
        &mut self,
        pattern: TrafficPattern,
        stats: &SeriesStats,
        settings: &TrafficPatternSettings,
    ) {
        let factor = settings.multipliers.of(pattern);
        let why = format!(
            "traffic pattern {}: peak/mean {}, CV {}",
            pattern.as_str(),
            num(stats.peak_to_mean),
            num(stats.cv)
        );
        self.multiply(StepKind::TrafficPattern, factor, why);
    }

    /// The growth of the daily peaks' robust line when its slope is significant, bounded;
    /// otherwise 1, with the evidence either way.
    pub fn trend(&mut self, evidence: Option<&TrendEvidence>, min: f64, max: f64) {
        let (multiplier, why) = match evidence {
            None => (
                1.0,
                "trend: too few daily peaks to judge a trend (10 needed)".to_string(),
            ),
            Some(e) if !e.is_significant() => (
                1.0,
                format!(
                    "trend: none in evidence, the daily peaks' slope {} req/min per day has a 95 % interval [{}, {}] that includes 0 ({} days)",
                    num(e.slope_per_day),
                    num(e.slope_low),
                    num(e.slope_high),
                    e.days
                ),
            ),
            Some(e) => {
                let bounded = e.growth.clamp(min, max);
                let note = if bounded == e.growth {
                    String::new()
                } else {
                    format!(
                        ", bounded to [{}, {}]",
                        format::factor(min),
                        format::factor(max)
                    )
                };
                (
                    bounded,
                    format!(
                        "trend: daily peaks {} req/min per day, 95 % interval [{}, {}] over {} days: ×{} by the horizon's end, {} days from the window's middle{note}",
                        num(e.slope_per_day),
                        num(e.slope_low),
                        num(e.slope_high),
                        e.days,
                        format::factor(e.growth),
                        num(e.days_ahead)
                    ),
                )
            }
        };
        self.multiply(StepKind::Trend, multiplier, why);
    }

    /// The partner's own multiplier times its tier's (the tier is named only when it changes
    /// the limit, so that untiered setups read as before).
    pub fn partner_multiplier(&mut self, partner: &str, multipliers: &MultiplierSettings) {
        let (mut factor, mut why) = match multipliers.partner.get(partner) {
            Some(factor) => (*factor, format!("partner multiplier for {partner}")),
            None => (1.0, format!("no partner multiplier for {partner}")),
        };
        if let (tier, Some(settings)) = multipliers.tiers.tier_of(partner)
            && settings.multiplier != 1.0
        {
            factor *= settings.multiplier;
            why = format!(
                "{why}; tier {tier} ×{}",
                format::factor(settings.multiplier)
            );
        }
        self.multiply(StepKind::PartnerMultiplier, factor, why);
    }

    pub fn path_multiplier(&mut self, api: &str, multipliers: &MultiplierSettings) {
        // Longest pattern wins, so that `/asset/action/get` can refine `/asset/`, whatever the
        // order of keys in the file.
        let matched = multipliers
            .path
            .iter()
            .filter(|(pattern, _)| api.contains(pattern.as_str()))
            .max_by_key(|(pattern, _)| pattern.len());
        let (factor, why) = match matched {
            Some((pattern, factor)) => (*factor, format!("path multiplier for `{pattern}`")),
            None => (1.0, "no path multiplier matches".to_string()),
        };
        self.multiply(StepKind::PathMultiplier, factor, why);
    }

    pub fn safety_margin(&mut self, margin: f64) {
        self.multiply(
            StepKind::SafetyMargin,
            margin,
            "environment safety margin".into(),
        );
    }

    pub fn clamp(&mut self, min: f64, max: f64) {
        let value = self.value;
        let clamped = value.clamp(min, max);
        let outcome = if clamped > value {
            format!("raised to the minimum {}", num(min))
        } else if clamped < value {
            format!("cut to the maximum {}", num(max))
        } else {
            "within bounds".to_string()
        };
        self.set(
            StepKind::Clamp,
            clamped,
            format!(
                "clamp to [{}, {}]: {} → {} ({outcome})",
                num(min),
                num(max),
                num(value),
                num(clamped)
            ),
        );
    }

    pub fn peak_floor(&mut self, effective_peak: f64, factor: f64) {
        let value = self.value;
        if value >= effective_peak {
            self.set(
                StepKind::PeakFloor,
                value,
                format!(
                    "{} ≥ effective peak {}: unchanged",
                    num(value),
                    num(effective_peak)
                ),
            );
        } else {
            let raised = value.max(factor * effective_peak);
            self.set(
                StepKind::PeakFloor,
                raised,
                format!(
                    "{} is below the effective peak {}: raised to {} × peak = {} (a limit under the observed peak would throttle legitimate traffic)",
                    num(value),
                    num(effective_peak),
                    num(factor),
                    num(raised)
                ),
            );
        }
    }

    /// Recurring bursts are demand: never below their highest minute × `headroom`.
    pub fn burst_floor(&mut self, bursts: Option<&RecurringBursts>, headroom: f64) {
        let value = self.value;
        let Some(b) = bursts else {
            self.set(
                StepKind::BurstFloor,
                value,
                "no recurring bursts to clear".into(),
            );
            return;
        };
        let floor = b.demand * headroom;
        let seen = format!(
            "{} recurring {} on {} days ({} … {}), {} reached on two days or more",
            b.events,
            plural("burst", b.events),
            b.days,
            b.first_day,
            b.last_day,
            num(b.demand)
        );
        if value >= floor {
            self.set(
                StepKind::BurstFloor,
                value,
                format!(
                    "{} ≥ {seen} × {} (burst headroom) = {}: unchanged",
                    num(value),
                    format::factor(headroom),
                    num(floor)
                ),
            );
        } else {
            self.set(
                StepKind::BurstFloor,
                floor,
                format!(
                    "{} is below the demand of {seen}: raised to it × {} (burst headroom) = {}",
                    num(value),
                    format::factor(headroom),
                    num(floor)
                ),
            );
        }
    }

    /// Never below the forecast's upper band over the next period.
    pub fn forecast_floor(&mut self, forecast: Option<&ForecastSummary>) {
        let value = self.value;
        let Some(f) = forecast else {
            self.set(
                StepKind::ForecastFloor,
                value,
                "no forecast to compare with".into(),
            );
            return;
        };
        let band = f.peak_upper;
        if value >= band {
            self.set(
                StepKind::ForecastFloor,
                value,
                format!(
                    "{} ≥ forecast upper band {} for the next {} days ({} %): unchanged",
                    num(value),
                    num(band),
                    f.horizon_days,
                    num(f.level * 100.0)
                ),
            );
        } else {
            self.set(
                StepKind::ForecastFloor,
                band,
                format!(
                    "{} is below the forecast upper band {} for the next {} days ({} %): raised to it",
                    num(value),
                    num(band),
                    f.horizon_days,
                    num(f.level * 100.0)
                ),
            );
        }
    }

    /// Rounds up by `rounding` and returns the final limit.
    pub fn round_up(&mut self, rounding: Rounding) -> u64 {
        let value = self.value;
        let step = rounding.step_at(value);
        let rounded = rounding.up(value);
        let why = if step < rounding.step {
            format!(
                " (a step of {} would add more than {} %)",
                num(rounding.step),
                num(rounding.max_share * 100.0)
            )
        } else {
            String::new()
        };
        self.set(
            StepKind::RoundUp,
            rounded,
            format!(
                "round up to a multiple of {}{why}: {} → {}",
                num(step),
                num(value),
                num(rounded)
            ),
        );
        rounded.ceil() as u64
    }
}

/// The traffic shape class of the clean points.
pub fn classify_pattern(stats: &SeriesStats, settings: &TrafficPatternSettings) -> TrafficPattern {
    let (p2m, cv) = (stats.peak_to_mean, stats.cv);
    if p2m > settings.spike_threshold_high && cv > settings.variability_threshold_high {
        TrafficPattern::VerySpiky
    } else if p2m > settings.spike_threshold_medium && cv > settings.variability_threshold_medium {
        TrafficPattern::ModeratelySpiky
    } else if p2m > settings.variable_peak_to_mean || cv > settings.variable_cv {
        TrafficPattern::Variable
    } else {
        TrafficPattern::Stable
    }
}

fn plural(word: &str, n: usize) -> String {
    if n == 1 {
        word.to_string()
    } else {
        format!("{word}s")
    }
}
