//! The evaluator loop and the decision procedure.

// On the decision path: no indexing or slicing that could panic, no
// explicit panics (checked access, errors or documented defaults instead).
#![deny(clippy::indexing_slicing, clippy::panic)]

use crate::bind::BoundRequest;
use crate::bundle::{Block, Bundle, RuleMeta, MAX_LOCALS, MAX_STACK};
use crate::bytecode::{cmp, method, CmpOp, Instr};
use crate::decision::{Effect, Reason};
use crate::horizon::{self, combine, slope_add, slope_neg, slope_sub, MAX_SPECULATION, NEVER};
use crate::val::{Arena, EvalError, SetRef, Val};
use crate::value::{Duration, Time};
use crate::Decision;

/// Operand stack and locals live in fixed arrays of this size; larger
/// conditions (rare) fall back to the heap.
const INLINE: usize = 32;

/// The heap stack and locals a bundle's blocks need beyond the inline
/// arrays (empty when they fit inline), and whether they are used. Capped:
/// an unverified (in-memory edited) bundle may claim more.
fn spill<T: Clone>(b: &Bundle, fill: T) -> (Vec<T>, Vec<T>, bool) {
    let max_stack = b.img.max_stack.min(MAX_STACK) as usize;
    let max_locals = b.img.max_locals.min(MAX_LOCALS) as usize;
    if max_stack > INLINE || max_locals > INLINE {
        (
            vec![fill.clone(); max_stack + 1],
            vec![fill; max_locals + 1],
            true,
        )
    } else {
        (Vec::new(), Vec::new(), false)
    }
}

/// Scratch space for evaluation.
pub(super) struct Machine {
    stack: [Val; INLINE],
    locals: [Val; INLINE],
    big_stack: Vec<Val>,
    big_locals: Vec<Val>,
}

impl Machine {
    pub(super) fn new(b: &Bundle) -> Machine {
        let (big_stack, big_locals, _) = spill(b, Val::Absent);
        Machine {
            stack: [Val::Absent; INLINE],
            locals: [Val::Absent; INLINE],
            big_stack,
            big_locals,
        }
    }
}

type R<T> = Result<T, EvalError>;

/// A horizon and the instruction that bounds it (`u32::MAX`: none).
pub(super) type Hz = (i64, u32);

/// What tracked mode knows about a stack value or local: its slope (for
/// values) and its horizon (for `Bool`s), see [`crate::horizon`].
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(super) struct Meta {
    slope: i32,
    hz: i64,
    src: u32,
    /// For a `Bool`: the instruction of the condition that gave it its
    /// value (an atom, or the `and`/`or` when every operand agreed).
    blame: u32,
}

impl Meta {
    /// A value time does not move, or a `Bool` time does not change.
    const PLAIN: Meta = Meta {
        slope: 0,
        hz: NEVER,
        src: u32::MAX,
        blame: u32::MAX,
    };

    fn slope(slope: i32) -> Meta {
        Meta {
            slope,
            ..Meta::PLAIN
        }
    }

    fn bool((hz, src): Hz, blame: u32) -> Meta {
        Meta {
            slope: 0,
            hz,
            src,
            blame,
        }
    }

    pub(super) fn hz(self) -> Hz {
        (self.hz, self.src)
    }
}

/// An `and`/`or` whose first operand did not decide it: when its second
/// operand (ending at `end`) is done, their horizons combine.
#[derive(Copy, Clone, Debug)]
pub(super) struct Frame {
    end: usize,
    short: bool,
    acc: Meta,
    /// The jump instruction (absolute index): the `and`/`or` itself.
    at: u32,
}

/// Scratch space of tracked mode, beside a [`Machine`]: fixed arrays like
/// the machine's (heap only for bundles whose blocks need more), so that
/// computing a grant's horizon allocates nothing either.
pub(super) struct Track {
    stack: [Meta; INLINE],
    locals: [Meta; INLINE],
    big_stack: Vec<Meta>,
    big_locals: Vec<Meta>,
    big: bool,
    frames: Frames,
}

/// A stack of [`Frame`]s: inline up to 64 nested `and`/`or`.
pub(super) struct Frames {
    inline: [Option<Frame>; 64],
    len: usize,
    more: Vec<Frame>,
}

impl Frames {
    fn len(&self) -> usize {
        self.len + self.more.len()
    }
    fn clear(&mut self) {
        self.len = 0;
        self.more.clear();
    }
    fn push(&mut self, f: Frame) {
        match self.inline.get_mut(self.len) {
            Some(slot) if self.more.is_empty() => {
                *slot = Some(f);
                self.len += 1;
            }
            _ => self.more.push(f),
        }
    }
    fn pop(&mut self) -> Option<Frame> {
        if let Some(f) = self.more.pop() {
            return Some(f);
        }
        self.len = self.len.checked_sub(1)?;
        self.inline.get(self.len).copied().flatten()
    }
    fn last(&self) -> Option<Frame> {
        match self.more.last() {
            Some(f) => Some(*f),
            None => self.inline.get(self.len.checked_sub(1)?).copied().flatten(),
        }
    }
    fn truncate(&mut self, n: usize) {
        while self.len() > n {
            self.pop();
        }
    }
}

impl Track {
    pub(super) fn new(b: &Bundle) -> Track {
        let (big_stack, big_locals, big) = spill(b, Meta::PLAIN);
        Track {
            stack: [Meta::PLAIN; INLINE],
            locals: [Meta::PLAIN; INLINE],
            big_stack,
            big_locals,
            big,
            frames: Frames {
                inline: [None; 64],
                len: 0,
                more: Vec::new(),
            },
        }
    }

    fn get(&self, i: usize) -> Meta {
        let s: &[Meta] = if self.big {
            &self.big_stack
        } else {
            &self.stack
        };
        s.get(i).copied().unwrap_or(Meta::PLAIN)
    }

    fn set(&mut self, i: usize, m: Meta) {
        let s: &mut [Meta] = if self.big {
            &mut self.big_stack
        } else {
            &mut self.stack
        };
        if let Some(x) = s.get_mut(i) {
            *x = m;
        }
    }

    fn local(&self, i: usize) -> Meta {
        let s: &[Meta] = if self.big {
            &self.big_locals
        } else {
            &self.locals
        };
        s.get(i).copied().unwrap_or(Meta::PLAIN)
    }

    fn set_local(&mut self, i: usize, m: Meta) {
        let s: &mut [Meta] = if self.big {
            &mut self.big_locals
        } else {
            &mut self.locals
        };
        if let Some(x) = s.get_mut(i) {
            *x = m;
        }
    }
}

/// The outcome of one rule's conditions.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(super) enum Applies {
    /// `when` holds and `unless` does not.
    Yes,
    /// `when` is false (the block is returned for explanations).
    WhenFalse,
    /// `unless` holds.
    UnlessTrue,
    /// A condition failed to evaluate.
    Error(EvalError, Option<Block>),
}

impl Bundle {
    fn text<'a>(&'a self, req: &'a BoundRequest, id: u32) -> R<&'a str> {
        let n = self.img.strings.len() as u32;
        if id < n {
            Ok(self.string(id))
        } else {
            req.spans
                .get((id - n) as usize)
                .and_then(|&(start, end)| req.text.get(start..end))
                .ok_or(EvalError::Index)
        }
    }

    fn set_items<'a>(&'a self, req: &'a BoundRequest, s: SetRef) -> R<&'a [Val]> {
        let arena = match s.arena {
            Arena::Const => &self.img.const_sets,
            Arena::Request => &req.sets,
        };
        let (start, len) = (s.start as usize, s.len as usize);
        arena.get(start..start + len).ok_or(EvalError::Index)
    }

    fn eq(&self, req: &BoundRequest, a: Val, b: Val) -> R<bool> {
        match (a, b) {
            (Val::Set(x), Val::Set(y)) => Ok(x.len == y.len && self.subset(req, x, y)?),
            // Verification rules out comparing values of different types;
            // should one slip through, it is an evaluation error, never an
            // answer.
            (a, b) if std::mem::discriminant(&a) == std::mem::discriminant(&b) => Ok(a == b),
            _ => Err(EvalError::Type),
        }
    }

    /// A set's items and whether they are sorted: a request set always is
    /// (binding sorts it); a constant set is checked, in linear time.
    fn searchable<'a>(&'a self, req: &'a BoundRequest, s: SetRef) -> R<(&'a [Val], bool)> {
        let items = self.set_items(req, s)?;
        Ok((items, s.arena == Arena::Request || items.is_sorted()))
    }

    /// Whether `x` is in `set`: a binary search in a request set, a scan
    /// of a constant one.
    fn member(&self, req: &BoundRequest, x: Val, set: SetRef) -> R<bool> {
        let items = self.set_items(req, set)?;
        // Sets hold one kind of value; asking for another is a type error
        // (which verification rules out), never a plain `false`.
        if items
            .first()
            .is_some_and(|v| std::mem::discriminant(v) != std::mem::discriminant(&x))
        {
            return Err(EvalError::Type);
        }
        Ok(if set.arena == Arena::Request {
            items.binary_search(&x).is_ok()
        } else {
            items.contains(&x)
        })
    }

    /// Whether the sets share an element. `n log m` when either is sorted
    /// (every request set is); two unsorted sets are both constants of the
    /// policy, which bounds them.
    fn overlap(&self, req: &BoundRequest, a: SetRef, b: SetRef) -> R<bool> {
        let ((xs, xs_sorted), (ys, ys_sorted)) =
            (self.searchable(req, a)?, self.searchable(req, b)?);
        Ok(if ys_sorted {
            xs.iter().any(|v| ys.binary_search(v).is_ok())
        } else if xs_sorted {
            ys.iter().any(|v| xs.binary_search(v).is_ok())
        } else {
            xs.iter().any(|v| ys.contains(v))
        })
    }

    /// Whether every element of `small` is in `big`. `n log m` when `big`
    /// is sorted; otherwise `big` is an unsorted constant, and a request
    /// set (no duplicates) can only be inside it when it is no larger,
    /// which bounds the scan by the constant's size squared.
    fn subset(&self, req: &BoundRequest, small: SetRef, big: SetRef) -> R<bool> {
        let (xs, _) = self.searchable(req, small)?;
        let (ys, ys_sorted) = self.searchable(req, big)?;
        Ok(if ys_sorted {
            xs.iter().all(|v| ys.binary_search(v).is_ok())
        } else if small.arena == Arena::Request && xs.len() > ys.len() {
            false
        } else {
            xs.iter().all(|v| ys.contains(v))
        })
    }

    /// Runs one block; the result is its `Bool`.
    pub(super) fn run(&self, req: &BoundRequest, m: &mut Machine, block: &Block) -> R<bool> {
        let start = block.start as usize;
        let code = self
            .img
            .code
            .get(start..start + block.len as usize)
            .ok_or(EvalError::Index)?;
        let big = !m.big_stack.is_empty();
        let (stack, locals): (&mut [Val], &mut [Val]) = if big {
            (&mut m.big_stack, &mut m.big_locals)
        } else {
            (&mut m.stack, &mut m.locals)
        };
        match self.exec::<false>(req, code, start, 0, None, stack, 0, locals, None, 0)? {
            Val::Bool(b) => Ok(b),
            _ => Err(EvalError::Type),
        }
    }

    /// Runs one block in tracked mode: its `Bool` and its horizon (the
    /// first instant its value may change as time passes, and the
    /// instruction that bounds it), see [`crate::horizon`]. `depth` counts
    /// the speculative evaluations it is inside.
    pub(super) fn run_tracked(
        &self,
        req: &BoundRequest,
        m: &mut Machine,
        t: &mut Track,
        block: &Block,
        depth: u32,
    ) -> R<(bool, Hz, u32)> {
        let start = block.start as usize;
        let code = self
            .img
            .code
            .get(start..start + block.len as usize)
            .ok_or(EvalError::Index)?;
        let big = !m.big_stack.is_empty();
        let (stack, locals): (&mut [Val], &mut [Val]) = if big {
            (&mut m.big_stack, &mut m.big_locals)
        } else {
            (&mut m.stack, &mut m.locals)
        };
        t.frames.clear();
        t.big = big;
        match self.exec::<true>(req, code, start, 0, None, stack, 0, locals, Some(t), depth)? {
            Val::Bool(b) => Ok((b, t.get(0).hz(), t.get(0).blame)),
            _ => Err(EvalError::Type),
        }
    }

    /// The evaluation loop, from `pc` until `Ret` (or, for a speculative
    /// evaluation, until `end`, returning the top of the stack). With
    /// `TRACK` off (the decision path) the horizon code compiles away.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn exec<const TRACK: bool>(
        &self,
        req: &BoundRequest,
        code: &[Instr],
        base: usize,
        mut pc: usize,
        end: Option<usize>,
        stack: &mut [Val],
        sp0: usize,
        locals: &mut [Val],
        mut track: Option<&mut Track>,
        depth: u32,
    ) -> R<Val> {
        let slots = &req.slots;
        let mut sp = sp0;
        let frame_base = track.as_ref().map_or(0, |t| t.frames.len());
        macro_rules! push {
            ($v:expr) => {{
                let v = $v;
                *stack.get_mut(sp).ok_or(EvalError::Index)? = v;
                sp += 1;
            }};
        }
        macro_rules! pop {
            () => {{
                sp = sp.checked_sub(1).ok_or(EvalError::Index)?;
                *stack.get(sp).ok_or(EvalError::Index)?
            }};
        }
        macro_rules! slot {
            ($i:expr) => {
                *slots.get($i as usize).ok_or(EvalError::Index)?
            };
        }
        loop {
            let mut pending = None;
            if TRACK {
                if let Some(t) = track.as_deref_mut() {
                    let top = sp.checked_sub(1).ok_or(EvalError::Index);
                    while t.frames.len() > frame_base && t.frames.last().map(|f| f.end) == Some(pc)
                    {
                        let Some(f) = t.frames.pop() else { break };
                        let top = top?;
                        let Some(Val::Bool(vb)) = stack.get(top).copied() else {
                            return Err(EvalError::Type);
                        };
                        let mb = t.get(top);
                        let h = combine(f.short, (!f.short, f.acc.hz()), Some((vb, mb.hz())));
                        let blame = if vb == f.short { mb.blame } else { f.at };
                        t.set(top, Meta::bool(h, blame));
                    }
                    if end == Some(pc) {
                        return if sp == sp0 + 1 {
                            stack.get(sp0).copied().ok_or(EvalError::Index)
                        } else {
                            Err(EvalError::Index)
                        };
                    }
                }
            }
            let instr = *code.get(pc).ok_or(EvalError::Index)?;
            if TRACK {
                if let Some(t) = track.as_deref_mut() {
                    let at = (base + pc) as u32;
                    pending = self.meta_before(req, t, instr, at, stack, sp);
                    if let Some((_, m)) = pending.as_mut() {
                        if !matches!(instr, Instr::Local { .. }) {
                            m.blame = at;
                        }
                    }
                }
            }
            pc += 1;
            match instr {
                Instr::Const { k } => {
                    push!(*self.img.consts.get(k.index()).ok_or(EvalError::Index)?)
                }
                Instr::Slot { slot } => push!(slot!(slot.0)),
                Instr::Rec { slot } => push!(match slot!(slot.0) {
                    Val::Present => Val::Rec(slot.0),
                    _ => Val::Absent,
                }),
                Instr::Field { off } => {
                    let v = match pop!() {
                        Val::Rec(b) => slot!(b.checked_add(off.0).ok_or(EvalError::Index)?),
                        Val::Absent => Val::Absent,
                        _ => return Err(EvalError::Type),
                    };
                    push!(v)
                }
                Instr::FieldRec { off } => {
                    let v = match pop!() {
                        Val::Rec(b) => {
                            let at = b.checked_add(off.0).ok_or(EvalError::Index)?;
                            match slot!(at) {
                                Val::Present => Val::Rec(at),
                                _ => Val::Absent,
                            }
                        }
                        Val::Absent => Val::Absent,
                        _ => return Err(EvalError::Type),
                    };
                    push!(v)
                }
                Instr::Local { i } => push!(*locals.get(i.index()).ok_or(EvalError::Index)?),
                Instr::SetLocal { i } => {
                    let v = pop!();
                    *locals.get_mut(i.index()).ok_or(EvalError::Index)? = v;
                }
                Instr::Not {} => match pop!() {
                    Val::Bool(b) => push!(Val::Bool(!b)),
                    _ => return Err(EvalError::Type),
                },
                Instr::Neg {} => match pop!() {
                    Val::Int(i) => push!(Val::Int(i.checked_neg().ok_or(EvalError::Overflow)?)),
                    Val::Dur(d) => push!(Val::Dur(d.checked_neg().ok_or(EvalError::Overflow)?)),
                    Val::Dec(d) => push!(Val::Dec(d.checked_neg().ok_or(EvalError::Overflow)?)),
                    _ => return Err(EvalError::Type),
                },
                Instr::Add {} | Instr::Sub {} => {
                    let b = pop!();
                    let a = pop!();
                    let add = matches!(instr, Instr::Add {});
                    let f = |x: i64, y: i64| {
                        if add {
                            x.checked_add(y)
                        } else {
                            x.checked_sub(y)
                        }
                    };
                    let v = match (a, b) {
                        (Val::Int(x), Val::Int(y)) => Val::Int(f(x, y).ok_or(EvalError::Overflow)?),
                        (Val::Time(x), Val::Dur(y)) => {
                            Val::Time(f(x, y).ok_or(EvalError::Overflow)?)
                        }
                        (Val::Dur(x), Val::Time(y)) if add => {
                            Val::Time(x.checked_add(y).ok_or(EvalError::Overflow)?)
                        }
                        (Val::Time(x), Val::Time(y)) if !add => {
                            Val::Dur(x.checked_sub(y).ok_or(EvalError::Overflow)?)
                        }
                        (Val::Dur(x), Val::Dur(y)) => Val::Dur(f(x, y).ok_or(EvalError::Overflow)?),
                        (Val::Dec(x), Val::Dec(y)) => Val::Dec(f(x, y).ok_or(EvalError::Overflow)?),
                        _ => return Err(EvalError::Type),
                    };
                    push!(v)
                }
                Instr::Mul {} => {
                    let b = pop!();
                    let a = pop!();
                    let v = match (a, b) {
                        (Val::Dec(x), Val::Int(y)) | (Val::Int(y), Val::Dec(x)) => {
                            Val::Dec(x.checked_mul(y).ok_or(EvalError::Overflow)?)
                        }
                        _ => return Err(EvalError::Type),
                    };
                    push!(v)
                }
                Instr::Cmp { op } => {
                    let b = pop!();
                    let a = pop!();
                    push!(Val::Bool(self.compare(req, op, a, b)?))
                }
                Instr::CmpSlotConst { op, slot, k } => {
                    let a = slot!(slot.0);
                    let b = *self.img.consts.get(k.index()).ok_or(EvalError::Index)?;
                    push!(Val::Bool(self.compare(req, op, a, b)?))
                }
                Instr::In {} => {
                    let b = pop!();
                    let a = pop!();
                    let r = match (a, b) {
                        (Val::Absent, _) | (_, Val::Absent) => false,
                        (Val::Ip(ip), Val::Net(n)) => n.contains(ip),
                        (Val::Time(t), Val::Rec(w)) => match (
                            slot!(w.checked_add(1).ok_or(EvalError::Index)?),
                            slot!(w.checked_add(2).ok_or(EvalError::Index)?),
                        ) {
                            (Val::Time(s), Val::Time(e)) => s <= t && t < e,
                            _ => return Err(EvalError::Type),
                        },
                        (Val::Ip(ip), Val::Set(s)) => {
                            let items = self.set_items(req, s)?;
                            if items.first().is_some_and(|v| matches!(v, Val::Net(_))) {
                                items
                                    .iter()
                                    .any(|v| matches!(v, Val::Net(n) if n.contains(ip)))
                            } else {
                                self.member(req, a, s)?
                            }
                        }
                        (x, Val::Set(s)) => self.member(req, x, s)?,
                        _ => return Err(EvalError::Type),
                    };
                    push!(Val::Bool(r))
                }
                Instr::Like { p } => {
                    let r = match pop!() {
                        Val::Absent => false,
                        Val::Str(s) => {
                            let pieces =
                                self.img.patterns.get(p.index()).ok_or(EvalError::Index)?;
                            like(self, self.text(req, s)?, pieces)
                        }
                        _ => return Err(EvalError::Type),
                    };
                    push!(Val::Bool(r))
                }
                Instr::Method { m: code } => {
                    let nargs = *method::ARGS.get(code.index()).ok_or(EvalError::Index)? as usize;
                    let arg = if nargs == 1 { pop!() } else { Val::Absent };
                    let recv = pop!();
                    let absent = recv.is_absent() || (nargs == 1 && arg.is_absent());
                    let v = if absent {
                        if code == method::LEN {
                            Val::Absent
                        } else {
                            Val::Bool(false)
                        }
                    } else {
                        match (code, recv, arg) {
                            (method::STARTS_WITH, Val::Str(s), Val::Str(x)) => {
                                Val::Bool(self.text(req, s)?.starts_with(self.text(req, x)?))
                            }
                            (method::ENDS_WITH, Val::Str(s), Val::Str(x)) => {
                                Val::Bool(self.text(req, s)?.ends_with(self.text(req, x)?))
                            }
                            (method::STR_CONTAINS, Val::Str(s), Val::Str(x)) => {
                                Val::Bool(self.text(req, s)?.contains(self.text(req, x)?))
                            }
                            (method::CONTAINS, Val::Set(s), x) => {
                                Val::Bool(self.member(req, x, s)?)
                            }
                            (method::CONTAINS_ANY, Val::Set(s), Val::Set(x)) => {
                                Val::Bool(self.overlap(req, s, x)?)
                            }
                            (method::CONTAINS_ALL, Val::Set(s), Val::Set(x)) => {
                                Val::Bool(self.subset(req, x, s)?)
                            }
                            (method::IS_EMPTY, Val::Set(s), _) => Val::Bool(s.len == 0),
                            (method::LEN, Val::Set(s), _) => Val::Int(i64::from(s.len)),
                            _ => return Err(EvalError::Type),
                        }
                    };
                    push!(v)
                }
                Instr::Has {} => {
                    let v = pop!();
                    push!(Val::Bool(!v.is_absent()))
                }
                Instr::JumpIfFalseOrPop { off } | Instr::JumpIfTrueOrPop { off } => {
                    let top = *stack
                        .get(sp.checked_sub(1).ok_or(EvalError::Index)?)
                        .ok_or(EvalError::Index)?;
                    let Val::Bool(b) = top else {
                        return Err(EvalError::Type);
                    };
                    let jump_on = matches!(instr, Instr::JumpIfTrueOrPop { .. });
                    if TRACK {
                        if let Some(t) = track.as_deref_mut() {
                            sp -= 1;
                            let acc = t.get(sp);
                            if b == jump_on {
                                // The result is `b`; evaluate the skipped
                                // operand anyway, in case it lasts longer.
                                let target = pc + off.index();
                                let other = if depth < MAX_SPECULATION {
                                    let mark = t.frames.len();
                                    let r = self.exec::<true>(
                                        req,
                                        code,
                                        base,
                                        pc,
                                        Some(target),
                                        stack,
                                        sp,
                                        locals,
                                        Some(&mut *t),
                                        depth + 1,
                                    );
                                    t.frames.truncate(mark);
                                    match r {
                                        Ok(Val::Bool(v)) => Some((v, t.get(sp).hz())),
                                        _ => None,
                                    }
                                } else {
                                    None
                                };
                                let h = combine(jump_on, (b, acc.hz()), other);
                                *stack.get_mut(sp).ok_or(EvalError::Index)? = Val::Bool(b);
                                t.set(sp, Meta::bool(h, acc.blame));
                                sp += 1;
                                pc = target;
                            } else {
                                t.frames.push(Frame {
                                    end: pc + off.index(),
                                    short: jump_on,
                                    acc,
                                    at: (base + pc - 1) as u32,
                                });
                            }
                            continue;
                        }
                    }
                    if b == jump_on {
                        pc += off.index();
                    } else {
                        sp -= 1;
                    }
                }
                Instr::JumpIfPresentOrPop { off } => {
                    let top = *stack
                        .get(sp.checked_sub(1).ok_or(EvalError::Index)?)
                        .ok_or(EvalError::Index)?;
                    if top.is_absent() {
                        sp -= 1;
                    } else {
                        pc += off.index();
                    }
                }
                Instr::Ret {} => {
                    if TRACK {
                        if let Some(t) = track.as_deref_mut() {
                            let m = t.get(sp.checked_sub(1).ok_or(EvalError::Index)?);
                            t.set(0, m);
                        }
                    }
                    return Ok(pop!());
                }
            }
            if TRACK {
                if let (Some(t), Some((at, m))) = (track.as_deref_mut(), pending) {
                    t.set(at, m);
                }
            }
        }
    }

    /// Tracked mode: what `instr` (at absolute index `at`) will leave at
    /// which stack position, computed from its operands before it runs.
    #[allow(clippy::too_many_arguments)]
    fn meta_before(
        &self,
        req: &BoundRequest,
        t: &mut Track,
        instr: Instr,
        at: u32,
        stack: &[Val],
        sp: usize,
    ) -> Option<(usize, Meta)> {
        let now_slot = self.img.schema.special.now;
        let val = |i: usize| stack.get(i).copied().unwrap_or(Val::Absent);
        let slot_slope = |s: u32| i32::from(s == now_slot);
        let top = sp.checked_sub(1);
        let under = sp.checked_sub(2);
        Some(match instr {
            Instr::Const { .. } | Instr::Rec { .. } => (sp, Meta::PLAIN),
            Instr::Slot { slot } => (sp, Meta::slope(slot_slope(slot.0))),
            Instr::Field { .. } | Instr::FieldRec { .. } | Instr::Has {} | Instr::Like { .. } => {
                (top?, Meta::PLAIN)
            }
            Instr::Local { i } => (sp, t.local(i.index())),
            Instr::SetLocal { i } => {
                let m = t.get(top?);
                t.set_local(i.index(), m);
                return None;
            }
            Instr::Not {} => (top?, t.get(top?)),
            Instr::Neg {} => (top?, Meta::slope(slope_neg(t.get(top?).slope))),
            Instr::Add {} | Instr::Sub {} => {
                let (a, b) = (t.get(under?).slope, t.get(top?).slope);
                let s = if matches!(instr, Instr::Add {}) {
                    slope_add(a, b)
                } else {
                    slope_sub(a, b)
                };
                (under?, Meta::slope(s))
            }
            // A decimal never moves with `now`.
            Instr::Mul {} => (under?, Meta::PLAIN),
            Instr::Method { m } => (sp.checked_sub(1 + m.args() as usize)?, Meta::PLAIN),
            Instr::Cmp { op } => {
                let (a, b) = (under?, top?);
                let (sa, sb) = (t.get(a).slope, t.get(b).slope);
                let m = self.cmp_meta(req.now, op, val(a), sa, val(b), sb, at);
                (a, m.unwrap_or(Meta::PLAIN))
            }
            Instr::CmpSlotConst { op, slot, k } => {
                let a = req.slots.get(slot.index()).copied().unwrap_or(Val::Absent);
                let b = self
                    .img
                    .consts
                    .get(k.index())
                    .copied()
                    .unwrap_or(Val::Absent);
                let m = self.cmp_meta(req.now, op, a, slot_slope(slot.0), b, 0, at);
                (sp, m.unwrap_or(Meta::PLAIN))
            }
            Instr::In {} => {
                let (a, b) = (under?, top?);
                let m = match (val(a), val(b)) {
                    (Val::Time(x), Val::Rec(w)) => {
                        let field = |d: u32| {
                            w.checked_add(d)
                                .and_then(|i| req.slots.get(i as usize))
                                .copied()
                        };
                        match (field(1), field(2)) {
                            (Some(Val::Time(s)), Some(Val::Time(e))) => {
                                let sx = t.get(a).slope;
                                let c1 = horizon::compare(req.now, cmp::GE, x, sx, s, 0);
                                let c2 = horizon::compare(req.now, cmp::LT, x, sx, e, 0);
                                let src = |h: i64| if h == NEVER { u32::MAX } else { at };
                                let h = combine(
                                    false,
                                    (x >= s, (c1, src(c1))),
                                    Some((x < e, (c2, src(c2)))),
                                );
                                Meta::bool(h, at)
                            }
                            _ => Meta::PLAIN,
                        }
                    }
                    _ => Meta::PLAIN,
                };
                (a, m)
            }
            Instr::JumpIfFalseOrPop { .. }
            | Instr::JumpIfTrueOrPop { .. }
            | Instr::JumpIfPresentOrPop { .. }
            | Instr::Ret {} => return None,
        })
    }

    /// The horizon of `a <op> b` with slopes `sa`, `sb` (`None` for
    /// operands time cannot order).
    #[allow(clippy::too_many_arguments)]
    fn cmp_meta(
        &self,
        now: i64,
        op: CmpOp,
        a: Val,
        sa: i32,
        b: Val,
        sb: i32,
        at: u32,
    ) -> Option<Meta> {
        let (x, y) = match (a, b) {
            (Val::Time(x), Val::Time(y))
            | (Val::Dur(x), Val::Dur(y))
            | (Val::Int(x), Val::Int(y)) => (x, y),
            _ => return None,
        };
        let h = horizon::compare(now, op, x, sa, y, sb);
        Some(Meta::bool((h, if h == NEVER { u32::MAX } else { at }), at))
    }

    fn compare(&self, req: &BoundRequest, op: CmpOp, a: Val, b: Val) -> R<bool> {
        if a.is_absent() || b.is_absent() {
            return Ok(false);
        }
        match op {
            cmp::EQ => self.eq(req, a, b),
            cmp::NE => Ok(!self.eq(req, a, b)?),
            _ => {
                let ord = match (a, b) {
                    (Val::Int(x), Val::Int(y))
                    | (Val::Time(x), Val::Time(y))
                    | (Val::Dur(x), Val::Dur(y))
                    | (Val::Dec(x), Val::Dec(y)) => x.cmp(&y),
                    _ => return Err(EvalError::Type),
                };
                Ok(match op {
                    cmp::LT => ord.is_lt(),
                    cmp::LE => ord.is_le(),
                    cmp::GT => ord.is_gt(),
                    cmp::GE => ord.is_ge(),
                    _ => return Err(EvalError::Index),
                })
            }
        }
    }

    /// `when` holds and `unless` does not.
    pub(super) fn applies(&self, req: &BoundRequest, m: &mut Machine, r: &RuleMeta) -> Applies {
        if let Some(w) = &r.when {
            match self.run(req, m, w) {
                Ok(true) => {}
                Ok(false) => return Applies::WhenFalse,
                Err(e) => return Applies::Error(e, Some(*w)),
            }
        }
        if let Some(u) = &r.unless {
            match self.run(req, m, u) {
                Ok(false) => {}
                Ok(true) => return Applies::UnlessTrue,
                Err(e) => return Applies::Error(e, Some(*u)),
            }
        }
        Applies::Yes
    }

    /// The rules for this request's (scope, action): global then task lists
    /// merged in source order, through `f`. Stops when `f` returns true.
    pub(super) fn for_each_candidate(
        &self,
        req: &BoundRequest,
        guards: bool,
        mut f: impl FnMut(u32, &RuleMeta) -> bool,
    ) {
        let pick = |scope: u32| {
            self.index_entry(scope, req.action)
                .map(|e| self.index_slice(if guards { e.guards } else { e.permits }))
                .unwrap_or(&[])
        };
        let a = pick(0);
        let b = match req.task {
            Some(t) => pick(t + 1),
            None => &[],
        };
        let (mut i, mut j) = (0, 0);
        loop {
            let next = match (a.get(i), b.get(j)) {
                (Some(x), Some(y)) if x < y => {
                    i += 1;
                    *x
                }
                (Some(_), Some(y)) => {
                    j += 1;
                    *y
                }
                (Some(x), None) => {
                    i += 1;
                    *x
                }
                (None, Some(y)) => {
                    j += 1;
                    *y
                }
                (None, None) => return,
            };
            if let Some(r) = self.img.rules.get(next as usize) {
                if f(next, r) {
                    return;
                }
            }
        }
    }

    /// Whether a permit's principal and resource types match the request.
    pub(super) fn types_match(&self, req: &BoundRequest, r: &RuleMeta) -> bool {
        r.principal
            .as_ref()
            .is_none_or(|t| t.contains(&req.principal_type))
            && r.resource
                .as_ref()
                .is_none_or(|t| t.contains(&req.resource_type))
    }

    /// Task timing of a permit: (expires_at, not yet active, expired).
    pub(super) fn timing(&self, req: &BoundRequest, r: &RuleMeta) -> (Option<i64>, bool, bool) {
        if r.task.is_none() {
            return (None, false, false);
        }
        let expires_at = r
            .ttl
            .map(|ttl| Time(req.started_at).grant_expiry(Duration(ttl)).0);
        let early = req.now < req.started_at;
        let over = expires_at.is_some_and(|e| req.now >= e);
        (expires_at, early, over)
    }

    /// Whether rule `i` reads `now` (and so may have a horizon).
    fn uses_now(&self, i: u32) -> bool {
        self.lookup
            .uses_now
            .get(i as usize)
            .copied()
            .unwrap_or(false)
    }

    /// The horizon of a permit whose `when`, `unless` and `require`s all
    /// went its way: the shortest of theirs (an `and` of them all).
    pub(super) fn permit_horizon(
        &self,
        req: &BoundRequest,
        m: &mut Machine,
        t: &mut Track,
        r: &RuleMeta,
    ) -> Hz {
        let mut h: Hz = (NEVER, u32::MAX);
        let blocks = r
            .when
            .iter()
            .chain(r.unless.iter())
            .chain(r.requires.iter().map(|(b, _)| b));
        for b in blocks {
            // (it evaluated a moment ago; a failure cannot happen and would
            // leave the horizon as it is)
            if let Ok((_, hb, _)) = self.run_tracked(req, m, t, b, 0) {
                if hb.0 < h.0 {
                    h = hb;
                }
            }
        }
        h
    }

    /// The horizon of a guard that does not hold (`when` and not `unless`
    /// is false): the first instant at which it may start to hold.
    pub(super) fn guard_horizon(
        &self,
        req: &BoundRequest,
        m: &mut Machine,
        t: &mut Track,
        r: &RuleMeta,
    ) -> Hz {
        let plain: Hz = (NEVER, u32::MAX);
        let when = match &r.when {
            Some(w) => match self.run_tracked(req, m, t, w, 0) {
                Ok((v, h, _)) => (v, h),
                Err(_) => return plain,
            },
            None => (true, plain),
        };
        let Some(u) = &r.unless else {
            return when.1;
        };
        let depth = u32::from(!when.0);
        let other = if depth < MAX_SPECULATION {
            self.run_tracked(req, m, t, u, depth)
                .ok()
                .map(|(v, h, _)| (!v, h))
        } else {
            None
        };
        combine(false, when, other)
    }

    /// The earliest horizon of the guards for this request that do not
    /// hold (every guard, when the request is allowed), and which guard.
    pub(super) fn guards_horizon(
        &self,
        req: &BoundRequest,
        m: &mut Machine,
        t: &mut Option<Track>,
    ) -> Option<(i64, u32, u32)> {
        let mut best: Option<(i64, u32, u32)> = None;
        self.for_each_candidate(req, true, |i, r| {
            let applies = r
                .resource
                .as_ref()
                .is_none_or(|ty| ty.contains(&req.resource_type));
            if applies && self.uses_now(i) {
                let t = t.get_or_insert_with(|| Track::new(self));
                let (h, src) = self.guard_horizon(req, m, t, r);
                if h != NEVER && best.is_none_or(|(b, _, _)| h < b) {
                    best = Some((h, i, src));
                }
            }
            false
        });
        best
    }

    /// A permit's expiry if it allows: its task's end and its own horizon,
    /// whichever is first (`None`: neither), and the bounding instruction
    /// when the horizon is first.
    pub(super) fn permit_expiry(
        &self,
        req: &BoundRequest,
        m: &mut Machine,
        t: &mut Option<Track>,
        i: u32,
        r: &RuleMeta,
        task_end: Option<i64>,
    ) -> (Option<i64>, Option<u32>) {
        if !self.uses_now(i) {
            return (task_end, None);
        }
        let t = t.get_or_insert_with(|| Track::new(self));
        let (h, src) = self.permit_horizon(req, m, t, r);
        match task_end {
            _ if h == NEVER => (task_end, None),
            Some(e) if e <= h => (Some(e), None),
            _ => (Some(h), Some(src)),
        }
    }

    /// Decides a bound request. Allocates nothing.
    pub fn decide(&self, req: &BoundRequest) -> Decision<'_> {
        if req.fingerprint != self.lookup.fingerprint {
            return Decision::new(self, Effect::Deny, Reason::InvalidRequest, None);
        }
        let mut m = Machine::new(self);
        // Guards.
        let mut denied: Option<Decision<'_>> = None;
        self.for_each_candidate(req, true, |i, r| {
            if r.resource
                .as_ref()
                .is_some_and(|t| !t.contains(&req.resource_type))
            {
                return false;
            }
            match self.applies(req, &mut m, r) {
                Applies::Yes => {
                    denied = Some(Decision::new(
                        self,
                        Effect::Deny,
                        Reason::Forbidden,
                        Some(i),
                    ));
                    true
                }
                Applies::Error(e, _) => {
                    let mut d = Decision::new(self, Effect::Deny, Reason::Forbidden, Some(i));
                    d.error = Some(e);
                    denied = Some(d);
                    true
                }
                _ => false,
            }
        });
        if let Some(d) = denied {
            return d;
        }
        // Permits.
        let mut allowed: Option<(u32, Option<i64>)> = None;
        let mut stepped: Option<(u32, u64, u32)> = None;
        let mut expired: Option<u32> = None;
        let mut early: Option<u32> = None;
        let mut track: Option<Track> = None;
        self.for_each_candidate(req, false, |i, r| {
            if !self.types_match(req, r) {
                return false;
            }
            // A standing grant outlives any task grant: nothing can beat it.
            if allowed.is_some_and(|(_, e)| e.is_none()) {
                return true;
            }
            let (expires_at, not_yet, over) = self.timing(req, r);
            if self.applies(req, &mut m, r) != Applies::Yes {
                return false;
            }
            if not_yet {
                early = early.or(Some(i));
                return false;
            }
            if over {
                expired = expired.or(Some(i));
                return false;
            }
            let mut missing = 0u64;
            let mut count = 0u32;
            for (n, (b, _)) in r.requires.iter().enumerate() {
                match self.run(req, &mut m, b) {
                    Ok(true) => {}
                    Ok(false) => {
                        missing |= 1u64 << (n as u32).min(63);
                        count += 1;
                    }
                    Err(_) => return false,
                }
            }
            if count == 0 {
                let (expires_at, _) = self.permit_expiry(req, &mut m, &mut track, i, r, expires_at);
                let better = match allowed {
                    None => true,
                    Some((_, None)) => false,
                    Some((_, Some(best))) => expires_at.is_none_or(|e| e > best),
                };
                if better {
                    allowed = Some((i, expires_at));
                }
            } else if stepped.is_none_or(|(_, _, c)| count < c) {
                stepped = Some((i, missing, count));
            }
            false
        });
        if let Some((i, mut expires_at)) = allowed {
            // A guard that will start to hold ends the grant then.
            if let Some((h, _, _)) = self.guards_horizon(req, &mut m, &mut track) {
                expires_at = Some(expires_at.map_or(h, |e| e.min(h)));
            }
            let mut d = Decision::new(self, Effect::Allow, Reason::Granted, Some(i));
            d.expires_at = expires_at;
            return d;
        }
        if let Some((i, missing, _)) = stepped {
            let mut d = Decision::new(self, Effect::StepUp, Reason::RequirementsMissing, Some(i));
            d.missing = missing;
            return d;
        }
        if let Some(i) = expired {
            return Decision::new(self, Effect::Deny, Reason::Expired, Some(i));
        }
        if let Some(i) = early {
            return Decision::new(self, Effect::Deny, Reason::NotYetActive, Some(i));
        }
        Decision::new(self, Effect::Deny, Reason::NoMatchingRule, None)
    }
}

/// Whether `s` matches a pattern given as pieces between `*` wildcards.
fn like(b: &Bundle, s: &str, pieces: &[u32]) -> bool {
    let Some((first, rest)) = pieces.split_first() else {
        return s.is_empty();
    };
    let Some(mut tail) = s.strip_prefix(b.string(*first)) else {
        return false;
    };
    let Some((last, middle)) = rest.split_last() else {
        return tail.is_empty();
    };
    for piece in middle {
        let p = b.string(*piece);
        match tail.find(p) {
            Some(i) => tail = tail.get(i + p.len()..).unwrap_or(""),
            None => return false,
        }
    }
    let last = b.string(*last);
    tail.len() >= last.len() && tail.ends_with(last)
}
