//! Serialisation: a bundle to bytes.

use super::*;
use crate::bytecode::encode_all;
use crate::val::{Arena, Val};
use std::net::IpAddr;

impl Bundle {
    /// Serialises the bundle: the same bytes it was loaded or compiled
    /// from (encoding is deterministic).
    pub fn to_bytes(&self) -> Vec<u8> {
        self.img.to_bytes()
    }
}

impl Image {
    /// Header and body.
    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        let summed = self.encode_summed();
        let mut out = Vec::with_capacity(summed.len() + SUMMED_FROM);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        out.extend_from_slice(&checksum(&summed).to_le_bytes());
        out.extend_from_slice(&summed);
        out
    }

    /// What the checksum covers: the builder field (NUL-padded; a longer
    /// builder, which verification refuses, is cut) and the body.
    pub(crate) fn encode_summed(&self) -> Vec<u8> {
        let body = self.encode_body();
        let mut out = Vec::with_capacity(body.len() + BUILDER_LEN);
        let mut field = [0u8; BUILDER_LEN];
        for (f, b) in field.iter_mut().zip(self.builder.bytes()) {
            *f = b;
        }
        out.extend_from_slice(&field);
        out.extend_from_slice(&body);
        out
    }

    /// The body: everything after the header, which the checksum covers.
    pub(crate) fn encode_body(&self) -> Vec<u8> {
        let mut w = Writer::default();
        w.str(&self.name);
        w.u32(self.strings.len() as u32);
        for s in &self.strings {
            w.str(s);
        }
        let s = &self.schema;
        w.u32(s.enums.len() as u32);
        for (name, variants) in &s.enums {
            w.u32(*name);
            w.u32s(variants);
        }
        w.u32(s.records.len() as u32);
        for r in &s.records {
            w.u32(r.name);
            w.u32(r.size);
            w.fields(&r.fields);
        }
        w.u32(s.entities.len() as u32);
        for e in &s.entities {
            w.u32(e.name);
            w.fields(&e.as_principal);
            w.fields(&e.as_resource);
        }
        for v in [
            s.context.0,
            s.context.1,
            s.evidence.0,
            s.evidence.1,
            s.special.now,
            s.special.action,
            s.special.task_name,
            s.special.task_id,
            s.special.task_started_at,
            s.special.task_approvals,
            s.special.task_approvers,
            s.slot_count,
        ] {
            w.u32(v);
        }
        w.u32(s.task_params.len() as u32);
        for (t, rec, base) in &s.task_params {
            w.u32(*t);
            w.u32(*rec);
            w.u32(*base);
        }
        w.u32(self.consts.len() as u32);
        for v in &self.consts {
            w.val(v);
        }
        w.u32(self.const_sets.len() as u32);
        for v in &self.const_sets {
            w.val(v);
        }
        w.u32(self.patterns.len() as u32);
        for p in &self.patterns {
            w.u32s(p);
        }
        w.u32(self.actions.len() as u32);
        for a in &self.actions {
            w.u32(a.name);
            w.u32s(&a.on);
            w.u8(a.sensitivity);
            w.u32(a.grants.unwrap_or(tags::NO_TASK));
        }
        w.u32(self.tasks.len() as u32);
        for t in &self.tasks {
            w.u32(t.name);
            w.opt_i64(t.ttl);
            w.u8(u8::from(t.breakglass));
            w.u32s(&t.notify);
            w.u32(t.approvals);
        }
        w.u32(self.rules.len() as u32);
        for r in &self.rules {
            w.u32(r.id);
            w.u8(u8::from(r.forbid));
            w.u32(r.task.unwrap_or(tags::NO_TASK));
            w.opt_u32s(r.principal.as_deref());
            w.opt_u32s(r.resource.as_deref());
            w.u32s(&r.actions);
            w.opt_i64(r.ttl);
            w.opt_block(r.when.as_ref());
            w.opt_block(r.unless.as_ref());
            w.u32(r.requires.len() as u32);
            for (b, label) in &r.requires {
                w.block(b);
                w.u32(*label);
            }
            w.span(&r.span);
        }
        w.u32(self.index.len() as u32);
        for e in &self.index {
            for v in [
                e.scope,
                e.action,
                e.guards.0,
                e.guards.1,
                e.permits.0,
                e.permits.1,
            ] {
                w.u32(v);
            }
        }
        w.u32s(&self.index_rules);
        let code = encode_all(&self.code);
        w.u32(code.len() as u32);
        w.bytes.extend_from_slice(&code);
        w.u32(self.spans.len() as u32);
        for s in &self.spans {
            w.span(s);
        }
        w.u32(self.files.len() as u32);
        for f in &self.files {
            w.str(f);
        }
        // One text per file, so the count is implied.
        for i in 0..self.files.len() {
            w.str(self.sources.get(i).map_or("", String::as_str));
        }
        w.u32(self.max_stack);
        w.u32(self.max_locals);
        w.bytes
    }
}

#[derive(Default)]
struct Writer {
    bytes: Vec<u8>,
}

impl Writer {
    fn u8(&mut self, v: u8) {
        self.bytes.push(v);
    }
    fn u32(&mut self, v: u32) {
        self.bytes.extend_from_slice(&v.to_le_bytes());
    }
    fn i64(&mut self, v: i64) {
        self.bytes.extend_from_slice(&v.to_le_bytes());
    }
    fn u128(&mut self, v: u128) {
        self.bytes.extend_from_slice(&v.to_le_bytes());
    }
    fn str(&mut self, s: &str) {
        self.u32(s.len() as u32);
        self.bytes.extend_from_slice(s.as_bytes());
    }
    fn u32s(&mut self, v: &[u32]) {
        self.u32(v.len() as u32);
        for x in v {
            self.u32(*x);
        }
    }
    fn opt_u32s(&mut self, v: Option<&[u32]>) {
        match v {
            None => self.u8(tags::flag::NO),
            Some(v) => {
                self.u8(tags::flag::YES);
                self.u32s(v);
            }
        }
    }
    fn opt_i64(&mut self, v: Option<i64>) {
        match v {
            None => self.u8(tags::flag::NO),
            Some(v) => {
                self.u8(tags::flag::YES);
                self.i64(v);
            }
        }
    }
    fn ty(&mut self, t: &TypeDesc) {
        match t {
            TypeDesc::Bool => self.u8(tags::ty::BOOL),
            TypeDesc::Int => self.u8(tags::ty::INT),
            TypeDesc::String => self.u8(tags::ty::STRING),
            TypeDesc::Time => self.u8(tags::ty::TIME),
            TypeDesc::Duration => self.u8(tags::ty::DURATION),
            TypeDesc::Decimal => self.u8(tags::ty::DECIMAL),
            TypeDesc::Ip => self.u8(tags::ty::IP),
            TypeDesc::Net => self.u8(tags::ty::NET),
            TypeDesc::Enum(e) => {
                self.u8(tags::ty::ENUM);
                self.u32(*e);
            }
            TypeDesc::Set(inner) => {
                self.u8(tags::ty::SET);
                self.ty(inner);
            }
            TypeDesc::Optional(inner) => {
                self.u8(tags::ty::OPTIONAL);
                self.ty(inner);
            }
            TypeDesc::Record(r) => {
                self.u8(tags::ty::RECORD);
                self.u32(*r);
            }
        }
    }
    fn fields(&mut self, fields: &[FieldLayout]) {
        self.u32(fields.len() as u32);
        for f in fields {
            self.u32(f.name);
            self.ty(&f.ty);
            self.u32(f.slot);
        }
    }
    fn ip(&mut self, ip: &IpAddr) {
        match ip {
            IpAddr::V4(v4) => {
                self.u8(tags::family::V4);
                self.u32(u32::from(*v4));
            }
            IpAddr::V6(v6) => {
                self.u8(tags::family::V6);
                self.u128(u128::from(*v6));
            }
        }
    }
    fn val(&mut self, v: &Val) {
        match v {
            Val::Absent => self.u8(tags::val::ABSENT),
            Val::Present => self.u8(tags::val::PRESENT),
            Val::Bool(b) => {
                self.u8(tags::val::BOOL);
                self.u8(u8::from(*b));
            }
            Val::Int(i) => {
                self.u8(tags::val::INT);
                self.i64(*i);
            }
            Val::Str(s) => {
                self.u8(tags::val::STR);
                self.u32(*s);
            }
            Val::Time(t) => {
                self.u8(tags::val::TIME);
                self.i64(*t);
            }
            Val::Dur(d) => {
                self.u8(tags::val::DUR);
                self.i64(*d);
            }
            Val::Dec(d) => {
                self.u8(tags::val::DEC);
                self.i64(*d);
            }
            Val::Ip(ip) => {
                self.u8(tags::val::IP);
                self.ip(ip);
            }
            Val::Net(n) => {
                self.u8(tags::val::NET);
                self.ip(&n.addr);
                self.u8(n.prefix);
            }
            Val::Enum(e) => {
                self.u8(tags::val::ENUM);
                self.u32(*e);
            }
            Val::Set(s) => {
                self.u8(tags::val::SET);
                self.u8(u8::from(s.arena == Arena::Request));
                self.u32(s.start);
                self.u32(s.len);
            }
            Val::Rec(r) => {
                self.u8(tags::val::REC);
                self.u32(*r);
            }
        }
    }
    fn span(&mut self, s: &SrcSpan) {
        for v in [s.file, s.start, s.end, s.line, s.col] {
            self.u32(v);
        }
    }
    fn block(&mut self, b: &Block) {
        self.u32(b.start);
        self.u32(b.len);
        self.span(&b.span);
    }
    fn opt_block(&mut self, b: Option<&Block>) {
        match b {
            None => self.u8(tags::flag::NO),
            Some(b) => {
                self.u8(tags::flag::YES);
                self.block(b);
            }
        }
    }
}
