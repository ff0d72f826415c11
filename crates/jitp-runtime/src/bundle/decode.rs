//! Deserialisation: bytes to a bundle, checking the encoding (the
//! structure is checked by [`super::verify`]).

// On the decision path: no indexing or slicing that could panic, no
// explicit panics (checked access, errors or documented defaults instead).
#![deny(clippy::indexing_slicing, clippy::panic)]

use super::*;
use crate::bytecode::{decode_all, DecodeError};
use crate::val::{Arena, SetRef, Val};
use crate::value::Cidr;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// An encoding error at body offset `at`.
fn malformed<T>(at: usize, message: impl Into<String>) -> Result<T, BundleError> {
    Err(BundleError::new(
        BundleErrorKind::Malformed,
        Some(at),
        message,
    ))
}

/// The bytes end at body offset `at`.
fn truncated(at: usize) -> BundleError {
    BundleError::new(
        BundleErrorKind::Truncated,
        Some(at),
        format!("truncated at byte {at}"),
    )
}

impl Bundle {
    /// Loads and verifies a bundle.
    ///
    /// A signed bundle (see [`crate::signature`]) loads too, its envelope
    /// set aside unchecked: this checks integrity, not who wrote it. To
    /// refuse bundles not signed by a trusted key, use
    /// [`Bundle::from_bytes_verified`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Bundle, BundleError> {
        let inner = match crate::signature::Envelope::split(bytes)? {
            Some(envelope) => envelope.bundle,
            None => bytes,
        };
        let (img, sum) = Image::decode(inner)?;
        Bundle::seal(img, sum)
    }

    /// Reads and verifies a bundle file (signed or not, as
    /// [`Bundle::from_bytes`]).
    pub fn from_file(path: impl AsRef<std::path::Path>) -> Result<Bundle, BundleError> {
        Bundle::from_bytes(&read_file(path.as_ref())?)
    }
}

/// Reads a bundle file: only a regular file, never more than
/// [`MAX_BUNDLE_BYTES`].
pub(crate) fn read_file(path: &std::path::Path) -> Result<Vec<u8>, BundleError> {
    {
        use std::io::Read as _;
        let fail = |message: String| {
            BundleError::new(
                BundleErrorKind::Io,
                None,
                format!("cannot read `{}`: {message}", path.display()),
            )
        };
        let io = |e: std::io::Error| fail(e.to_string().to_lowercase());
        // Only a regular file (a FIFO would block, a device never end),
        // and never more than a bundle may hold, whatever it claims.
        let regular = |meta: std::fs::Metadata| {
            if meta.is_file() {
                Ok(())
            } else {
                Err(fail("not a regular file".into()))
            }
        };
        regular(std::fs::metadata(path).map_err(io)?)?;
        let file = std::fs::File::open(path).map_err(io)?;
        regular(file.metadata().map_err(io)?)?;
        let mut bytes = Vec::new();
        file.take(MAX_BUNDLE_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(io)?;
        if bytes.len() as u64 > MAX_BUNDLE_BYTES {
            return Err(fail(format!(
                "larger than {} MiB, more than any bundle holds",
                MAX_BUNDLE_BYTES >> 20
            )));
        }
        Ok(bytes)
    }
}

/// Largest bundle file [`Bundle::from_file`] reads (10,000 rules with
/// their sources take about 7 MB).
pub const MAX_BUNDLE_BYTES: u64 = 256 << 20;

impl Image {
    /// Checks the header and decodes the body: an unverified image and the
    /// checksum of its body.
    pub(crate) fn decode(bytes: &[u8]) -> Result<(Image, u64), BundleError> {
        let header = |kind, message: &str| Err(BundleError::new(kind, None, message));
        let Some(rest) = bytes.strip_prefix(MAGIC.as_slice()) else {
            return header(
                BundleErrorKind::NotABundle,
                "not a jitp bundle (bad magic bytes)",
            );
        };
        let Some((version, rest)) = rest.split_first_chunk::<4>() else {
            return header(BundleErrorKind::Truncated, "truncated header");
        };
        let version = u32::from_le_bytes(*version);
        if version != FORMAT_VERSION {
            return Err(BundleError::new(
                BundleErrorKind::UnsupportedVersion {
                    found: version,
                    supported: FORMAT_VERSION,
                },
                None,
                refusal(version, bytes),
            ));
        }
        let Some((sum, summed)) = rest.split_first_chunk::<8>() else {
            return header(BundleErrorKind::Truncated, "truncated header");
        };
        let sum = u64::from_le_bytes(*sum);
        if sum != checksum(summed) {
            return header(
                BundleErrorKind::Checksum,
                "checksum mismatch: the bundle is corrupt or truncated",
            );
        }
        let Some((builder, body)) = summed.split_first_chunk::<BUILDER_LEN>() else {
            return header(BundleErrorKind::Truncated, "truncated header");
        };
        let Some(builder) = builder_text(builder) else {
            return header(
                BundleErrorKind::Malformed,
                "the builder field of the header is not a jitp version",
            );
        };
        let mut r = Reader {
            bytes: body,
            pos: 0,
            marks: None,
        };
        let mut img = r.image()?;
        img.builder = builder;
        if r.pos != body.len() {
            return malformed(
                r.pos,
                format!("{} unexpected bytes after the bundle", body.len() - r.pos),
            );
        }
        Ok((img, sum))
    }
}

/// The builder field as text: a version (ASCII letters, digits, `.`, `+`,
/// `-`) padded with NUL bytes; `None` for anything else.
fn builder_text(field: &[u8; BUILDER_LEN]) -> Option<String> {
    let len = field.iter().position(|b| *b == 0).unwrap_or(BUILDER_LEN);
    let (text, pad) = field.split_at(len);
    let ok = pad.iter().all(|b| *b == 0)
        && text
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || b".+-".contains(b));
    ok.then(|| text.iter().map(|b| char::from(*b)).collect())
}

/// Why a bundle of format `version` is refused: which `jitp` built it (the
/// builder field sits at the same offset from version 4 on; it is not
/// checked against the checksum, whose coverage may differ in another
/// version, and only shown when it is a plain version) and how to rebuild.
fn refusal(version: u32, bytes: &[u8]) -> String {
    let this = env!("CARGO_PKG_VERSION");
    let field = bytes
        .get(SUMMED_FROM..HEADER_LEN)
        .and_then(|f| <&[u8; BUILDER_LEN]>::try_from(f).ok());
    let by = match field.and_then(builder_text) {
        _ if version < 4 => {
            "an earlier jitp (bundles before format version 4 do not record which)".to_string()
        }
        Some(v) if !v.is_empty() => format!("jitp {v}"),
        _ => "an unknown jitp".to_string(),
    };
    format!(
        "format version {version} is not supported: the bundle was built by {by}, and this jitp ({this}) reads only format version {FORMAT_VERSION}\n\
         help: rebuild it with this jitp: `jitp build <policy files> -o <bundle.jitb>`"
    )
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
    /// When set, where each section starts (for tests that corrupt bundles
    /// at section boundaries).
    marks: Option<Vec<usize>>,
}

/// The body offsets where the sections of a valid `body` start (and its
/// end), as far as it decodes.
#[cfg(test)]
pub(super) fn section_offsets(body: &[u8]) -> Vec<usize> {
    let mut r = Reader {
        bytes: body,
        pos: 0,
        marks: Some(Vec::new()),
    };
    let _ = r.image();
    r.marks.unwrap_or_default()
}

impl Reader<'_> {
    /// Records the start of a section, if asked to.
    #[inline]
    fn mark(&mut self) {
        if let Some(marks) = &mut self.marks {
            marks.push(self.pos);
        }
    }
    #[inline]
    fn take(&mut self, n: usize) -> Result<&[u8], BundleError> {
        let end = self.pos.saturating_add(n);
        match self.bytes.get(self.pos..end) {
            Some(s) => {
                self.pos = end;
                Ok(s)
            }
            None => Err(truncated(self.pos)),
        }
    }
    #[inline]
    fn array<const N: usize>(&mut self) -> Result<[u8; N], BundleError> {
        let at = self.pos;
        <[u8; N]>::try_from(self.take(N)?).map_err(|_| truncated(at))
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
        let at = self.pos;
        let n = self.u32()? as usize;
        let left = self.bytes.len().saturating_sub(self.pos);
        if n.saturating_mul(min.max(1)) > left {
            return Err(BundleError::new(
                BundleErrorKind::Truncated,
                Some(at),
                format!("length {n} at byte {at} exceeds the bundle"),
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
        let at = self.pos;
        let b = self.take(n)?;
        match String::from_utf8(b.to_vec()) {
            Ok(s) => Ok(s),
            Err(_) => malformed(at, format!("invalid UTF-8 in a string at byte {at}")),
        }
    }
    fn u32s(&mut self) -> Result<Vec<u32>, BundleError> {
        self.list(4, Self::u32)
    }
    fn flag(&mut self) -> Result<bool, BundleError> {
        let at = self.pos;
        match self.u8()? {
            tags::flag::NO => Ok(false),
            tags::flag::YES => Ok(true),
            b => malformed(at, format!("invalid flag {b} at byte {at}")),
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
            return malformed(self.pos, "type nested too deeply");
        }
        let at = self.pos;
        Ok(match self.u8()? {
            tags::ty::BOOL => TypeDesc::Bool,
            tags::ty::INT => TypeDesc::Int,
            tags::ty::STRING => TypeDesc::String,
            tags::ty::TIME => TypeDesc::Time,
            tags::ty::DURATION => TypeDesc::Duration,
            tags::ty::DECIMAL => TypeDesc::Decimal,
            tags::ty::IP => TypeDesc::Ip,
            tags::ty::NET => TypeDesc::Net,
            tags::ty::ENUM => TypeDesc::Enum(self.u32()?),
            tags::ty::SET => TypeDesc::Set(Box::new(self.ty(depth + 1)?)),
            tags::ty::OPTIONAL => TypeDesc::Optional(Box::new(self.ty(depth + 1)?)),
            tags::ty::RECORD => TypeDesc::Record(self.u32()?),
            t => return malformed(at, format!("unknown type tag {t}")),
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
        let at = self.pos;
        match self.u8()? {
            tags::family::V4 => Ok(IpAddr::V4(Ipv4Addr::from(self.u32()?))),
            tags::family::V6 => Ok(IpAddr::V6(Ipv6Addr::from(self.u128()?))),
            t => malformed(at, format!("unknown address family {t}")),
        }
    }
    fn val(&mut self) -> Result<Val, BundleError> {
        let at = self.pos;
        Ok(match self.u8()? {
            tags::val::ABSENT => Val::Absent,
            tags::val::PRESENT => Val::Present,
            tags::val::BOOL => Val::Bool(self.flag()?),
            tags::val::INT => Val::Int(self.i64()?),
            tags::val::STR => Val::Str(self.u32()?),
            tags::val::TIME => Val::Time(self.i64()?),
            tags::val::DUR => Val::Dur(self.i64()?),
            tags::val::DEC => Val::Dec(self.i64()?),
            tags::val::IP => Val::Ip(self.ip()?),
            tags::val::NET => {
                let addr = self.ip()?;
                let prefix = self.u8()?;
                let text = format!("{addr}/{prefix}");
                match Cidr::parse(&text) {
                    Ok(net) => Val::Net(net),
                    Err(e) => return malformed(at, format!("invalid network constant: {e}")),
                }
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
            t => return malformed(at, format!("unknown value tag {t}")),
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

    fn image(&mut self) -> Result<Image, BundleError> {
        self.mark();
        let name = self.str()?;
        self.mark();
        let strings = self.list(4, Self::str)?;
        self.mark();
        let enums = self.list(8, |r| Ok((r.u32()?, r.u32s()?)))?;
        self.mark();
        let records = self.list(12, |r| {
            Ok(RecordLayout {
                name: r.u32()?,
                size: r.u32()?,
                fields: r.fields()?,
            })
        })?;
        self.mark();
        let entities = self.list(12, |r| {
            Ok(EntityLayout {
                name: r.u32()?,
                as_principal: r.fields()?,
                as_resource: r.fields()?,
            })
        })?;
        self.mark();
        let mut v = [0u32; 12];
        for x in &mut v {
            *x = self.u32()?;
        }
        let [ctx_rec, ctx_base, ev_rec, ev_base, now, action, task_name, task_id, task_started_at, task_approvals, task_approvers, slot_count] =
            v;
        self.mark();
        let task_params = self.list(12, |r| Ok((r.u32()?, r.u32()?, r.u32()?)))?;
        let schema = Schema {
            enums,
            records,
            entities,
            context: (ctx_rec, ctx_base),
            evidence: (ev_rec, ev_base),
            special: SpecialSlots {
                now,
                action,
                task_name,
                task_id,
                task_started_at,
                task_approvals,
                task_approvers,
            },
            task_params,
            slot_count,
        };
        self.mark();
        let consts = self.list(1, Self::val)?;
        self.mark();
        let const_sets = self.list(1, Self::val)?;
        self.mark();
        let patterns = self.list(4, Self::u32s)?;
        self.mark();
        let actions = self.list(13, |r| {
            Ok(ActionMeta {
                name: r.u32()?,
                on: r.u32s()?,
                sensitivity: r.u8()?,
                grants: match r.u32()? {
                    tags::NO_TASK => None,
                    t => Some(t),
                },
            })
        })?;
        self.mark();
        let tasks = self.list(14, |r| {
            Ok(TaskMeta {
                name: r.u32()?,
                ttl: r.opt_i64()?,
                breakglass: r.flag()?,
                notify: r.u32s()?,
                approvals: r.u32()?,
            })
        })?;
        self.mark();
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
        self.mark();
        let index = self.list(24, |r| {
            Ok(IndexEntry {
                scope: r.u32()?,
                action: r.u32()?,
                guards: (r.u32()?, r.u32()?),
                permits: (r.u32()?, r.u32()?),
            })
        })?;
        self.mark();
        let index_rules = self.u32s()?;
        self.mark();
        let n = self.count(1)?;
        let code_at = self.pos;
        let code_bytes = self.take(n)?;
        let code = decode_all(code_bytes).map_err(|(at, e)| match e {
            DecodeError::UnknownOpcode(op) => BundleError::new(
                BundleErrorKind::Malformed,
                Some(code_at + at),
                format!("unknown opcode {op:#04x} at code byte {at}"),
            ),
            DecodeError::Truncated => BundleError::new(
                BundleErrorKind::Truncated,
                Some(code_at + at),
                format!("truncated instruction at code byte {at}"),
            ),
        })?;
        self.mark();
        let spans = self.list(20, Self::span)?;
        self.mark();
        let files = self.list(4, Self::str)?;
        // One source text per file, so the count is the files' count.
        self.mark();
        let mut sources = Vec::with_capacity(files.len());
        for _ in &files {
            sources.push(self.str()?);
        }
        self.mark();
        let max_stack = self.u32()?;
        self.mark();
        let max_locals = self.u32()?;
        self.mark();
        Ok(Image {
            builder: String::new(),
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
        })
    }
}
