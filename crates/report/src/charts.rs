//! One chart per partner × API, as SVG (inlined in the HTML report) and PNG (linked from the
//! Markdown report): the traffic, the model's expected level and upper band, the forecast, the
//! removed anomaly events by kind, the prime-time windows, and the deployed and recommended
//! limits as horizontal lines.
//!
//! Drawn with plotters. PNG text needs a font: DejaVu Sans is compiled in (`assets/`), so a
//! machine without fonts draws the same picture and nothing is looked up at run time.

use std::sync::Once;

use chrono::{DateTime, TimeDelta, Utc};
use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::FontStyle;
use trendmaster_types::{
    AnomalyKind, PlannedLimit, RateRecommendation, SeriesChart, SeriesKey, hour_runs,
};

use crate::error::ReportError;

/// Pixels: wide enough for 14 days of 15-minute steps.
pub const SIZE: (u32, u32) = (1200, 480);
const FONT: &str = "sans-serif";
static DEJAVU_SANS: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");

/// What one chart shows besides the analysis: the limits as lines.
#[derive(Debug, Clone, Copy)]
pub struct ChartLimits {
    /// Emitted (recommended, or held at the deployed value), requests per minute.
    pub recommended: u64,
    /// Deployed now, when known.
    pub current: Option<u64>,
}

/// The chart as SVG text and as PNG bytes.
#[derive(Debug, Clone)]
pub struct RenderedChart {
    /// For the HTML report, inline.
    pub svg: String,
    /// For the Markdown report, linked.
    pub png: Vec<u8>,
}

/// One chart per recommendation that has chart data, with the emitted and the deployed limit of
/// its `plan` entry as lines.
pub fn render_series_charts(
    recommendations: &[RateRecommendation],
    plan: &[PlannedLimit],
) -> Result<Vec<(SeriesKey, RenderedChart)>, ReportError> {
    let planned: std::collections::BTreeMap<&SeriesKey, &PlannedLimit> =
        plan.iter().map(|p| (&p.key, p)).collect();
    let draw = |rec: &RateRecommendation| {
        let planned = planned.get(&rec.key);
        let limits = ChartLimits {
            recommended: planned.map_or(rec.requests_per_minute, |p| p.emitted),
            current: planned.and_then(|p| p.current),
        };
        Ok::<_, ReportError>(render_chart(rec, limits)?.map(|chart| (rec.key.clone(), chart)))
    };
    // Why on every core: drawing and PNG-encoding a fleet run's 100 charts took 0.34 s at the
    // end of the run, on one core while the other was idle. Charts come back in order.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let per_thread = recommendations.len().div_ceil(cores).max(1);
    let parts: Vec<Result<Vec<_>, ReportError>> = std::thread::scope(|scope| {
        let threads: Vec<_> = recommendations
            .chunks(per_thread)
            .map(|chunk| {
                scope.spawn(move || {
                    chunk
                        .iter()
                        .filter_map(|rec| draw(rec).transpose())
                        .collect::<Result<Vec<_>, _>>()
                })
            })
            .collect();
        threads
            .into_iter()
            .map(|thread| {
                thread
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    });
    let mut charts = Vec::with_capacity(recommendations.len());
    for part in parts {
        charts.extend(part?);
    }
    Ok(charts)
}

/// Draws `rec`'s chart; `None` when its analysis has nothing to draw.
pub fn render_chart(
    rec: &RateRecommendation,
    limits: ChartLimits,
) -> Result<Option<RenderedChart>, ReportError> {
    let Some(data) = &rec.analysis.chart else {
        return Ok(None);
    };
    render_both(&SeriesPicture { rec, data, limits })
        .map_err(|reason| ReportError::Chart {
            series: rec.key.clone(),
            reason,
        })
        .map(Some)
}

/// A picture drawn the same way on any plotters backend.
trait Picture {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB::ErrorType>;
}

/// Draws `picture` as SVG and as PNG.
fn render_both(picture: &impl Picture) -> Result<RenderedChart, String> {
    // Both backends measure text with the registered font.
    register_font();
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        picture.draw(&root).map_err(|e| e.to_string())?;
        root.present().map_err(|e| e.to_string())?;
    }
    let mut pixels = vec![0u8; (SIZE.0 * SIZE.1 * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut pixels, SIZE).into_drawing_area();
        picture.draw(&root).map_err(|e| e.to_string())?;
        root.present().map_err(|e| e.to_string())?;
    }
    let png = encode_png(&pixels).map_err(|e| format!("PNG: {e}"))?;
    Ok(RenderedChart { svg, png })
}

fn register_font() {
    static REGISTER: Once = Once::new();
    REGISTER.call_once(|| {
        // The font is compiled in and known to parse (a test draws with it).
        let _ = plotters::style::register_font(FONT, FontStyle::Normal, DEJAVU_SANS);
    });
}

fn encode_png(rgb: &[u8]) -> Result<Vec<u8>, png::EncodingError> {
    let mut bytes = Vec::new();
    let mut encoder = png::Encoder::new(&mut bytes, SIZE.0, SIZE.1);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header()?;
    writer.write_image_data(rgb)?;
    writer.finish()?;
    Ok(bytes)
}

/// Colour of each anomaly kind's spans and legend entry.
fn kind_colour(kind: AnomalyKind) -> RGBColor {
    match kind {
        AnomalyKind::Spike => RGBColor(214, 39, 40),
        AnomalyKind::Surge => RGBColor(148, 103, 189),
        AnomalyKind::Drop => RGBColor(127, 127, 127),
        AnomalyKind::Gap => RGBColor(188, 189, 34),
    }
}

const TRAFFIC: RGBColor = RGBColor(31, 119, 180);
const EXPECTED: RGBColor = RGBColor(44, 160, 44);
const FORECAST: RGBColor = RGBColor(255, 127, 14);
const PRIME: RGBColor = RGBColor(255, 236, 179);

type DrawResult<E> = Result<(), DrawingAreaErrorKind<E>>;

struct SeriesPicture<'a> {
    rec: &'a RateRecommendation,
    data: &'a SeriesChart,
    limits: ChartLimits,
}

impl Picture for SeriesPicture<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB::ErrorType> {
        draw_series(root, self.rec, self.data, self.limits)
    }
}

/// A series chart's coordinates: x in days since the window's start (whole-day ticks fall on
/// midnights), y in requests per minute.
type SeriesChartContext<'a, DB> = ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// Where a series chart's axes run.
struct Frame {
    start: DateTime<Utc>,
    step_days: f64,
    window_days: f64,
    total_days: f64,
    y_max: f64,
}

impl Frame {
    fn new(data: &SeriesChart, limits: ChartLimits) -> Self {
        let step_days = f64::from(data.step_secs) / 86_400.0;
        let window_days = data.observed_max.len() as f64 * step_days;
        let total_days = window_days + data.forecast.len() as f64 * step_days;
        let highest = data
            .observed_max
            .iter()
            .chain(&data.upper)
            .chain(data.forecast.iter().map(|(_, upper)| upper))
            .copied()
            .chain([
                limits.recommended as f64,
                limits.current.unwrap_or(0) as f64,
            ])
            .filter(|v| v.is_finite())
            .fold(1.0, f64::max);
        Self {
            start: data.start,
            step_days,
            window_days,
            total_days,
            y_max: highest * 1.08,
        }
    }
}

/// Layers bottom to top: prime time, removed events, the model's band, traffic, the forecast,
/// the limits; then the legend.
fn draw_series<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    rec: &RateRecommendation,
    data: &SeriesChart,
    limits: ChartLimits,
) -> DrawResult<DB::ErrorType> {
    root.fill(&WHITE)?;
    let frame = Frame::new(data, limits);
    let title = format!(
        "Partner {} · {} — limit {} req/min",
        rec.key.partner, rec.key.api, limits.recommended
    );
    let mut chart = ChartBuilder::on(root)
        .caption(title, (FONT, 20))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(64)
        .build_cartesian_2d(0.0..frame.total_days, 0.0..frame.y_max)?;
    let start = frame.start;
    let label =
        |days: &f64| time_label(start + TimeDelta::seconds((days * 86_400.0).round() as i64));
    chart
        .configure_mesh()
        .x_desc("time (UTC)")
        .y_desc("requests / minute")
        .x_labels(12)
        .y_labels(8)
        .x_label_formatter(&label)
        .y_label_formatter(&|v| format!("{v:.0}"))
        .light_line_style(TRANSPARENT)
        .bold_line_style(RGBColor(225, 225, 225))
        .label_style((FONT, 13))
        .draw()?;

    draw_prime_time(&mut chart, rec, &frame)?;
    draw_removed_events(&mut chart, rec, &frame)?;
    draw_model(&mut chart, data, &frame)?;
    draw_traffic(&mut chart, data, &frame)?;
    draw_forecast(&mut chart, data, &frame)?;
    draw_limits(&mut chart, limits, &frame)?;

    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .label_font((FONT, 12))
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(180, 180, 180))
        .draw()?;
    Ok(())
}

/// Prime time, shaded per day (drawn first, underneath everything).
fn draw_prime_time<DB: DrawingBackend>(
    chart: &mut SeriesChartContext<'_, DB>,
    rec: &RateRecommendation,
    frame: &Frame,
) -> DrawResult<DB::ErrorType> {
    let prime = prime_spans(rec, frame.start, frame.window_days);
    for (i, (from, to)) in prime.iter().enumerate() {
        let area = chart.draw_series([Rectangle::new(
            [(*from, 0.0), (*to, frame.y_max)],
            PRIME.mix(0.6).filled(),
        )])?;
        if i == 0 {
            area.label(format!(
                "prime time ({})",
                rec.analysis.prime_time.describe()
            ))
            .legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 14, y + 5)], PRIME.filled()));
        }
    }
    Ok(())
}

/// Removed anomaly events, one span per event, coloured by kind.
fn draw_removed_events<DB: DrawingBackend>(
    chart: &mut SeriesChartContext<'_, DB>,
    rec: &RateRecommendation,
    frame: &Frame,
) -> DrawResult<DB::ErrorType> {
    let mut kinds_shown = Vec::new();
    for event in rec.analysis.anomalies.iter().filter(|e| e.excluded) {
        let from = days_between(frame.start, event.start);
        let to = days_between(frame.start, event.end).max(from + frame.step_days * 0.5);
        let colour = kind_colour(event.kind);
        let drawn = chart.draw_series([Rectangle::new(
            [(from, 0.0), (to, frame.y_max)],
            colour.mix(0.25).filled(),
        )])?;
        if !kinds_shown.contains(&event.kind) {
            kinds_shown.push(event.kind);
            drawn
                .label(format!("removed: {}", event.kind.as_str()))
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 14, y + 5)], colour.filled())
                });
        }
        // A dot at the event's peak, so that a one-minute spike is seen at a glance.
        if event.peak_value.is_finite() && event.kind != AnomalyKind::Gap {
            chart.draw_series([Circle::new(
                ((from + to) / 2.0, event.peak_value),
                4,
                colour.filled(),
            )])?;
        }
    }
    Ok(())
}

/// The model's upper band, filled between expected and upper, then the expected level.
fn draw_model<DB: DrawingBackend>(
    chart: &mut SeriesChartContext<'_, DB>,
    data: &SeriesChart,
    frame: &Frame,
) -> DrawResult<DB::ErrorType> {
    for segment in segments(&data.expected, &data.upper, 0.0, frame.step_days) {
        let polygon = band_polygon(&segment);
        chart.draw_series([Polygon::new(polygon, EXPECTED.mix(0.15).filled())])?;
    }
    draw_line(
        chart,
        &data.expected,
        frame,
        EXPECTED.stroke_width(2),
        "expected level (shaded up to the upper band)".to_owned(),
    )
}

/// Traffic: the highest minute of each step.
fn draw_traffic<DB: DrawingBackend>(
    chart: &mut SeriesChartContext<'_, DB>,
    data: &SeriesChart,
    frame: &Frame,
) -> DrawResult<DB::ErrorType> {
    let label = format!("traffic (highest minute per {} min)", data.step_secs / 60);
    draw_line(
        chart,
        &data.observed_max,
        frame,
        TRAFFIC.stroke_width(1),
        label,
    )
}

/// `values` over the window as a line broken at gaps, named once in the legend (drawn 2 px
/// wide there, whatever the line's width).
fn draw_line<DB: DrawingBackend>(
    chart: &mut SeriesChartContext<'_, DB>,
    values: &[f64],
    frame: &Frame,
    style: ShapeStyle,
    label: String,
) -> DrawResult<DB::ErrorType> {
    let legend = style.stroke_width(2);
    let mut label = Some(label);
    for segment in segments(values, values, 0.0, frame.step_days) {
        let line = chart.draw_series(LineSeries::new(
            segment.into_iter().map(|(x, y, _)| (x, y)),
            style,
        ))?;
        if let Some(label) = label.take() {
            line.label(label)
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 14, y)], legend));
        }
    }
    Ok(())
}

/// The area between a segment's low and high values, as one polygon: along the top, then back
/// along the bottom.
fn band_polygon(segment: &[(f64, f64, f64)]) -> Vec<(f64, f64)> {
    let mut polygon: Vec<(f64, f64)> = segment.iter().map(|(x, _, high)| (*x, *high)).collect();
    polygon.extend(segment.iter().rev().map(|(x, low, _)| (*x, *low)));
    polygon
}

/// The forecast beyond the window, with its upper band.
fn draw_forecast<DB: DrawingBackend>(
    chart: &mut SeriesChartContext<'_, DB>,
    data: &SeriesChart,
    frame: &Frame,
) -> DrawResult<DB::ErrorType> {
    if data.forecast.is_empty() {
        return Ok(());
    }
    let expected: Vec<f64> = data.forecast.iter().map(|(e, _)| *e).collect();
    let upper: Vec<f64> = data.forecast.iter().map(|(_, u)| *u).collect();
    for segment in segments(&expected, &upper, frame.window_days, frame.step_days) {
        let polygon = band_polygon(&segment);
        chart.draw_series([Polygon::new(polygon, FORECAST.mix(0.2).filled())])?;
        chart
            .draw_series(LineSeries::new(
                segment.into_iter().map(|(x, y, _)| (x, y)),
                FORECAST.stroke_width(2),
            ))?
            .label("forecast (shaded up to the upper band)")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 14, y)], FORECAST.stroke_width(2)));
    }
    Ok(())
}

/// The deployed limit (dashed, when known) and the emitted one across the whole chart.
fn draw_limits<DB: DrawingBackend>(
    chart: &mut SeriesChartContext<'_, DB>,
    limits: ChartLimits,
    frame: &Frame,
) -> DrawResult<DB::ErrorType> {
    if let Some(current) = limits.current {
        let y = current as f64;
        chart
            .draw_series(DashedLineSeries::new(
                [(0.0, y), (frame.total_days, y)],
                8,
                6,
                BLACK.stroke_width(2),
            ))?
            .label(format!("deployed {current} req/min"))
            .legend(|(x, y)| PathElement::new([(x, y), (x + 14, y)], BLACK.stroke_width(2)));
    }
    let y = limits.recommended as f64;
    chart
        .draw_series(LineSeries::new(
            [(0.0, y), (frame.total_days, y)],
            RED.stroke_width(2),
        ))?
        .label(format!("limit {} req/min", limits.recommended))
        .legend(|(x, y)| PathElement::new([(x, y), (x + 14, y)], RED.stroke_width(2)));
    Ok(())
}

/// One formula's backtest result, as shares (0..=1) of the test window's requests.
#[derive(Debug, Clone)]
pub struct BacktestBar {
    /// The formula's name.
    pub variant: String,
    /// Bot-spike requests rejected.
    pub spike_rejected: f64,
    /// All anomalous requests rejected.
    pub anomalous_rejected: f64,
    /// Normal requests rejected (false throttles).
    pub normal_rejected: f64,
}

/// The backtest as grouped bars: per formula, the share of bot-spike, anomalous and normal
/// requests it would have rejected.
pub fn render_backtest_chart(
    title: &str,
    bars: &[BacktestBar],
) -> Result<RenderedChart, ReportError> {
    render_both(&BarsPicture { title, bars })
        .map_err(|reason| ReportError::BacktestChart { reason })
}

struct BarsPicture<'a> {
    title: &'a str,
    bars: &'a [BacktestBar],
}

impl Picture for BarsPicture<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB::ErrorType> {
        draw_bars(root, self.title, self.bars)
    }
}

/// A bar series: its legend, colour, and the value it takes from each formula's result.
type BarSeries = (&'static str, RGBColor, fn(&BacktestBar) -> f64);

fn draw_bars<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    bars: &[BacktestBar],
) -> DrawResult<DB::ErrorType> {
    root.fill(&WHITE)?;
    let series: [BarSeries; 3] = [
        (
            "bot-spike requests rejected",
            kind_colour(AnomalyKind::Spike),
            |b| b.spike_rejected,
        ),
        (
            "anomalous requests rejected",
            kind_colour(AnomalyKind::Surge),
            |b| b.anomalous_rejected,
        ),
        ("normal requests rejected (false throttles)", BLACK, |b| {
            b.normal_rejected
        }),
    ];
    let mut chart = ChartBuilder::on(root)
        .caption(title, (FONT, 20))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(64)
        .build_cartesian_2d(0.0..bars.len() as f64, 0.0..100.0)?;
    let names: Vec<String> = bars.iter().map(|b| b.variant.clone()).collect();
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(bars.len() * 2 + 1)
        .x_label_formatter(&|x| {
            let centre = x - x.floor();
            match names.get(x.floor() as usize) {
                Some(name) if (centre - 0.5).abs() < 1e-6 => name.clone(),
                _ => String::new(),
            }
        })
        .y_desc("% of the test window's requests")
        .y_label_formatter(&|v| format!("{v:.0} %"))
        .light_line_style(TRANSPARENT)
        .label_style((FONT, 13))
        .draw()?;
    let width = 0.8 / series.len() as f64;
    for (s, (label, colour, value)) in series.iter().enumerate() {
        let colour = *colour;
        chart
            .draw_series(bars.iter().enumerate().map(|(i, bar)| {
                let left = i as f64 + 0.1 + s as f64 * width;
                Rectangle::new(
                    [(left, 0.0), (left + width * 0.9, 100.0 * value(bar))],
                    colour.filled(),
                )
            }))?
            .label(*label)
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 14, y + 5)], colour.filled()));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .label_font((FONT, 12))
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(180, 180, 180))
        .draw()?;
    Ok(())
}

/// `Mon 09 Nov` at midnight, else `09 Nov 12:00`.
fn time_label(at: DateTime<Utc>) -> String {
    if at.time() == chrono::NaiveTime::MIN {
        at.format("%a %d %b").to_string()
    } else {
        at.format("%d %b %H:%M").to_string()
    }
}

/// Days from `start` to `at`, the x coordinate.
fn days_between(start: DateTime<Utc>, at: DateTime<Utc>) -> f64 {
    (at - start).num_seconds() as f64 / 86_400.0
}

/// Runs of steps where both `low` and `high` are finite, as `(x, low, high)` points, the first
/// step at `offset` hours.
fn segments(low: &[f64], high: &[f64], offset: f64, step_days: f64) -> Vec<Vec<(f64, f64, f64)>> {
    let mut runs = Vec::new();
    let mut current = Vec::new();
    for (i, (l, h)) in low.iter().zip(high).enumerate() {
        if l.is_finite() && h.is_finite() {
            current.push((offset + i as f64 * step_days, *l, *h));
        } else if !current.is_empty() {
            runs.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        runs.push(current);
    }
    runs
}

/// The prime-time hours of every day in the window, as `(from, to)` hours since `start`.
fn prime_spans(
    rec: &RateRecommendation,
    start: DateTime<Utc>,
    window_days: f64,
) -> Vec<(f64, f64)> {
    let prime = &rec.analysis.prime_time;
    let Ok(timezone) = prime.timezone.parse::<chrono_tz::Tz>() else {
        return Vec::new();
    };
    let mut mask = [false; 24];
    for hour in prime.hours.iter().filter(|h| **h < 24) {
        mask[*hour as usize] = true;
    }
    if !mask.iter().any(|m| *m) {
        return Vec::new();
    }
    let runs = hour_runs(&mask);
    let first_day = start.with_timezone(&timezone).date_naive() - TimeDelta::days(1);
    let days = window_days.ceil() as i64 + 2;
    let mut spans = Vec::new();
    for day in 0..days {
        let date = first_day + TimeDelta::days(day);
        for (hour, length) in &runs {
            let Some(local) = date
                .and_hms_opt(*hour, 0, 0)
                .and_then(|naive| naive.and_local_timezone(timezone).earliest())
            else {
                continue;
            };
            let from = days_between(start, local.with_timezone(&Utc));
            let to = from + f64::from(*length) / 24.0;
            let (from, to) = (from.max(0.0), to.min(window_days));
            if to > from {
                spans.push((from, to));
            }
        }
    }
    spans
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{rec, window};
    use trendmaster_types::{AnomalyEvent, PrimeTimeWindow, Severity};

    /// Partner 111's chart: a day of flat traffic at 50 with a removed spike to 900.
    fn charted() -> RateRecommendation {
        let mut rec = rec("111", "/api_v3/service/multirequest", 300);
        let window = window();
        let steps = (window.end - window.start).num_seconds() as usize / 900;
        rec.analysis.chart = Some(SeriesChart {
            start: window.start,
            step_secs: 900,
            observed_max: (0..steps)
                .map(|i| if i == 40 { 900.0 } else { 50.0 })
                .collect(),
            expected: vec![45.0; steps],
            upper: vec![60.0; steps],
            forecast: vec![(45.0, 60.0); 96],
        });
        rec.analysis.prime_time = PrimeTimeWindow::from_range(18, 24, "UTC", "test");
        rec.analysis.anomalies = vec![AnomalyEvent {
            kind: AnomalyKind::Spike,
            severity: Severity::High,
            start: window.start + TimeDelta::minutes(600),
            end: window.start + TimeDelta::minutes(610),
            points: 10,
            excluded: true,
            peak_value: 900.0,
            max_score: 30.0,
            recurring: false,
        }];
        rec
    }

    #[test]
    fn a_chart_is_an_svg_and_a_png_with_title_legend_and_limits() {
        let limits = ChartLimits {
            recommended: 300,
            current: Some(120),
        };
        let chart = render_chart(&charted(), limits).unwrap().expect("a chart");
        assert!(chart.png.starts_with(b"\x89PNG\r\n\x1a\n"), "a PNG");
        let decoder = png::Decoder::new(std::io::Cursor::new(&chart.png));
        let info = decoder.read_info().unwrap().info().clone();
        assert_eq!((info.width, info.height), SIZE);
        for text in [
            "Partner 111 · /api_v3/service/multirequest — limit 300 req/min",
            "requests / minute",
            "time (UTC)",
            "removed: spike",
            "prime time (18:00-24:00 UTC)",
            "deployed 120 req/min",
            "limit 300 req/min",
        ] {
            assert!(chart.svg.contains(text), "SVG lacks `{text}`");
        }
        // Without a deployed value there is no deployed line; without chart data, no chart.
        let chart = render_chart(
            &charted(),
            ChartLimits {
                recommended: 300,
                current: None,
            },
        )
        .unwrap()
        .unwrap();
        assert!(!chart.svg.contains("deployed"));
        let mut bare = charted();
        bare.analysis.chart = None;
        assert!(render_chart(&bare, limits).unwrap().is_none());
    }

    #[test]
    fn the_backtest_chart_names_every_formula() {
        let bars: Vec<BacktestBar> = ["v1", "v3 original", "trendmaster"]
            .iter()
            .map(|name| BacktestBar {
                variant: (*name).to_owned(),
                spike_rejected: 0.6,
                anomalous_rejected: 0.3,
                normal_rejected: 0.0,
            })
            .collect();
        let chart = render_backtest_chart("Backtest", &bars).unwrap();
        assert!(chart.png.starts_with(b"\x89PNG"));
        for text in [
            "v1",
            "v3 original",
            "trendmaster",
            "bot-spike requests rejected",
            "60 %",
        ] {
            assert!(chart.svg.contains(text), "SVG lacks `{text}`");
        }
    }

    #[test]
    fn segments_break_at_gaps() {
        let low = [1.0, 2.0, f64::NAN, 4.0];
        let high = [2.0, 3.0, 4.0, 5.0];
        let runs = segments(&low, &high, 10.0, 0.25);
        assert_eq!(runs.len(), 2);
        assert_eq!(runs[0], [(10.0, 1.0, 2.0), (10.25, 2.0, 3.0)]);
        assert_eq!(runs[1], [(10.75, 4.0, 5.0)]);
    }

    #[test]
    fn labels_name_the_day_at_midnight() {
        let midnight: DateTime<Utc> = "2026-11-09T00:00:00Z".parse().unwrap();
        assert_eq!(time_label(midnight), "Mon 09 Nov");
        assert_eq!(time_label(midnight + TimeDelta::hours(12)), "09 Nov 12:00");
    }
}
