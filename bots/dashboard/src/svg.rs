//! Bar charts as inline SVG, rendered here so the dashboard needs no
//! script and no external asset (it works offline and prints as is).
//! Each bar carries its number in a `<title>` (a tooltip) and the page
//! shows the same numbers in a table beside the chart.

use crate::esc;

/// One named series of values, one per label.
#[derive(Debug, Clone)]
pub struct Series {
    pub name: String,
    pub color: &'static str,
    pub values: Vec<f64>,
}

/// Colours that stay apart for colour-blind readers and in greyscale print.
pub const BLUE: &str = "#1f5fa8";
pub const ORANGE: &str = "#e08a1e";
pub const GREY: &str = "#8c8c8c";
pub const GREEN: &str = "#3a8f5c";

const W: f64 = 640.0;
const H: f64 = 220.0;
const LEFT: f64 = 44.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 28.0;
const BOTTOM: f64 = 40.0;

/// A round upper bound for the axis: 1, 2 or 5 × 10^k.
fn nice_max(v: f64) -> f64 {
    if v <= 0.0 {
        return 1.0;
    }
    let p = 10f64.powf(v.log10().floor());
    for m in [1.0, 2.0, 5.0, 10.0] {
        if m * p >= v {
            return m * p;
        }
    }
    10.0 * p
}

fn num(v: f64) -> String {
    if (v - v.round()).abs() < 1e-9 {
        format!("{}", v.round() as i64)
    } else {
        format!("{v:.1}")
    }
}

/// Bars per label: side by side, or stacked (`stacked`) when the series
/// are parts of one whole (answered + abstained = questions).
pub fn bars(title: &str, labels: &[String], series: &[Series], stacked: bool) -> String {
    let n = labels.len().max(1);
    let totals: Vec<f64> = (0..n)
        .map(|i| {
            let vals = series
                .iter()
                .map(|s| s.values.get(i).copied().unwrap_or(0.0));
            if stacked {
                vals.sum()
            } else {
                vals.fold(0.0, f64::max)
            }
        })
        .collect();
    let max = nice_max(totals.iter().copied().fold(0.0, f64::max));
    let plot_w = W - LEFT - RIGHT;
    let plot_h = H - TOP - BOTTOM;
    let slot = plot_w / n as f64;
    let y = |v: f64| TOP + plot_h * (1.0 - v / max);
    let mut s = format!(
        r#"<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" role="img" aria-label="{t}"><title>{t}</title>"#,
        t = esc(title)
    );
    s.push_str(&format!(
        r#"<text x="{LEFT}" y="16" font-size="13" font-weight="bold">{}</text>"#,
        esc(title)
    ));
    // Axis lines at 0, half and the top.
    for frac in [0.0, 0.5, 1.0] {
        let v = max * frac;
        let yy = y(v);
        s.push_str(&format!(
            r##"<line x1="{LEFT}" y1="{yy:.1}" x2="{:.1}" y2="{yy:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" font-size="10" text-anchor="end">{}</text>"##,
            W - RIGHT,
            LEFT - 4.0,
            yy + 3.0,
            num(v)
        ));
    }
    let groups = if stacked { 1 } else { series.len().max(1) };
    let bar_w = (slot * 0.7 / groups as f64).max(1.0);
    for (i, label) in labels.iter().enumerate() {
        let x0 = LEFT + slot * i as f64 + slot * 0.15;
        let mut base = 0.0;
        for (k, ser) in series.iter().enumerate() {
            let v = ser.values.get(i).copied().unwrap_or(0.0);
            let (x, from) = if stacked {
                (x0, base)
            } else {
                (x0 + bar_w * k as f64, 0.0)
            };
            let top = y(from + v);
            let h = (y(from) - top).max(0.0);
            s.push_str(&format!(
                r#"<rect x="{x:.1}" y="{top:.1}" width="{bar_w:.1}" height="{h:.1}" fill="{c}"><title>{l}: {name} {v}</title></rect>"#,
                c = ser.color,
                l = esc(label),
                name = esc(&ser.name),
                v = num(v)
            ));
            if stacked {
                base += v;
            }
        }
        // Every label when they fit, else every k-th.
        let every = (n as f64 / 13.0).ceil().max(1.0) as usize;
        if i % every == 0 {
            s.push_str(&format!(
                r#"<text x="{:.1}" y="{:.1}" font-size="10" text-anchor="middle">{}</text>"#,
                x0 + slot * 0.35,
                H - BOTTOM + 14.0,
                esc(label)
            ));
        }
    }
    // Legend.
    let mut lx = LEFT;
    for ser in series {
        s.push_str(&format!(
            r#"<rect x="{lx:.1}" y="{:.1}" width="10" height="10" fill="{}"/><text x="{:.1}" y="{:.1}" font-size="11">{}</text>"#,
            H - 14.0,
            ser.color,
            lx + 14.0,
            H - 5.0,
            esc(&ser.name)
        ));
        lx += 34.0 + 7.0 * ser.name.chars().count() as f64;
    }
    s.push_str("</svg>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axis_tops_are_round() {
        assert_eq!(nice_max(0.0), 1.0);
        assert_eq!(nice_max(7.0), 10.0);
        assert_eq!(nice_max(13.0), 20.0);
        assert_eq!(nice_max(420.0), 500.0);
    }

    #[test]
    fn a_chart_has_one_bar_per_value_with_its_number_and_escapes_names() {
        let svg = bars(
            "Frågor <per vecka>",
            &["v.47".into(), "v.48".into()],
            &[
                Series {
                    name: "besvarade".into(),
                    color: BLUE,
                    values: vec![3.0, 5.0],
                },
                Series {
                    name: "utan svar".into(),
                    color: ORANGE,
                    values: vec![1.0, 1.0],
                },
            ],
            true,
        );
        assert_eq!(
            svg.matches("<rect x=").count(),
            4 + 2,
            "4 bars and 2 legend keys"
        );
        assert!(svg.contains("<title>v.48: besvarade 5</title>"), "{svg}");
        assert!(svg.contains("Frågor &lt;per vecka&gt;"));
        assert!(!svg.contains("<per"));
        // The stacked total (6) sets the axis: its top is 10.
        assert!(svg.contains(">10</text>"), "{svg}");
    }
}
