//! The planner's tests: each guard, each computed amount, duplicates and replays, and
//! properties of random batches.

use super::*;
use crate::rules::testing::purchase;
use crate::rules::{self, Reversal};
use crate::{Guard, LiveId, MatchProgramId, PaymentMethod, PayoutId, Topup, TopupId, UserId};
use ledger::Purpose;
use money::Money;
use proptest::prelude::*;

const HOLD: std::time::Duration = std::time::Duration::from_secs(7 * 86_400);

fn funded(account: Account, credits: i64) -> (Account, Balances) {
    (
        account,
        Balances {
            credits_posted: credits,
            ..Balances::default()
        },
    )
}

fn record(key: &str) -> IdempotencyRecord {
    IdempotencyRecord {
        account_id: "acc_1".into(),
        key: key.into(),
        fingerprint: "f".into(),
        status: 201,
        body: "{}".into(),
    }
}

fn card_job(p: &Purchase) -> WriteJob {
    rules::purchase_job(p, HOLD, None, Vec::new(), None)
}

#[test]
fn a_key_used_earlier_in_the_batch_is_a_duplicate_and_moves_nothing() {
    let (a, b) = (
        purchase(PaymentMethod::Card, 499, 425, 74, 0),
        purchase(PaymentMethod::Card, 499, 425, 74, 0),
    );
    let jobs = [
        WriteJob {
            idempotency: Some(record("k")),
            ..card_job(&a)
        },
        WriteJob {
            idempotency: Some(record("k")),
            ..card_job(&b)
        },
    ];
    let planned = plan(&jobs, Loaded::default()).expect("plans");
    assert_eq!(planned.outcomes[0], Outcome::Applied);
    assert_eq!(planned.outcomes[1], Outcome::Duplicate(record("k")));
    assert_eq!(planned.purchases.len(), 1);
    assert_eq!(planned.answers.len(), 1);
    assert_eq!(
        planned.changes.transfers.len(),
        2,
        "only the first purchase's share and fee"
    );
}

#[test]
fn a_stored_answer_makes_the_job_a_duplicate() {
    let p = purchase(PaymentMethod::Card, 499, 425, 74, 0);
    let mut loaded = Loaded::default();
    loaded
        .answers
        .insert(("acc_1".into(), "k".into()), record("k"));
    let jobs = [WriteJob {
        idempotency: Some(record("k")),
        ..card_job(&p)
    }];
    let planned = plan(&jobs, loaded).expect("plans");
    assert!(matches!(planned.outcomes[0], Outcome::Duplicate(_)));
    assert!(planned.changes.transfers.is_empty());
}

#[test]
fn a_purchase_in_an_ended_live_is_refused_by_its_guard() {
    let p = purchase(PaymentMethod::Card, 499, 425, 74, 0);
    let guard = Guard::live_active(&p.live_id);
    let job = rules::purchase_job(&p, HOLD, None, vec![guard], None);
    let mut loaded = Loaded::default();
    loaded
        .statuses
        .insert(RowRef::Live(p.live_id.clone()), "ended".into());
    let planned = plan(std::slice::from_ref(&job), loaded).expect("plans");
    assert_eq!(
        planned.outcomes[0],
        Outcome::Refused(Refusal::Status(RowRef::Live(p.live_id.clone())))
    );
    assert!(planned.purchases.is_empty() && planned.holds.is_empty());
    // A live the store did not find is refused the same way.
    let outcome = plan_of(&job);
    assert!(matches!(outcome, Outcome::Refused(Refusal::Status(_))));
}

fn plan_of(job: &WriteJob) -> Outcome {
    plan(std::slice::from_ref(job), Loaded::default())
        .expect("plans")
        .outcomes
        .remove(0)
}

#[test]
fn a_later_job_sees_the_status_an_earlier_one_set() {
    let p = purchase(PaymentMethod::Card, 499, 425, 74, 0);
    let at = p.created_at;
    let mut loaded = Loaded::default();
    loaded
        .statuses
        .insert(RowRef::Purchase(p.id.clone()), "succeeded".into());
    loaded
        .statuses
        .insert(RowRef::Hold(p.id.to_string()), "held".into());
    loaded.accounts = rules::purchase_accounts(&p)
        .into_iter()
        .map(|a| funded(a, 1_000_000))
        .collect();
    let refund = rules::reversal_job(
        &p,
        Reversal::Refund,
        rules::ProcessorFeeOnReversal::Returned,
        Some(HoldStatus::Held),
        at,
    );
    let chargeback = rules::reversal_job(
        &p,
        Reversal::Chargeback,
        rules::ProcessorFeeOnReversal::Returned,
        Some(HoldStatus::Held),
        at,
    );
    let jobs = [refund, chargeback];
    let planned = plan(&jobs, loaded).expect("plans");
    assert_eq!(planned.outcomes[0], Outcome::Applied);
    assert_eq!(
        planned.outcomes[1],
        Outcome::Refused(Refusal::Status(RowRef::Purchase(p.id.clone())))
    );
    assert_eq!(planned.purchase_statuses.len(), 1);
    assert_eq!(planned.hold_statuses.len(), 1);
}

#[test]
fn a_reversal_whose_processor_keeps_its_fee_leaves_processor_fees_alone_and_balances() {
    let p = purchase(PaymentMethod::Card, 499, 319, 136, 44);
    let mut loaded = Loaded::default();
    loaded
        .statuses
        .insert(RowRef::Purchase(p.id.clone()), "succeeded".into());
    loaded
        .statuses
        .insert(RowRef::Hold(p.id.to_string()), "held".into());
    // The platform's fees may hold less than what it pays back: it may go below zero.
    loaded.accounts = rules::purchase_accounts(&p)
        .into_iter()
        .map(|a| funded(a, 0))
        .collect();
    let jobs = [rules::reversal_job(
        &p,
        Reversal::Refund,
        rules::ProcessorFeeOnReversal::KeptByProcessor,
        Some(HoldStatus::Held),
        p.created_at,
    )];
    let planned = plan(&jobs, loaded).expect("a balanced batch");
    assert_eq!(planned.outcomes, [Outcome::Applied]);
    let delta = |purpose| {
        let id = AccountId::of("platform", purpose, money::Currency::USD);
        planned
            .changes
            .deltas
            .iter()
            .find(|(a, _)| *a == id)
            .map(|(_, d)| (d.debits_posted, d.credits_posted))
    };
    assert_eq!(delta(Purpose::ProcessorFees), None);
    assert_eq!(delta(Purpose::PlatformFees), Some((136 + 44, 0)));
    assert_eq!(delta(Purpose::ProcessorClearing), Some((0, 499)));
}

#[test]
fn spending_caps_count_committed_spending_and_the_jobs_before() {
    let viewer = UserId::generate();
    let since = time::macros::datetime!(2026-11-30 00:00 UTC);
    let mut loaded = Loaded::default();
    loaded.spent.insert(
        (
            viewer.to_string(),
            money::Currency::USD,
            crate::to_micros(since),
        ),
        600,
    );
    let job = |price: i64| {
        let mut p = purchase(PaymentMethod::Card, price, price, 0, 0);
        p.viewer_id = viewer.clone();
        let guard = crate::caps::cap_guard(&viewer, p.price, since, 1_000);
        rules::purchase_job(&p, HOLD, None, vec![guard], None)
    };
    let jobs = [job(300), job(200), job(100)];
    let planned = plan(&jobs, loaded).expect("plans");
    assert_eq!(
        planned.outcomes,
        [
            Outcome::Applied,
            Outcome::Refused(Refusal::SpendingLimit),
            Outcome::Applied
        ]
    );
}

#[test]
fn on_a_monday_the_daily_and_weekly_caps_count_each_earlier_purchase_once() {
    // On a Monday the day and the week start at the same instant, so a purchase carries two
    // guards on the same period: the jobs after it must see its price once, not twice.
    let viewer = UserId::generate();
    let now = time::macros::datetime!(2026-11-30 12:00 UTC);
    assert_eq!(now.weekday(), time::Weekday::Monday);
    let caps = crate::caps::Caps {
        daily: Some(1_000),
        weekly: Some(1_000),
        minor: false,
    };
    let job = |price: i64| {
        let mut p = purchase(PaymentMethod::Card, price, price, 0, 0);
        p.viewer_id = viewer.clone();
        let guards = caps
            .periods(now)
            .into_iter()
            .map(|(_, since, limit)| crate::caps::cap_guard(&viewer, p.price, since, limit))
            .collect();
        rules::purchase_job(&p, HOLD, None, guards, None)
    };
    // 600 and 400 fill both caps to the minor unit; one more unit goes over both.
    let jobs = [job(600), job(400), job(1)];
    assert_eq!(jobs[0].guards.len(), 2);
    let planned = plan(&jobs, Loaded::default()).expect("plans");
    assert_eq!(
        planned.outcomes,
        [
            Outcome::Applied,
            Outcome::Applied,
            Outcome::Refused(Refusal::SpendingLimit)
        ]
    );
    assert_eq!(planned.purchases.len(), 2);
}

#[test]
fn an_empty_wallet_is_a_refusal_for_insufficient_funds() {
    let p = purchase(PaymentMethod::Wallet, 199, 150, 49, 0);
    let wallet = Account::of(p.viewer_id.as_str(), Purpose::Wallet, p.price.currency());
    let mut loaded = Loaded::default();
    loaded.accounts.push(funded(wallet.clone(), 198));
    let jobs = [card_job(&p)];
    let planned = plan(&jobs, loaded).expect("plans");
    assert_eq!(
        planned.outcomes[0],
        Outcome::Refused(Refusal::InsufficientFunds { account: wallet.id })
    );
    assert!(planned.changes.transfers.is_empty());
}

#[test]
fn transfers_that_all_exist_are_a_replay() {
    let p = purchase(PaymentMethod::Card, 499, 425, 74, 0);
    let job = card_job(&p);
    let loaded = Loaded {
        accounts: job.accounts.iter().cloned().map(|a| funded(a, 0)).collect(),
        transfers: job.transfers.iter().cloned().map(|t| (t, false)).collect(),
        ..Loaded::default()
    };
    let jobs = [job];
    let planned = plan(&jobs, loaded).expect("plans");
    assert_eq!(planned.outcomes[0], Outcome::Replayed);
    assert!(planned.purchases.is_empty());
}

fn program(cap: i64) -> crate::MatchProgram {
    crate::MatchProgram {
        id: MatchProgramId::from_string("mp_1".into()),
        name: "match".into(),
        rate: money::Bps::new(10_000).expect("bps"),
        caps: vec![Money::new(cap, money::Currency::USD)],
        countries: Vec::new(),
        starts_at: time::macros::datetime!(2026-01-01 00:00 UTC),
        ends_at: time::macros::datetime!(2027-01-01 00:00 UTC),
        created_at: time::macros::datetime!(2026-01-01 00:00 UTC),
    }
}

#[test]
fn matching_stops_at_the_exact_cent_of_the_budget_and_the_cap() {
    let programs = [program(1_000)];
    let budget = rules::budget_account(&programs[0].id, money::Currency::USD);
    let creator = UserId::generate();
    let jobs: Vec<WriteJob> = (0..4)
        .map(|_| {
            let mut p = purchase(PaymentMethod::Card, 400, 400, 0, 0);
            p.creator_id = creator.clone();
            let matched = rules::match_for(&programs, &p, None);
            rules::purchase_job(&p, HOLD, matched, Vec::new(), None)
        })
        .collect();
    // Budget 700: 400, 300, then nothing (the cap of 1,000 is not reached).
    let mut loaded = Loaded::default();
    loaded.accounts.push(funded(budget.clone(), 700));
    let planned = plan(&jobs, loaded).expect("plans");
    let matched: Vec<i64> = planned
        .purchases
        .iter()
        .map(|p| p.match_amount.amount())
        .collect();
    assert_eq!(matched, [400, 300, 0, 0]);
    let holds: Vec<i64> = planned.holds.iter().map(|h| h.amount.amount()).collect();
    assert_eq!(holds, [800, 700, 400, 400]);
    assert_eq!(
        planned.match_usage,
        [(
            "mp_1".into(),
            creator.to_string(),
            money::Currency::USD,
            700
        )]
    );
    // With budget enough, the cap cuts: 300 of its 1,000 were used, 700 are left.
    let mut loaded = Loaded::default();
    loaded.accounts.push(funded(budget, 1_000_000));
    loaded.match_used.insert(
        ("mp_1".into(), creator.to_string(), money::Currency::USD),
        300,
    );
    let planned = plan(&jobs, loaded).expect("plans");
    let matched: Vec<i64> = planned
        .purchases
        .iter()
        .map(|p| p.match_amount.amount())
        .collect();
    assert_eq!(matched, [400, 300, 0, 0]);
}

#[test]
fn a_payout_takes_the_whole_spendable_balance_or_nothing_below_the_minimum() {
    let creator = UserId::generate();
    let c = money::Currency::USD;
    let available = Account::of(creator.as_str(), Purpose::CreatorAvailable, c);
    let job = |min| {
        rules::payout_job(
            &PayoutId::generate(),
            &creator,
            c,
            min,
            time::OffsetDateTime::UNIX_EPOCH,
        )
    };
    let mut loaded = Loaded::default();
    loaded.accounts.push(funded(available.clone(), 2_500));
    let jobs = [job(1_000), job(1)];
    let planned = plan(&jobs, loaded).expect("plans");
    assert_eq!(
        planned.outcomes,
        [Outcome::Applied, Outcome::Refused(Refusal::BelowMinimum)]
    );
    assert_eq!(planned.payouts[0].amount.amount(), 2_500);
    assert_eq!(planned.changes.transfers[0].kind, TransferKind::Pending);
}

#[test]
fn a_disputed_topup_drains_what_is_left_and_books_the_rest_as_a_loss() {
    let topup = Topup {
        id: TopupId::generate(),
        user_id: UserId::generate(),
        amount: Money::new(2_000, money::Currency::USD),
        processor_fee: Money::zero(money::Currency::USD),
        payment_id: "pi".into(),
        status: crate::TopupStatus::Succeeded,
        created_at: time::OffsetDateTime::UNIX_EPOCH,
    };
    let job = rules::topup_dispute_job(&topup, None, time::OffsetDateTime::UNIX_EPOCH);
    let mut loaded = Loaded::default();
    loaded
        .statuses
        .insert(RowRef::Topup(topup.id.clone()), "succeeded".into());
    let wallet = Account::of(
        topup.user_id.as_str(),
        Purpose::Wallet,
        money::Currency::USD,
    );
    loaded.accounts.push(funded(wallet, 1_200));
    let jobs = [job];
    let planned = plan(&jobs, loaded).expect("plans");
    let amounts: Vec<(Code, i64)> = planned
        .changes
        .transfers
        .iter()
        .map(|t| (t.code, t.amount))
        .collect();
    assert_eq!(
        amounts,
        [
            (Code::WALLET_TOPUP_CHARGEBACK, 1_200),
            (Code::TOPUP_CHARGEBACK_LOSS, 800)
        ]
    );
}

#[test]
fn a_refunded_topup_spent_in_part_leaves_a_debt_that_the_next_topups_pay_back_first() {
    let user = UserId::generate();
    let topup = |amount: i64| Topup {
        id: TopupId::generate(),
        user_id: user.clone(),
        amount: Money::new(amount, money::Currency::USD),
        processor_fee: Money::zero(money::Currency::USD),
        payment_id: "pi".into(),
        status: crate::TopupStatus::Succeeded,
        created_at: time::OffsetDateTime::UNIX_EPOCH,
    };
    let refunded = topup(2_000);
    let (second, third) = (topup(500), topup(1_000));
    let mut loaded = Loaded::default();
    loaded
        .statuses
        .insert(RowRef::Topup(refunded.id.clone()), "succeeded".into());
    // 1,200 left of the 2,000: 800 were spent.
    let wallet = Account::of(user.as_str(), Purpose::Wallet, money::Currency::USD);
    loaded.accounts.push(funded(wallet.clone(), 1_200));
    let jobs = [
        rules::topup_refund_job(&refunded, None, time::OffsetDateTime::UNIX_EPOCH),
        rules::topup_job(&second, None),
        rules::topup_job(&third, None),
    ];
    let planned = plan(&jobs, loaded).expect("plans");
    assert!(planned.outcomes.iter().all(|o| *o == Outcome::Applied));
    let amounts: Vec<(Code, i64)> = planned
        .changes
        .transfers
        .iter()
        .map(|t| (t.code, t.amount))
        .collect();
    // The 800 owed: 500 from the next top-up, the last 300 from the one after.
    assert_eq!(
        amounts,
        [
            (Code::WALLET_TOPUP_REFUND, 1_200),
            (Code::TOPUP_REFUND_DEBT, 800),
            (Code::WALLET_TOPUP, 500),
            (Code::WALLET_DEBT_REPAID, 500),
            (Code::WALLET_TOPUP, 1_000),
            (Code::WALLET_DEBT_REPAID, 300),
        ]
    );
    let net = |id: &ledger::AccountId| {
        planned
            .changes
            .deltas
            .iter()
            .find(|(a, _)| a == id)
            .map_or(0, |(_, d)| d.credits_posted - d.debits_posted)
    };
    let debt = ledger::AccountId::of(user.as_str(), Purpose::WalletDebt, money::Currency::USD);
    assert_eq!(net(&debt), 0, "the debt is paid back exactly");
    // The wallet: -1,200 refunded, +500 - 500, +1,000 - 300: 700 left of the 1,200 it held.
    assert_eq!(net(&wallet.id), -1_200 + 700);
}

#[test]
fn income_is_summed_per_owner_source_and_currency() {
    let mut a = purchase(PaymentMethod::Card, 499, 425, 74, 0);
    let b = purchase(PaymentMethod::Card, 199, 150, 49, 0);
    a.creator_id = b.creator_id.clone();
    let jobs = [card_job(&a), card_job(&b)];
    let planned = plan(&jobs, Loaded::default()).expect("plans");
    assert_eq!(
        planned.income,
        [(
            b.creator_id.to_string(),
            IncomeSource::Badges,
            money::Currency::USD,
            575
        )]
    );
}

/// A step of a random batch on one wallet.
#[derive(Debug, Clone)]
enum Step {
    Topup(i64),
    Buy(i64),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (1_i64..5_000).prop_map(Step::Topup),
        (1_i64..3_000).prop_map(Step::Buy),
    ]
}

proptest! {
    #[test]
    fn a_batch_never_overdraws_a_wallet_and_always_balances(
        start in 0_i64..5_000,
        steps in proptest::collection::vec(step(), 1..40),
    ) {
        let viewer = UserId::generate();
        let c = money::Currency::USD;
        let wallet = Account::of(viewer.as_str(), Purpose::Wallet, c);
        let mut loaded = Loaded::default();
        loaded.accounts.push(funded(wallet.clone(), start));
        let jobs: Vec<WriteJob> = steps.iter().map(|s| match s {
            Step::Topup(amount) => rules::topup_job(&Topup {
                id: TopupId::generate(),
                user_id: viewer.clone(),
                amount: Money::new(*amount, c),
                processor_fee: Money::zero(c),
                payment_id: "pi".into(),
                status: crate::TopupStatus::Succeeded,
                created_at: time::OffsetDateTime::UNIX_EPOCH,
            }, None),
            Step::Buy(price) => {
                let mut p = purchase(PaymentMethod::Wallet, *price, *price - price / 5, price / 5, 0);
                p.viewer_id = viewer.clone();
                p.live_id = LiveId::generate();
                card_job(&p)
            }
        }).collect();
        let planned = plan(&jobs, loaded).expect("a batch always balances");
        // Replay the decisions on a running balance: a purchase is refused exactly when
        // the wallet holds less than its price.
        let mut balance = start;
        for (s, outcome) in steps.iter().zip(&planned.outcomes) {
            match s {
                Step::Topup(amount) => {
                    prop_assert_eq!(outcome, &Outcome::Applied);
                    balance += amount;
                }
                Step::Buy(price) if *price <= balance => {
                    prop_assert_eq!(outcome, &Outcome::Applied);
                    balance -= price;
                }
                Step::Buy(_) => {
                    let refused =
                        matches!(outcome, Outcome::Refused(Refusal::InsufficientFunds { .. }));
                    prop_assert!(refused, "{:?}", outcome);
                }
            }
        }
        let delta = planned
            .changes
            .deltas
            .iter()
            .find(|(id, _)| *id == wallet.id)
            .map_or(0, |(_, d)| d.credits_posted - d.debits_posted);
        prop_assert_eq!(start + delta, balance);
        prop_assert!(balance >= 0);
    }

    #[test]
    fn matches_never_exceed_the_budget_nor_the_cap(
        budget in 0_i64..5_000,
        cap in 0_i64..5_000,
        shares in proptest::collection::vec(1_i64..2_000, 1..30),
    ) {
        let programs = [program(cap)];
        let creator = UserId::generate();
        let jobs: Vec<WriteJob> = shares.iter().map(|share| {
            let mut p = purchase(PaymentMethod::Card, *share, *share, 0, 0);
            p.creator_id = creator.clone();
            let matched = rules::match_for(&programs, &p, None);
            rules::purchase_job(&p, HOLD, matched, Vec::new(), None)
        }).collect();
        let mut loaded = Loaded::default();
        loaded.accounts.push(funded(rules::budget_account(&programs[0].id, money::Currency::USD), budget));
        let planned = plan(&jobs, loaded).expect("plans");
        let matched: i64 = planned.purchases.iter().map(|p| p.match_amount.amount()).sum();
        prop_assert!(matched <= budget.min(cap));
        // Matching stops only where the budget or the cap ran out.
        let wanted: i64 = shares.iter().sum();
        prop_assert_eq!(matched, wanted.min(budget).min(cap));
    }
}

mod shop_orders {
    use super::*;
    use crate::{OrderAttribution, ShopOrder, ShopOrderId};
    use money::Bps;

    const AT: OffsetDateTime = time::macros::datetime!(2026-12-03 12:00 UTC);

    /// An order of `quantity` units for `amount` at 10 %, attributed to a creator, with a
    /// 20 % platform fee.
    fn order(brand: &UserId, order_id: &str, quantity: u32, amount: i64) -> ShopOrder {
        let lines = vec![shop::Line {
            product_id: "prod_1".into(),
            quantity,
            returned: 0,
            amount: Money::new(amount, Currency::USD),
            commission_bps: Bps::new(1_000).expect("bps"),
            return_window_days: 30,
        }];
        let commission = shop::commission(&lines).expect("one currency");
        let (fee, share) = rules::commission_split(commission, Bps::new(2_000).expect("bps"));
        ShopOrder {
            id: ShopOrderId::generate(),
            order_id: order_id.into(),
            brand_id: brand.clone(),
            creator_id: Some(UserId::from_string("acc_creator".into())),
            attribution: OrderAttribution::Click,
            click_id: Some("clk_1".into()),
            link: Some("abc".into()),
            coupon: None,
            locks_at: shop::locks_at(AT, &lines),
            lines,
            commission,
            platform_fee: fee,
            creator_share: share,
            returns: 0,
            hold_id: None,
            ordered_at: AT,
            created_at: AT,
            updated_at: AT,
        }
    }

    fn wallet(brand: &UserId, amount: i64) -> Loaded {
        let mut loaded = Loaded::default();
        loaded.accounts.push(funded(
            Account::of(brand.as_str(), Purpose::Wallet, Currency::USD),
            amount,
        ));
        loaded
    }

    #[test]
    fn orders_that_exhaust_a_brand_s_wallet_are_refused_and_a_replayed_order_id_is_a_duplicate() {
        let brand = UserId::generate();
        // Commission 300 each (3,000 at 10 %); the wallet holds 700.
        let jobs = [
            rules::order_job(&order(&brand, "o-1", 1, 3_000), None),
            rules::order_job(&order(&brand, "o-2", 1, 3_000), None),
            rules::order_job(&order(&brand, "o-3", 1, 3_000), None),
            rules::order_job(&order(&brand, "o-1", 1, 3_000), None),
        ];
        let planned = plan(&jobs, wallet(&brand, 700)).expect("plans");
        assert_eq!(planned.outcomes[0], Outcome::Applied);
        assert_eq!(planned.outcomes[1], Outcome::Applied);
        assert!(matches!(
            planned.outcomes[2],
            Outcome::Refused(Refusal::InsufficientFunds { .. })
        ));
        assert!(matches!(&planned.outcomes[3], Outcome::Duplicate(r) if r.key == "o-1"));
        assert_eq!(planned.shop_orders.len(), 2);
        assert_eq!(planned.holds.len(), 2);
        assert_eq!(planned.holds[0].amount.amount(), 240);
        assert_eq!(planned.holds[0].source, IncomeSource::Commissions);
        assert_eq!(planned.holds[0].release_at, planned.shop_orders[0].locks_at);
        let commissions: i64 = planned
            .income
            .iter()
            .filter(|(_, s, _, _)| *s == IncomeSource::Commissions)
            .map(|(_, _, _, a)| a)
            .sum();
        assert_eq!(commissions, 480);
    }

    #[test]
    fn a_partial_then_a_full_return_gives_the_commission_back_to_the_wallet() {
        let brand = UserId::generate();
        let booked = order(&brand, "o-1", 3, 3_000);
        let first = rules::order_job(&booked, None);
        let mut loaded = wallet(&brand, 300);
        let planned = plan(std::slice::from_ref(&first), loaded).expect("plans");
        assert_eq!(planned.outcomes, [Outcome::Applied]);
        let booked = planned.shop_orders[0].clone();
        assert_eq!(booked.hold_id.as_deref(), Some(booked.id.as_str()));
        // One of three back: commission 200, fee 40 (in proportion), share 160.
        let mut lines = booked.lines.clone();
        shop::commission::record_return(&mut lines, "prod_1", 1).expect("one");
        let (partial, after) =
            rules::order_return_job(&booked, lines, AT, None).expect("one currency");
        assert_eq!(
            (
                after.commission.amount(),
                after.platform_fee.amount(),
                after.creator_share.amount()
            ),
            (200, 40, 160)
        );
        // The rest back: nothing left.
        let mut lines = after.lines.clone();
        shop::commission::record_return(&mut lines, "prod_1", 2).expect("two");
        let (full, last) = rules::order_return_job(&after, lines, AT, None).expect("one");
        assert_eq!(last.commission.amount(), 0);
        assert_eq!(last.status(AT), "reversed");
        assert_eq!(last.hold_id, None);
        loaded = wallet(&brand, 300);
        let jobs = [first, partial, full];
        let planned = plan(&jobs, loaded).expect("plans");
        assert_eq!(
            planned.outcomes,
            [Outcome::Applied, Outcome::Applied, Outcome::Applied]
        );
        // Every cent came back to the wallet.
        let back: i64 = planned
            .changes
            .transfers
            .iter()
            .filter(|t| t.credit.as_str().starts_with(brand.as_str()))
            .map(|t| t.amount)
            .sum();
        assert_eq!(back, 300);
        assert_eq!(planned.shop_order_changes.len(), 2);
        assert_eq!(
            planned.hold_statuses.len(),
            2,
            "each return replaced the hold"
        );
    }

    #[test]
    fn two_returns_with_one_number_book_once() {
        let brand = UserId::generate();
        let mut booked = order(&brand, "o-1", 2, 1_000);
        booked.hold_id = Some(booked.id.to_string());
        let mut lines = booked.lines.clone();
        shop::commission::record_return(&mut lines, "prod_1", 1).expect("one");
        let (a, _) = rules::order_return_job(&booked, lines.clone(), AT, None).expect("one");
        let (b, _) = rules::order_return_job(&booked, lines, AT, None).expect("one");
        let mut loaded = Loaded::default();
        loaded.statuses.insert(
            RowRef::Hold(booked.id.to_string()),
            HoldStatus::Held.as_str().into(),
        );
        loaded.accounts.push(funded(
            Account::of("acc_creator", Purpose::CreatorPending, Currency::USD),
            80,
        ));
        loaded.accounts.push(funded(
            Account::of(PLATFORM_OWNER, Purpose::PlatformFees, Currency::USD),
            20,
        ));
        let jobs = [a, b];
        let planned = plan(&jobs, loaded).expect("plans");
        assert_eq!(planned.outcomes[0], Outcome::Applied);
        assert!(matches!(planned.outcomes[1], Outcome::Duplicate(_)));
    }

    const PLATFORM_OWNER: &str = crate::PLATFORM;
}

fn new_attempt(key: &str, reference: &str) -> crate::PaymentAttempt {
    let now = OffsetDateTime::now_utc();
    crate::PaymentAttempt {
        key: key.into(),
        kind: crate::AttemptKind::Purchase,
        reference: reference.into(),
        account_id: "acc_1".into(),
        idempotency_key: Some("k".into()),
        fingerprint: "f".into(),
        order: "{}".into(),
        amount: Money::new(499, Currency::USD),
        status: crate::AttemptStatus::Pending,
        payment_id: None,
        created_at: now,
        updated_at: now,
    }
}

fn charge_of(attempt: &crate::PaymentAttempt, id: &str) -> crate::SandboxCharge {
    crate::SandboxCharge {
        id: id.into(),
        idempotency_key: attempt.key.clone(),
        amount: attempt.amount,
        payment_method: "pm_card_visa".into(),
        status: "succeeded".into(),
        reference: attempt.reference.clone(),
        answered: true,
        created_at: attempt.created_at,
        updated_at: attempt.created_at,
    }
}

#[test]
fn an_attempt_charged_with_its_booking_is_new_once_per_key_and_seen_booked_after() {
    let (a, b) = (
        purchase(PaymentMethod::Card, 499, 425, 74, 0),
        purchase(PaymentMethod::Card, 499, 425, 74, 0),
    );
    let (first, second) = (
        new_attempt("pk", a.id.as_str()),
        new_attempt("pk", b.id.as_str()),
    );
    let now = OffsetDateTime::now_utc();
    let jobs = [
        rules::charged_with(card_job(&a), &first, &charge_of(&first, "pi_a"), now),
        rules::charged_with(card_job(&b), &second, &charge_of(&second, "pi_b"), now),
        WriteJob {
            guards: vec![Guard::attempt("pk", crate::AttemptStatus::Booked)],
            ..WriteJob::default()
        },
    ];
    let planned = plan(&jobs, Loaded::default()).expect("plans");
    assert_eq!(
        planned.outcomes,
        [
            Outcome::Applied,
            Outcome::Refused(Refusal::Status(RowRef::Attempt("pk".into()))),
            Outcome::Applied,
        ]
    );
    assert!(planned.attempts.is_empty());
    let recorded: Vec<_> = planned
        .new_attempts
        .iter()
        .map(|a| (a.reference.as_str(), a.status, a.payment_id.as_deref()))
        .collect();
    assert_eq!(
        recorded,
        [(a.id.as_str(), crate::AttemptStatus::Booked, Some("pi_a"))]
    );
    let charged: Vec<&str> = planned.charges.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(charged, ["pi_a"]);
    assert_eq!(planned.purchases.len(), 1);

    // A key whose attempt is stored (a request recorded the long way) charges nothing.
    let mut loaded = Loaded::default();
    loaded
        .statuses
        .insert(RowRef::Attempt("pk".into()), "pending".into());
    let planned = plan(&jobs[..1], loaded).expect("plans");
    assert_eq!(
        planned.outcomes,
        [Outcome::Refused(Refusal::Status(RowRef::Attempt(
            "pk".into()
        )))]
    );
    assert!(planned.charges.is_empty() && planned.new_attempts.is_empty());
}

#[test]
fn a_later_job_of_the_batch_sees_the_attempt_that_stays_where_one_was_recorded() {
    let pending = crate::AttemptStatus::Pending;
    let jobs = [
        rules::attempt_job(&new_attempt("pk", "pur_1")),
        WriteJob {
            guards: vec![Guard::attempt("pk", pending)],
            ..WriteJob::default()
        },
    ];
    let planned = plan(&jobs, Loaded::default()).expect("plans");
    assert_eq!(planned.outcomes, [Outcome::Applied, Outcome::Applied]);
    assert_eq!(planned.attempts.len(), 1);
    // One stored already, booked: it stays, and the guard sees it.
    let mut loaded = Loaded::default();
    loaded
        .statuses
        .insert(RowRef::Attempt("pk".into()), "booked".into());
    let planned = plan(&jobs, loaded).expect("plans");
    assert_eq!(
        planned.outcomes[1],
        Outcome::Refused(Refusal::Status(RowRef::Attempt("pk".into())))
    );
}
