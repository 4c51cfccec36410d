//! `#[tsmon::instrument]`: where it works and what it records, read back from snapshots.

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use tsmon::State;
use tsmon::field::FieldValue::{Bool, Int, Str};
use tsmon::instrument::{Classify, Outcome};
use tsmon::store::{Snapshot, Value};

const MODULE: &str = module_path!();

fn int(snap: &Snapshot, metric: &str, values: &[tsmon::field::FieldValue<'_>]) -> Option<i64> {
    match snap.metric(metric)?.find(values)?.value() {
        Value::Int(n) => Some(*n),
        other => panic!("{metric}: not an int: {other:?}"),
    }
}

/// The call count of `function` (in this file's module unless `module` says otherwise).
fn calls_in(snap: &Snapshot, module: &str, function: &str, outcome: Outcome) -> i64 {
    int(
        snap,
        "function/calls",
        &[Str(function), Str(module), Str(outcome.as_str())],
    )
    .unwrap_or_else(|| panic!("no call series for {module}::{function} {outcome}"))
}

fn calls(snap: &Snapshot, function: &str, outcome: Outcome) -> i64 {
    calls_in(snap, MODULE, function, outcome)
}

/// All four outcome counts of `function`: ok, error, panic, cancelled.
fn outcomes(snap: &Snapshot, function: &str) -> [i64; 4] {
    Outcome::ALL.map(|o| calls(snap, function, o))
}

fn in_flight(snap: &Snapshot, function: &str) -> i64 {
    int(snap, "function/in_flight", &[Str(function), Str(MODULE)])
        .unwrap_or_else(|| panic!("no in-flight series for {function}"))
}

fn duration(snap: &Snapshot, function: &str) -> tsmon::distribution::Distribution {
    let cell = snap
        .metric("function/durations")
        .and_then(|m| m.find(&[Str(function), Str(MODULE)]))
        .unwrap_or_else(|| panic!("no duration series for {function}"));
    match cell.value() {
        Value::Distribution(d) => d.clone(),
        other => panic!("not a distribution: {other:?}"),
    }
}

/// Polls a future to completion on this thread (the futures here never wait on anything).
fn block_on<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

/// A future that is pending once, then ready.
async fn yield_once() {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if yielded {
            Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    })
    .await;
}

// ---- sync fns ----

#[tsmon::instrument]
fn parse(s: &str) -> Result<i64, std::num::ParseIntError> {
    s.parse()
}

#[tsmon::instrument]
fn parse_twice(a: &str, b: &str) -> Result<i64, std::num::ParseIntError> {
    if a.is_empty() {
        return Ok(0);
    }
    let x: i64 = a.parse()?;
    let y: i64 = b.parse()?;
    Ok(x + y)
}

#[tsmon::instrument]
fn plain(x: u32) -> u32 {
    x * 2
}

#[test]
fn results_are_classified_by_variant_and_early_exits_count() {
    let state = State::builder().build().unwrap();
    state.in_scope(|| {
        assert_eq!(parse("7"), Ok(7));
        assert!(parse("x").is_err());
        assert_eq!(parse_twice("", "y"), Ok(0)); // an early `return Ok`
        assert!(parse_twice("z", "1").is_err()); // `?` on the first parse
        assert!(parse_twice("1", "z").is_err()); // `?` on the second
        assert_eq!(parse_twice("1", "2"), Ok(3));
        assert_eq!(plain(4), 8);
    });
    let snap = state.snapshot();
    assert_eq!(outcomes(&snap, "parse"), [1, 1, 0, 0]);
    assert_eq!(outcomes(&snap, "parse_twice"), [2, 2, 0, 0]);
    assert_eq!(outcomes(&snap, "plain"), [1, 0, 0, 0]);
    assert_eq!(duration(&snap, "parse_twice").count(), 4);
    assert_eq!(in_flight(&snap, "parse_twice"), 0);
}

#[test]
fn series_exist_at_zero_before_any_call() {
    let state = State::builder().build().unwrap();
    let snap = state.snapshot();
    assert_eq!(outcomes(&snap, "never_called"), [0; 4]);
    assert_eq!(in_flight(&snap, "never_called"), 0);
    assert_eq!(duration(&snap, "never_called").count(), 0);
    let text = state.encode(tsmon::exposition::Format::Text);
    assert!(
        text.lines().any(|l| l.starts_with("function_calls_total{")
            && l.contains(r#"function="never_called""#)
            && l.contains(r#"outcome="cancelled""#)
            && l.ends_with(" 0")),
        "{text}"
    );
}

#[tsmon::instrument]
fn never_called() {}

#[tsmon::instrument]
fn explode(really: bool) -> u8 {
    assert!(!really, "boom");
    1
}

#[test]
fn a_panic_is_counted_and_keeps_unwinding() {
    let state = State::builder().build().unwrap();
    let _g = state.enter();
    let caught = catch_unwind(|| explode(true));
    assert!(caught.is_err(), "the panic must reach the caller");
    assert_eq!(explode(false), 1);
    let snap = state.snapshot();
    assert_eq!(outcomes(&snap, "explode"), [1, 0, 1, 0]);
    assert_eq!(in_flight(&snap, "explode"), 0);
    assert_eq!(duration(&snap, "explode").count(), 2);
}

#[tsmon::instrument]
fn slow() {
    // The workload being measured, not a wait for something.
    std::thread::sleep(std::time::Duration::from_millis(20));
}

#[test]
fn durations_are_in_seconds() {
    let state = State::builder().build().unwrap();
    state.in_scope(slow);
    let d = duration(&state.snapshot(), "slow");
    assert_eq!(d.count(), 1);
    assert!(d.sum() >= 0.020 && d.sum() < 10.0, "sum {}", d.sum());
    // 20 ms is in the bucket [16.384 ms, 32.768 ms) of the powers of two from 1 µs.
    let b = d.bucketer();
    let i = d.buckets().iter().position(|&n| n == 1).unwrap();
    assert!(b.lower_bound(i) <= d.sum() && d.sum() < b.upper_bound(i));
}

// ---- custom classification ----

struct Reply {
    status: u16,
}

impl Classify for Reply {
    fn classify(&self) -> Outcome {
        if self.status >= 500 {
            Outcome::Error
        } else {
            Outcome::Ok
        }
    }
}

#[tsmon::instrument]
fn reply(status: u16) -> Reply {
    Reply { status }
}

/// A type of "another crate": classified by a function instead of the trait.
struct Status(i32);

fn grpc_outcome(s: &Status) -> Outcome {
    if s.0 == 0 {
        Outcome::Ok
    } else {
        Outcome::Error
    }
}

#[tsmon::instrument(classify = grpc_outcome)]
fn rpc(code: i32) -> Status {
    Status(code)
}

#[tsmon::instrument(classify = |r: &Result<u8, u8>| if matches!(r, Err(0)) { Outcome::Ok } else { r.classify() })]
fn lenient(r: Result<u8, u8>) -> Result<u8, u8> {
    r
}

#[test]
fn user_types_are_classified_by_the_trait_or_a_function() {
    let state = State::builder().build().unwrap();
    state.in_scope(|| {
        assert_eq!(reply(200).status, 200);
        reply(503);
        reply(404);
        assert_eq!(rpc(0).0, 0);
        rpc(14);
        let _ = lenient(Err(0));
        let _ = lenient(Err(1));
    });
    let snap = state.snapshot();
    assert_eq!(outcomes(&snap, "reply"), [2, 1, 0, 0]);
    assert_eq!(outcomes(&snap, "rpc"), [1, 1, 0, 0]);
    assert_eq!(outcomes(&snap, "lenient"), [1, 1, 0, 0]);
}

// ---- async fns ----

#[tsmon::instrument]
async fn fetch(id: u32) -> Result<String, String> {
    yield_once().await;
    if id == 0 {
        return Err("no such item".into());
    }
    let n: u32 = format!("{id}").parse().map_err(|_| "bad".to_owned())?;
    Ok(format!("item {n}"))
}

#[tsmon::instrument]
async fn fetch_or_panic(fail: bool) -> u32 {
    yield_once().await;
    assert!(!fail, "async boom");
    3
}

#[test]
fn async_fns_count_results_cancellations_and_panics() {
    let state = State::builder().build().unwrap();
    let _g = state.enter();
    assert_eq!(block_on(fetch(5)).as_deref(), Ok("item 5"));
    assert!(block_on(fetch(0)).is_err());

    // Started, pending, then dropped: in flight while pending, cancelled once dropped.
    {
        let mut fut = Box::pin(fetch(9));
        let mut cx = Context::from_waker(Waker::noop());
        assert!(fut.as_mut().poll(&mut cx).is_pending());
        assert_eq!(in_flight(&state.snapshot(), "fetch"), 1);
    }
    // Created but never polled: not a call.
    drop(fetch(10));

    let mut fut = Box::pin(fetch_or_panic(true));
    let mut cx = Context::from_waker(Waker::noop());
    assert!(fut.as_mut().poll(&mut cx).is_pending());
    assert!(catch_unwind(AssertUnwindSafe(|| fut.as_mut().poll(&mut cx))).is_err());
    drop(fut);
    assert_eq!(block_on(fetch_or_panic(false)), 3);

    let snap = state.snapshot();
    assert_eq!(outcomes(&snap, "fetch"), [1, 1, 0, 1]);
    assert_eq!(in_flight(&snap, "fetch"), 0);
    assert_eq!(duration(&snap, "fetch").count(), 3);
    assert_eq!(outcomes(&snap, "fetch_or_panic"), [1, 0, 1, 0]);
    assert_eq!(in_flight(&snap, "fetch_or_panic"), 0);
}

#[test]
fn a_future_moved_to_another_thread_records_in_the_state_it_started_in() {
    let state = State::builder().build().unwrap();
    let mut fut = Box::pin(fetch(3));
    let mut cx = Context::from_waker(Waker::noop());
    state.in_scope(|| assert!(fut.as_mut().poll(&mut cx).is_pending()));
    // Finished on another thread, where no State is entered.
    let out = std::thread::spawn(move || block_on(fut)).join().unwrap();
    assert_eq!(out.as_deref(), Ok("item 3"));
    let snap = state.snapshot();
    assert_eq!(outcomes(&snap, "fetch"), [1, 0, 0, 0]);
    assert_eq!(in_flight(&snap, "fetch"), 0);
}

// ---- methods, generics, signatures ----

#[derive(Default)]
struct Cache {
    items: Vec<u8>,
}

trait Store {
    fn put(&mut self, b: u8) -> usize;
    fn total(&self) -> u32 {
        0
    }
}

impl Cache {
    #[tsmon::instrument]
    fn new_with(n: u8) -> Self {
        Cache { items: vec![n] }
    }

    #[tsmon::instrument]
    fn first(&self) -> Option<&u8> {
        self.items.first()
    }

    #[tsmon::instrument]
    fn first_mut(&mut self) -> &mut u8 {
        &mut self.items[0]
    }

    #[tsmon::instrument]
    fn into_items(self) -> Vec<u8> {
        self.items
    }

    #[tsmon::instrument]
    async fn first_mut_async(&mut self) -> &mut u8 {
        yield_once().await;
        &mut self.items[0]
    }
}

impl Store for Cache {
    #[tsmon::instrument(name = "Cache::put")]
    fn put(&mut self, b: u8) -> usize {
        self.items.push(b);
        self.items.len()
    }

    #[tsmon::instrument(name = "Cache::total")]
    fn total(&self) -> u32 {
        self.items.iter().map(|&b| u32::from(b)).sum()
    }
}

#[tsmon::instrument]
fn largest<T, I>(items: I) -> Option<T>
where
    T: Ord,
    I: IntoIterator<Item = T>,
{
    items.into_iter().max()
}

#[tsmon::instrument]
fn evens(limit: u32) -> impl Iterator<Item = u32> {
    (0..limit).filter(|n| n % 2 == 0)
}

#[tsmon::instrument]
fn checked(items: &[u32]) -> Result<impl std::fmt::Debug + use<>, String> {
    let first = items.first().ok_or("empty")?;
    Ok(*first)
}

#[tsmon::instrument]
#[allow(clippy::needless_return)]
fn with_inner_returns(x: i32) -> i32 {
    let f = |y: i32| {
        return y + 1; // the closure's own return, left alone
    };
    for i in 0.. {
        if i == x {
            return f(i) * 10;
        }
    }
    unreachable!()
}

#[test]
fn methods_generics_and_signatures_work_unchanged() {
    let state = State::builder().build().unwrap();
    state.in_scope(|| {
        let mut c = Cache::new_with(1);
        assert_eq!(c.first(), Some(&1));
        *c.first_mut() += 1;
        assert_eq!(c.put(5), 2);
        assert_eq!(c.total(), 7);
        *block_on(c.first_mut_async()) += 1;
        assert_eq!(c.into_items(), vec![3, 5]);
        assert_eq!(largest([3, 9, 2]), Some(9));
        assert_eq!(largest(Vec::<String>::new()), None);
        assert_eq!(evens(5).collect::<Vec<_>>(), [0, 2, 4]);
        assert!(checked(&[]).is_err());
        assert_eq!(format!("{:?}", checked(&[4]).unwrap()), "4");
        assert_eq!(with_inner_returns(3), 40);
    });
    let snap = state.snapshot();
    for f in [
        "new_with",
        "first",
        "first_mut",
        "into_items",
        "first_mut_async",
        "Cache::put",
        "Cache::total",
        "evens",
        "with_inner_returns",
    ] {
        assert_eq!(outcomes(&snap, f), [1, 0, 0, 0], "{f}");
    }
    assert_eq!(outcomes(&snap, "largest"), [2, 0, 0, 0]);
    assert_eq!(outcomes(&snap, "checked"), [1, 1, 0, 0]);
}

mod nobody_calls_this_module {
    #[tsmon::instrument]
    pub(crate) fn hidden() {}
}

#[test]
fn fns_in_unreferenced_modules_are_in_the_catalog() {
    let f = tsmon::instrument::functions()
        .iter()
        .find(|f| f.function() == "hidden")
        .expect("listed");
    assert!(f.module().ends_with("nobody_calls_this_module"));
    assert!(f.site().file().ends_with("instrument.rs"));
    let state = State::builder().build().unwrap();
    let snap = state.snapshot();
    assert_eq!(
        calls_in(&snap, f.module(), "hidden", Outcome::Ok),
        0,
        "exported at zero"
    );
}

// ---- arguments ----

#[tsmon::instrument(
    prefix = "test/rpc",
    fields(service = "cart", shard = 3, canary = false)
)]
fn add_item() -> Result<(), ()> {
    Ok(())
}

#[tsmon::instrument(
    prefix = "test/rpc",
    fields(service = "cart", shard = 4, canary = true)
)]
fn remove_item() -> Result<(), ()> {
    Err(())
}

#[tsmon::instrument(in_flight = false, latency = false)]
fn counted_only() {}

#[test]
fn a_prefix_with_fixed_fields_is_one_family_shared_by_its_fns() {
    assert_eq!(
        tsmon::registry::catalog()
            .iter()
            .filter(|d| d.name() == "test/rpc/calls")
            .count(),
        2,
        "declared once per fn"
    );
    let state = State::builder().build().unwrap();
    state.in_scope(|| {
        add_item().unwrap();
        add_item().unwrap();
        remove_item().unwrap_err();
    });
    let snap = state.snapshot();
    let m = snap.metric("test/rpc/calls").unwrap();
    let names: Vec<_> = m.desc().fields().iter().map(|f| f.name).collect();
    assert_eq!(
        names,
        [
            "function", "module", "outcome", "service", "shard", "canary"
        ]
    );
    let value = |f: &str, outcome: &str, shard: i64, canary: bool| {
        int(
            &snap,
            "test/rpc/calls",
            &[
                Str(f),
                Str(MODULE),
                Str(outcome),
                Str("cart"),
                Int(shard),
                Bool(canary),
            ],
        )
    };
    assert_eq!(value("add_item", "ok", 3, false), Some(2));
    assert_eq!(value("remove_item", "error", 4, true), Some(1));
    assert_eq!(m.cells().len(), 8, "4 outcomes x 2 fns, one family");
    assert!(snap.metric("test/rpc/durations").is_some());
    assert!(snap.metric("test/rpc/in_flight").is_some());
    let text = state.encode(tsmon::exposition::Format::Text);
    assert_eq!(
        text.matches("# TYPE test_rpc_calls_total counter").count(),
        1
    );
    assert!(
        tsmon::registry::describe()
            .matches("test/rpc/calls ")
            .count()
            == 1
    );
}

#[test]
fn parts_can_be_turned_off() {
    let state = State::builder().build().unwrap();
    state.in_scope(counted_only);
    let snap = state.snapshot();
    assert_eq!(outcomes(&snap, "counted_only"), [1, 0, 0, 0]);
    assert!(
        snap.metric("function/in_flight")
            .unwrap()
            .find(&[Str("counted_only"), Str(MODULE)])
            .is_none()
    );
    assert!(
        snap.metric("function/durations")
            .unwrap()
            .find(&[Str("counted_only"), Str(MODULE)])
            .is_none()
    );
}

// ---- States, threads, enabling ----

#[test]
fn calls_go_to_the_current_state_only() {
    let a = State::builder().build().unwrap();
    let b = State::builder().build().unwrap();
    a.in_scope(|| plain(1));
    b.in_scope(|| {
        plain(1);
        plain(2);
    });
    assert_eq!(calls(&a.snapshot(), "plain", Outcome::Ok), 1);
    assert_eq!(calls(&b.snapshot(), "plain", Outcome::Ok), 2);
}

#[tsmon::instrument]
fn hot(x: u64) -> u64 {
    x.wrapping_mul(31)
}

#[test]
fn many_threads_calling_one_fn_end_with_exact_totals() {
    let state = State::builder().build().unwrap();
    std::thread::scope(|s| {
        for t in 0..8 {
            let state = &state;
            s.spawn(move || {
                state.in_scope(|| {
                    for i in 0..10_000 {
                        std::hint::black_box(hot(i + t));
                    }
                });
            });
        }
    });
    let snap = state.snapshot();
    assert_eq!(outcomes(&snap, "hot"), [80_000, 0, 0, 0]);
    assert_eq!(duration(&snap, "hot").count(), 80_000);
    assert_eq!(in_flight(&snap, "hot"), 0);
}

#[test]
fn a_disabled_state_records_nothing_and_a_reset_does_not_unbalance_in_flight() {
    let state = State::builder().build().unwrap();
    let _g = state.enter();
    state
        .apply_settings(tsmon::settings::Settings {
            enabled: false,
            ..state.settings()
        })
        .unwrap();
    plain(1);
    state
        .apply_settings(tsmon::settings::Settings {
            enabled: true,
            ..state.settings()
        })
        .unwrap();
    assert_eq!(calls(&state.snapshot(), "plain", Outcome::Ok), 0);

    // A call under way while every series is reset must not leave the gauge at -1.
    let mut fut = Box::pin(fetch(1));
    let mut cx = Context::from_waker(Waker::noop());
    assert!(fut.as_mut().poll(&mut cx).is_pending());
    state.reset_all();
    assert!(block_on(fut).is_ok());
    let snap = state.snapshot();
    assert_eq!(in_flight(&snap, "fetch"), 0);
    assert_eq!(calls(&snap, "fetch", Outcome::Ok), 1);
}

// ---- async-trait ----

#[async_trait::async_trait]
trait Repo {
    async fn get(&self, id: u32) -> Result<u32, String>;

    #[tsmon::instrument(name = "Repo::default_get")]
    async fn default_get(&self) -> u32 {
        yield_once().await;
        1
    }
}

struct MemRepo;

#[async_trait::async_trait]
impl Repo for MemRepo {
    #[tsmon::instrument(name = "MemRepo::get")]
    async fn get(&self, id: u32) -> Result<u32, String> {
        yield_once().await;
        if id == 0 {
            return Err("zero".into());
        }
        let parsed: u32 = id.to_string().parse().map_err(|_| "bad".to_owned())?;
        Ok(parsed)
    }
}

#[test]
fn async_trait_methods_are_instrumented_as_async_fns() {
    let state = State::builder().build().unwrap();
    let _g = state.enter();
    let repo = MemRepo;
    assert_eq!(block_on(repo.get(4)), Ok(4));
    assert!(block_on(repo.get(0)).is_err());
    {
        let mut fut = repo.get(5);
        let mut cx = Context::from_waker(Waker::noop());
        assert!(fut.as_mut().poll(&mut cx).is_pending());
        // The call is under way (the boxing alone would have finished already).
        assert_eq!(in_flight(&state.snapshot(), "MemRepo::get"), 1);
    }
    assert_eq!(block_on(repo.default_get()), 1);
    let snap = state.snapshot();
    assert_eq!(outcomes(&snap, "MemRepo::get"), [1, 1, 0, 1]);
    assert_eq!(in_flight(&snap, "MemRepo::get"), 0);
    assert_eq!(outcomes(&snap, "Repo::default_get"), [1, 0, 0, 0]);
}
