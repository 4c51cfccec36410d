//! Fields: the typed labels of a metric.
//!
//! A metric declares its fields with [`metric!`](crate::metric!) as `name: String`, `name: i64` or
//! `name: bool` (the Go library's string, int and bool fields). The declaration becomes a type
//! parameter made of the markers [`Str`], [`Int`] and [`Bool`], so a wrong number or type of field
//! values does not compile:
//!
//! ```
//! tsmon::metric! {
//!     /// Requests served.
//!     pub static REQUESTS: Counter(route: String, status: i64) = "example/field/requests";
//! }
//! REQUESTS.add(1, ("/home", 200));
//! // REQUESTS.add(1, ("/home", "200")); // does not compile: `status` is an `i64`
//! assert_eq!(REQUESTS.get(("/home", 200)), 1);
//! ```
//!
//! A metric with one field takes the bare value (`"/home"`), one with none takes `()`.

use std::fmt;

/// The type of a field's values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FieldType {
    /// A UTF-8 string.
    String,
    /// A signed 64-bit integer (Go's `int`, `int32` and `int64` fields).
    Int,
    /// A boolean.
    Bool,
}

/// A field's name and type, as it stands in the catalog.
///
/// ```
/// use tsmon::field::{FieldDesc, FieldType};
/// const F: FieldDesc = FieldDesc::new("route", FieldType::String);
/// assert_eq!(F.to_string(), "Field(route, String)");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FieldDesc {
    /// The field (label) name.
    pub name: &'static str,
    /// The type of its values.
    pub ty: FieldType,
}

impl FieldDesc {
    /// A field descriptor.
    ///
    /// ```
    /// # use tsmon::field::{FieldDesc, FieldType};
    /// assert_eq!(FieldDesc::new("ok", FieldType::Bool).ty, FieldType::Bool);
    /// ```
    #[must_use]
    pub const fn new(name: &'static str, ty: FieldType) -> Self {
        FieldDesc { name, ty }
    }
}

impl fmt::Display for FieldDesc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Field({}, {:?})", self.name, self.ty)
    }
}

/// One decoded field value, as a snapshot gives it back.
///
/// ```
/// use tsmon::field::FieldValue;
/// assert_eq!(FieldValue::Int(3).to_string(), "3");
/// assert_eq!(FieldValue::Str("a").to_string(), "a");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FieldValue<'a> {
    /// A string value.
    Str(&'a str),
    /// An integer value.
    Int(i64),
    /// A boolean value.
    Bool(bool),
}

impl fmt::Display for FieldValue<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FieldValue::Str(s) => f.write_str(s),
            FieldValue::Int(i) => write!(f, "{i}"),
            FieldValue::Bool(b) => write!(f, "{b}"),
        }
    }
}

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

    #[inline]
    pub(crate) fn push(&mut self, b: u8) {
        self.extend_from_slice(&[b]);
    }

    #[inline]
    pub(crate) fn extend_from_slice(&mut self, bytes: &[u8]) {
        let end = self.len + bytes.len();
        if end <= Self::INLINE {
            // SAFETY: `len..end` is within `inline`, and `bytes` cannot overlap our own buffer.
            unsafe {
                std::ptr::copy_nonoverlapping(
                    bytes.as_ptr(),
                    self.inline.as_mut_ptr().add(self.len).cast::<u8>(),
                    bytes.len(),
                );
            }
        } else {
            if self.heap.is_empty() {
                let mut heap = Vec::with_capacity(end.max(2 * Self::INLINE));
                heap.extend_from_slice(self.inline_bytes());
                self.heap = heap;
            }
            self.heap.extend_from_slice(bytes);
        }
        self.len = end;
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

#[inline]
pub(crate) fn put_varint(out: &mut KeyBuf, mut v: u64) {
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

fn get_varint(bytes: &[u8], pos: &mut usize) -> Option<u64> {
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

/// Splits an encoded key into its target id and the encoded field values.
pub(crate) fn split_key(key: &[u8]) -> (u32, &[u8]) {
    let mut pos = 0;
    let target = get_varint(key, &mut pos).unwrap_or(0);
    (
        u32::try_from(target).unwrap_or(0),
        &key[pos.min(key.len())..],
    )
}

/// Decodes the field values of a key, in declaration order.
pub(crate) fn decode<'a>(
    fields: &'static [FieldDesc],
    mut bytes: &'a [u8],
) -> impl Iterator<Item = FieldValue<'a>> + 'a {
    fields.iter().map_while(move |f| {
        let (value, rest) = match f.ty {
            FieldType::String => {
                let mut pos = 0;
                let len = usize::try_from(get_varint(bytes, &mut pos)?).ok()?;
                let s = std::str::from_utf8(bytes.get(pos..pos + len)?).ok()?;
                (FieldValue::Str(s), &bytes[pos + len..])
            }
            FieldType::Int => {
                let raw: [u8; 8] = bytes.get(..8)?.try_into().ok()?;
                (FieldValue::Int(i64::from_le_bytes(raw)), &bytes[8..])
            }
            FieldType::Bool => (FieldValue::Bool(*bytes.first()? != 0), &bytes[1..]),
        };
        bytes = rest;
        Some(value)
    })
}

mod sealed {
    pub trait Sealed {}
}

/// A field type marker: [`Str`], [`Int`] or [`Bool`].
pub trait FieldMarker: sealed::Sealed + 'static {
    /// The Rust type of a value of this field.
    type Value<'a>: Copy;
    /// The field type.
    const TYPE: FieldType;
    #[doc(hidden)]
    fn encode(value: Self::Value<'_>, out: &mut KeyBuf);
}

/// The marker of a `String` field; its values are `&str`.
#[derive(Debug, Clone, Copy)]
pub struct Str;
/// The marker of an `i64` field.
#[derive(Debug, Clone, Copy)]
pub struct Int;
/// The marker of a `bool` field.
#[derive(Debug, Clone, Copy)]
pub struct Bool;

impl sealed::Sealed for Str {}
impl sealed::Sealed for Int {}
impl sealed::Sealed for Bool {}

impl FieldMarker for Str {
    type Value<'a> = &'a str;
    const TYPE: FieldType = FieldType::String;
    fn encode(value: &str, out: &mut KeyBuf) {
        put_varint(out, value.len() as u64);
        out.extend_from_slice(value.as_bytes());
    }
}

impl FieldMarker for Int {
    type Value<'a> = i64;
    const TYPE: FieldType = FieldType::Int;
    fn encode(value: i64, out: &mut KeyBuf) {
        out.extend_from_slice(&value.to_le_bytes());
    }
}

impl FieldMarker for Bool {
    type Value<'a> = bool;
    const TYPE: FieldType = FieldType::Bool;
    fn encode(value: bool, out: &mut KeyBuf) {
        out.push(u8::from(value));
    }
}

/// The field list of a metric, as a tuple of markers: `()`, `(Str,)`, `(Str, Int)`, …
///
/// `Values` is what a write takes: `()` for no field, the bare value for one field, a tuple for
/// more.
pub trait FieldSet: 'static {
    /// The field values of one series.
    type Values<'a>: Copy;
    /// The field types, in order.
    const TYPES: &'static [FieldType];
    #[doc(hidden)]
    fn encode(values: Self::Values<'_>, out: &mut KeyBuf);
}

impl FieldSet for () {
    type Values<'a> = ();
    const TYPES: &'static [FieldType] = &[];
    fn encode((): (), _: &mut KeyBuf) {}
}

impl<A: FieldMarker> FieldSet for (A,) {
    type Values<'a> = A::Value<'a>;
    const TYPES: &'static [FieldType] = &[A::TYPE];
    fn encode(value: Self::Values<'_>, out: &mut KeyBuf) {
        A::encode(value, out);
    }
}

macro_rules! tuple_field_set {
    ($($t:ident $v:ident),+) => {
        impl<$($t: FieldMarker),+> FieldSet for ($($t,)+) {
            type Values<'a> = ($($t::Value<'a>,)+);
            const TYPES: &'static [FieldType] = &[$($t::TYPE),+];
            fn encode(($($v,)+): Self::Values<'_>, out: &mut KeyBuf) {
                $($t::encode($v, out);)+
            }
        }
    };
}

tuple_field_set!(A a, B b);
tuple_field_set!(A a, B b, C c);
tuple_field_set!(A a, B b, C c, D d);
tuple_field_set!(A a, B b, C c, D d, E e);
tuple_field_set!(A a, B b, C c, D d, E e, F f);
tuple_field_set!(A a, B b, C c, D d, E e, F f, G g);
tuple_field_set!(A a, B b, C c, D d, E e, F f, G g, H h);

#[cfg(test)]
mod tests {
    use super::*;

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
}
