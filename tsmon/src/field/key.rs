//! The key codec: how a series' target and field values are encoded into one byte string,
//! hashed, compared and decoded. Each value is written in declaration order: a string as a
//! varint length and its bytes, an integer as eight little-endian bytes, a bool as one byte;
//! the target id comes first as a varint. Keys never leave the process, so the layout can change
//! in any release.

// Unsafe code here: the inline buffer: small copies and a slice of its initialised bytes.
#![allow(unsafe_code)]

use std::fmt;
use std::hash::BuildHasher;

use super::{FieldDesc, FieldType, FieldValue};

/// The buffer a series key is encoded into: inline for the usual short keys, so a lookup by
/// field values does not allocate; it spills to the heap past `INLINE` bytes.
#[doc(hidden)]
pub struct KeyBuf {
    len: usize,
    inline: [std::mem::MaybeUninit<u8>; KeyBuf::INLINE],
    heap: Vec<u8>,
}

impl KeyBuf {
    const INLINE: usize = 120;

    #[inline]
    pub(crate) fn new() -> Self {
        KeyBuf {
            len: 0,
            inline: [std::mem::MaybeUninit::uninit(); Self::INLINE],
            heap: Vec::new(),
        }
    }

    #[inline(always)]
    pub(crate) fn push(&mut self, b: u8) {
        self.extend_from_slice(&[b]);
    }

    #[inline(always)]
    pub(crate) fn extend_from_slice(&mut self, bytes: &[u8]) {
        let end = self.len + bytes.len();
        if end <= Self::INLINE {
            // SAFETY: `len..end` is within `inline`, and `bytes` cannot overlap our own buffer.
            unsafe {
                small_copy(
                    bytes.as_ptr(),
                    self.inline.as_mut_ptr().add(self.len).cast::<u8>(),
                    bytes.len(),
                );
            }
            self.len = end;
        } else {
            self.spill(bytes);
        }
    }

    #[cold]
    #[inline(never)]
    fn spill(&mut self, bytes: &[u8]) {
        if self.heap.is_empty() {
            let mut heap = Vec::with_capacity((self.len + bytes.len()).max(2 * Self::INLINE));
            heap.extend_from_slice(self.inline_bytes());
            self.heap = heap;
        }
        self.heap.extend_from_slice(bytes);
        self.len += bytes.len();
    }

    #[inline]
    fn inline_bytes(&self) -> &[u8] {
        let n = self.len.min(Self::INLINE);
        // SAFETY: the first `min(len, INLINE)` inline bytes were written by `extend_from_slice`.
        unsafe { std::slice::from_raw_parts(self.inline.as_ptr().cast::<u8>(), n) }
    }
}

impl std::ops::Deref for KeyBuf {
    type Target = [u8];
    #[inline]
    fn deref(&self) -> &[u8] {
        if self.len <= Self::INLINE {
            self.inline_bytes()
        } else {
            &self.heap
        }
    }
}

impl fmt::Debug for KeyBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// Copies `n` bytes with at most two overlapping loads and stores when `n <= 16` (field values
/// are mostly that short), with no call into `memcpy`.
///
/// # Safety
///
/// As [`std::ptr::copy_nonoverlapping`].
#[inline(always)]
pub(crate) unsafe fn small_copy(src: *const u8, dst: *mut u8, n: usize) {
    // SAFETY (all arms): every read is within `src..src+n` and every write within `dst..dst+n`;
    // the unaligned accesses need no alignment.
    unsafe {
        match n {
            0 => {}
            1..=3 => {
                *dst = *src;
                *dst.add(n / 2) = *src.add(n / 2);
                *dst.add(n - 1) = *src.add(n - 1);
            }
            4..=7 => {
                let a = src.cast::<u32>().read_unaligned();
                let b = src.add(n - 4).cast::<u32>().read_unaligned();
                dst.cast::<u32>().write_unaligned(a);
                dst.add(n - 4).cast::<u32>().write_unaligned(b);
            }
            8..=16 => {
                let a = src.cast::<u64>().read_unaligned();
                let b = src.add(n - 8).cast::<u64>().read_unaligned();
                dst.cast::<u64>().write_unaligned(a);
                dst.add(n - 8).cast::<u64>().write_unaligned(b);
            }
            _ => std::ptr::copy_nonoverlapping(src, dst, n),
        }
    }
}

#[inline(always)]
pub(crate) fn put_varint(out: &mut KeyBuf, mut v: u64) {
    if v < 0x80 {
        out.push(v as u8);
        return;
    }
    let mut bytes = [0u8; 10];
    let mut n = 0;
    while v >= 0x80 {
        bytes[n] = (v as u8) | 0x80;
        v >>= 7;
        n += 1;
    }
    bytes[n] = v as u8;
    out.extend_from_slice(&bytes[..=n]);
}

#[inline]
pub(crate) fn get_varint(bytes: &[u8], pos: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    let mut shift = 0;
    loop {
        let b = *bytes.get(*pos)?;
        *pos += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b < 0x80 {
            return Some(v);
        }
        shift += 7;
        if shift > 63 {
            return None;
        }
    }
}

/// Constants of the lookup-cache hash (digits of pi, as in foldhash).
const MIX: [u64; 4] = [
    0x243f_6a88_85a3_08d3,
    0x1319_8a2e_0370_7344,
    0xa409_3822_299f_31d0,
    0x082e_fa98_ec4e_6c89,
];

/// The product's high and low halves folded together: the mixing step of foldhash.
#[inline(always)]
fn folded_multiply(a: u64, b: u64) -> u64 {
    let full = u128::from(a) * u128::from(b);
    (full as u64) ^ ((full >> 64) as u64)
}

#[inline(always)]
fn read_u64(b: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(w)
}

#[inline(always)]
fn read_u32(b: &[u8], at: usize) -> u32 {
    let mut w = [0u8; 4];
    w.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(w)
}

/// The hash of series values: the same from the values ([`FieldSet::hash`]) and from an
/// encoded key ([`hash_key`]), so the lookup cache and the maps share one hash.
pub(crate) const HASH_START: u64 = MIX[3];

#[inline(always)]
pub(crate) fn hash_str(b: &[u8], h: u64) -> u64 {
    let n = b.len();
    let (lo, hi) = if n > 16 {
        (hash_bytes(b), 0)
    } else if n >= 8 {
        (read_u64(b, 0), read_u64(b, n - 8))
    } else if n >= 4 {
        (u64::from(read_u32(b, 0)), u64::from(read_u32(b, n - 4)))
    } else if n > 0 {
        (
            u64::from(b[0]) | u64::from(b[n / 2]) << 8,
            u64::from(b[n - 1]),
        )
    } else {
        (0, 0)
    };
    folded_multiply(lo ^ h ^ n as u64, hi ^ MIX[0])
}

#[inline(always)]
pub(crate) fn hash_int(v: i64, h: u64) -> u64 {
    folded_multiply(h ^ v as u64, MIX[1])
}

#[inline(always)]
pub(crate) fn hash_bool(v: bool, h: u64) -> u64 {
    folded_multiply(h ^ u64::from(v), MIX[2])
}

/// Mixes an explicit target into a hash of values (the default target, 0, leaves it as is).
#[inline(always)]
pub(crate) fn hash_with_target(h: u64, target: u32) -> u64 {
    if target == 0 {
        h
    } else {
        h ^ folded_multiply(u64::from(target), MIX[2] ^ MIX[1])
    }
}

/// The hash of an encoded key (target, then the values of `fields`): equal to
/// [`FieldSet::hash`] of the same values, mixed with the target. A malformed key (which tsmon
/// never writes) hashes what it has.
pub(crate) fn hash_key(fields: &[FieldDesc], key: &[u8]) -> u64 {
    let (target, rest) = split_key(key);
    if fields.is_empty() {
        return hash_with_target(0, target);
    }
    let h = raw_values(fields, rest).fold(HASH_START, |h, v| match v {
        RawValue::Str(b) => hash_str(b, h),
        RawValue::Int(i) => hash_int(i, h),
        RawValue::Bool(b) => hash_bool(b, h),
    });
    hash_with_target(h, target)
}

#[cold]
fn hash_bytes(b: &[u8]) -> u64 {
    foldhash::fast::FixedState::with_seed(MIX[0]).hash_one(b)
}

/// Whether two keys are equal: the usual short keys compare as two or four words, with no call.
#[inline(always)]
pub(crate) fn key_eq(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    let word = |s: &[u8], at: usize| {
        let mut w = [0u8; 8];
        w.copy_from_slice(&s[at..at + 8]);
        u64::from_ne_bytes(w)
    };
    match n {
        0 => true,
        1..=3 => a[0] == b[0] && a[n / 2] == b[n / 2] && a[n - 1] == b[n - 1],
        4..=7 => read_u32(a, 0) == read_u32(b, 0) && read_u32(a, n - 4) == read_u32(b, n - 4),
        // Overlapping first and last words cover the whole key.
        8..=16 => word(a, 0) == word(b, 0) && word(a, n - 8) == word(b, n - 8),
        17..=32 => {
            word(a, 0) == word(b, 0)
                && word(a, 8) == word(b, 8)
                && word(a, n - 16) == word(b, n - 16)
                && word(a, n - 8) == word(b, n - 8)
        }
        _ => a == b,
    }
}

/// Splits an encoded key into its target id and the encoded field values.
pub(crate) fn split_key(key: &[u8]) -> (u32, &[u8]) {
    let mut pos = 0;
    let target = get_varint(key, &mut pos).unwrap_or(0);
    (
        u32::try_from(target).unwrap_or(0),
        &key[pos.min(key.len())..],
    )
}

/// One field value as a key holds it: strings as their bytes (UTF-8, since keys are written
/// from `&str`s).
#[derive(Clone, Copy, Debug)]
pub(crate) enum RawValue<'a> {
    Str(&'a [u8]),
    Int(i64),
    Bool(bool),
}

/// The field values of an encoded key (the part after the target), in declaration order. It
/// stops at a key cut short, which tsmon never writes; nothing panics on one.
#[inline]
pub(crate) fn raw_values<'a>(
    fields: &'a [FieldDesc],
    mut bytes: &'a [u8],
) -> impl Iterator<Item = RawValue<'a>> + 'a {
    fields.iter().map_while(move |f| {
        let (value, rest) = match f.ty {
            FieldType::String => {
                let (len, pos) = match bytes.first() {
                    // Values shorter than 128 bytes: a one-byte length.
                    Some(&n) if n < 0x80 => (usize::from(n), 1),
                    _ => {
                        let mut pos = 0;
                        (usize::try_from(get_varint(bytes, &mut pos)?).ok()?, pos)
                    }
                };
                let s = bytes.get(pos..pos.checked_add(len)?)?;
                (RawValue::Str(s), &bytes[pos + len..])
            }
            FieldType::Int => {
                let raw: [u8; 8] = bytes.get(..8)?.try_into().ok()?;
                (RawValue::Int(i64::from_le_bytes(raw)), &bytes[8..])
            }
            FieldType::Bool => (RawValue::Bool(*bytes.first()? != 0), &bytes[1..]),
        };
        bytes = rest;
        Some(value)
    })
}

/// Decodes the field values of a key, in declaration order.
pub(crate) fn decode<'a>(
    fields: &'static [FieldDesc],
    bytes: &'a [u8],
) -> impl Iterator<Item = FieldValue<'a>> + 'a {
    raw_values(fields, bytes).map_while(|v| {
        Some(match v {
            RawValue::Str(b) => FieldValue::Str(std::str::from_utf8(b).ok()?),
            RawValue::Int(i) => FieldValue::Int(i),
            RawValue::Bool(b) => FieldValue::Bool(b),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::field::{Bool, FieldSet, Int, Str};

    fn key<F: FieldSet>(target: u32, values: F::Values<'_>) -> KeyBuf {
        let mut buf = KeyBuf::new();
        put_varint(&mut buf, u64::from(target));
        F::encode(values, &mut buf);
        buf
    }

    #[test]
    fn round_trip() {
        const FIELDS: &[FieldDesc] = &[
            FieldDesc::new("s", FieldType::String),
            FieldDesc::new("i", FieldType::Int),
            FieldDesc::new("b", FieldType::Bool),
        ];
        let k = key::<(Str, Int, Bool)>(300, ("héllo\"\n", -5, true));
        let (target, rest) = split_key(&k);
        assert_eq!(target, 300);
        let vals: Vec<_> = decode(FIELDS, rest).collect();
        assert_eq!(
            vals,
            [
                FieldValue::Str("héllo\"\n"),
                FieldValue::Int(-5),
                FieldValue::Bool(true)
            ]
        );
    }

    #[test]
    fn distinct_values_distinct_keys() {
        // Go's FNV hash has no separators; the key encoding is length-prefixed, so these differ.
        let a = key::<(Str, Str)>(0, ("ab", "c"));
        let b = key::<(Str, Str)>(0, ("a", "bc"));
        assert_ne!(&*a, &*b);
        assert_ne!(&*key::<Int1>(0, 1), &*key::<Int1>(0, 256));
        let long = "x".repeat(500);
        let k = key::<(Str, Int)>(1, (&long, 7));
        let (_, rest) = split_key(&k);
        const F: &[FieldDesc] = &[
            FieldDesc::new("s", FieldType::String),
            FieldDesc::new("i", FieldType::Int),
        ];
        assert_eq!(
            decode(F, rest).collect::<Vec<_>>(),
            [FieldValue::Str(&long), FieldValue::Int(7)]
        );
    }
    type Int1 = (Int,);

    #[test]
    fn types_follow_markers() {
        assert_eq!(
            <(Str, Int, Bool)>::TYPES,
            [FieldType::String, FieldType::Int, FieldType::Bool]
        );
        assert!(<()>::TYPES.is_empty());
    }

    #[test]
    fn key_eq_agrees_with_slice_equality_at_every_length() {
        for n in 0..48usize {
            let a: Vec<u8> = (0..n).map(|i| (i * 7 + n) as u8).collect();
            assert!(key_eq(&a, &a.clone()), "len {n}");
            for at in 0..n {
                let mut b = a.clone();
                b[at] ^= 0x40;
                assert!(!key_eq(&a, &b), "len {n}, byte {at}");
            }
            assert!(!key_eq(&a, &a[..n.saturating_sub(1)]) || n == 0);
        }
    }

    #[test]
    fn small_copies_copy_exactly() {
        for n in 0..40usize {
            let src: Vec<u8> = (0..n).map(|i| i as u8 + 1).collect();
            let mut buf = KeyBuf::new();
            buf.push(0xaa);
            buf.extend_from_slice(&src);
            buf.push(0xbb);
            let mut want = vec![0xaa];
            want.extend_from_slice(&src);
            want.push(0xbb);
            assert_eq!(&*buf, &want[..], "len {n}");
        }
    }

    #[test]
    fn values_match_their_own_key_only() {
        type F = (Str, Int, Bool);
        let long = "y".repeat(200);
        let values: [(&str, i64, bool); 6] = [
            ("ab", 1, true),
            ("a", 1, true),
            ("ab", -1, true),
            ("ab", 1, false),
            ("", 0, false),
            (&long, i64::MIN, true),
        ];
        for (i, v) in values.iter().enumerate() {
            let k = key::<F>(0, *v);
            let (_, fields) = split_key(&k);
            for (j, w) in values.iter().enumerate() {
                assert_eq!(F::matches(*w, fields), i == j, "{v:?} vs {w:?}");
                assert_eq!(F::hash(*v) == F::hash(*w), i == j, "{v:?} vs {w:?}");
            }
            // A key cut short or with bytes after it does not match.
            assert!(!F::matches(*v, &fields[..fields.len() - 1]));
            let mut longer = fields.to_vec();
            longer.push(0);
            assert!(!F::matches(*v, &longer));
        }
    }

    #[test]
    fn a_key_hashes_as_its_values_do() {
        type F = (Str, Int, Bool);
        const FIELDS: &[FieldDesc] = &[
            FieldDesc::new("s", FieldType::String),
            FieldDesc::new("i", FieldType::Int),
            FieldDesc::new("b", FieldType::Bool),
        ];
        let long = "z".repeat(300);
        for v in [
            ("", 0, false),
            ("abc", -7, true),
            ("0123456789abcdef!", 1 << 40, false),
            (&long[..], i64::MAX, true),
        ] {
            assert_eq!(hash_key(FIELDS, &key::<F>(0, v)), F::hash(v), "{v:?}");
            assert_eq!(
                hash_key(FIELDS, &key::<F>(9, v)),
                hash_with_target(F::hash(v), 9),
                "{v:?}"
            );
            assert_ne!(hash_key(FIELDS, &key::<F>(9, v)), F::hash(v));
        }
        assert_eq!(hash_key(&[], &key::<()>(0, ())), <()>::hash(()));
        const ONE: &[FieldDesc] = &[FieldDesc::new("i", FieldType::Int)];
        assert_eq!(hash_key(ONE, &key::<(Int,)>(0, 42)), <(Int,)>::hash(42));
    }
}
