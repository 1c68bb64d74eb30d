//! The trace digest: a stable 64-bit hash of the ordered event stream.
//!
//! It uses a fixed multiply-rotate mix (no random keys, unlike std's `DefaultHasher`
//! whose algorithm may change), so the same run gives the same digest every time.

use std::hash::Hasher;

#[derive(Clone, Debug)]
pub struct Digest {
    h: u64,
}

const K: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl Default for Digest {
    #[inline(always)]
    fn default() -> Self {
        Digest {
            h: 0x2545_f491_4f6c_dd1d,
        }
    }
}

impl Digest {
    #[inline(always)]
    pub fn value(&self) -> u64 {
        crate::rng::mix64(self.h)
    }
}

// Inlined: the exhaustive checker hashes every state through it (see
// `exhaustive::fingerprint`), and there the calls cost as much as the mixing.
impl Hasher for Digest {
    #[inline(always)]
    fn finish(&self) -> u64 {
        self.value()
    }

    #[inline(always)]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.write_u64(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.write_u64(u64::from_le_bytes(w) ^ ((rest.len() as u64) << 59));
        }
    }

    #[inline(always)]
    fn write_u64(&mut self, word: u64) {
        self.h = (self.h.rotate_left(5) ^ word).wrapping_mul(K);
    }

    #[inline(always)]
    fn write_u8(&mut self, i: u8) {
        self.write_u64(u64::from(i));
    }
    #[inline(always)]
    fn write_u16(&mut self, i: u16) {
        self.write_u64(u64::from(i));
    }
    #[inline(always)]
    fn write_u32(&mut self, i: u32) {
        self.write_u64(u64::from(i));
    }
    #[inline(always)]
    fn write_usize(&mut self, i: usize) {
        self.write_u64(i as u64);
    }
    #[inline(always)]
    fn write_i64(&mut self, i: i64) {
        self.write_u64(i as u64);
    }
    #[inline(always)]
    fn write_isize(&mut self, i: isize) {
        self.write_u64(i as u64);
    }
}

/// Feeds a value into the digest in a fixed, documented byte layout, through serde's
/// data model (whose field order and variant indices are the declaration's), instead
/// of `derive(Hash)`, whose byte stream std does not promise to keep across compiler
/// versions. The layout, one 64-bit word per item unless said:
/// - integers, `bool` and `char`: their value widened to 64 bits (two's complement
///   for signed); `u128`/`i128`: two words, low first; floats: their IEEE bits;
/// - strings and bytes: the length, then 8-byte little-endian words (the last one
///   zero-padded, tagged with the remainder's length in its top bits);
/// - `None`: 0; `Some(v)`: 1, then `v`; unit and unit structs: nothing;
/// - enum variants: the variant's index, then its fields;
/// - sequences and maps: the length, then each element (key, value);
/// - tuples and structs: each field in order.
pub fn encode<T: serde::Serialize + ?Sized>(value: &T, d: &mut Digest) {
    // Encoding into a hasher cannot fail: every method below returns Ok.
    let _ = value.serialize(Encoder(d));
}

struct Encoder<'a>(&'a mut Digest);

#[derive(Debug)]
pub struct EncodeError;

impl std::fmt::Display for EncodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("digest encoding")
    }
}

impl std::error::Error for EncodeError {}

impl serde::ser::Error for EncodeError {
    fn custom<T: std::fmt::Display>(_: T) -> Self {
        EncodeError
    }
}

impl<'a> Encoder<'a> {
    fn word(&mut self, w: u64) {
        self.0.write_u64(w);
    }
}

macro_rules! compound {
    ($($trait:ident :: $method:ident),*) => {
        $(
            impl<'a> serde::ser::$trait for Encoder<'a> {
                type Ok = ();
                type Error = EncodeError;
                fn $method<T: serde::Serialize + ?Sized>(&mut self, value: &T) -> Result<(), EncodeError> {
                    value.serialize(Encoder(&mut *self.0))
                }
                fn end(self) -> Result<(), EncodeError> {
                    Ok(())
                }
            }
        )*
    };
}

compound!(
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field
);

impl<'a> serde::ser::SerializeMap for Encoder<'a> {
    type Ok = ();
    type Error = EncodeError;
    fn serialize_key<T: serde::Serialize + ?Sized>(&mut self, key: &T) -> Result<(), EncodeError> {
        key.serialize(Encoder(&mut *self.0))
    }
    fn serialize_value<T: serde::Serialize + ?Sized>(
        &mut self,
        value: &T,
    ) -> Result<(), EncodeError> {
        value.serialize(Encoder(&mut *self.0))
    }
    fn end(self) -> Result<(), EncodeError> {
        Ok(())
    }
}

impl<'a> serde::ser::SerializeStruct for Encoder<'a> {
    type Ok = ();
    type Error = EncodeError;
    fn serialize_field<T: serde::Serialize + ?Sized>(
        &mut self,
        _key: &'static str,
        value: &T,
    ) -> Result<(), EncodeError> {
        value.serialize(Encoder(&mut *self.0))
    }
    fn end(self) -> Result<(), EncodeError> {
        Ok(())
    }
}

impl<'a> serde::ser::SerializeStructVariant for Encoder<'a> {
    type Ok = ();
    type Error = EncodeError;
    fn serialize_field<T: serde::Serialize + ?Sized>(
        &mut self,
        _key: &'static str,
        value: &T,
    ) -> Result<(), EncodeError> {
        value.serialize(Encoder(&mut *self.0))
    }
    fn end(self) -> Result<(), EncodeError> {
        Ok(())
    }
}

impl<'a> serde::Serializer for Encoder<'a> {
    type Ok = ();
    type Error = EncodeError;
    type SerializeSeq = Self;
    type SerializeTuple = Self;
    type SerializeTupleStruct = Self;
    type SerializeTupleVariant = Self;
    type SerializeMap = Self;
    type SerializeStruct = Self;
    type SerializeStructVariant = Self;

    /// Not a format for people: node ids go in as their indices without asking for
    /// names (the digest is never taken inside `with_node_names`, so the words are
    /// the same; this only skips the thread-local lookup per node id).
    fn is_human_readable(&self) -> bool {
        false
    }

    fn serialize_bool(mut self, v: bool) -> Result<(), EncodeError> {
        self.word(u64::from(v));
        Ok(())
    }
    fn serialize_i8(self, v: i8) -> Result<(), EncodeError> {
        self.serialize_i64(i64::from(v))
    }
    fn serialize_i16(self, v: i16) -> Result<(), EncodeError> {
        self.serialize_i64(i64::from(v))
    }
    fn serialize_i32(self, v: i32) -> Result<(), EncodeError> {
        self.serialize_i64(i64::from(v))
    }
    fn serialize_i64(mut self, v: i64) -> Result<(), EncodeError> {
        self.word(v as u64);
        Ok(())
    }
    fn serialize_i128(mut self, v: i128) -> Result<(), EncodeError> {
        self.word(v as u64);
        self.word((v >> 64) as u64);
        Ok(())
    }
    fn serialize_u8(self, v: u8) -> Result<(), EncodeError> {
        self.serialize_u64(u64::from(v))
    }
    fn serialize_u16(self, v: u16) -> Result<(), EncodeError> {
        self.serialize_u64(u64::from(v))
    }
    fn serialize_u32(self, v: u32) -> Result<(), EncodeError> {
        self.serialize_u64(u64::from(v))
    }
    fn serialize_u64(mut self, v: u64) -> Result<(), EncodeError> {
        self.word(v);
        Ok(())
    }
    fn serialize_u128(mut self, v: u128) -> Result<(), EncodeError> {
        self.word(v as u64);
        self.word((v >> 64) as u64);
        Ok(())
    }
    fn serialize_f32(self, v: f32) -> Result<(), EncodeError> {
        self.serialize_u64(u64::from(v.to_bits()))
    }
    fn serialize_f64(self, v: f64) -> Result<(), EncodeError> {
        self.serialize_u64(v.to_bits())
    }
    fn serialize_char(self, v: char) -> Result<(), EncodeError> {
        self.serialize_u64(u64::from(v))
    }
    fn serialize_str(self, v: &str) -> Result<(), EncodeError> {
        self.serialize_bytes(v.as_bytes())
    }
    fn serialize_bytes(mut self, v: &[u8]) -> Result<(), EncodeError> {
        self.word(v.len() as u64);
        self.0.write(v);
        Ok(())
    }
    fn serialize_none(mut self) -> Result<(), EncodeError> {
        self.word(0);
        Ok(())
    }
    fn serialize_some<T: serde::Serialize + ?Sized>(
        mut self,
        value: &T,
    ) -> Result<(), EncodeError> {
        self.word(1);
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), EncodeError> {
        Ok(())
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<(), EncodeError> {
        Ok(())
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        index: u32,
        _: &'static str,
    ) -> Result<(), EncodeError> {
        self.serialize_u64(u64::from(index))
    }
    fn serialize_newtype_struct<T: serde::Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<(), EncodeError> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: serde::Serialize + ?Sized>(
        mut self,
        _: &'static str,
        index: u32,
        _: &'static str,
        value: &T,
    ) -> Result<(), EncodeError> {
        self.word(u64::from(index));
        value.serialize(self)
    }
    fn serialize_seq(mut self, len: Option<usize>) -> Result<Self, EncodeError> {
        // Every sequence this crate encodes has a known length; an unknown one is
        // marked as such (the elements still follow).
        self.word(len.map_or(u64::MAX, |n| n as u64));
        Ok(self)
    }
    fn serialize_tuple(self, _: usize) -> Result<Self, EncodeError> {
        Ok(self)
    }
    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Self, EncodeError> {
        Ok(self)
    }
    fn serialize_tuple_variant(
        mut self,
        _: &'static str,
        index: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self, EncodeError> {
        self.word(u64::from(index));
        Ok(self)
    }
    fn serialize_map(mut self, len: Option<usize>) -> Result<Self, EncodeError> {
        self.word(len.map_or(u64::MAX, |n| n as u64));
        Ok(self)
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self, EncodeError> {
        Ok(self)
    }
    fn serialize_struct_variant(
        mut self,
        _: &'static str,
        index: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self, EncodeError> {
        self.word(u64::from(index));
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Serialize;

    #[derive(Serialize)]
    enum Msg {
        #[allow(dead_code)]
        Ping,
        Vote {
            txn: u64,
            yes: bool,
        },
    }

    fn words(ws: &[u64]) -> u64 {
        let mut d = Digest::default();
        for &w in ws {
            d.write_u64(w);
        }
        d.value()
    }

    /// The layout is the documented one, word for word: variant index, then fields.
    #[test]
    fn the_encoding_is_the_documented_layout() {
        let mut d = Digest::default();
        encode(&Msg::Vote { txn: 7, yes: true }, &mut d);
        assert_eq!(d.value(), words(&[1, 7, 1]));
        let mut d = Digest::default();
        encode(&(Some(3u32), None::<u8>, vec![-1i16, 2]), &mut d);
        assert_eq!(d.value(), words(&[1, 3, 0, 2, u64::MAX, 2]));
    }

    /// A node set is its members, counted first; shard ops their changes.
    #[test]
    fn sets_and_ops_encode_their_members_with_a_length() {
        let set: crate::node::NodeSet = [crate::node::NodeId(2), crate::node::NodeId(5)]
            .into_iter()
            .collect();
        let mut d = Digest::default();
        encode(&set, &mut d);
        assert_eq!(d.value(), words(&[2, 2, 5]));
    }
}
