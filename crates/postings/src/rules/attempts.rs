//! Card payment attempts: recorded before the provider is called, then settled exactly once
//! — booked with what they pay for, or declined, refunded, abandoned. Each settlement is
//! guarded by the status it was read in, so that the request, the provider's webhook and the
//! reconciler, racing on one attempt, settle it once.
//!
//! A provider whose records are the store's own (the sandbox) can do it in one step: the
//! attempt, its charge and the booking written by one job ([`charged_with`]), so that none
//! of them is ever there without the others.

use time::OffsetDateTime;

use crate::{
    AttemptStatus, Effect, Guard, IdempotencyRecord, PaymentAttempt, SandboxCharge, WriteJob,
};

/// The job recording `attempt` (unless its key is stored already: a retry's).
pub fn attempt_job(attempt: &PaymentAttempt) -> WriteJob {
    WriteJob {
        effects: vec![Effect::InsertAttempt(Box::new(attempt.clone()))],
        ..WriteJob::default()
    }
}

/// `booking` (the job of the purchase or top-up the attempt pays for) made to settle the
/// attempt too: applied only while the attempt is as it was read, and marking it booked with
/// the provider's payment.
pub fn booked_with(
    booking: WriteJob,
    attempt: &PaymentAttempt,
    payment_id: &str,
    at: OffsetDateTime,
) -> WriteJob {
    let mut job = booking;
    job.guards
        .push(Guard::attempt(&attempt.key, attempt.status));
    job.effects.push(Effect::SetAttempt {
        key: attempt.key.clone(),
        status: AttemptStatus::Booked,
        payment_id: Some(payment_id.to_owned()),
        at,
    });
    job
}

/// The job moving `attempt` from the status it was read in to `status` without booking
/// anything (declined, processing, refunded, abandoned), with the answer to store under the
/// caller's key, if any.
pub fn attempt_settled_job(
    attempt: &PaymentAttempt,
    status: AttemptStatus,
    payment_id: Option<String>,
    answer: Option<IdempotencyRecord>,
    at: OffsetDateTime,
) -> WriteJob {
    WriteJob {
        idempotency: answer,
        guards: vec![Guard::attempt(&attempt.key, attempt.status)],
        effects: vec![Effect::SetAttempt {
            key: attempt.key.clone(),
            status,
            payment_id,
            at,
        }],
        ..WriteJob::default()
    }
}

/// `booking` (the job of the purchase or top-up `attempt` pays for) made to record the new
/// attempt, already booked, and the sandbox's `charge` of it: the three commit together or
/// not at all. Applied only while no attempt has the key (a retry of a request whose attempt
/// is recorded goes the long way, through the recorded attempt); refused, nothing is charged.
pub fn charged_with(
    booking: WriteJob,
    attempt: &PaymentAttempt,
    charge: &SandboxCharge,
    at: OffsetDateTime,
) -> WriteJob {
    let mut job = booking;
    job.guards.push(Guard::no_attempt(&attempt.key));
    job.effects
        .push(Effect::InsertAttempt(Box::new(PaymentAttempt {
            status: AttemptStatus::Booked,
            payment_id: Some(charge.id.clone()),
            updated_at: at,
            ..attempt.clone()
        })));
    job.effects
        .push(Effect::InsertCharge(Box::new(charge.clone())));
    job
}
