//! The operator-time bar chart of `oxifmm bench-report`, as SVG.

use std::path::Path;
use std::time::Duration;

use oxifmm::fs::write_atomic;

use crate::cli::Fail;

/// Draws the CPU time of each operator as a bar chart into `path` (atomically).
pub fn operators_svg(
    path: &Path,
    title: &str,
    ops: &[(&'static str, Duration)],
) -> Result<(), Fail> {
    use plotters::prelude::*;
    use plotters::style::text_anchor::{HPos, Pos, VPos};
    let fail = |e: String| Fail::Output(format!("cannot write {}: {e}", path.display()));
    let ms: Vec<f64> = ops.iter().map(|o| o.1.as_secs_f64() * 1e3).collect();
    let top = ms.iter().copied().fold(0.0, f64::max).max(1e-3) * 1.15;
    let names: Vec<&str> = ops.iter().map(|o| o.0).collect();
    let draw = |tmp: &Path| -> Result<(), Box<dyn std::error::Error>> {
        let root = SVGBackend::new(tmp, (800, 500)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 20))
            .margin(15)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d((0..ops.len() - 1).into_segmented(), 0.0..top)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .y_desc("CPU time summed over threads (ms)")
            .x_desc("operator")
            .x_labels(ops.len())
            .x_label_formatter(&|v| match v {
                SegmentValue::CenterOf(i) | SegmentValue::Exact(i) => {
                    names.get(*i).copied().unwrap_or("").to_string()
                }
                SegmentValue::Last => String::new(),
            })
            .draw()?;
        chart.draw_series(
            Histogram::vertical(&chart)
                .style(BLUE.mix(0.7).filled())
                .margin(12)
                .data(ms.iter().enumerate().map(|(i, &v)| (i, v))),
        )?;
        chart.draw_series(ms.iter().enumerate().map(|(i, &v)| {
            Text::new(
                format!("{v:.1}"),
                (SegmentValue::CenterOf(i), v + top * 0.01),
                TextStyle::from(("sans-serif", 14).into_font())
                    .pos(Pos::new(HPos::Center, VPos::Bottom)),
            )
        }))?;
        root.present()?;
        Ok(())
    };
    write_atomic(
        path,
        |e| fail(e.to_string()),
        |_, tmp| draw(tmp).map_err(|e| fail(e.to_string())),
    )
}
