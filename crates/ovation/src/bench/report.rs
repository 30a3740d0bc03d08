//! Percentiles, rates and the printed block.
#![allow(
    clippy::float_arithmetic,
    clippy::cast_precision_loss,
    reason = "rates and averages of a benchmark report"
)]

use std::fmt::Write as _;
use std::time::Duration;

/// Latencies in microseconds.
#[derive(Debug, Default)]
pub(crate) struct Latencies(Vec<u64>);

impl Latencies {
    pub(crate) fn with_capacity(n: usize) -> Latencies {
        Latencies(Vec::with_capacity(n))
    }

    pub(crate) fn record(&mut self, d: Duration) {
        self.0
            .push(u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
    }

    pub(crate) fn merge(&mut self, other: Latencies) {
        self.0.extend(other.0);
    }

    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    /// Sorts; call once before reading percentiles.
    pub(crate) fn sort(&mut self) {
        self.0.sort_unstable();
    }

    /// The `p`-th percentile (nearest rank), in microseconds; 0 when empty.
    pub(crate) fn pct(&self, p: u32) -> u64 {
        if self.0.is_empty() {
            return 0;
        }
        let n = self.0.len();
        let rank = (n * p as usize).div_ceil(100).clamp(1, n);
        self.0[rank - 1]
    }

    pub(crate) fn max(&self) -> u64 {
        self.0.last().copied().unwrap_or(0)
    }
}

/// Milliseconds with two decimals, from microseconds.
pub(crate) fn ms(us: u64) -> String {
    format!("{:.2} ms", us as f64 / 1_000.0)
}

/// `count / elapsed`, per second.
pub(crate) fn per_sec(count: u64, elapsed: Duration) -> f64 {
    count as f64 / elapsed.as_secs_f64().max(1e-9)
}

/// A number with thousands separators.
pub(crate) fn thousands(v: f64) -> String {
    let rounded = format!("{v:.0}");
    let (sign, digits) = rounded
        .strip_prefix('-')
        .map_or(("", rounded.as_str()), |d| ("-", d));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    format!("{sign}{out}")
}

pub(crate) fn mean(sum: f64, count: u64) -> f64 {
    if count == 0 { 0.0 } else { sum / count as f64 }
}

pub(crate) fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

/// The machine, for the block: cores and the CPU model.
pub(crate) fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    format!(
        "{cores} cores ({model}), {} {}",
        std::env::consts::OS,
        std::env::consts::ARCH
    )
}

/// A process's resident set in KiB (`VmRSS` of /proc/<pid>/status), and its peak (`VmHWM`).
pub(crate) fn rss_kib(pid: &str) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// CPU time (user + system) a process has used, in seconds, from /proc/<pid>/stat
/// (assumes the usual 100 clock ticks per second).
pub(crate) fn cpu_seconds(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) as f64 / 100.0)
}

/// The printed block: a title, then aligned `key: value` lines.
#[derive(Debug)]
pub(crate) struct Block {
    title: String,
    lines: Vec<(String, String)>,
}

impl Block {
    pub(crate) fn new(title: impl Into<String>) -> Block {
        Block {
            title: title.into(),
            lines: Vec::new(),
        }
    }

    pub(crate) fn line(&mut self, key: &str, value: impl Into<String>) -> &mut Block {
        self.lines.push((key.to_owned(), value.into()));
        self
    }

    pub(crate) fn print(&self) {
        let width = self.lines.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        let mut out = String::new();
        let _ = writeln!(out, "\n```");
        let _ = writeln!(out, "{}", self.title);
        for (k, v) in &self.lines {
            let _ = writeln!(out, "  {k:<width$}  {v}");
        }
        let _ = writeln!(out, "```");
        println!("{out}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let mut l = Latencies::default();
        for v in 1..=100 {
            l.record(Duration::from_micros(v));
        }
        l.sort();
        assert_eq!(l.pct(50), 50);
        assert_eq!(l.pct(99), 99);
        assert_eq!(l.pct(100), 100);
        assert_eq!(l.max(), 100);
    }

    #[test]
    fn thousands_are_separated() {
        assert_eq!(thousands(1_234_567.4), "1,234,567");
        assert_eq!(thousands(999.0), "999");
        assert_eq!(thousands(-1000.0), "-1,000");
    }
}
