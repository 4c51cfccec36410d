//! Test hooks, behind the `test-util` feature: what tsmon's own tests and fuzz targets reach
//! into, and nothing a service needs. Nothing here is covered by semver beyond the feature's
//! name; a hook can change in any release.
//!
//! What a test of a service needs is not here and not gated: the flush schedule is in
//! [`State::health`](crate::State::health), and [`ManualClock`](crate::clock::ManualClock),
//! [`FakeMonitor`](crate::monitor::FakeMonitor) and
//! [`InMemoryAllocator`](crate::tasknum::InMemoryAllocator) come with the default features, so a
//! service's own tests use them without a test-only build of tsmon.
//!
//! # The key codec
//!
//! A series is found by its key: the target id, then the field values in declaration order.
//! [`encode_key`], [`decode_key`], [`key_matches`], [`hash_values`], [`hash_key`] and
//! [`key_eq`] are the codec's functions as the store uses them, so a fuzz target can check that
//! every key decodes to the values written, that the lookup cache's hash of the values equals
//! the maps' hash of the key, and that no byte string panics the decoder.
//!
//! ```
//! use tsmon::field::{FieldDesc, FieldType, FieldValue, Int, Str};
//! use tsmon::test_util::{decode_key, encode_key, hash_key, hash_values, key_matches};
//! static FIELDS: &[FieldDesc] =
//!     &[FieldDesc::new("route", FieldType::String), FieldDesc::new("code", FieldType::Int)];
//! let key = encode_key::<(Str, Int)>(3, ("/home", 200));
//! assert_eq!(decode_key(FIELDS, &key), (3, vec![FieldValue::Str("/home"), FieldValue::Int(200)]));
//! assert!(key_matches::<(Str, Int)>(("/home", 200), &key));
//! assert!(!key_matches::<(Str, Int)>(("/home", 404), &key));
//! assert_eq!(hash_values::<(Str, Int)>(3, ("/home", 200)), hash_key(FIELDS, &key));
//! ```

use crate::field::{self, FieldDesc, FieldSet, FieldValue, KeyBuf};

/// The key of a series of target id `target` with these field values.
#[must_use]
pub fn encode_key<F: FieldSet>(target: u32, values: F::Values<'_>) -> Vec<u8> {
    let mut out = KeyBuf::new();
    field::put_varint(&mut out, u64::from(target));
    F::encode(values, &mut out);
    out.to_vec()
}

/// The target id and field values of `key`, read as `fields` declare them. A key cut short or
/// with a string that is not UTF-8 (which tsmon never writes) gives the values before the
/// fault, without panicking.
#[must_use]
pub fn decode_key<'a>(fields: &'static [FieldDesc], key: &'a [u8]) -> (u32, Vec<FieldValue<'a>>) {
    let (target, rest) = field::split_key(key);
    (target, field::decode(fields, rest).collect())
}

/// Whether `key` (target id included) holds exactly these field values.
#[must_use]
pub fn key_matches<F: FieldSet>(values: F::Values<'_>, key: &[u8]) -> bool {
    F::matches(values, field::split_key(key).1)
}

/// The lookup cache's hash of a series, from its values (no key is written).
#[must_use]
pub fn hash_values<F: FieldSet>(target: u32, values: F::Values<'_>) -> u64 {
    field::hash_with_target(F::hash(values), target)
}

/// The maps' hash of an encoded key: equal to [`hash_values`] of the values it encodes.
#[must_use]
pub fn hash_key(fields: &[FieldDesc], key: &[u8]) -> u64 {
    field::hash_key(fields, key)
}

/// The store's key comparison (word-wise for short keys): equal to `a == b`.
#[must_use]
pub fn key_eq(a: &[u8], b: &[u8]) -> bool {
    field::key_eq(a, b)
}
