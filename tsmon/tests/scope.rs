//! A State follows its futures across the threads of a multi-thread runtime.

use tsmon::State;
use tsmon::state::WithState;
use tsmon::store::{Snapshot, Value};

tsmon::metric! {
    /// Written by spawned tasks.
    static SPAWNED: Counter = "test/scope/spawned";
}

#[tsmon::instrument]
async fn step(i: u64) -> u64 {
    tokio::task::yield_now().await;
    i + 1
}

fn int(snap: &Snapshot, metric: &str, values: &[tsmon::field::FieldValue<'_>]) -> i64 {
    match snap
        .metric(metric)
        .and_then(|m| m.find(values))
        .map(|c| c.value())
    {
        Some(Value::Int(n)) => *n,
        None => 0,
        other => panic!("{metric}: {other:?}"),
    }
}

fn step_calls(snap: &Snapshot) -> i64 {
    use tsmon::field::FieldValue::Str;
    int(
        snap,
        "function/calls",
        &[Str("step"), Str("scope"), Str("ok")],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_scoped_future_and_what_it_spawns_record_into_its_state_on_every_worker() {
    let state = State::builder().build().unwrap();
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            tokio::spawn(state.scope(async move {
                for _ in 0..20 {
                    SPAWNED.inc(());
                    step(i).await;
                    tokio::task::yield_now().await;
                }
                // A task spawned from inside follows the State it is spawned in.
                tokio::spawn(async { SPAWNED.inc(()) }.with_current_state())
                    .await
                    .unwrap();
            }))
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let snap = state.snapshot();
    assert_eq!(int(&snap, "test/scope/spawned", &[]), 16 * 21);
    assert_eq!(step_calls(&snap), 16 * 20);
    let global = State::global().snapshot();
    assert_eq!(
        int(&global, "test/scope/spawned", &[]),
        0,
        "nothing leaked to the global State"
    );
    assert_eq!(step_calls(&global), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_scope_alone_does_not_reach_a_spawned_task() {
    // The documented limit that `scope` lifts: a thread-local entry stays on its thread.
    let state = State::builder().build().unwrap();
    let spawned = state.in_scope(|| tokio::spawn(async { State::current() }));
    let seen = spawned.await.unwrap();
    assert!(!seen.ptr_eq(&state));
    let scoped = tokio::spawn(state.scope(async { State::current() }));
    assert!(scoped.await.unwrap().ptr_eq(&state));
}
