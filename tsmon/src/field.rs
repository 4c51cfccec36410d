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

mod key;

pub use key::KeyBuf;
#[cfg(feature = "test-util")]
pub(crate) use key::hash_with_target;
pub(crate) use key::{
    HASH_START, RawValue, decode, get_varint, hash_bool, hash_int, hash_key, hash_str, key_eq,
    put_varint, raw_values, small_copy, split_key,
};

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
    /// Mixes the value into a lookup-cache hash, straight from the value (no key is written
    /// first: reading back bytes just stored in pieces stalls the CPU).
    #[doc(hidden)]
    fn hash(value: Self::Value<'_>, h: u64) -> u64;
    /// Whether the encoded key continues, at `*pos`, with this value; advances `pos`.
    #[doc(hidden)]
    fn matches(value: Self::Value<'_>, key: &[u8], pos: &mut usize) -> bool;
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
    #[inline(always)]
    fn encode(value: &str, out: &mut KeyBuf) {
        put_varint(out, value.len() as u64);
        out.extend_from_slice(value.as_bytes());
    }
    #[inline(always)]
    fn hash(value: &str, h: u64) -> u64 {
        hash_str(value.as_bytes(), h)
    }
    #[inline(always)]
    fn matches(value: &str, key: &[u8], pos: &mut usize) -> bool {
        let n = value.len();
        let start = if n < 0x80 {
            if key.get(*pos) != Some(&(n as u8)) {
                return false;
            }
            *pos + 1
        } else {
            let mut p = *pos;
            if get_varint(key, &mut p) != Some(n as u64) {
                return false;
            }
            p
        };
        match key.get(start..start + n) {
            Some(bytes) if key_eq(bytes, value.as_bytes()) => {
                *pos = start + n;
                true
            }
            _ => false,
        }
    }
}

impl FieldMarker for Int {
    type Value<'a> = i64;
    const TYPE: FieldType = FieldType::Int;
    #[inline(always)]
    fn encode(value: i64, out: &mut KeyBuf) {
        out.extend_from_slice(&value.to_le_bytes());
    }
    #[inline(always)]
    fn hash(value: i64, h: u64) -> u64 {
        hash_int(value, h)
    }
    #[inline(always)]
    fn matches(value: i64, key: &[u8], pos: &mut usize) -> bool {
        match key.get(*pos..*pos + 8) {
            Some(bytes) if bytes == value.to_le_bytes() => {
                *pos += 8;
                true
            }
            _ => false,
        }
    }
}

impl FieldMarker for Bool {
    type Value<'a> = bool;
    const TYPE: FieldType = FieldType::Bool;
    #[inline(always)]
    fn encode(value: bool, out: &mut KeyBuf) {
        out.push(u8::from(value));
    }
    #[inline(always)]
    fn hash(value: bool, h: u64) -> u64 {
        hash_bool(value, h)
    }
    #[inline(always)]
    fn matches(value: bool, key: &[u8], pos: &mut usize) -> bool {
        if key.get(*pos) == Some(&u8::from(value)) {
            *pos += 1;
            true
        } else {
            false
        }
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
    /// A hash of the values for the lookup cache (the map hashes encoded keys instead).
    #[doc(hidden)]
    fn hash(values: Self::Values<'_>) -> u64;
    /// Whether `fields` (the part of a key after the target) encodes exactly these values.
    #[doc(hidden)]
    fn matches(values: Self::Values<'_>, fields: &[u8]) -> bool;
}

impl FieldSet for () {
    type Values<'a> = ();
    const TYPES: &'static [FieldType] = &[];
    #[inline(always)]
    fn encode((): (), _: &mut KeyBuf) {}
    #[inline(always)]
    fn hash((): ()) -> u64 {
        0
    }
    #[inline(always)]
    fn matches((): (), fields: &[u8]) -> bool {
        fields.is_empty()
    }
}

impl<A: FieldMarker> FieldSet for (A,) {
    type Values<'a> = A::Value<'a>;
    const TYPES: &'static [FieldType] = &[A::TYPE];
    #[inline(always)]
    fn encode(value: Self::Values<'_>, out: &mut KeyBuf) {
        A::encode(value, out);
    }
    #[inline(always)]
    fn hash(value: Self::Values<'_>) -> u64 {
        A::hash(value, HASH_START)
    }
    #[inline(always)]
    fn matches(value: Self::Values<'_>, fields: &[u8]) -> bool {
        let mut pos = 0;
        A::matches(value, fields, &mut pos) && pos == fields.len()
    }
}

macro_rules! tuple_field_set {
    ($($t:ident $v:ident),+) => {
        impl<$($t: FieldMarker),+> FieldSet for ($($t,)+) {
            type Values<'a> = ($($t::Value<'a>,)+);
            const TYPES: &'static [FieldType] = &[$($t::TYPE),+];
            #[inline(always)]
            fn encode(($($v,)+): Self::Values<'_>, out: &mut KeyBuf) {
                $($t::encode($v, out);)+
            }
            #[inline(always)]
            fn hash(($($v,)+): Self::Values<'_>) -> u64 {
                let h = HASH_START;
                $(let h = $t::hash($v, h);)+
                h
            }
            #[inline(always)]
            fn matches(($($v,)+): Self::Values<'_>, fields: &[u8]) -> bool {
                let mut pos = 0;
                $($t::matches($v, fields, &mut pos) &&)+ pos == fields.len()
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
