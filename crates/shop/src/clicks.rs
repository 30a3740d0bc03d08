//! Which clicks count. Every request for a link is redirected; a known bot or crawler, or
//! the same client on the same link again within [`REPEAT_WINDOW`], is not counted (not
//! recorded, not attributed).

use std::collections::HashMap;

use time::{Duration, OffsetDateTime};

/// A repeat within this long of a counted click is not counted.
pub const REPEAT_WINDOW: Duration = Duration::seconds(30);

/// Fragments of the user agents of known bots, crawlers, link previewers and HTTP tools,
/// lower case.
const BOTS: [&str; 24] = [
    "bot",
    "crawler",
    "spider",
    "slurp",
    "crawl",
    "facebookexternalhit",
    "facebookcatalog",
    "embedly",
    "quora link preview",
    "whatsapp",
    "telegram",
    "skypeuripreview",
    "bitlybot",
    "vkshare",
    "pinterest",
    "headlesschrome",
    "phantomjs",
    "lighthouse",
    "curl/",
    "wget/",
    "python-requests",
    "go-http-client",
    "okhttp",
    "preview",
];

/// Whether `user_agent` is a known bot or crawler (or missing: browsers always send one).
pub fn is_bot(user_agent: Option<&str>) -> bool {
    let Some(agent) = user_agent.map(str::trim).filter(|a| !a.is_empty()) else {
        return true;
    };
    let agent = agent.to_ascii_lowercase();
    BOTS.iter().any(|b| agent.contains(b))
}

/// What the filter decided about a click.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    /// Counted: record it.
    New,
    /// A repeat of the counted click named (its id goes on the redirect again).
    RepeatOf(String),
}

/// The counted clicks of the last [`REPEAT_WINDOW`], by client and link, bounded in memory:
/// expired entries are dropped as new ones come.
#[derive(Debug, Default)]
pub struct RepeatFilter {
    last: HashMap<(String, String), (OffsetDateTime, String)>,
    inserts: usize,
}

impl RepeatFilter {
    /// Sweeps expired entries once per this many new ones.
    const SWEEP_EVERY: usize = 4_096;

    /// Decides about a click of `client` on `link` at `now`; a new one is remembered as
    /// `click_id`.
    pub fn see(&mut self, client: &str, link: &str, now: OffsetDateTime, click_id: &str) -> Seen {
        let key = (client.to_owned(), link.to_owned());
        if let Some((at, id)) = self.last.get(&key)
            && now - *at < REPEAT_WINDOW
            && now >= *at
        {
            return Seen::RepeatOf(id.clone());
        }
        self.last.insert(key, (now, click_id.to_owned()));
        self.inserts += 1;
        if self.inserts.is_multiple_of(Self::SWEEP_EVERY) {
            self.last.retain(|_, (at, _)| now - *at < REPEAT_WINDOW);
        }
        Seen::New
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.last.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.last.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn bots_crawlers_previews_and_tools_are_known() {
        for bot in [
            Some("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"),
            Some("facebookexternalhit/1.1"),
            Some("Mozilla/5.0 (compatible; bingbot/2.0)"),
            Some("curl/8.5.0"),
            Some("Twitterbot/1.0"),
            Some("WhatsApp/2.23"),
            Some(""),
            None,
        ] {
            assert!(is_bot(bot), "{bot:?}");
        }
        for person in [
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148 Safari/604.1",
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36",
        ] {
            assert!(!is_bot(Some(person)), "{person}");
        }
    }

    #[test]
    fn a_repeat_within_30_seconds_is_not_counted_and_names_the_first_click() {
        let t = datetime!(2026-12-03 12:00 UTC);
        let mut filter = RepeatFilter::default();
        assert_eq!(filter.see("ip1", "abc", t, "clk_1"), Seen::New);
        assert_eq!(
            filter.see("ip1", "abc", t + Duration::seconds(29), "clk_2"),
            Seen::RepeatOf("clk_1".into())
        );
        // Another link, another client: counted.
        assert_eq!(filter.see("ip1", "xyz", t, "clk_3"), Seen::New);
        assert_eq!(filter.see("ip2", "abc", t, "clk_4"), Seen::New);
        // After the window: counted again.
        assert_eq!(
            filter.see("ip1", "abc", t + REPEAT_WINDOW, "clk_5"),
            Seen::New
        );
    }

    #[test]
    fn expired_entries_are_swept() {
        let t = datetime!(2026-12-03 12:00 UTC);
        let mut filter = RepeatFilter::default();
        for i in 0..RepeatFilter::SWEEP_EVERY - 1 {
            filter.see(&format!("ip{i}"), "abc", t, "clk");
        }
        let later = t + Duration::minutes(1);
        filter.see("late", "abc", later, "clk");
        assert_eq!(filter.len(), 1);
    }
}
