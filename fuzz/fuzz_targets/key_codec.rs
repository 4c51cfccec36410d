//! The key codec: every series key decodes to the values written, matches them and only them,
//! hashes as its values do (the lookup cache and the maps share one hash), compares word-wise
//! as slices do, and no byte string panics the decoder.
#![no_main]

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use tsmon::field::{Bool, FieldDesc, FieldType, FieldValue, Int, Str};
use tsmon::test_util::{decode_key, encode_key, hash_key, hash_values, key_eq, key_matches};

type Fields = (Str, Int, Bool, Str);
static FIELDS: &[FieldDesc] = &[
    FieldDesc::new("a", FieldType::String),
    FieldDesc::new("b", FieldType::Int),
    FieldDesc::new("c", FieldType::Bool),
    FieldDesc::new("d", FieldType::String),
];

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    target: u32,
    one: (&'a str, i64, bool, String),
    other: (&'a str, i64, bool, String),
    raw: &'a [u8],
}

fn values<'a>(v: &'a (&'a str, i64, bool, String)) -> (&'a str, i64, bool, &'a str) {
    (v.0, v.1, v.2, v.3.as_str())
}

fuzz_target!(|input: Input<'_>| {
    let (one, other) = (values(&input.one), values(&input.other));
    let key = encode_key::<Fields>(input.target, one);

    // The round trip.
    let expected: Vec<FieldValue<'_>> = vec![
        FieldValue::Str(one.0),
        FieldValue::Int(one.1),
        FieldValue::Bool(one.2),
        FieldValue::Str(one.3),
    ];
    assert_eq!(decode_key(FIELDS, &key), (input.target, expected));
    assert!(key_matches::<Fields>(one, &key));
    assert_eq!(
        hash_values::<Fields>(input.target, one),
        hash_key(FIELDS, &key)
    );

    // Distinct values, distinct keys; a key matches only its own values.
    let key2 = encode_key::<Fields>(input.target, other);
    assert_eq!(one == other, key == key2);
    assert_eq!(key_eq(&key, &key2), key == key2);
    assert_eq!(key_matches::<Fields>(other, &key), one == other);
    assert_eq!(
        hash_values::<Fields>(input.target, other),
        hash_key(FIELDS, &key2)
    );

    // Any bytes: nothing panics, and what decodes whole encodes back to a key of the same
    // values (the bytes themselves may differ: a bool byte other than 0 and 1, a long varint).
    let (target, decoded) = decode_key(FIELDS, input.raw);
    let _ = hash_key(FIELDS, input.raw);
    assert_eq!(key_eq(input.raw, &key), input.raw == key.as_slice());
    if key_matches::<Fields>(one, input.raw) {
        assert_eq!(
            decoded,
            decode_key(FIELDS, &key).1,
            "bytes that match decode to the values"
        );
    }
    if let [
        FieldValue::Str(a),
        FieldValue::Int(b),
        FieldValue::Bool(c),
        FieldValue::Str(d),
    ] = decoded[..]
    {
        let again = encode_key::<Fields>(target, (a, b, c, d));
        assert_eq!(decode_key(FIELDS, &again), (target, decoded.clone()));
    }
});
