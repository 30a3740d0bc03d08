//! Match programs (a funded budget that adds to creators' income from purchases, up to
//! caps per currency) and what each has matched.

use std::collections::BTreeMap;

use live::CountryCode;
use money::{Currency, Money};

use crate::columns::{Columns, corrupt};
use crate::rows::{MatchProgram, MatchProgramId, UserId};
use crate::{Store, StoreError, from_micros, to_micros, with_pool};

fn match_program_from_row(row: &impl Columns) -> Result<MatchProgram, StoreError> {
    let id = row.text("id")?;
    let bad = |e: String| corrupt(format!("match program {id}: {e}"));
    let caps: BTreeMap<String, i64> =
        serde_json::from_str(&row.text("caps")?).map_err(|e| bad(e.to_string()))?;
    let caps = caps
        .into_iter()
        .map(|(c, a)| {
            Ok(Money::new(
                a,
                Currency::parse(&c).map_err(|e| bad(e.to_string()))?,
            ))
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    let countries = row
        .text("countries")?
        .split(',')
        .filter(|c| !c.is_empty())
        .map(|c| CountryCode::parse(c).map_err(|e| bad(e.to_string())))
        .collect::<Result<Vec<_>, _>>()?;
    let rate = u32::try_from(row.int("rate_bps")?).map_err(|e| bad(e.to_string()))?;
    Ok(MatchProgram {
        name: row.text("name")?,
        rate: money::Bps::new(rate).map_err(|e| bad(e.to_string()))?,
        caps,
        countries,
        starts_at: from_micros(row.int("starts_at")?),
        ends_at: from_micros(row.int("ends_at")?),
        created_at: from_micros(row.int("created_at")?),
        id: MatchProgramId::from_string(id),
    })
}

impl Store {
    /// Records a match program (its budget is funded through the ledger writer).
    pub async fn insert_match_program(&self, p: &MatchProgram) -> Result<(), StoreError> {
        let caps: BTreeMap<&str, i64> = p
            .caps
            .iter()
            .map(|m| (m.currency().code(), m.amount()))
            .collect();
        let caps = serde_json::to_string(&caps).map_err(|e| corrupt(e.to_string()))?;
        let countries: Vec<&str> = p.countries.iter().map(|c| c.as_str()).collect();
        with_pool!(&self.db, pool => sqlx::query(
            "INSERT INTO match_programs (id, name, rate_bps, caps, countries, starts_at, ends_at, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(p.id.as_str())
        .bind(&p.name)
        .bind(i64::from(p.rate.get()))
        .bind(&caps)
        .bind(countries.join(","))
        .bind(to_micros(p.starts_at))
        .bind(to_micros(p.ends_at))
        .bind(to_micros(p.created_at))
        .execute(pool)
        .await
        .map(|_| ()))?;
        Ok(())
    }

    /// Every match program, oldest first.
    pub async fn match_programs(&self) -> Result<Vec<MatchProgram>, StoreError> {
        with_pool!(&self.db, pool => sqlx::query(
            "SELECT id, name, rate_bps, caps, countries, starts_at, ends_at, created_at \
             FROM match_programs ORDER BY created_at, id",
        )
        .fetch_all(pool)
        .await?
        .iter()
        .map(match_program_from_row)
        .collect::<Result<Vec<_>, _>>())
    }

    /// What a match program has matched in `currency`, over every creator.
    pub async fn matched_total(
        &self,
        program: &MatchProgramId,
        currency: Currency,
    ) -> Result<i64, StoreError> {
        Ok(with_pool!(&self.db, pool => sqlx::query_scalar(
            "SELECT CAST(COALESCE(SUM(matched), 0) AS BIGINT) FROM match_usage \
             WHERE program_id = $1 AND currency = $2",
        )
        .bind(program.as_str())
        .bind(currency.code())
        .fetch_one(pool)
        .await?))
    }

    /// What a match program has matched per creator and currency.
    pub async fn match_used(
        &self,
        program: &MatchProgramId,
        creator: &UserId,
        currency: Currency,
    ) -> Result<i64, StoreError> {
        Ok(with_pool!(&self.db, pool => sqlx::query_scalar(
            "SELECT matched FROM match_usage WHERE program_id = $1 AND creator_id = $2 AND currency = $3",
        )
        .bind(program.as_str())
        .bind(creator.as_str())
        .bind(currency.code())
        .fetch_optional(pool)
        .await?)
        .unwrap_or(0))
    }
}
