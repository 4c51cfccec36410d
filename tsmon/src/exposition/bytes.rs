//! The byte-level writers of the text encoder: escaping, numbers, field labels straight from a
//! series key, and short copies into a vector's reserved bytes.

// Unsafe code here: short copies into a vector's spare capacity on the encoder's hot path (see
// the SAFETY notes); Miri runs this module's tests (`scripts/miri.sh`).
#![allow(unsafe_code)]

use crate::field::{FieldDesc, RawValue, raw_values};

use super::model::Number;

pub(super) fn push_label(out: &mut Vec<u8>, name: &str, value: &str) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"=\"");
    escape_into(out, value, true);
    out.push(b'"');
}

pub(super) fn escape_into(out: &mut Vec<u8>, value: &str, quote: bool) {
    escape_bytes(out, value.as_bytes(), quote);
}

/// Escapes `\\`, a newline and (in label values) `"`. Field values come straight from series
/// keys, which hold UTF-8 written from `&str`s, so no validation is needed to copy them.
#[inline]
pub(super) fn escape_bytes(out: &mut Vec<u8>, bytes: &[u8], quote: bool) {
    // One table lookup per byte: does it need a look at all (`\\`, newline, `"`)?
    const SPECIAL: [bool; 256] = {
        let mut t = [false; 256];
        t[b'\\' as usize] = true;
        t[b'\n' as usize] = true;
        t[b'"' as usize] = true;
        t
    };
    if !bytes.iter().any(|&b| SPECIAL[usize::from(b)]) {
        put(out, bytes);
        return;
    }
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc: &[u8] = match b {
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'"' if quote => b"\\\"",
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        out.extend_from_slice(esc);
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
}

/// A float as every exporter writes it: the shortest round-trip digits, `NaN`, `+Inf`, `-Inf`
/// (a bucket bound's `le` label too).
pub(crate) fn push_f64(out: &mut Vec<u8>, v: f64) {
    if v.is_nan() {
        out.extend_from_slice(b"NaN");
    } else if v.is_infinite() {
        out.extend_from_slice(if v > 0.0 { b"+Inf" } else { b"-Inf" });
    } else {
        out.extend_from_slice(ryu::Buffer::new().format_finite(v).as_bytes());
    }
}

/// Appends bytes; pieces of up to 16 bytes (most of a line's) are copied inline instead of
/// through a call to `memcpy`.
#[inline(always)]
pub(super) fn put(out: &mut Vec<u8>, bytes: &[u8]) {
    let len = out.len();
    if bytes.len() <= 16 && out.capacity() - len >= 16 {
        // SAFETY: at least 16 bytes of spare capacity follow `len`, `bytes` is at most 16 bytes
        // and cannot overlap the vector's spare capacity; the new length covers only bytes
        // just written.
        unsafe {
            crate::field::small_copy(bytes.as_ptr(), out.as_mut_ptr().add(len), bytes.len());
            out.set_len(len + bytes.len());
        }
    } else {
        out.extend_from_slice(bytes);
    }
}

/// Appends bytes, pieces of up to 64 bytes (a line's head with its target's labels) copied
/// inline in 16-byte moves.
#[inline(always)]
pub(super) fn put_medium(out: &mut Vec<u8>, bytes: &[u8]) {
    let len = out.len();
    let n = bytes.len();
    if n <= 16 || n > 64 || out.capacity() - len < 64 {
        put(out, bytes);
        return;
    }
    // SAFETY: 17 to 64 bytes, with 64 bytes of spare capacity after `len`: every 16-byte read
    // lies within `bytes` (the last at `n - 16`) and every write within the spare capacity; the
    // two do not overlap; the new length covers only bytes just written.
    unsafe {
        let (src, dst) = (bytes.as_ptr(), out.as_mut_ptr().add(len));
        let copy16 = |at: usize| {
            dst.add(at)
                .cast::<[u8; 16]>()
                .write_unaligned(src.add(at).cast::<[u8; 16]>().read_unaligned());
        };
        copy16(0);
        if n > 32 {
            copy16(16);
            if n > 48 {
                copy16(32);
            }
        }
        copy16(n - 16);
        out.set_len(len + n);
    }
}

#[inline]
pub(super) fn push_int(out: &mut Vec<u8>, v: impl itoa::Integer) {
    put(out, itoa::Buffer::new().format(v).as_bytes());
}

pub(super) fn push_seconds(out: &mut Vec<u8>, micros: u64) {
    push_int(out, micros / 1_000_000);
    let frac = micros % 1_000_000;
    out.push(b'.');
    let mut digits = itoa::Buffer::new();
    let s = digits.format(frac);
    out.extend(std::iter::repeat_n(b'0', 6 - s.len()));
    out.extend_from_slice(s.as_bytes());
}

/// Renders encoded field values as labels (`,name="value"` each), straight from the key bytes.
/// A key cut short (which tsmon never writes) ends the labels rather than panicking.
pub(super) fn put_fields(
    out: &mut Vec<u8>,
    fields: &[FieldDesc],
    prefixes: &[Vec<u8>],
    key: &[u8],
) {
    put_fields_from(out, fields, prefixes, key, 0);
}

/// [`put_fields`], the first field's prefix written from byte `skip` on (1: without its
/// comma).
#[inline]
pub(super) fn put_fields_from(
    out: &mut Vec<u8>,
    fields: &[FieldDesc],
    prefixes: &[Vec<u8>],
    key: &[u8],
    skip: usize,
) {
    for (i, (value, prefix)) in raw_values(fields, key).zip(prefixes).enumerate() {
        put(out, if i == 0 { &prefix[skip..] } else { prefix });
        match value {
            RawValue::Str(bytes) => escape_bytes(out, bytes, true),
            RawValue::Int(i) => push_int(out, i),
            RawValue::Bool(b) => put(out, if b { b"true" } else { b"false" }),
        }
        put(out, b"\"");
    }
}

#[inline]
/// An OpenMetrics exemplar after a sample's value: ` # {labels} value timestamp`.
pub(super) fn push_exemplar(out: &mut Vec<u8>, ex: &crate::store::Exemplar) {
    out.extend_from_slice(b" # {");
    for (i, (k, v)) in ex.labels().iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        push_label(out, k, v);
    }
    out.extend_from_slice(b"} ");
    push_f64(out, ex.value());
    out.push(b' ');
    push_seconds(out, ex.micros());
}

pub(super) fn push_number(out: &mut Vec<u8>, n: Number) {
    match n {
        Number::Int(i) => push_int(out, i),
        Number::Float(f) => push_f64(out, f),
        Number::Micros(m) => push_seconds(out, m),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping() {
        let mut out = Vec::new();
        escape_into(&mut out, "a\\b\"c\nd é", true);
        assert_eq!(out, b"a\\\\b\\\"c\\nd \xc3\xa9");
    }

    #[test]
    fn medium_copies_are_exact_at_every_length_and_spare_capacity() {
        let src: Vec<u8> = (0..80u8).collect();
        for n in 0..=80 {
            for spare in [0, 16, 63, 64, 100] {
                let mut out = b"ab".to_vec();
                out.reserve_exact(spare);
                put_medium(&mut out, &src[..n]);
                assert_eq!(&out[..2], b"ab");
                assert_eq!(&out[2..], &src[..n], "{n} bytes, {spare} spare");
            }
        }
    }

    #[test]
    fn seconds() {
        let mut out = Vec::new();
        push_seconds(&mut out, 1_700_000_000_000_042);
        assert_eq!(out, b"1700000000.000042");
    }
}
