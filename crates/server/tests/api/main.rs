//! End-to-end tests of the HTTP API (API.md): the real server on port 0, a fresh database
//! per test, plain HTTP and WebSocket clients. One binary, so that it links once.

#[path = "../common/mod.rs"]
mod common;

mod accounts;
mod authz;
mod badges;
mod demo;
mod edge;
mod errors;
mod events;
mod health;
mod idempotency;
mod income;
mod input;
mod ledger;
mod lifecycle;
mod limits;
mod lives;
mod market;
mod matching;
mod pages;
mod payments;
mod payouts;
mod properties;
mod purchases;
mod shop;
mod stripe;
mod tokens;
mod wallet;
mod webhooks;
