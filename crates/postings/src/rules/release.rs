//! The release of held income: when a hold's period ends, its money moves from the owner's
//! pending balance to the available one. Releases are grouped per owner and currency (one
//! transfer each per page of due holds), guarded by each of its holds still being held, so
//! two runs at once release once.

use std::collections::BTreeMap;

use ledger::{Account, AccountId, Code, Purpose};
use money::{Currency, Money};
use time::OffsetDateTime;

use super::posted;
use crate::{Effect, Guard, Hold, HoldStatus, UserId, WriteJob};

/// Due holds of one owner in one currency: released by one transfer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseGroup {
    /// Whose income.
    pub owner: UserId,
    /// The currency.
    pub currency: Currency,
    /// The holds.
    pub holds: Vec<Hold>,
}

impl ReleaseGroup {
    /// What the group releases.
    pub fn amount(&self) -> i64 {
        self.holds.iter().map(|h| h.amount.amount()).sum()
    }
}

/// Groups due holds by owner and currency, in a stable order.
pub fn release_groups(holds: Vec<Hold>) -> Vec<ReleaseGroup> {
    let mut groups: BTreeMap<(UserId, Currency), Vec<Hold>> = BTreeMap::new();
    for hold in holds {
        groups
            .entry((hold.owner.clone(), hold.amount.currency()))
            .or_default()
            .push(hold);
    }
    groups
        .into_iter()
        .map(|((owner, currency), holds)| ReleaseGroup {
            owner,
            currency,
            holds,
        })
        .collect()
}

/// The job releasing a group's holds under `release_id` (a fresh `rel_…`): one transfer
/// from pending to available, every hold marked released, each guarded by still being held.
pub fn release_job(group: &ReleaseGroup, release_id: &str, at: OffsetDateTime) -> WriteJob {
    let (owner, currency) = (group.owner.as_str(), group.currency);
    WriteJob {
        accounts: vec![
            Account::of(owner, Purpose::CreatorPending, currency),
            Account::of(owner, Purpose::CreatorAvailable, currency),
        ],
        transfers: vec![posted(
            release_id,
            AccountId::of(owner, Purpose::CreatorPending, currency),
            AccountId::of(owner, Purpose::CreatorAvailable, currency),
            Money::new(group.amount(), currency),
            Code::HOLD_RELEASE,
            release_id,
        )],
        computed: None,
        idempotency: None,
        claim: None,
        guards: group
            .holds
            .iter()
            .map(|h| Guard::hold(&h.id, HoldStatus::Held))
            .collect(),
        effects: group
            .holds
            .iter()
            .map(|h| Effect::SetHoldStatus {
                hold_id: h.id.clone(),
                status: HoldStatus::Released,
                release_id: Some(release_id.to_owned()),
                at,
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::IncomeSource;
    use crate::rules::testing::assert_balanced_lines;

    fn hold(owner: &UserId, amount: i64, currency: Currency) -> Hold {
        let at = time::macros::datetime!(2026-11-01 00:00 UTC);
        Hold {
            id: crate::PurchaseId::generate().to_string(),
            owner: owner.clone(),
            amount: Money::new(amount, currency),
            source: IncomeSource::Badges,
            status: HoldStatus::Held,
            release_at: at,
            created_at: at,
        }
    }

    #[test]
    fn holds_are_released_in_one_transfer_per_owner_and_currency() {
        let (a, b) = (UserId::generate(), UserId::generate());
        let groups = release_groups(vec![
            hold(&a, 100, Currency::USD),
            hold(&b, 7, Currency::USD),
            hold(&a, 50, Currency::USD),
            hold(&a, 300, Currency::JPY),
        ]);
        assert_eq!(groups.len(), 3);
        let a_usd = groups
            .iter()
            .find(|g| g.owner == a && g.currency == Currency::USD)
            .expect("a's dollars");
        assert_eq!(a_usd.amount(), 150);
        let job = release_job(
            a_usd,
            "rel_1",
            time::macros::datetime!(2026-12-01 00:00 UTC),
        );
        assert_eq!(job.transfers.len(), 1);
        assert_eq!(job.transfers[0].amount, 150);
        assert_eq!(job.transfers[0].code, Code::HOLD_RELEASE);
        assert_eq!(job.guards.len(), 2);
        assert!(
            job.guards
                .iter()
                .all(|g| matches!(g, Guard::Status(_, "held")))
        );
        assert_eq!(job.effects.len(), 2);
        assert_balanced_lines(&job.accounts, &job.transfers);
    }
}
