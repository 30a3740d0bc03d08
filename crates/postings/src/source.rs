//! Where a creator's income comes from. Each source has one name (stored, in the API and in
//! statements) and the ledger codes that count for it: the one place that knows which
//! transfers are whose income.

use std::fmt;

use ledger::Code;

/// A source of creator income.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IncomeSource {
    /// Live Badges bought by viewers.
    Badges,
    /// The platform's earnings-match program.
    Match,
    /// Commissions on shop sales.
    Commissions,
    /// Brand deals paid through escrow.
    BrandDeals,
}

impl IncomeSource {
    /// Every source, in the order earnings list them.
    pub const ALL: [IncomeSource; 4] = [
        IncomeSource::Badges,
        IncomeSource::Match,
        IncomeSource::Commissions,
        IncomeSource::BrandDeals,
    ];

    /// The sources the platform charges a fee on (a match is the platform's own money).
    pub const FEE_BEARING: [IncomeSource; 3] = [
        IncomeSource::Badges,
        IncomeSource::Commissions,
        IncomeSource::BrandDeals,
    ];

    /// The stored and public name.
    pub fn as_str(self) -> &'static str {
        match self {
            IncomeSource::Badges => "badges",
            IncomeSource::Match => "match",
            IncomeSource::Commissions => "commissions",
            IncomeSource::BrandDeals => "brand_deals",
        }
    }

    /// Parses a stored or public name.
    pub fn parse(s: &str) -> Option<IncomeSource> {
        IncomeSource::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// Which source a transfer code counts for, and with which sign: +1 adds income to the
    /// credited account's owner, -1 takes it from the debited account's owner (a reversal).
    pub fn of_code(code: Code) -> Option<(IncomeSource, i64)> {
        match code {
            Code::BADGE_SHARE => Some((IncomeSource::Badges, 1)),
            Code::BADGE_SHARE_REFUND | Code::BADGE_SHARE_CHARGEBACK => {
                Some((IncomeSource::Badges, -1))
            }
            Code::MATCH => Some((IncomeSource::Match, 1)),
            Code::MATCH_REFUND | Code::MATCH_CHARGEBACK => Some((IncomeSource::Match, -1)),
            Code::COMMISSION_SHARE => Some((IncomeSource::Commissions, 1)),
            Code::COMMISSION_SHARE_RETURN => Some((IncomeSource::Commissions, -1)),
            Code::BRAND_DEAL_SHARE => Some((IncomeSource::BrandDeals, 1)),
            _ => None,
        }
    }
}

impl fmt::Display for IncomeSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_source_parses_back_from_its_name() {
        for source in IncomeSource::ALL {
            assert_eq!(IncomeSource::parse(source.as_str()), Some(source));
        }
        assert_eq!(IncomeSource::parse("tips"), None);
    }

    #[test]
    fn a_reversal_counts_against_the_source_it_reverses() {
        assert_eq!(
            IncomeSource::of_code(Code::BADGE_SHARE),
            Some((IncomeSource::Badges, 1))
        );
        assert_eq!(
            IncomeSource::of_code(Code::BADGE_SHARE_CHARGEBACK),
            Some((IncomeSource::Badges, -1))
        );
        assert_eq!(
            IncomeSource::of_code(Code::MATCH_REFUND),
            Some((IncomeSource::Match, -1))
        );
        assert_eq!(IncomeSource::of_code(Code::BADGE_FEE), None);
        assert_eq!(IncomeSource::of_code(Code::HOLD_RELEASE), None);
    }
}
