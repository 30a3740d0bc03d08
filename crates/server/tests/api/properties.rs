//! A property test of the whole money lifecycle: random sequences of top-ups, card and wallet
//! purchases (matched from a small budget), refunds, chargebacks, releases, payout runs and
//! failed payouts, through the real server; after every step the ledger audit must pass (every
//! stored balance is the sum of its transfers, debits equal credits per currency, no balance
//! rule broken — wallets and the match budget never below zero —, held income equals pending
//! balances, payouts equal what the accounts have pending and paid out, match usage equals the
//! standing matches), and no wallet, budget or paid-out balance reads negative.

use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Value, json};
use testkit::conformance;

use crate::common::{ADMIN, TestApp, User, amounts, event, spawn_app_with, string};

#[derive(Debug, Clone)]
enum Op {
    TopUp {
        viewer: usize,
        amount: i64,
    },
    Buy {
        viewer: usize,
        creator: usize,
        tier: i64,
        wallet: bool,
    },
    Refund {
        pick: usize,
    },
    Dispute {
        pick: usize,
    },
    Release,
    PayoutRun,
    PayoutFails {
        pick: usize,
    },
    PayoutPaid {
        pick: usize,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        1 => (0..3_usize, 100..1_500_i64).prop_map(|(viewer, amount)| Op::TopUp { viewer, amount }),
        4 => (0..3_usize, 0..2_usize, 1..=3_i64, any::<bool>())
            .prop_map(|(viewer, creator, tier, wallet)| Op::Buy { viewer, creator, tier, wallet }),
        1 => any::<usize>().prop_map(|pick| Op::Refund { pick }),
        1 => any::<usize>().prop_map(|pick| Op::Dispute { pick }),
        2 => Just(Op::Release),
        2 => Just(Op::PayoutRun),
        2 => any::<usize>().prop_map(|pick| Op::PayoutFails { pick }),
        1 => any::<usize>().prop_map(|pick| Op::PayoutPaid { pick }),
    ]
}

/// What the sequences did, over all cases: the test fails if they never reached a part of
/// the lifecycle (it would then prove nothing about it).
#[derive(Debug, Default)]
struct Reached {
    wallet_purchases: AtomicU64,
    refunds: AtomicU64,
    chargebacks: AtomicU64,
    releases: AtomicU64,
    payouts: AtomicU64,
    failed_payouts: AtomicU64,
    matched: AtomicU64,
}

impl Reached {
    fn all(&self) -> bool {
        [
            &self.wallet_purchases,
            &self.refunds,
            &self.chargebacks,
            &self.releases,
            &self.payouts,
            &self.failed_payouts,
            &self.matched,
        ]
        .iter()
        .all(|c| c.load(Relaxed) > 0)
    }
}

struct World<'r> {
    reached: &'r Reached,
    app: TestApp,
    creators: Vec<User>,
    viewers: Vec<User>,
    lives: Vec<String>,
    purchases: Vec<String>,
    events: usize,
}

async fn world(reached: &Reached) -> World<'_> {
    let app = spawn_app_with(|c| {
        c.hold_period = Duration::ZERO;
        c.release_interval = None;
        c.payout_minimum_major = 1;
        c.platform_fee = money::Bps::new(2_000).expect("20 %");
        c.processor_fee_bps = money::Bps::new(290).expect("2.9 %");
        c.processor_fee_fixed.insert(money::Currency::USD, 30);
        // The sandbox's own webhooks come after the case: the sequence itself says when a
        // payout is paid or fails.
        c.sandbox_webhook_delay = Duration::from_secs(60);
    })
    .await;
    let ends = (time::OffsetDateTime::now_utc() + time::Duration::days(1))
        .format(&time::format_description::well_known::Rfc3339)
        .expect("formats");
    let (status, body) = app
        .post(
            "/v1/match-programs",
            Some(ADMIN),
            &json!({"name": "p", "rate_bps": 5000, "caps": [{"amount": 300, "currency": "USD"}],
                    "ends_at": ends, "budget": [{"amount": 500, "currency": "USD"}]}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let mut creators = Vec::new();
    let mut lives = Vec::new();
    for i in 0..2 {
        let c = app.creator(&format!("creator{i}")).await;
        lives.push(app.start_live(&c.token, "live").await);
        creators.push(c);
    }
    let mut viewers = Vec::new();
    for i in 0..3 {
        viewers.push(app.viewer(&format!("viewer{i}"), "US").await);
    }
    World {
        reached,
        app,
        creators,
        viewers,
        lives,
        purchases: Vec::new(),
        events: 0,
    }
}

impl World<'_> {
    async fn step(&mut self, op: &Op) {
        let app = &self.app;
        match op {
            Op::TopUp { viewer, amount } => {
                let (status, body) = app
                    .request(
                        reqwest::Method::POST,
                        "/v1/wallet/topups",
                        Some(&self.viewers[*viewer].token),
                        None,
                        Some(json!({"amount": {"amount": amount, "currency": "USD"}, "payment_method": "pm_card_visa"}).to_string()),
                    )
                    .await;
                assert_eq!(status, 201, "{body}");
            }
            Op::Buy {
                viewer,
                creator,
                tier,
                wallet,
            } => {
                let pm = if *wallet { "wallet" } else { "pm_card_visa" };
                let (status, body) = app
                    .buy(
                        &self.viewers[*viewer].token,
                        &self.lives[*creator],
                        *tier,
                        pm,
                        None,
                    )
                    .await;
                match status {
                    201 => {
                        let id = string(&body, "id").to_owned();
                        if *wallet {
                            self.reached.wallet_purchases.fetch_add(1, Relaxed);
                        }
                        if app.stored_purchase(&id).await.match_amount.is_positive() {
                            self.reached.matched.fetch_add(1, Relaxed);
                        }
                        self.purchases.push(id);
                    }
                    402 if *wallet => {
                        assert_eq!(body["error"]["code"], json!("insufficient_funds"));
                    }
                    _ => panic!("buying answered {status}: {body}"),
                }
            }
            Op::Refund { pick } => {
                if let Some(id) = pick_of(&self.purchases, *pick) {
                    let (status, body) = app.refund(ADMIN, id, None).await;
                    assert!(
                        matches!(status, 200 | 409),
                        "refund answered {status}: {body}"
                    );
                    if status == 200 {
                        self.reached.refunds.fetch_add(1, Relaxed);
                    }
                }
            }
            Op::Dispute { pick } => {
                if let Some(id) = pick_of(&self.purchases, *pick) {
                    let stored = app.stored_purchase(id).await;
                    if stored.payment_method == store::PaymentMethod::Card {
                        self.events += 1;
                        let e = event(
                            &format!("evt_prop_{}", self.events),
                            "charge.dispute.created",
                            json!({"id": "dp_p", "object": "dispute", "payment_intent": stored.payment_id,
                                   "amount": stored.price.amount(), "currency": "usd"}),
                        );
                        let (status, body, _) = app.webhook(&e).await;
                        assert_eq!(status, 200, "{body}");
                        if body["result"] == json!("charged_back") {
                            self.reached.chargebacks.fetch_add(1, Relaxed);
                        }
                    }
                }
            }
            Op::Release => {
                let report = app.release().await;
                let holds = report["holds"].as_u64().expect("n");
                self.reached.releases.fetch_add(holds, Relaxed);
            }
            Op::PayoutRun => {
                let (status, body) = app.post_empty("/v1/payouts/run", Some(ADMIN)).await;
                assert_eq!(status, 200, "{body}");
                let n = body["payouts"].as_u64().expect("n");
                self.reached.payouts.fetch_add(n, Relaxed);
            }
            Op::PayoutFails { pick } | Op::PayoutPaid { pick } => {
                let fails = matches!(op, Op::PayoutFails { .. });
                let creator = &self.creators[pick % self.creators.len()];
                let (_, list) = app
                    .get(&format!("/v1/creators/{}/payouts", creator.id), Some(ADMIN))
                    .await;
                let pending: Vec<&Value> = list["data"]
                    .as_array()
                    .expect("data")
                    .iter()
                    .filter(|p| p["status"] == json!("pending"))
                    .collect();
                if let Some(p) = pending.first() {
                    self.events += 1;
                    let (kind, status) = if fails {
                        ("payout.failed", "failed")
                    } else {
                        ("payout.paid", "paid")
                    };
                    let e = event(
                        &format!("evt_prop_{}", self.events),
                        kind,
                        json!({"id": p["provider_id"], "object": "payout", "status": status,
                               "failure_message": "closed", "metadata": {"ovation_payout": p["id"]}}),
                    );
                    let (code, body, _) = app.webhook(&e).await;
                    assert_eq!(code, 200, "{body}");
                    assert_eq!(body["result"], json!(status), "{body}");
                    if fails {
                        self.reached.failed_payouts.fetch_add(1, Relaxed);
                    }
                }
            }
        }
    }

    async fn check(&self, after: &Op) {
        let app = &self.app;
        let (status, report) = app.get("/v1/ledger/verify", Some(ADMIN)).await;
        assert_eq!(status, 200);
        assert_eq!(report["ok"], json!(true), "after {after:?}: {report}");
        for v in &self.viewers {
            let (_, wallet) = app.get("/v1/wallet", Some(&v.token)).await;
            let balance = wallet["balances"][0]["amount"].as_i64().expect("n");
            assert!(balance >= 0, "after {after:?}: {wallet}");
        }
        for c in &self.creators {
            let (_, payouts) = app
                .get(
                    &format!("/v1/creators/{}/payouts?limit=500", c.id),
                    Some(ADMIN),
                )
                .await;
            let sum_of = |status: &str| -> i64 {
                payouts["data"]
                    .as_array()
                    .expect("data")
                    .iter()
                    .filter(|p| p["status"] == json!(status))
                    .map(|p| p["amount"]["amount"].as_i64().expect("n"))
                    .sum()
            };
            let (in_flight, paid_payouts) = (sum_of("pending"), sum_of("paid"));
            // Every cent a creator earned (net of reversals) is pending, available, on its way
            // to the bank, or paid out.
            let earnings = app.earnings_of(&c.id).await;
            let (pending, available, paid) = amounts(&earnings, "USD");
            assert!(pending >= 0 && paid >= 0, "after {after:?}: {earnings}");
            assert_eq!(paid, paid_payouts, "after {after:?}: {earnings} {payouts}");
            let earned: i64 = earnings["by_source"]
                .as_array()
                .expect("by_source")
                .iter()
                .map(|s| s["total"]["amount"].as_i64().expect("n"))
                .sum();
            assert_eq!(
                pending + available + in_flight + paid,
                earned,
                "after {after:?}: {earnings} {payouts}"
            );
            // Nothing is paid out that was not released first; the statement reconciles.
            let statement = app.statement_reconciles(&c.id).await;
            let released = statement["currencies"][0]["totals"]["released"]["amount"]
                .as_i64()
                .unwrap_or(0);
            assert!(
                in_flight + paid <= released,
                "after {after:?}: paid {} of {released} released",
                in_flight + paid
            );
        }
        let (_, programs) = app.get("/v1/match-programs", Some(ADMIN)).await;
        let budget = &programs["data"][0]["budgets"][0];
        assert!(
            budget["remaining"]["amount"].as_i64().expect("n") >= 0,
            "{budget}"
        );
        assert!(
            budget["matched"]["amount"].as_i64().expect("n") <= 500,
            "{budget}"
        );
    }
}

fn pick_of(list: &[String], pick: usize) -> Option<&str> {
    (!list.is_empty()).then(|| list[pick % list.len()].as_str())
}

#[conformance(flavor = "multi_thread", worker_threads = 2)]
async fn money_is_conserved_and_every_rule_holds_after_every_step() {
    let handle = tokio::runtime::Handle::current();
    let reached = Reached::default();
    // Random sequences, in rounds, until every part of the lifecycle was reached (a round
    // rarely misses one; five in a row missing it would mean the generator cannot reach it).
    for _round in 0..5 {
        let mut runner = TestRunner::new(Config {
            cases: 8,
            max_shrink_iters: 16,
            failure_persistence: None,
            ..Config::default()
        });
        let result = runner.run(&prop::collection::vec(op(), 10..40), |ops| {
            tokio::task::block_in_place(|| {
                handle.block_on(async {
                    let mut world = world(&reached).await;
                    for op in &ops {
                        world.step(op).await;
                        world.check(op).await;
                    }
                });
            });
            Ok(())
        });
        if let Err(e) = result {
            panic!("{e}");
        }
        if reached.all() {
            break;
        }
    }
    assert!(
        reached.all(),
        "the sequences never reached part of the lifecycle: {reached:?}"
    );
}
