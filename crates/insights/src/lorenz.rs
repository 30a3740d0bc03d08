//! The Lorenz curve as an SVG chart, written out directly: every coordinate is an integer
//! number of pixels computed from basis points, so no float is involved at all.

use std::fmt::Write as _;

use crate::distribution::{BPS_WHOLE, LorenzPoint};

/// The smallest chart drawn (smaller sizes are raised to it).
pub const LORENZ_SIZE_MIN: u32 = 160;
/// The largest chart drawn (larger sizes are cut to it).
pub const LORENZ_SIZE_MAX: u32 = 2_000;

// Room for the labels, in pixels.
const LEFT: u32 = 56;
const RIGHT: u32 = 24;
const TOP: u32 = 12;
const BOTTOM: u32 = 44;

/// The chart's frame: the square plotting area inside the margins.
#[derive(Debug, Clone, Copy)]
struct Frame {
    side: u32,
}

impl Frame {
    /// The pixel column of `x_bps`.
    fn x(self, x_bps: u32) -> u32 {
        LEFT + scale(x_bps, self.side)
    }

    /// The pixel row of `y_bps` (SVG's rows grow downwards).
    fn y(self, y_bps: u32) -> u32 {
        TOP + self.side - scale(y_bps, self.side)
    }
}

/// `bps` of `side` pixels, toward zero.
fn scale(bps: u32, side: u32) -> u32 {
    let px = u64::from(bps.min(BPS_WHOLE)) * u64::from(side) / u64::from(BPS_WHOLE);
    u32::try_from(px).unwrap_or(side)
}

/// The Lorenz curve `points` as an SVG chart about `size` pixels wide: the equality
/// diagonal, the curve, the area between them shaded (the Gini coefficient is twice it), and
/// percentages on both axes. `label` becomes the chart's accessible title (escaped here).
pub fn lorenz_svg(points: &[LorenzPoint], size: u32, label: &str) -> String {
    let size = size.clamp(LORENZ_SIZE_MIN, LORENZ_SIZE_MAX);
    let side = size - LEFT - RIGHT;
    let (width, height) = (size, TOP + side + BOTTOM);
    let frame = Frame { side };
    // Colours as the daily chart's: contrast on white (WCAG AA for the text).
    let (ink, grid, line, fill) = ("#33333d", "#e4e4ea", "#c2185b", "#f8d7e4");
    let mut svg = String::new();
    // Writing to a String cannot fail.
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" aria-label="{title}"><title>{title}</title><rect width="{width}" height="{height}" fill="white"/>"#,
        title = escape(label),
    );
    for quarter in 0..=4 {
        let bps = quarter * BPS_WHOLE / 4;
        let (x, y) = (frame.x(bps), frame.y(bps));
        let _ = write!(
            svg,
            r#"<line x1="{x}" y1="{top}" x2="{x}" y2="{bottom}" stroke="{grid}"/><line x1="{left}" y1="{y}" x2="{right}" y2="{y}" stroke="{grid}"/>"#,
            top = frame.y(BPS_WHOLE),
            bottom = frame.y(0),
            left = frame.x(0),
            right = frame.x(BPS_WHOLE),
        );
        let percent = quarter * 25;
        let _ = write!(
            svg,
            r#"<text x="{x}" y="{below}" font-family="sans-serif" font-size="12" fill="{ink}" text-anchor="middle">{percent} %</text><text x="{before}" y="{baseline}" font-family="sans-serif" font-size="12" fill="{ink}" text-anchor="end">{percent} %</text>"#,
            below = frame.y(0) + 16,
            before = LEFT - 6,
            baseline = y + 4,
        );
    }
    let curve: Vec<String> = points
        .iter()
        .map(|p| format!("{},{}", frame.x(p.x_bps), frame.y(p.y_bps)))
        .collect();
    let curve = curve.join(" ");
    let (x0, y0, x1, y1) = (
        frame.x(0),
        frame.y(0),
        frame.x(BPS_WHOLE),
        frame.y(BPS_WHOLE),
    );
    // The area between the diagonal and the curve: along the curve, back down the diagonal.
    let _ = write!(
        svg,
        r#"<polygon points="{curve} {x1},{y1} {x0},{y0}" fill="{fill}"/>"#
    );
    let _ = write!(
        svg,
        r#"<line class="equality" x1="{x0}" y1="{y0}" x2="{x1}" y2="{y1}" stroke="{ink}" stroke-dasharray="4 4"/>"#
    );
    let _ = write!(
        svg,
        r#"<polyline class="lorenz" points="{curve}" fill="none" stroke="{line}" stroke-width="2"/>"#
    );
    let _ = write!(
        svg,
        r#"<line x1="{x0}" y1="{y0}" x2="{x1}" y2="{y0}" stroke="{ink}"/><line x1="{x0}" y1="{y0}" x2="{x0}" y2="{y1}" stroke="{ink}"/>"#
    );
    let _ = write!(
        svg,
        r#"<text x="{middle}" y="{below}" font-family="sans-serif" font-size="12" fill="{ink}" text-anchor="middle">Creators, lowest income first</text><text x="14" y="{centre}" font-family="sans-serif" font-size="12" fill="{ink}" text-anchor="middle" transform="rotate(-90 14 {centre})">Share of income</text></svg>"#,
        middle = frame.x(BPS_WHOLE / 2),
        below = frame.y(0) + 36,
        centre = frame.y(BPS_WHOLE / 2),
    );
    svg
}

/// `text` safe inside an XML attribute or element.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Distribution;
    use market::Tier;
    use money::Currency;

    fn points_of(svg: &str, class: &str) -> Vec<(u32, u32)> {
        let marker = format!(r#"class="{class}" points=""#);
        let start = svg.find(&marker).expect("the polyline") + marker.len();
        let end = start + svg[start..].find('"').expect("its end");
        svg[start..end]
            .split(' ')
            .map(|p| {
                let (x, y) = p.split_once(',').expect("x,y");
                (
                    x.parse().expect("an integer"),
                    y.parse().expect("an integer"),
                )
            })
            .collect()
    }

    #[test]
    fn the_curve_runs_in_integer_pixels_from_the_bottom_left_to_the_top_right_corner() {
        let d = Distribution::new(
            Currency::USD,
            [
                (1, Tier::Nano),
                (1, Tier::Nano),
                (2, Tier::Micro),
                (96, Tier::Mega),
            ],
        );
        let svg = lorenz_svg(&d.lorenz(), 400, "Income in USD");
        assert!(svg.starts_with("<svg"), "{svg}");
        assert!(svg.ends_with("</svg>"), "{svg}");
        let curve = points_of(&svg, "lorenz");
        // 400 px: the square is 320 px from (56, 332) to (376, 12).
        assert_eq!(curve.first(), Some(&(56, 332)));
        assert_eq!(curve.last(), Some(&(376, 12)));
        assert_eq!(curve.len(), 5);
        // A quarter of the creators earn 1 %: 80 px across, 3 px up.
        assert_eq!(curve[1], (136, 329));
        for pair in curve.windows(2) {
            assert!(pair[0].0 < pair[1].0 && pair[0].1 >= pair[1].1, "{pair:?}");
        }
        assert!(svg.contains("class=\"equality\""), "{svg}");
        assert!(svg.contains(">50 %</text>"), "{svg}");
        assert!(svg.contains("<title>Income in USD</title>"), "{svg}");
    }

    #[test]
    fn the_title_is_escaped_and_the_size_is_bounded() {
        let svg = lorenz_svg(&[], 1, "<b>\"&'</b>");
        assert!(svg.contains("&lt;b&gt;&quot;&amp;&#39;&lt;/b&gt;"), "{svg}");
        assert!(svg.contains(r#"width="160""#), "{svg}");
        assert!(lorenz_svg(&[], u32::MAX, "x").contains(r#"width="2000""#));
    }
}
