//! `twinwire-bench plot`: draws p99 latency against delivered messages per second for every
//! target of the fan-out runs (1,000 and 10,000 subscribers) from the JSON under `target/bench/`,
//! as one PNG. Text uses DejaVu Sans (Debian fonts-dejavu-core), loaded at run time.

use plotters::prelude::*;
use plotters::style::{register_font, FontStyle};
use serde_json::Value;
use std::path::Path;

const FONT: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";

const SERIES: [(&str, &str, RGBColor); 5] = [
    ("fanout", "twinwire", RGBColor(0x1f, 0x77, 0xb4)),
    (
        "fanout-filter10",
        "twinwire, 10 % filter",
        RGBColor(0x2c, 0xa0, 0x2c),
    ),
    (
        "floor-broadcast",
        "no-Redis broadcast floor",
        RGBColor(0x7f, 0x7f, 0x7f),
    ),
    (
        "socketio",
        "Socket.IO 4 + Redis Streams adapter",
        RGBColor(0xd6, 0x27, 0x28),
    ),
    ("nchan", "nginx + nchan (Redis)", RGBColor(0xff, 0x7f, 0x0e)),
];

/// One target's line: its label, colour and (deliveries/s, p99 ms) points.
type Series = (&'static str, RGBColor, Vec<(f64, f64)>);

/// (deliveries/s, p99 ms) of the ramp's steps (not the half-of-saturation one).
fn points(dir: &Path, file: &str) -> Vec<(f64, f64)> {
    let Ok(text) = std::fs::read_to_string(dir.join(format!("{file}.json"))) else {
        return Vec::new();
    };
    let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    let mut pts: Vec<(f64, f64)> = v["steps"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| s["half_of_saturation"] != true)
        .filter_map(|s| {
            Some((
                s["deliveries_per_s"].as_f64()?,
                s["latency_ms"]["p99"].as_f64()?,
            ))
        })
        .collect();
    pts.sort_by(|a, b| a.0.total_cmp(&b.0));
    pts
}

pub fn draw(dir: &Path, out: &Path) -> Result<(), String> {
    let font = std::fs::read(FONT)
        .map_err(|e| format!("{FONT}: {e} (apt-get install fonts-dejavu-core)"))?;
    let font: &'static [u8] = Box::leak(font.into_boxed_slice());
    register_font("sans-serif", FontStyle::Normal, font).map_err(|_| "font".to_string())?;
    let root = BitMapBackend::new(out, (1400, 600)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let panels = root.split_evenly((1, 2));
    for (panel, subs) in panels.iter().zip([1_000, 10_000]) {
        let all: Vec<Series> = SERIES
            .iter()
            .map(|(prefix, label, color)| {
                let file = match *prefix {
                    "fanout-filter10" => format!("fanout-{subs}-filter10"),
                    p => format!("{p}-{subs}"),
                };
                (*label, *color, points(dir, &file))
            })
            .collect();
        let max_x = all
            .iter()
            .flat_map(|s| s.2.iter().map(|p| p.0))
            .fold(1.0, f64::max);
        let max_y = all
            .iter()
            .flat_map(|s| s.2.iter().map(|p| p.1))
            .fold(10.0, f64::max);
        let mut chart = ChartBuilder::on(panel)
            .caption(format!("fan-out to {subs} subscribers"), ("sans-serif", 22))
            .margin(15)
            .x_label_area_size(45)
            .y_label_area_size(60)
            .build_cartesian_2d(0f64..max_x * 1.05, (1f64..max_y * 1.5).log_scale())
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .x_desc("delivered messages per second")
            .y_desc("p99 latency, ms (log)")
            .x_label_formatter(&|x| format!("{:.0}k", x / 1000.0))
            .label_style(("sans-serif", 14))
            .draw()
            .map_err(|e| e.to_string())?;
        for (label, color, pts) in all.into_iter().filter(|s| !s.2.is_empty()) {
            chart
                .draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))
                .map_err(|e| e.to_string())?
                .label(label)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                });
            chart
                .draw_series(pts.into_iter().map(|p| Circle::new(p, 3, color.filled())))
                .map_err(|e| e.to_string())?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK)
            .label_font(("sans-serif", 14))
            .draw()
            .map_err(|e| e.to_string())?;
    }
    root.present().map_err(|e| e.to_string())?;
    Ok(())
}
