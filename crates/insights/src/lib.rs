//! Insights: a creator's earnings over time, as a series of days and as a chart (SVG); and
//! how income is spread across creators (`distribution`: the Gini coefficient, the top 1 %'s
//! share, the median, each tier's share, the Lorenz curve, and `lorenz`: its chart).
//!
//! Pure: it takes amounts and dates and returns values and SVG text. It knows nothing of
//! HTTP, SQL or any runtime, and amounts stay integers of minor units: the charts'
//! coordinates are the amounts themselves or basis points, so no float ever carries money.

mod distribution;
mod lorenz;

pub use distribution::{
    BPS_WHOLE, Distribution, LORENZ_POINTS_MAX, LorenzPoint, TierShare, bps_of,
};
pub use lorenz::{LORENZ_SIZE_MAX, LORENZ_SIZE_MIN, lorenz_svg};

use money::{Currency, Money};
use plotters::prelude::*;
use time::{Date, Duration};

/// Most days a series covers (a year): bounds the work of one chart.
pub const DAYS_MAX: u16 = 366;

/// A creator's income per day in one currency, oldest first, every day present (zero when
/// nothing was earned).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DailySeries {
    currency: Currency,
    first: Date,
    amounts: Vec<i64>,
}

/// Why a chart could not be drawn.
#[derive(Debug, thiserror::Error)]
pub enum ChartError {
    /// The drawing backend failed.
    #[error("cannot draw the chart: {0}")]
    Draw(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The plotting library panicked on these values.
    #[error("the plotting library failed on this series")]
    Panicked,
}

impl DailySeries {
    /// The series of `days` days ending with `last`, summing the amounts in `currency` of
    /// `points` per day; points in other currencies or outside the days are left out.
    /// `days` is cut to [`DAYS_MAX`] and is at least 1.
    pub fn new(
        currency: Currency,
        last: Date,
        days: u16,
        points: impl IntoIterator<Item = (Date, Money)>,
    ) -> DailySeries {
        let days = days.clamp(1, DAYS_MAX);
        let first = last - Duration::days(i64::from(days) - 1);
        let mut amounts = vec![0_i64; usize::from(days)];
        for (day, amount) in points {
            if amount.currency() != currency || day < first || day > last {
                continue;
            }
            let index = usize::try_from((day - first).whole_days()).unwrap_or(0);
            amounts[index] = amounts[index].saturating_add(amount.amount());
        }
        DailySeries {
            currency,
            first,
            amounts,
        }
    }

    /// The currency.
    pub fn currency(&self) -> Currency {
        self.currency
    }

    /// Each day with its income, oldest first.
    pub fn days(&self) -> impl Iterator<Item = (Date, Money)> + '_ {
        self.amounts.iter().enumerate().map(|(i, a)| {
            (
                self.first + Duration::days(i64::try_from(i).unwrap_or(0)),
                Money::new(*a, self.currency),
            )
        })
    }

    /// The income of every day together.
    pub fn total(&self) -> Money {
        Money::new(
            self.amounts.iter().fold(0_i64, |t, a| t.saturating_add(*a)),
            self.currency,
        )
    }

    /// The best day's income (zero when nothing was earned; negative days count as zero).
    pub fn best_day(&self) -> Money {
        Money::new(
            self.amounts.iter().copied().max().unwrap_or(0).max(0),
            self.currency,
        )
    }
}

/// The smallest of 1, 2 or 5 times a power of ten that is at least `value` (and at least 1):
/// the top of the chart's axis, so that its gridlines fall on round amounts.
pub fn axis_top(value: i64) -> i64 {
    let mut step: i64 = 1;
    loop {
        for m in [1, 2, 5] {
            let top = step.saturating_mul(m);
            if top >= value {
                return top;
            }
        }
        if step > i64::MAX / 10 {
            return i64::MAX;
        }
        step *= 10;
    }
}

/// An amount as the axis shows it: major units without the currency code, e.g. `12.50`.
fn axis_label(amount: i64, currency: Currency) -> String {
    let shown = Money::new(amount, currency).to_string();
    shown
        .rsplit_once(' ')
        .map_or(shown.clone(), |(number, _)| number.to_owned())
}

/// Month and day, e.g. `Dec 2`.
fn day_label(day: Date) -> String {
    let month = day.month().to_string();
    format!("{} {}", &month[..3], day.day())
}

/// The series as an SVG line chart `width` × `height` pixels: income per day, with the
/// amounts on the left axis (major units of the series' currency) and dates below.
/// A panic inside the plotting library is an error here: a chart is never worth a crash.
pub fn line_chart_svg(series: &DailySeries, width: u32, height: u32) -> Result<String, ChartError> {
    std::panic::catch_unwind(|| {
        let mut svg = String::new();
        {
            let root = SVGBackend::with_string(&mut svg, (width, height)).into_drawing_area();
            draw(&root, series).map_err(|e| ChartError::Draw(e.to_string().into()))?;
            root.present()
                .map_err(|e| ChartError::Draw(e.to_string().into()))?;
        }
        Ok(svg)
    })
    .unwrap_or(Err(ChartError::Panicked))
}

type DrawResult =
    Result<(), DrawingAreaErrorKind<<SVGBackend<'static> as DrawingBackend>::ErrorType>>;

fn draw(
    root: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
    series: &DailySeries,
) -> DrawResult {
    // Colours chosen for contrast on white (WCAG AA for the text).
    let ink = RGBColor(0x33, 0x33, 0x3d);
    let grid = RGBColor(0xe4, 0xe4, 0xea);
    let line = RGBColor(0xc2, 0x18, 0x5b);
    root.fill(&WHITE)?;
    let days = i64::try_from(series.amounts.len()).unwrap_or(1);
    let top = axis_top(series.best_day().amount());
    let currency = series.currency;
    let last = series.first + Duration::days(days - 1);
    let mut chart = ChartBuilder::on(root)
        .margin(12)
        .margin_right(28)
        .x_label_area_size(28)
        .y_label_area_size(64)
        // Days before the last, so that the last day always gets a label.
        .build_cartesian_2d((1 - days).min(-1)..0_i64, 0_i64..top)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .light_line_style(TRANSPARENT)
        .bold_line_style(grid)
        .axis_style(ink)
        .label_style(("sans-serif", 14).into_font().color(&ink))
        .y_labels(5)
        .x_labels(6)
        .y_label_formatter(&|v| axis_label(*v, currency))
        .x_label_formatter(&|i| day_label(last + Duration::days(*i)))
        .draw()?;
    let points: Vec<(i64, i64)> = (1 - days..)
        .zip(series.amounts.iter().map(|a| (*a).max(0)))
        .collect();
    chart.draw_series(LineSeries::new(
        points.iter().copied(),
        line.stroke_width(2),
    ))?;
    chart.draw_series(
        points
            .iter()
            .filter(|(_, a)| *a > 0)
            .map(|p| Circle::new(*p, 3, line.filled())),
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    fn usd(amount: i64) -> Money {
        Money::new(amount, Currency::USD)
    }

    #[test]
    fn a_series_sums_each_day_and_fills_the_days_without_income() {
        let series = DailySeries::new(
            Currency::USD,
            date!(2026 - 12 - 02),
            5,
            [
                (date!(2026 - 11 - 28), usd(199)),
                (date!(2026 - 12 - 02), usd(99)),
                (date!(2026 - 12 - 02), usd(499)),
                // Outside the days, or in another currency: left out.
                (date!(2026 - 11 - 27), usd(10_000)),
                (date!(2026 - 12 - 01), Money::new(120, Currency::JPY)),
            ],
        );
        let days: Vec<(Date, i64)> = series.days().map(|(d, m)| (d, m.amount())).collect();
        assert_eq!(
            days,
            vec![
                (date!(2026 - 11 - 28), 199),
                (date!(2026 - 11 - 29), 0),
                (date!(2026 - 11 - 30), 0),
                (date!(2026 - 12 - 01), 0),
                (date!(2026 - 12 - 02), 598),
            ]
        );
        assert_eq!(series.total(), usd(797));
        assert_eq!(series.best_day(), usd(598));
    }

    #[test]
    fn a_series_covers_at_least_one_day_and_at_most_a_year() {
        let last = date!(2026 - 12 - 02);
        assert_eq!(
            DailySeries::new(Currency::USD, last, 0, []).days().count(),
            1
        );
        assert_eq!(
            DailySeries::new(Currency::USD, last, u16::MAX, [])
                .days()
                .count(),
            usize::from(DAYS_MAX)
        );
    }

    #[test]
    fn the_axis_ends_on_a_round_amount_at_or_above_the_best_day() {
        assert_eq!(axis_top(0), 1);
        assert_eq!(axis_top(1), 1);
        assert_eq!(axis_top(3), 5);
        assert_eq!(axis_top(199), 200);
        assert_eq!(axis_top(201), 500);
        assert_eq!(axis_top(598), 1_000);
        assert_eq!(axis_top(i64::MAX), i64::MAX);
    }

    #[test]
    fn the_chart_is_svg_with_the_line_and_labels_in_major_units() {
        let series = DailySeries::new(
            Currency::USD,
            date!(2026 - 12 - 02),
            30,
            [(date!(2026 - 12 - 01), usd(1_990))],
        );
        let svg = line_chart_svg(&series, 640, 240).expect("draws");
        assert!(svg.starts_with("<svg"), "{svg}");
        assert!(svg.contains("<polyline"), "the line is drawn: {svg}");
        assert!(
            svg.contains("\n20.00\n"),
            "the axis top is labelled in dollars: {svg}"
        );
        assert!(svg.contains("\nDec 2\n"), "the last day is labelled: {svg}");
        assert!(
            svg.contains("\nNov 22\n"),
            "and every few days before it: {svg}"
        );
        assert!(
            svg.contains("<circle"),
            "the day with income is marked: {svg}"
        );
    }

    #[test]
    fn charts_are_drawn_for_empty_tiny_huge_and_negative_days() {
        let last = date!(2026 - 12 - 02);
        for days in [1_u16, 2, 7, 30, 366] {
            for amount in [0_i64, 1, 7, 99, 123_456_789, i64::MAX / 4, -500] {
                let series = DailySeries::new(
                    Currency::USD,
                    last,
                    days,
                    [(last, usd(amount)), (last - Duration::days(1), usd(3))],
                );
                let svg = line_chart_svg(&series, 640, 240)
                    .unwrap_or_else(|e| panic!("{days} days, {amount}: {e}"));
                assert!(svg.contains("<polyline"), "{days} days, {amount}");
            }
        }
    }

    #[test]
    fn yen_have_no_decimals_on_the_axis() {
        assert_eq!(axis_label(1_200, Currency::JPY), "1200");
        assert_eq!(axis_label(1_250, Currency::USD), "12.50");
    }
}
