//! The replay's two plots, as SVG (plotters, no font files: text is left to the SVG viewer).
//!
//! - `risk.svg`: the state service's risk after each step, one line per campaign, coloured by its
//!   label (read for colouring only);
//! - `rates.svg`: ASR_block, ASR_exfil, FPR_block and FPR_soft per group and overall.

use std::path::Path;

use crate::{GroupMetrics, Summary};
use plotters::prelude::*;

/// One campaign's risk curve.
pub struct RiskLine {
    /// True if the campaign is labelled malicious.
    pub malicious: bool,
    /// Risk after each step (steps without a stored event carry the previous value).
    pub risk: Vec<f64>,
}

const MALICIOUS: RGBColor = RGBColor(200, 40, 40);
const BENIGN: RGBColor = RGBColor(30, 110, 200);

fn err<E: std::fmt::Debug>(e: E) -> anyhow::Error {
    anyhow::anyhow!("plot: {e:?}")
}

type Root<'b> = DrawingArea<SVGBackend<'b>, plotters::coord::Shift>;
type Chart<'a, 'b> = ChartContext<
    'a,
    SVGBackend<'b>,
    Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
>;

/// A white canvas with a title and axes over `x` × `y`.
fn frame<'a, 'b>(
    root: &'a Root<'b>,
    title: &str,
    x: std::ops::Range<f64>,
    y: std::ops::Range<f64>,
) -> anyhow::Result<Chart<'a, 'b>> {
    root.fill(&WHITE).map_err(err)?;
    ChartBuilder::on(root)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(x, y)
        .map_err(err)
}

/// Draws the legend at `position` and writes the file.
fn finish<'a, 'b: 'a>(
    root: &Root<'b>,
    chart: &mut Chart<'a, 'b>,
    position: SeriesLabelPosition,
) -> anyhow::Result<()> {
    chart
        .configure_series_labels()
        .position(position)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .draw()
        .map_err(err)?;
    root.present().map_err(err)
}

/// Writes `risk.svg`.
pub fn risk(path: &Path, title: &str, lines: &[RiskLine]) -> anyhow::Result<()> {
    let steps = lines.iter().map(|l| l.risk.len()).max().unwrap_or(1).max(2);
    let root = SVGBackend::new(path, (960, 540)).into_drawing_area();
    let mut chart = frame(&root, title, 1f64..steps as f64, 0f64..1f64)?;
    chart
        .configure_mesh()
        .x_desc("step")
        .y_desc("risk (state service)")
        .draw()
        .map_err(err)?;
    for (malicious, colour, label) in [(false, BENIGN, "benign"), (true, MALICIOUS, "malicious")] {
        let mut labelled = false;
        for l in lines.iter().filter(|l| l.malicious == malicious) {
            let points = l.risk.iter().enumerate().map(|(i, r)| ((i + 1) as f64, *r));
            let series = chart
                .draw_series(LineSeries::new(points, colour.mix(0.35)))
                .map_err(err)?;
            if !labelled {
                series.label(label).legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(2))
                });
                labelled = true;
            }
        }
    }
    finish(&root, &mut chart, SeriesLabelPosition::LowerRight)
}

/// A bar series: name, colour, the rate it reads.
type Metric = (&'static str, RGBColor, fn(&GroupMetrics) -> Option<f64>);

/// Writes `rates.svg`: four bars per group (percent).
pub fn rates(path: &Path, title: &str, summary: &Summary) -> anyhow::Result<()> {
    let mut groups: Vec<(String, &GroupMetrics)> = summary
        .groups
        .iter()
        .filter(|(g, _)| !g.contains('/'))
        .map(|(g, m)| (g.clone(), m))
        .collect();
    groups.push(("overall".to_owned(), &summary.overall));
    let metrics: [Metric; 4] = [
        ("ASR_block", RGBColor(200, 40, 40), |m| m.asr_block),
        ("ASR_exfil", RGBColor(240, 140, 40), |m| m.asr_exfil),
        ("FPR_block", RGBColor(30, 110, 200), |m| m.fpr_block),
        ("FPR_soft", RGBColor(120, 170, 230), |m| m.fpr_soft),
    ];
    let n = groups.len();
    let names: Vec<String> = groups.iter().map(|(g, _)| g.clone()).collect();
    let root = SVGBackend::new(path, (960, 480)).into_drawing_area();
    let mut chart = frame(&root, title, -0.5f64..(n as f64 - 0.5), 0f64..100f64)?;
    let label = move |x: &f64| -> String {
        let i = x.round();
        if (x - i).abs() > 0.01 || i < 0.0 {
            return String::new();
        }
        names.get(i as usize).cloned().unwrap_or_default()
    };
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(n.max(2) * 2 + 1)
        .x_label_formatter(&label)
        .y_desc("% of campaigns")
        .draw()
        .map_err(err)?;
    let width = 0.8 / metrics.len() as f64;
    for (j, (name, colour, get)) in metrics.iter().enumerate() {
        let bars = groups.iter().enumerate().filter_map(|(i, (_, m))| {
            let v = get(m)? * 100.0;
            let x0 = i as f64 - 0.4 + j as f64 * width;
            // a zero rate is drawn as a thin bar so "measured 0 %" differs from "no data"
            Some(Rectangle::new(
                [(x0, 0.0), (x0 + width * 0.9, v.max(0.4))],
                colour.filled(),
            ))
        });
        let colour = *colour;
        chart
            .draw_series(bars)
            .map_err(err)?
            .label(*name)
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 14, y + 5)], colour.filled()));
    }
    finish(&root, &mut chart, SeriesLabelPosition::UpperRight)
}
