//! The series of instrumented functions in one store, made when the store is: each function's
//! call counters (one per outcome), durations and in-flight gauge, at zero, so they are
//! exported from the first snapshot on.

use std::sync::Arc;

use crate::desc::MetricDesc;
use crate::desc::function::{FnDesc, Outcome, functions};
use crate::field::{FieldDesc, FieldType, FieldValue, KeyBuf, put_varint};
use crate::store::cell::{DistCell, IntCell};
use crate::store::{Series, Store};

/// The series of one instrumented function in one store.
#[derive(Debug, Default)]
pub(crate) struct FnSeries {
    /// The call counter's series, by [`Outcome`].
    pub(crate) calls: [Option<Arc<Series<IntCell>>>; 4],
    pub(crate) durations: Option<Arc<Series<DistCell>>>,
    pub(crate) in_flight: Option<Arc<Series<IntCell>>>,
}

/// The key of a series of `metric` for `f`: each field's value by name.
fn key_for(metric: &MetricDesc, f: &FnDesc, outcome: Outcome) -> Option<KeyBuf> {
    let mut key = KeyBuf::new();
    put_varint(&mut key, 0);
    for field in metric.fields {
        let value = match field.name {
            "function" => FieldValue::Str(f.function),
            "module" => FieldValue::Str(f.module),
            "outcome" => FieldValue::Str(outcome.as_str()),
            name => f.fields.iter().find(|(n, _)| *n == name)?.1,
        };
        encode_value(field, value, &mut key)?;
    }
    Some(key)
}

fn encode_value(field: &FieldDesc, value: FieldValue<'_>, out: &mut KeyBuf) -> Option<()> {
    match (field.ty, value) {
        (FieldType::String, FieldValue::Str(s)) => {
            put_varint(out, s.len() as u64);
            out.extend_from_slice(s.as_bytes());
        }
        (FieldType::Int, FieldValue::Int(i)) => out.extend_from_slice(&i.to_le_bytes()),
        (FieldType::Bool, FieldValue::Bool(b)) => out.push(u8::from(b)),
        _ => return None,
    }
    Some(())
}

/// Creates the series of every instrumented function in `store` (at zero, so they are exported
/// from the first snapshot on).
pub(crate) fn create_series(store: &Store) -> Box<[FnSeries]> {
    let clock = store.clock();
    let all: Box<[FnSeries]> = functions()
        .iter()
        .map(|f| {
            let mut series = FnSeries::default();
            if let Some(desc) = f.calls
                && let Some(slot) = store.slot::<IntCell>(desc)
            {
                for outcome in Outcome::ALL {
                    series.calls[outcome as usize] = key_for(desc, f, outcome)
                        .and_then(|key| slot.with_series(&key, clock, true, Arc::clone));
                }
            }
            if let Some(desc) = f.durations
                && let Some(slot) = store.slot::<DistCell>(desc)
            {
                series.durations = key_for(desc, f, Outcome::Ok)
                    .and_then(|key| slot.with_series(&key, clock, true, Arc::clone));
            }
            if let Some(desc) = f.in_flight
                && let Some(slot) = store.slot::<IntCell>(desc)
            {
                series.in_flight = key_for(desc, f, Outcome::Ok)
                    .and_then(|key| slot.with_series(&key, clock, true, Arc::clone));
            }
            series
        })
        .collect();
    mark_gauges(&all);
    all
}

/// Marks the in-flight gauges as holding a value (zero after a reset), so they stay exported.
pub(crate) fn mark_gauges(fns: &[FnSeries]) {
    for s in fns.iter().filter_map(|f| f.in_flight.as_ref()) {
        s.mark_set();
    }
}
