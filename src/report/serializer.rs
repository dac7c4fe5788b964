//! The serde `Serializer` behind both JSON formats: the bytes serde_json writes, faster.
//!
//! serde_json looks for the characters a JSON string must escape (RFC 8259 §7: `"`, `\` and
//! controls below U+0020) one byte at a time, with bounds checks: a tenth of all of
//! kaprobe's instructions went there (docs/performance.md, eleventh pass), because a report is
//! mostly short keys and short values (about 950,000 strings in a 24 MB document). This
//! serializer finds them eight bytes at a time, writes struct keys straight from their
//! `&'static str`, and writes into a `Vec<u8>` (both formats render into one) instead of
//! through `io::Write`.
//!
//! Everything else is serde_json's: layout, numbers (but the micro-decimals of times and
//! durations, [`super::decimal::whole_micros`], whose text is written directly) and escapes
//! go through its public [`Formatter`] trait (so `--format json` keeps [`super::json`]'s
//! `Indented` layout and jsonl serde_json's `CompactFormatter`), and every call happens in
//! the order serde_json's own `Serializer` makes it, so the output is byte-identical (the
//! tests compare both on every kind of value). Errors are `serde_json::Error`s with
//! serde_json's messages.
//!
//! Only the analysis report goes through it; the host commands' and live capture's small
//! documents stay on serde_json's own writer, where speed does not matter.

use serde::ser::{self, Error as _, Impossible, Serialize};
use serde_json::Error;
use serde_json::ser::{CharEscape, CompactFormatter, Formatter};
use std::fmt::{self, Write as _};
use std::io;

/// Appends `value` as compact JSON (what `serde_json::to_writer` writes).
pub fn append_compact<T: Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) -> Result<(), Error> {
    append(out, CompactFormatter, value)
}

/// A serde_json [`Formatter`] that can also write everything before a struct field's value
/// at once. A report is mostly struct fields (about 500,000 in a 24 MB document); through
/// the `Formatter` calls, each key was six writes (separator and indentation, quote, name,
/// quote, `: `), together a third of rendering (docs/performance.md, seventeenth pass).
pub trait Layout: Formatter {
    /// The separator before a field (none when `first`), its key and what comes between key
    /// and value: what `begin_object_key`, the key as a string, `end_object_key` and
    /// `begin_object_value` write.
    fn struct_key(&mut self, out: &mut Vec<u8>, first: bool, key: &'static str) -> io::Result<()> {
        self.begin_object_key(out, first)?;
        self.begin_string(out)?;
        self.write_string_fragment(out, key)?;
        self.end_string(out)?;
        self.end_object_key(out)?;
        self.begin_object_value(out)
    }
}

/// jsonl: `,"key":` in one reservation.
impl Layout for CompactFormatter {
    fn struct_key(&mut self, out: &mut Vec<u8>, first: bool, key: &'static str) -> io::Result<()> {
        out.reserve(key.len() + 4);
        if !first {
            out.push(b',');
        }
        out.push(b'"');
        out.extend_from_slice(key.as_bytes());
        out.extend_from_slice(b"\":");
        Ok(())
    }
}

/// The tests compare with serde_json's own pretty printer.
#[cfg(test)]
impl Layout for serde_json::ser::PrettyFormatter<'_> {}

/// Appends `value` laid out by `formatter`.
pub fn append<T: Serialize + ?Sized, F: Layout>(
    out: &mut Vec<u8>,
    formatter: F,
    value: &T,
) -> Result<(), Error> {
    value.serialize(&mut JsonSerializer { out, formatter })
}

pub struct JsonSerializer<'o, F> {
    out: &'o mut Vec<u8>,
    formatter: F,
}

/// Writing into a `Vec` cannot fail, but the `Formatter` trait returns `io::Result`.
fn io(result: io::Result<()>) -> Result<(), Error> {
    result.map_err(Error::custom)
}

impl<F: Layout> JsonSerializer<'_, F> {
    fn string(&mut self, value: &str) -> Result<(), Error> {
        io(self.formatter.begin_string(self.out))?;
        io(escaped_contents(self.out, &mut self.formatter, value))?;
        io(self.formatter.end_string(self.out))
    }

    /// `{"variant": ` of an externally tagged enum variant with content.
    fn open_variant(&mut self, variant: &str) -> Result<(), Error> {
        io(self.formatter.begin_object(self.out))?;
        io(self.formatter.begin_object_key(self.out, true))?;
        self.string(variant)?;
        io(self.formatter.end_object_key(self.out))?;
        io(self.formatter.begin_object_value(self.out))
    }

    fn open_array(&mut self, len: Option<usize>) -> Result<State, Error> {
        io(self.formatter.begin_array(self.out))?;
        if len == Some(0) {
            io(self.formatter.end_array(self.out))?;
            return Ok(State::Empty);
        }
        Ok(State::First)
    }

    fn open_object(&mut self, len: Option<usize>) -> Result<State, Error> {
        io(self.formatter.begin_object(self.out))?;
        if len == Some(0) {
            io(self.formatter.end_object(self.out))?;
            return Ok(State::Empty);
        }
        Ok(State::First)
    }
}

/// A string's contents with JSON's escapes; runs that need none are written whole (most
/// strings in a report are short keys and values with nothing to escape: one search, one
/// write).
#[inline]
fn escaped_contents<F: Formatter>(
    out: &mut Vec<u8>,
    formatter: &mut F,
    value: &str,
) -> io::Result<()> {
    let mut rest = value;
    while let Some(at) = first_to_escape(rest.as_bytes()) {
        // `at` is an ASCII byte, so both cuts fall on character boundaries.
        let (run, escaped) = (rest.get(..at).unwrap_or(""), rest.as_bytes().get(at));
        if !run.is_empty() {
            formatter.write_string_fragment(out, run)?;
        }
        if let Some(&byte) = escaped {
            formatter.write_char_escape(out, char_escape(byte))?;
        }
        rest = rest.get(at + 1..).unwrap_or("");
    }
    if rest.is_empty() {
        return Ok(());
    }
    formatter.write_string_fragment(out, rest)
}

fn needs_escape(byte: u8) -> bool {
    NEEDS_ESCAPE.get(usize::from(byte)).copied().unwrap_or(true)
}

/// The bytes JSON strings escape: `"`, `\` and the controls below 0x20.
static NEEDS_ESCAPE: [bool; 256] = {
    let mut table = [false; 256];
    let mut byte = 0;
    while byte < 256 {
        table[byte] = byte < 0x20 || byte == b'"' as usize || byte == b'\\' as usize;
        byte += 1;
    }
    table
};

/// The same escapes as serde_json's table: the short forms JSON has, `\u00XX` for the rest.
fn char_escape(byte: u8) -> CharEscape {
    match byte {
        b'"' => CharEscape::Quote,
        b'\\' => CharEscape::ReverseSolidus,
        0x08 => CharEscape::Backspace,
        0x09 => CharEscape::Tab,
        0x0A => CharEscape::LineFeed,
        0x0C => CharEscape::FormFeed,
        0x0D => CharEscape::CarriageReturn,
        other => CharEscape::AsciiControl(other),
    }
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGH_BITS: u64 = 0x8080_8080_8080_8080;

/// Whether any byte of the eight in `word` needs an escape, with the classic bit tricks
/// (exact for "any": a borrow only spills past a byte that matched).
fn word_needs_escape(word: u64) -> bool {
    let below_space = word.wrapping_sub(ONES * 0x20) & !word;
    let quote = word ^ (ONES * u64::from(b'"'));
    let backslash = word ^ (ONES * u64::from(b'\\'));
    let has_zero = |v: u64| v.wrapping_sub(ONES) & !v;
    (below_space | has_zero(quote) | has_zero(backslash)) & HIGH_BITS != 0
}

/// Where the first byte to escape is: words are skipped while none of theirs needs one and
/// the byte is then found one at a time; the few bytes after the last word are tested
/// without a branch each first (the common end: nothing to escape).
#[inline]
fn first_to_escape(bytes: &[u8]) -> Option<usize> {
    let position_from = |start: usize| {
        let offset = bytes
            .get(start..)?
            .iter()
            .position(|&byte| needs_escape(byte))?;
        Some(start + offset)
    };
    let mut words = bytes.chunks_exact(8);
    let mut start = 0;
    for chunk in &mut words {
        let Ok(word) = <[u8; 8]>::try_from(chunk) else {
            return position_from(start);
        };
        if word_needs_escape(u64::from_le_bytes(word)) {
            return position_from(start);
        }
        start += 8;
    }
    let tail = words.remainder();
    if !tail
        .iter()
        .fold(false, |any, &byte| any | needs_escape(byte))
    {
        return None;
    }
    position_from(start)
}

macro_rules! write_number {
    ($($method:ident: $type:ty => $write:ident,)*) => {
        $(fn $method(self, value: $type) -> Result<(), Error> {
            io(self.formatter.$write(self.out, value))
        })*
    };
}

impl<'s, 'o, F: Layout> ser::Serializer for &'s mut JsonSerializer<'o, F> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Compound<'s, 'o, F>;
    type SerializeTuple = Compound<'s, 'o, F>;
    type SerializeTupleStruct = Compound<'s, 'o, F>;
    type SerializeTupleVariant = Compound<'s, 'o, F>;
    type SerializeMap = Compound<'s, 'o, F>;
    type SerializeStruct = Compound<'s, 'o, F>;
    type SerializeStructVariant = Compound<'s, 'o, F>;

    write_number! {
        serialize_bool: bool => write_bool,
        serialize_i8: i8 => write_i8,
        serialize_i16: i16 => write_i16,
        serialize_i32: i32 => write_i32,
        serialize_i64: i64 => write_i64,
        serialize_i128: i128 => write_i128,
        serialize_u8: u8 => write_u8,
        serialize_u16: u16 => write_u16,
        serialize_u32: u32 => write_u32,
        serialize_u64: u64 => write_u64,
        serialize_u128: u128 => write_u128,
    }

    fn serialize_f32(self, value: f32) -> Result<(), Error> {
        if value.is_finite() {
            io(self.formatter.write_f32(self.out, value))
        } else {
            io(self.formatter.write_null(self.out))
        }
    }

    fn serialize_f64(self, value: f64) -> Result<(), Error> {
        // Times and durations, most of a report's numbers: the formatter would write the
        // same text (`decimal::whole_micros`) through a general shortest-text search.
        if let Some(micros) = super::decimal::whole_micros(value) {
            super::decimal::push_micros(self.out, micros);
            Ok(())
        } else if value.is_finite() {
            io(self.formatter.write_f64(self.out, value))
        } else {
            io(self.formatter.write_null(self.out))
        }
    }

    fn serialize_char(self, value: char) -> Result<(), Error> {
        self.string(value.encode_utf8(&mut [0; 4]))
    }

    fn serialize_str(self, value: &str) -> Result<(), Error> {
        self.string(value)
    }

    fn serialize_bytes(self, value: &[u8]) -> Result<(), Error> {
        io(self.formatter.write_byte_array(self.out, value))
    }

    fn serialize_none(self) -> Result<(), Error> {
        self.serialize_unit()
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Error> {
        value.serialize(self)
    }

    fn serialize_unit(self) -> Result<(), Error> {
        io(self.formatter.write_null(self.out))
    }

    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), Error> {
        self.serialize_unit()
    }

    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<(), Error> {
        self.string(variant)
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        self.open_variant(variant)?;
        value.serialize(&mut *self)?;
        io(self.formatter.end_object_value(self.out))?;
        io(self.formatter.end_object(self.out))
    }

    fn serialize_seq(self, len: Option<usize>) -> Result<Compound<'s, 'o, F>, Error> {
        let state = self.open_array(len)?;
        Ok(Compound {
            serializer: self,
            state,
        })
    }

    fn serialize_tuple(self, len: usize) -> Result<Compound<'s, 'o, F>, Error> {
        self.serialize_seq(Some(len))
    }

    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        len: usize,
    ) -> Result<Compound<'s, 'o, F>, Error> {
        self.serialize_seq(Some(len))
    }

    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Compound<'s, 'o, F>, Error> {
        self.open_variant(variant)?;
        self.serialize_seq(Some(len))
    }

    fn serialize_map(self, len: Option<usize>) -> Result<Compound<'s, 'o, F>, Error> {
        let state = self.open_object(len)?;
        Ok(Compound {
            serializer: self,
            state,
        })
    }

    fn serialize_struct(
        self,
        _name: &'static str,
        len: usize,
    ) -> Result<Compound<'s, 'o, F>, Error> {
        self.serialize_map(Some(len))
    }

    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Compound<'s, 'o, F>, Error> {
        self.open_variant(variant)?;
        self.serialize_map(Some(len))
    }

    /// Formatted straight into the output, escaped piece by piece, as serde_json does.
    fn collect_str<T: fmt::Display + ?Sized>(self, value: &T) -> Result<(), Error> {
        io(self.formatter.begin_string(self.out))?;
        let mut escaper = Escaper {
            out: &mut *self.out,
            formatter: &mut self.formatter,
        };
        write!(escaper, "{value}").map_err(Error::custom)?;
        io(self.formatter.end_string(self.out))
    }
}

struct Escaper<'a, F> {
    out: &'a mut Vec<u8>,
    formatter: &'a mut F,
}

impl<F: Layout> fmt::Write for Escaper<'_, F> {
    fn write_str(&mut self, piece: &str) -> fmt::Result {
        escaped_contents(self.out, self.formatter, piece).map_err(|_| fmt::Error)
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Opened and closed at once (a known length of 0).
    Empty,
    First,
    Rest,
}

/// An array or object being written.
pub struct Compound<'s, 'o, F> {
    serializer: &'s mut JsonSerializer<'o, F>,
    state: State,
}

impl<F: Layout> Compound<'_, '_, F> {
    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        let serializer = &mut *self.serializer;
        let first = self.state == State::First;
        io(serializer
            .formatter
            .begin_array_value(serializer.out, first))?;
        self.state = State::Rest;
        value.serialize(&mut *serializer)?;
        io(serializer.formatter.end_array_value(serializer.out))
    }

    fn end_array(self) -> Result<(), Error> {
        if self.state == State::Empty {
            return Ok(());
        }
        io(self.serializer.formatter.end_array(self.serializer.out))
    }

    fn end_object(self) -> Result<(), Error> {
        if self.state == State::Empty {
            return Ok(());
        }
        io(self.serializer.formatter.end_object(self.serializer.out))
    }

    /// The `}` of an externally tagged variant, after its content.
    fn end_variant(serializer: &mut JsonSerializer<'_, F>) -> Result<(), Error> {
        io(serializer.formatter.end_object_value(serializer.out))?;
        io(serializer.formatter.end_object(serializer.out))
    }

    fn key_with<K: FnOnce(&mut JsonSerializer<'_, F>) -> Result<(), Error>>(
        &mut self,
        write_key: K,
    ) -> Result<(), Error> {
        let serializer = &mut *self.serializer;
        let first = self.state == State::First;
        io(serializer.formatter.begin_object_key(serializer.out, first))?;
        self.state = State::Rest;
        write_key(serializer)?;
        io(serializer.formatter.end_object_key(serializer.out))
    }

    fn value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        let serializer = &mut *self.serializer;
        io(serializer.formatter.begin_object_value(serializer.out))?;
        value.serialize(&mut *serializer)?;
        io(serializer.formatter.end_object_value(serializer.out))
    }
}

/// The three serde forms that are plain JSON arrays.
macro_rules! array_forms {
    ($($form:ident::$add:ident,)*) => {
        $(impl<F: Layout> ser::$form for Compound<'_, '_, F> {
            type Ok = ();
            type Error = Error;

            fn $add<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
                self.element(value)
            }

            fn end(self) -> Result<(), Error> {
                self.end_array()
            }
        })*
    };
}

array_forms! {
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
}

impl<F: Layout> ser::SerializeTupleVariant for Compound<'_, '_, F> {
    type Ok = ();
    type Error = Error;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.element(value)
    }

    fn end(self) -> Result<(), Error> {
        let serializer = &mut *self.serializer;
        if self.state != State::Empty {
            io(serializer.formatter.end_array(serializer.out))?;
        }
        Self::end_variant(serializer)
    }
}

impl<F: Layout> ser::SerializeMap for Compound<'_, '_, F> {
    type Ok = ();
    type Error = Error;

    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Error> {
        self.key_with(|serializer| key.serialize(KeySerializer { serializer }))
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.value(value)
    }

    fn end(self) -> Result<(), Error> {
        self.end_object()
    }
}

impl<F: Layout> ser::SerializeStruct for Compound<'_, '_, F> {
    type Ok = ();
    type Error = Error;

    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        // Field names are Rust identifiers or renames in this crate, none with a character
        // JSON escapes (this checks it on every field every test serializes), so they are
        // written whole, without the escape scan.
        debug_assert!(first_to_escape(key.as_bytes()).is_none(), "{key:?}");
        let serializer = &mut *self.serializer;
        let first = self.state == State::First;
        self.state = State::Rest;
        io(serializer.formatter.struct_key(serializer.out, first, key))?;
        value.serialize(&mut *serializer)?;
        io(serializer.formatter.end_object_value(serializer.out))
    }

    fn end(self) -> Result<(), Error> {
        self.end_object()
    }
}

impl<F: Layout> ser::SerializeStructVariant for Compound<'_, '_, F> {
    type Ok = ();
    type Error = Error;

    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        ser::SerializeStruct::serialize_field(self, key, value)
    }

    fn end(self) -> Result<(), Error> {
        let serializer = &mut *self.serializer;
        if self.state != State::Empty {
            io(serializer.formatter.end_object(serializer.out))?;
        }
        Self::end_variant(serializer)
    }
}

/// Map keys: JSON keys are strings, so numbers and booleans are written quoted and anything
/// else is refused, with serde_json's rules and messages.
struct KeySerializer<'k, 'o, F> {
    serializer: &'k mut JsonSerializer<'o, F>,
}

fn key_must_be_a_string() -> Error {
    Error::custom("key must be a string")
}

macro_rules! quoted_key {
    ($($method:ident: $type:ty => $write:ident,)*) => {
        $(fn $method(self, value: $type) -> Result<(), Error> {
            self.quoted(|formatter, out| formatter.$write(out, value))
        })*
    };
}

macro_rules! refused_key {
    ($($method:ident($($argument:ident: $type:ty),*) -> $result:ty,)*) => {
        $(fn $method(self, $(_: $type),*) -> Result<$result, Error> {
            Err(key_must_be_a_string())
        })*
    };
}

impl<F: Layout> KeySerializer<'_, '_, F> {
    fn quoted(
        self,
        write: impl FnOnce(&mut F, &mut Vec<u8>) -> io::Result<()>,
    ) -> Result<(), Error> {
        let serializer = self.serializer;
        io(serializer.formatter.begin_string(serializer.out))?;
        io(write(&mut serializer.formatter, serializer.out))?;
        io(serializer.formatter.end_string(serializer.out))
    }
}

impl<F: Layout> ser::Serializer for KeySerializer<'_, '_, F> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Impossible<(), Error>;
    type SerializeTuple = Impossible<(), Error>;
    type SerializeTupleStruct = Impossible<(), Error>;
    type SerializeTupleVariant = Impossible<(), Error>;
    type SerializeMap = Impossible<(), Error>;
    type SerializeStruct = Impossible<(), Error>;
    type SerializeStructVariant = Impossible<(), Error>;

    quoted_key! {
        serialize_bool: bool => write_bool,
        serialize_i8: i8 => write_i8,
        serialize_i16: i16 => write_i16,
        serialize_i32: i32 => write_i32,
        serialize_i64: i64 => write_i64,
        serialize_i128: i128 => write_i128,
        serialize_u8: u8 => write_u8,
        serialize_u16: u16 => write_u16,
        serialize_u32: u32 => write_u32,
        serialize_u64: u64 => write_u64,
        serialize_u128: u128 => write_u128,
    }

    refused_key! {
        serialize_bytes(value: &[u8]) -> (),
        serialize_unit() -> (),
        serialize_unit_struct(name: &'static str) -> (),
        serialize_none() -> (),
        serialize_seq(len: Option<usize>) -> Impossible<(), Error>,
        serialize_tuple(len: usize) -> Impossible<(), Error>,
        serialize_tuple_struct(name: &'static str, len: usize) -> Impossible<(), Error>,
        serialize_tuple_variant(name: &'static str, index: u32, variant: &'static str, len: usize) -> Impossible<(), Error>,
        serialize_map(len: Option<usize>) -> Impossible<(), Error>,
        serialize_struct(name: &'static str, len: usize) -> Impossible<(), Error>,
        serialize_struct_variant(name: &'static str, index: u32, variant: &'static str, len: usize) -> Impossible<(), Error>,
    }

    fn serialize_f32(self, value: f32) -> Result<(), Error> {
        if !value.is_finite() {
            return Err(Error::custom(
                "float key must be finite (got NaN or +/-inf)",
            ));
        }
        self.quoted(|formatter, out| formatter.write_f32(out, value))
    }

    fn serialize_f64(self, value: f64) -> Result<(), Error> {
        if !value.is_finite() {
            return Err(Error::custom(
                "float key must be finite (got NaN or +/-inf)",
            ));
        }
        self.quoted(|formatter, out| formatter.write_f64(out, value))
    }

    fn serialize_char(self, value: char) -> Result<(), Error> {
        self.serializer.string(value.encode_utf8(&mut [0; 4]))
    }

    fn serialize_str(self, value: &str) -> Result<(), Error> {
        self.serializer.string(value)
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Error> {
        value.serialize(self)
    }

    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<(), Error> {
        self.serializer.string(variant)
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _value: &T,
    ) -> Result<(), Error> {
        Err(key_must_be_a_string())
    }

    fn collect_str<T: fmt::Display + ?Sized>(self, value: &T) -> Result<(), Error> {
        ser::Serializer::collect_str(self.serializer, value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::collections::BTreeMap;

    fn compact<T: Serialize + ?Sized>(value: &T) -> String {
        let mut out = Vec::new();
        append_compact(&mut out, value).unwrap();
        String::from_utf8(out).unwrap()
    }

    fn pretty<T: Serialize + ?Sized>(value: &T) -> String {
        let mut out = Vec::new();
        append(&mut out, serde_json::ser::PrettyFormatter::new(), value).unwrap();
        String::from_utf8(out).unwrap()
    }

    /// Every byte that must be escaped, at every position of a word and across words, and the
    /// bytes around the ranges the bit tricks test (0x1F/0x20, 0x21/0x22/0x23, 0x5B/0x5C/0x5D,
    /// 0x7F, and bytes above 0x80 inside UTF-8 text).
    #[test]
    fn strings_are_escaped_as_serde_json_escapes_them() {
        let mut samples: Vec<String> = vec![String::new(), "plain".into(), "é ü 日本 🦀".into()];
        for byte in (0u8..0x80).chain([0x7F]) {
            for position in 0..17 {
                let mut text = "a".repeat(position);
                text.push(char::from(byte));
                text.push_str("bcdefghij");
                samples.push(text);
            }
        }
        samples.push("\"\\\u{1}\n\t\r\u{8}\u{c}\u{1f}\u{7f}".repeat(5));
        samples.push("ünïcödé\"with\\escapes\u{0}across/words".into());
        for sample in &samples {
            assert_eq!(compact(sample), serde_json::to_string(sample).unwrap());
        }
    }

    #[test]
    fn the_word_test_matches_the_byte_test() {
        for byte in 0..=255u8 {
            for position in 0..8 {
                let mut word = [b'x'; 8];
                if let Some(slot) = word.get_mut(position) {
                    *slot = byte;
                }
                assert_eq!(
                    word_needs_escape(u64::from_le_bytes(word)),
                    needs_escape(byte),
                    "byte {byte:#04x} at {position}"
                );
            }
        }
    }

    #[derive(serde::Serialize)]
    enum Shape {
        Unit,
        Newtype(u8),
        Tuple(u8, String),
        Empty(),
        Struct {
            side: f64,
            name: Option<&'static str>,
        },
        NoFields {},
    }

    #[derive(serde::Serialize)]
    struct Everything {
        unit: (),
        flag: bool,
        small: i8,
        big: u128,
        negative: i64,
        float: f32,
        double: f64,
        not_a_number: f64,
        infinite: f32,
        letter: char,
        text: &'static str,
        bytes: serde_bytes_like::Bytes,
        none: Option<u8>,
        some: Option<Vec<u8>>,
        empty_list: Vec<u8>,
        nested: Vec<Vec<u8>>,
        shapes: Vec<Shape>,
        numbers_as_keys: BTreeMap<u32, &'static str>,
        signed_keys: BTreeMap<i8, f64>,
        empty_map: BTreeMap<String, u8>,
        display: Displayed,
        value: serde_json::Value,
    }

    mod serde_bytes_like {
        pub struct Bytes(pub Vec<u8>);
        impl serde::Serialize for Bytes {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_bytes(&self.0)
            }
        }
    }

    struct Displayed;
    impl Serialize for Displayed {
        fn serialize<S: ser::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            serializer.collect_str(&format_args!("a\"quoted\"{}\npiece", 42))
        }
    }

    fn everything() -> Everything {
        Everything {
            unit: (),
            flag: true,
            small: -8,
            big: u128::MAX,
            negative: i64::MIN,
            float: 0.1,
            double: 1_704_067_200.003_01,
            not_a_number: f64::NAN,
            infinite: f32::INFINITY,
            letter: '"',
            text: "tab\there",
            bytes: serde_bytes_like::Bytes(vec![0, 255]),
            none: None,
            some: Some(vec![1, 2]),
            empty_list: Vec::new(),
            nested: vec![vec![], vec![3]],
            shapes: vec![
                Shape::Unit,
                Shape::Newtype(7),
                Shape::Tuple(1, "x".into()),
                Shape::Empty(),
                Shape::Struct {
                    side: 2.5,
                    name: None,
                },
                Shape::NoFields {},
            ],
            numbers_as_keys: [(10, "ten"), (2, "two")].into_iter().collect(),
            signed_keys: [(-1, 1e300)].into_iter().collect(),
            empty_map: BTreeMap::new(),
            display: Displayed,
            value: json!({"k": [1, -2, 3.5, null, {"\u{1}": "é"}], "e": {}, "a": []}),
        }
    }

    #[test]
    fn every_kind_of_value_is_written_as_serde_json_writes_it() {
        let value = everything();
        assert_eq!(compact(&value), serde_json::to_string(&value).unwrap());
        assert_eq!(
            pretty(&value),
            serde_json::to_string_pretty(&value).unwrap()
        );
    }

    #[test]
    fn keys_that_are_not_strings_are_refused_as_serde_json_refuses_them() {
        let list_keys: BTreeMap<Vec<u8>, u8> = [(vec![1], 1)].into_iter().collect();
        let unit_keys: BTreeMap<(), u8> = [((), 1)].into_iter().collect();
        let mut out = Vec::new();
        assert!(append_compact(&mut out, &list_keys).is_err());
        assert!(serde_json::to_string(&list_keys).is_err());
        assert!(append_compact(&mut out, &unit_keys).is_err());
        assert!(serde_json::to_string(&unit_keys).is_err());
    }
}
