//! The platform's earnings-match programs. The platform funds a program's budget from its
//! own money; a purchase made while a program runs is matched at the program's rate of the
//! creator's share, cut inside the ledger batch to what the budget holds and to what is left
//! of the creator's cap ([`Computed::Match`]), so matching stops at the exact cent.
//!
//! ```text
//! platform/platform_funds ──funding──▶ <program>/match_budget ──match──▶ <creator>/creator_pending
//! ```

use ledger::{Account, AccountId, BalanceRule, Code, Purpose, TransferId};
use live::CountryCode;
use money::{Currency, Money};

use super::{PLATFORM, posted};
use crate::{Computed, MatchProgram, MatchProgramId, Purchase, WriteJob};

/// A program's budget in one currency: it never goes below zero.
pub fn budget_account(program: &MatchProgramId, currency: Currency) -> Account {
    Account {
        rule: BalanceRule::DebitsMustNotExceedCredits,
        ..Account::of(program.as_str(), Purpose::MatchBudget, currency)
    }
}

/// The job moving `amount` of the platform's own money into the program's budget; `key`
/// (the caller's idempotency key) makes a retried funding replay.
pub fn funding_job(program: &MatchProgramId, amount: Money, key: &str) -> WriteJob {
    let c = amount.currency();
    let funds = Account::of(PLATFORM, Purpose::PlatformFunds, c);
    let budget = budget_account(program, c);
    WriteJob {
        transfers: vec![posted(
            format!("{program}/fund/{key}"),
            funds.id.clone(),
            budget.id.clone(),
            amount,
            Code::MATCH_FUNDING,
            program.as_str(),
        )],
        accounts: vec![funds, budget],
        ..WriteJob::default()
    }
}

/// The programs running at the purchase's time with a cap in its currency, oldest first.
fn running<'a>(
    programs: &'a [MatchProgram],
    p: &'a Purchase,
) -> impl Iterator<Item = (&'a MatchProgram, Money)> + 'a {
    let currency = p.price.currency();
    programs
        .iter()
        .filter(move |program| p.created_at >= program.starts_at && p.created_at < program.ends_at)
        .filter_map(move |program| {
            let cap = program.caps.iter().find(|c| c.currency() == currency)?;
            Some((program, *cap))
        })
}

/// Whether [`match_for`] needs the creator's country to decide (a running program limits
/// its creators' countries), so a caller reads it only then.
pub fn match_needs_country(programs: &[MatchProgram], p: &Purchase) -> bool {
    running(programs, p).any(|(program, _)| !program.countries.is_empty())
}

/// The match a purchase may get: from the oldest program (of `programs`, oldest first)
/// running at the purchase's time whose caps name its currency and whose countries include
/// the creator's. The amount — the rate of the creator's share, cut to the budget and the
/// creator's cap — is decided inside the ledger batch.
pub fn match_for(
    programs: &[MatchProgram],
    p: &Purchase,
    creator_country: Option<CountryCode>,
) -> Option<Computed> {
    let currency = p.price.currency();
    let (program, cap) = running(programs, p).find(|(program, _)| {
        program.countries.is_empty()
            || creator_country.is_some_and(|c| program.countries.contains(&c))
    })?;
    let (wanted, _) = p.creator_share.split_bps(program.rate);
    if !wanted.is_positive() {
        return None;
    }
    Some(Computed::Match {
        program: program.id.to_string(),
        creator: p.creator_id.clone(),
        budget: AccountId::of(program.id.as_str(), Purpose::MatchBudget, currency),
        to: AccountId::of(p.creator_id.as_str(), Purpose::CreatorPending, currency),
        currency,
        wanted: wanted.amount(),
        cap: cap.amount(),
        id: TransferId::new(format!("{}/match", p.id)),
        reference: p.id.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PaymentMethod;
    use crate::rules::testing::purchase;
    use time::macros::datetime;

    fn program(name: &str, rate_bps: u32, cap: i64, countries: &[&str]) -> MatchProgram {
        MatchProgram {
            id: MatchProgramId::from_string(name.into()),
            name: name.into(),
            rate: money::Bps::new(rate_bps).expect("bps"),
            caps: vec![Money::new(cap, Currency::USD)],
            countries: countries
                .iter()
                .map(|c| c.parse().expect("country"))
                .collect(),
            starts_at: datetime!(2026-11-01 00:00 UTC),
            ends_at: datetime!(2026-12-01 00:00 UTC),
            created_at: datetime!(2026-10-01 00:00 UTC),
        }
    }

    #[test]
    fn the_oldest_running_program_with_the_currency_matches_its_rate_of_the_share() {
        let p = purchase(PaymentMethod::Card, 499, 425, 74, 0);
        let programs = [
            program("mp_a", 1_000, 5_000, &[]),
            program("mp_b", 5_000, 5_000, &[]),
        ];
        let Some(Computed::Match {
            program,
            wanted,
            cap,
            budget,
            ..
        }) = match_for(&programs, &p, None)
        else {
            panic!("a match");
        };
        assert_eq!(program, "mp_a");
        assert_eq!(wanted, 42); // 10 % of 425, rounded toward zero
        assert_eq!(cap, 5_000);
        assert_eq!(budget.to_string(), "mp_a/match_budget/USD");
    }

    #[test]
    fn a_program_limited_to_countries_matches_only_their_creators() {
        let p = purchase(PaymentMethod::Card, 499, 425, 74, 0);
        let programs = [program("mp_br", 1_000, 5_000, &["BR"])];
        assert!(match_needs_country(&programs, &p));
        assert!(match_for(&programs, &p, None).is_none());
        assert!(match_for(&programs, &p, Some("US".parse().expect("US"))).is_none());
        assert!(match_for(&programs, &p, Some("BR".parse().expect("BR"))).is_some());
    }

    #[test]
    fn no_match_outside_the_programs_dates_or_currency_or_below_a_cent() {
        let mut p = purchase(PaymentMethod::Card, 499, 425, 74, 0);
        let programs = [program("mp_a", 1_000, 5_000, &[])];
        p.created_at = datetime!(2026-12-01 00:00 UTC);
        assert!(match_for(&programs, &p, None).is_none());
        let p = purchase(PaymentMethod::Card, 1, 9, 0, 0);
        assert!(
            match_for(&programs, &p, None).is_none(),
            "10 % of 9 cents rounds to zero"
        );
        let mut jpy = program("mp_a", 1_000, 5_000, &[]);
        jpy.caps = vec![Money::new(5_000, Currency::JPY)];
        assert!(
            match_for(
                &[jpy],
                &purchase(PaymentMethod::Card, 499, 425, 74, 0),
                None
            )
            .is_none()
        );
    }

    #[test]
    fn funding_moves_platform_funds_into_a_budget_that_cannot_go_below_zero() {
        let id = MatchProgramId::from_string("mp_a".into());
        let job = funding_job(&id, Money::new(10_000, Currency::USD), "k1");
        assert_eq!(job.transfers[0].id.as_str(), "mp_a/fund/k1");
        assert_eq!(
            job.transfers[0].debit.to_string(),
            "platform/platform_funds/USD"
        );
        assert_eq!(
            job.accounts[1].rule,
            BalanceRule::DebitsMustNotExceedCredits
        );
    }
}
