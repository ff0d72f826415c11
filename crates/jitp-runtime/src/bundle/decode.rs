//! Deserialisation: bytes to a bundle, checking the encoding (the
//! structure is checked by [`super::verify`]).

use super::*;
use crate::bytecode::{decode_all, DecodeError};
use crate::val::{Arena, SetRef};
use crate::value::Cidr;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

impl Bundle {
    /// Loads and verifies a bundle.
    pub fn from_bytes(bytes: &[u8]) -> Result<Bundle, BundleError> {
        let Some(rest) = bytes.strip_prefix(MAGIC.as_slice()) else {
            return err("not a jitp bundle (bad magic bytes)");
        };
        let Some((version, rest)) = rest.split_first_chunk::<4>() else {
            return err("truncated header");
        };
        let version = u32::from_le_bytes(*version);
        if version != FORMAT_VERSION {
            return err(format!(
                "format version {version} is not supported (this build reads version {FORMAT_VERSION}); rebuild the bundle with this jitp"
            ));
        }
        let Some((sum, body)) = rest.split_first_chunk::<8>() else {
            return err("truncated header");
        };
        if u64::from_le_bytes(*sum) != checksum(body) {
            return err("checksum mismatch: the bundle is corrupt or truncated");
        }
        let mut r = Reader {
            bytes: body,
            pos: 0,
        };
        let mut b = r.bundle()?;
        if r.pos != body.len() {
            return err(format!(
                "{} unexpected bytes after the bundle",
                body.len() - r.pos
            ));
        }
        b.verify()?;
        b.lookup.fingerprint = u64::from_le_bytes(*sum);
        b.build_lookup();
        Ok(b)
    }

    /// Reads and verifies a bundle file.
    pub fn from_file(path: impl AsRef<std::path::Path>) -> Result<Bundle, BundleError> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|e| BundleError {
            message: format!(
                "cannot read `{}`: {}",
                path.display(),
                e.to_string().to_lowercase()
            ),
        })?;
        Bundle::from_bytes(&bytes)
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    #[inline]
    fn take(&mut self, n: usize) -> Result<&[u8], BundleError> {
        let end = self.pos.saturating_add(n);
        match self.bytes.get(self.pos..end) {
            Some(s) => {
                self.pos = end;
                Ok(s)
            }
            None => err(format!("truncated at byte {}", self.pos)),
        }
    }
    #[inline]
    fn array<const N: usize>(&mut self) -> Result<[u8; N], BundleError> {
        let at = self.pos;
        <[u8; N]>::try_from(self.take(N)?).or_else(|_| err(format!("truncated at byte {at}")))
    }
    #[inline]
    fn u8(&mut self) -> Result<u8, BundleError> {
        self.array::<1>().map(|[b]| b)
    }
    #[inline]
    fn u32(&mut self) -> Result<u32, BundleError> {
        self.array().map(u32::from_le_bytes)
    }
    fn i64(&mut self) -> Result<i64, BundleError> {
        self.array().map(i64::from_le_bytes)
    }
    fn u128(&mut self) -> Result<u128, BundleError> {
        self.array().map(u128::from_le_bytes)
    }
    /// A count, bounded by the bytes left (each item needs at least `min` bytes),
    /// so a hostile length cannot make us allocate much.
    fn count(&mut self, min: usize) -> Result<usize, BundleError> {
        let n = self.u32()? as usize;
        let left = self.bytes.len() - self.pos;
        if n.saturating_mul(min.max(1)) > left {
            return err(format!(
                "length {n} at byte {} exceeds the bundle",
                self.pos - 4
            ));
        }
        Ok(n)
    }
    /// A counted list whose items take at least `min` bytes each. The
    /// vector is allocated once: [`Reader::count`] bounds its length.
    fn list<T>(
        &mut self,
        min: usize,
        mut item: impl FnMut(&mut Self) -> Result<T, BundleError>,
    ) -> Result<Vec<T>, BundleError> {
        let n = self.count(min)?;
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            out.push(item(self)?);
        }
        Ok(out)
    }
    fn str(&mut self) -> Result<String, BundleError> {
        let n = self.count(1)?;
        let b = self.take(n)?;
        String::from_utf8(b.to_vec()).map_err(|_| BundleError {
            message: format!("invalid UTF-8 in a string at byte {}", self.pos - n),
        })
    }
    fn u32s(&mut self) -> Result<Vec<u32>, BundleError> {
        self.list(4, Self::u32)
    }
    fn flag(&mut self) -> Result<bool, BundleError> {
        match self.u8()? {
            tags::flag::NO => Ok(false),
            tags::flag::YES => Ok(true),
            b => err(format!("invalid flag {b} at byte {}", self.pos - 1)),
        }
    }
    fn opt_u32s(&mut self) -> Result<Option<Vec<u32>>, BundleError> {
        Ok(if self.flag()? {
            Some(self.u32s()?)
        } else {
            None
        })
    }
    fn opt_i64(&mut self) -> Result<Option<i64>, BundleError> {
        Ok(if self.flag()? {
            Some(self.i64()?)
        } else {
            None
        })
    }
    fn ty(&mut self, depth: u32) -> Result<TypeDesc, BundleError> {
        if depth > MAX_TYPE_DEPTH {
            return err("type nested too deeply");
        }
        Ok(match self.u8()? {
            tags::ty::BOOL => TypeDesc::Bool,
            tags::ty::INT => TypeDesc::Int,
            tags::ty::STRING => TypeDesc::String,
            tags::ty::TIME => TypeDesc::Time,
            tags::ty::DURATION => TypeDesc::Duration,
            tags::ty::IP => TypeDesc::Ip,
            tags::ty::NET => TypeDesc::Net,
            tags::ty::ENUM => TypeDesc::Enum(self.u32()?),
            tags::ty::SET => TypeDesc::Set(Box::new(self.ty(depth + 1)?)),
            tags::ty::OPTIONAL => TypeDesc::Optional(Box::new(self.ty(depth + 1)?)),
            tags::ty::RECORD => TypeDesc::Record(self.u32()?),
            t => return err(format!("unknown type tag {t}")),
        })
    }
    fn fields(&mut self) -> Result<Vec<FieldLayout>, BundleError> {
        self.list(9, |r| {
            Ok(FieldLayout {
                name: r.u32()?,
                ty: r.ty(0)?,
                slot: r.u32()?,
            })
        })
    }
    fn ip(&mut self) -> Result<IpAddr, BundleError> {
        match self.u8()? {
            tags::family::V4 => Ok(IpAddr::V4(Ipv4Addr::from(self.u32()?))),
            tags::family::V6 => Ok(IpAddr::V6(Ipv6Addr::from(self.u128()?))),
            t => err(format!("unknown address family {t}")),
        }
    }
    fn val(&mut self) -> Result<Val, BundleError> {
        Ok(match self.u8()? {
            tags::val::ABSENT => Val::Absent,
            tags::val::PRESENT => Val::Present,
            tags::val::BOOL => Val::Bool(self.flag()?),
            tags::val::INT => Val::Int(self.i64()?),
            tags::val::STR => Val::Str(self.u32()?),
            tags::val::TIME => Val::Time(self.i64()?),
            tags::val::DUR => Val::Dur(self.i64()?),
            tags::val::IP => Val::Ip(self.ip()?),
            tags::val::NET => {
                let addr = self.ip()?;
                let prefix = self.u8()?;
                let text = format!("{addr}/{prefix}");
                Val::Net(Cidr::parse(&text).map_err(|e| BundleError {
                    message: format!("invalid network constant: {e}"),
                })?)
            }
            tags::val::ENUM => Val::Enum(self.u32()?),
            tags::val::SET => {
                let arena = if self.flag()? {
                    Arena::Request
                } else {
                    Arena::Const
                };
                Val::Set(SetRef {
                    arena,
                    start: self.u32()?,
                    len: self.u32()?,
                })
            }
            tags::val::REC => Val::Rec(self.u32()?),
            t => return err(format!("unknown value tag {t}")),
        })
    }
    fn span(&mut self) -> Result<SrcSpan, BundleError> {
        Ok(SrcSpan {
            file: self.u32()?,
            start: self.u32()?,
            end: self.u32()?,
            line: self.u32()?,
            col: self.u32()?,
        })
    }
    fn block(&mut self) -> Result<Block, BundleError> {
        Ok(Block {
            start: self.u32()?,
            len: self.u32()?,
            span: self.span()?,
        })
    }
    fn opt_block(&mut self) -> Result<Option<Block>, BundleError> {
        Ok(if self.flag()? {
            Some(self.block()?)
        } else {
            None
        })
    }

    fn bundle(&mut self) -> Result<Bundle, BundleError> {
        let name = self.str()?;
        let strings = self.list(4, Self::str)?;
        let enums = self.list(8, |r| Ok((r.u32()?, r.u32s()?)))?;
        let records = self.list(12, |r| {
            Ok(RecordLayout {
                name: r.u32()?,
                size: r.u32()?,
                fields: r.fields()?,
            })
        })?;
        let entities = self.list(12, |r| {
            Ok(EntityLayout {
                name: r.u32()?,
                as_principal: r.fields()?,
                as_resource: r.fields()?,
            })
        })?;
        let mut v = [0u32; 12];
        for x in &mut v {
            *x = self.u32()?;
        }
        let schema = Schema {
            enums,
            records,
            entities,
            context: (v[0], v[1]),
            evidence: (v[2], v[3]),
            special: SpecialSlots {
                now: v[4],
                action: v[5],
                task_name: v[6],
                task_id: v[7],
                task_started_at: v[8],
                task_approvals: v[9],
                task_approvers: v[10],
            },
            slot_count: v[11],
        };
        let consts = self.list(1, Self::val)?;
        let const_sets = self.list(1, Self::val)?;
        let patterns = self.list(4, Self::u32s)?;
        let actions = self.list(9, |r| {
            Ok(ActionMeta {
                name: r.u32()?,
                on: r.u32s()?,
                sensitivity: r.u8()?,
            })
        })?;
        let tasks = self.list(10, |r| {
            Ok(TaskMeta {
                name: r.u32()?,
                ttl: r.opt_i64()?,
                breakglass: r.flag()?,
                notify: r.u32s()?,
            })
        })?;
        let rules = self.list(30, |r| {
            Ok(RuleMeta {
                id: r.u32()?,
                forbid: r.flag()?,
                task: match r.u32()? {
                    tags::NO_TASK => None,
                    t => Some(t),
                },
                principal: r.opt_u32s()?,
                resource: r.opt_u32s()?,
                actions: r.u32s()?,
                ttl: r.opt_i64()?,
                when: r.opt_block()?,
                unless: r.opt_block()?,
                requires: r.list(32, |r| Ok((r.block()?, r.u32()?)))?,
                span: r.span()?,
            })
        })?;
        let index = self.list(24, |r| {
            Ok(IndexEntry {
                scope: r.u32()?,
                action: r.u32()?,
                guards: (r.u32()?, r.u32()?),
                permits: (r.u32()?, r.u32()?),
            })
        })?;
        let index_rules = self.u32s()?;
        let n = self.count(1)?;
        let code_bytes = self.take(n)?;
        let code = decode_all(code_bytes).map_err(|(at, e)| BundleError {
            message: match e {
                DecodeError::UnknownOpcode(op) => {
                    format!("unknown opcode {op:#04x} at code byte {at}")
                }
                DecodeError::Truncated => format!("truncated instruction at code byte {at}"),
            },
        })?;
        let spans = self.list(20, Self::span)?;
        let files = self.list(4, Self::str)?;
        // One source text per file, so the count is the files' count.
        let mut sources = Vec::with_capacity(files.len());
        for _ in &files {
            sources.push(self.str()?);
        }
        let max_stack = self.u32()?;
        let max_locals = self.u32()?;
        Ok(Bundle {
            name,
            strings,
            schema,
            consts,
            const_sets,
            patterns,
            actions,
            tasks,
            rules,
            index,
            index_rules,
            code,
            spans,
            files,
            sources,
            max_stack,
            max_locals,
            lookup: Lookup::default(),
        })
    }
}
