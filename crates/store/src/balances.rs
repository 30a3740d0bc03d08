//! Balances as the business reads them: what a wallet can spend, what a match budget has
//! left — each the spendable balance ([`postings::spendable`]) of one ledger account.

/// [`postings::spendable`] in SQL over a `ledger_accounts` row, for the queries that select
/// or filter accounts by it (`concat!` it into the statement).
macro_rules! spendable_sql {
    () => {
        "(credits_posted - debits_posted - debits_pending)"
    };
}
pub(crate) use spendable_sql;

use ledger::{AccountId, Purpose};
use money::{Currency, Money};

use crate::rows::{MatchProgramId, UserId};

/// A wallet in one currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wallet {
    /// What can be spent: credits less debits, pending ones (what open offers hold) too.
    pub spendable: Money,
    /// What open offers hold (pending debits).
    pub held: Money,
}
use crate::{Store, StoreError, with_pool};

impl Store {
    /// What an account can still give; zero for an account never opened.
    pub async fn spendable(&self, id: &AccountId) -> Result<i64, StoreError> {
        Ok(self
            .ledger_balance(id)
            .await?
            .map_or(0, |b| postings::spendable(&b)))
    }

    /// What `user` can spend from their wallet in `currency` (zero before any top-up).
    pub async fn wallet_spendable(
        &self,
        user: &UserId,
        currency: Currency,
    ) -> Result<Money, StoreError> {
        let id = AccountId::of(user.as_str(), Purpose::Wallet, currency);
        Ok(Money::new(self.spendable(&id).await?, currency))
    }

    /// Each wallet `user` has, by currency: what it can spend and what open offers hold.
    pub async fn wallets(&self, user: &UserId) -> Result<Vec<Wallet>, StoreError> {
        let rows: Vec<(String, i64, i64)> = with_pool!(&self.db, pool => sqlx::query_as(concat!(
            "SELECT currency, ", spendable_sql!(), " AS spendable, debits_pending AS held \
             FROM ledger_accounts WHERE owner = $1 AND purpose = 'wallet' ORDER BY currency"
        ))
        .bind(user.as_str())
        .fetch_all(pool)
        .await?);
        rows.into_iter()
            .map(|(currency, spendable, held)| {
                Currency::parse(&currency)
                    .map(|c| Wallet {
                        spendable: Money::new(spendable, c),
                        held: Money::new(held, c),
                    })
                    .map_err(|e| crate::columns::corrupt(format!("wallet of {user}: {e}")))
            })
            .collect()
    }

    /// What is left of a match program's budget in `currency`.
    pub async fn budget_remaining(
        &self,
        program: &MatchProgramId,
        currency: Currency,
    ) -> Result<Money, StoreError> {
        let id = AccountId::of(program.as_str(), Purpose::MatchBudget, currency);
        Ok(Money::new(self.spendable(&id).await?, currency))
    }
}
