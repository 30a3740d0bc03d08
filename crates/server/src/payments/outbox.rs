//! The sandbox's outgoing webhooks: queued when a charge, refund or payout happens, each
//! sent when due, retried with backoff until the receiver takes it. What receives them is
//! the caller's: `serve` and `ovation payouts run` apply them to the ledger in the process
//! (`flows::events`, the code the webhook route hands a processor's events to).

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::{Semaphore, mpsc, watch};

/// Times one webhook is tried, doubling the wait from one second.
const ATTEMPTS: u32 = 8;

/// Webhooks being delivered at once.
const IN_FLIGHT: usize = 64;

/// A webhook the sandbox wants delivered, not before `due`.
#[derive(Debug)]
pub struct Outgoing {
    /// When to send it.
    pub due: Instant,
    /// The event, Stripe-shaped.
    pub event: Value,
}

/// The count of webhooks queued or being delivered.
#[derive(Debug, Clone, Default)]
pub struct Undelivered(Arc<AtomicUsize>);

impl Undelivered {
    pub(crate) fn add(&self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }

    pub(crate) fn done(&self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }

    /// How many there are now.
    pub fn count(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }

    /// Waits until every queued webhook is delivered (or given up), at most `patience`.
    pub async fn settled(&self, patience: Duration) -> bool {
        let until = tokio::time::Instant::now() + patience;
        while self.count() > 0 {
            if tokio::time::Instant::now() >= until {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        true
    }
}

/// Lowers the count when a delivery ends, however it ends.
struct Delivered(Undelivered);

impl Drop for Delivered {
    fn drop(&mut self) {
        self.0.done();
    }
}

/// The receiving end of a sandbox's webhooks.
#[derive(Debug)]
pub struct Outbox {
    pub(crate) receiver: mpsc::Receiver<Outgoing>,
    pub(crate) undelivered: Undelivered,
}

impl Outbox {
    /// The count of webhooks not delivered yet.
    pub fn undelivered(&self) -> Undelivered {
        self.undelivered.clone()
    }

    /// Delivers every webhook when due with `deliver` (given the event's JSON text; `true`
    /// when it was taken), retrying with backoff, until `stopping` turns true (what is still
    /// queued then is dropped: a processor's webhooks are at-least-once).
    pub fn spawn<F, Fut>(mut self, mut stopping: watch::Receiver<bool>, deliver: F)
    where
        F: Fn(String) -> Fut + Clone + Send + Sync + 'static,
        Fut: Future<Output = bool> + Send,
    {
        tokio::spawn(async move {
            let in_flight = Arc::new(Semaphore::new(IN_FLIGHT));
            loop {
                let next = tokio::select! {
                    _ = stopping.wait_for(|stop| *stop) => return,
                    next = self.receiver.recv() => next,
                };
                let Some(outgoing) = next else { return };
                tokio::time::sleep_until(outgoing.due.into()).await;
                let Ok(permit) = in_flight.clone().acquire_owned().await else {
                    return;
                };
                let delivered = Delivered(self.undelivered.clone());
                let (deliver, stopping) = (deliver.clone(), stopping.clone());
                tokio::spawn(async move {
                    let _permit = permit;
                    let _delivered = delivered;
                    let body = outgoing.event.to_string();
                    let mut wait = Duration::from_secs(1);
                    for attempt in 1..=ATTEMPTS {
                        if *stopping.borrow() {
                            return;
                        }
                        if deliver(body.clone()).await {
                            return;
                        }
                        tracing::debug!(attempt, "sandbox webhook not taken; retrying");
                        tokio::time::sleep(wait).await;
                        wait *= 2;
                    }
                    tracing::warn!(event = %outgoing.event["id"], "sandbox webhook given up after {ATTEMPTS} attempts");
                });
            }
        });
    }
}
