//! The native module `jitp._native` behind the Python package `jitp`.
//!
//! It wraps the runtime's [`jitp_runtime::Bundle`] (loaded and verified
//! exactly as in Rust) and the compiler's driver. Decisions are made with
//! the GIL released, so several Python threads decide in parallel on one
//! bundle. A request is a `dict` (converted here, refusing anything JSON
//! cannot hold, with its path) or a JSON `str` (read by the runtime's
//! duplicate-key-refusing reader).
//!
//! The Python-facing documentation is in `python/jitp/__init__.pyi` and
//! `docs/bindings.md`.

// PyO3's `#[pyclass]`, `#[pymethods]`, `#[pymodule]` and
// `create_exception!` expand to `unsafe` code (the CPython C API). This
// crate writes no `unsafe` of its own; the allowance exists only for the
// macro expansions.
#![allow(unsafe_code)]
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use jitp_runtime::value::Time;
use jitp_runtime::{
    Bundle as RtBundle, DecisionRecord, RequestErrorKind, RuleTrace, MAX_REQUEST_BYTES,
    MAX_REQUEST_DEPTH,
};
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use pyo3::IntoPyObjectExt;
use serde_json::Value;
use std::path::PathBuf;

pyo3::create_exception!(jitp, Error, PyException, "Base of every error jitp raises.");
pyo3::create_exception!(
    jitp,
    BundleError,
    Error,
    "A bundle could not be read, or failed verification (truncated, corrupt, forged, another format version)."
);
pyo3::create_exception!(
    jitp,
    RequestError,
    Error,
    "A request is not JSON, holds a value JSON cannot (with its path), or is too large or too deep."
);
pyo3::create_exception!(
    jitp,
    CompileError,
    Error,
    "Policies did not compile; the message holds the located diagnostics."
);

/// A loaded, verified bundle. Immutable: share it between threads.
#[pyclass(frozen, module = "jitp", name = "Bundle")]
struct Bundle {
    inner: RtBundle,
}

/// One decision (see `jitp/__init__.pyi`).
#[pyclass(frozen, module = "jitp", name = "Decision")]
struct Decision {
    record: DecisionRecord,
    explanation: Option<Vec<RuleTrace>>,
}

/// A request as JSON text, converted with the GIL held, decided without
/// it. A dict is written as JSON text (not built as a tree of values): one
/// buffer, and the runtime's own reader binds it, exactly as it binds a
/// string.
struct Req(String);

/// What a request is a bad one for: raised, not decided.
struct Bad(String);

/// Converts a Python request (a `dict` or a JSON `str`) for deciding.
fn request_of(obj: &Bound<'_, PyAny>) -> PyResult<Req> {
    if let Ok(s) = obj.cast::<PyString>() {
        let text = s.to_str().map_err(|_| {
            RequestError::new_err("the request is not valid UTF-8 (a lone surrogate)")
        })?;
        return Ok(Req(text.to_owned()));
    }
    if obj.cast::<PyDict>().is_ok() {
        let mut budget = MAX_REQUEST_BYTES;
        let mut path = String::new();
        let mut out = Vec::with_capacity(512);
        write_json(obj, &mut path, 0, &mut budget, &mut out)
            .map_err(|Bad(m)| RequestError::new_err(m))?;
        // Only valid UTF-8 was written: Python strings and ASCII.
        let text = String::from_utf8(out)
            .map_err(|_| RequestError::new_err("the request is not valid UTF-8"))?;
        return Ok(Req(text));
    }
    Err(RequestError::new_err(format!(
        "a request is a dict or a JSON string, not `{}`",
        type_name(obj)
    )))
}

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".into())
}

fn at(path: &str) -> String {
    if path.is_empty() {
        "the request".into()
    } else {
        format!("`{path}`")
    }
}

/// Spends `n` bytes of the request's size budget.
fn spend(budget: &mut usize, n: usize) -> Result<(), Bad> {
    match budget.checked_sub(n) {
        Some(left) => {
            *budget = left;
            Ok(())
        }
        None => Err(Bad(format!(
            "the request is larger than {MAX_REQUEST_BYTES} bytes"
        ))),
    }
}

/// Writes `s` as a JSON string (quoted, escaped).
fn write_str(s: &str, out: &mut Vec<u8>) -> Result<(), Bad> {
    serde_json::to_writer(out, s).map_err(|e| Bad(format!("cannot write a string: {e}")))
}

/// Writes a Python value as JSON text, or says why it cannot be (with its
/// path). `depth` bounds the recursion, so a dict that contains itself is
/// refused, not followed; `budget` bounds the size.
fn write_json(
    obj: &Bound<'_, PyAny>,
    path: &mut String,
    depth: usize,
    budget: &mut usize,
    out: &mut Vec<u8>,
) -> Result<(), Bad> {
    if depth > MAX_REQUEST_DEPTH {
        return Err(Bad(format!(
            "the request is nested deeper than {MAX_REQUEST_DEPTH} levels (at {})",
            at(path)
        )));
    }
    spend(budget, 8)?;
    if obj.is_none() {
        out.extend_from_slice(b"null");
        return Ok(());
    }
    if let Ok(b) = obj.cast::<PyBool>() {
        out.extend_from_slice(if b.is_true() { b"true" } else { b"false" });
        return Ok(());
    }
    if obj.cast::<PyInt>().is_ok() {
        use std::io::Write as _;
        let written = if let Ok(i) = obj.extract::<i64>() {
            write!(out, "{i}")
        } else if let Ok(u) = obj.extract::<u64>() {
            write!(out, "{u}")
        } else {
            return Err(Bad(format!(
                "the integer at {} does not fit in 64 bits",
                at(path)
            )));
        };
        return written.map_err(|e| Bad(format!("cannot write an integer: {e}")));
    }
    if let Ok(f) = obj.cast::<PyFloat>() {
        let f = f.value();
        if !f.is_finite() {
            return Err(Bad(format!(
                "the float at {} is `{f}`, which JSON cannot hold",
                at(path)
            )));
        }
        return serde_json::to_writer(out, &f)
            .map_err(|e| Bad(format!("cannot write a float: {e}")));
    }
    if let Ok(s) = obj.cast::<PyString>() {
        let text = s.to_str().map_err(|_| {
            Bad(format!(
                "the string at {} is not valid Unicode (a lone surrogate)",
                at(path)
            ))
        })?;
        spend(budget, text.len())?;
        return write_str(text, out);
    }
    if let Ok(d) = obj.cast::<PyDict>() {
        out.push(b'{');
        for (n, (k, v)) in d.iter().enumerate() {
            let Ok(ks) = k.cast::<PyString>() else {
                return Err(Bad(format!(
                    "a key of {} is a `{}`, not a string",
                    at(path),
                    type_name(&k)
                )));
            };
            let key = ks.to_str().map_err(|_| {
                Bad(format!(
                    "a key of {} is not valid Unicode (a lone surrogate)",
                    at(path)
                ))
            })?;
            spend(budget, key.len())?;
            if n > 0 {
                out.push(b',');
            }
            write_str(key, out)?;
            out.push(b':');
            let len = path.len();
            if !path.is_empty() {
                path.push('.');
            }
            path.push_str(key);
            write_json(&v, path, depth + 1, budget, out)?;
            path.truncate(len);
        }
        out.push(b'}');
        return Ok(());
    }
    let items: Option<Vec<Bound<'_, PyAny>>> = if let Ok(l) = obj.cast::<PyList>() {
        Some(l.iter().collect())
    } else if let Ok(t) = obj.cast::<PyTuple>() {
        Some(t.iter().collect())
    } else {
        None
    };
    if let Some(items) = items {
        out.push(b'[');
        for (i, v) in items.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            let len = path.len();
            path.push_str(&format!("[{i}]"));
            write_json(v, path, depth + 1, budget, out)?;
            path.truncate(len);
        }
        out.push(b']');
        return Ok(());
    }
    // A `decimal.Decimal` is written as its text, which a `Decimal` field
    // reads exactly (and refuses, located, when it has an exponent or more
    // digits than the precision): never through a binary float.
    static DECIMAL: pyo3::sync::PyOnceLock<Py<pyo3::types::PyType>> = pyo3::sync::PyOnceLock::new();
    if let Ok(ty) = DECIMAL.import(obj.py(), "decimal", "Decimal") {
        if obj.is_instance(ty).unwrap_or(false) {
            let text = obj
                .str()
                .map_err(|_| Bad(format!("the decimal at {} has no text", at(path))))?;
            let text = text
                .to_str()
                .map_err(|_| Bad(format!("bad decimal at {}", at(path))))?;
            spend(budget, text.len())?;
            return write_str(text, out);
        }
    }
    Err(Bad(format!(
        "the value at {} is a `{}`, which is not JSON (use dict, list, str, int, float, bool, decimal.Decimal or None)",
        at(path),
        type_name(obj)
    )))
}

/// Decides one converted request as `jitp eval` does: a request that is
/// not JSON (or too large) is refused; one that does not fit the schema is
/// a deny with reason `invalid_request`.
fn decide_req(b: &RtBundle, req: &Req, explain: bool) -> Result<Decision, Bad> {
    let bound = match b.bind_str(&req.0) {
        Ok(bound) => bound,
        Err(e)
            if matches!(
                e.kind,
                RequestErrorKind::Syntax { .. } | RequestErrorKind::TooLarge { .. }
            ) =>
        {
            return Err(Bad(e.to_string()));
        }
        // Decided, unexplained, as `jitp eval --explain` does: no rule
        // was considered.
        Err(e) => {
            return Ok(Decision {
                record: DecisionRecord::invalid(e.to_string()),
                explanation: None,
            })
        }
    };
    Ok(if explain {
        let x = b.explain(&bound);
        Decision {
            record: x.decision,
            explanation: Some(x.rules),
        }
    } else {
        Decision {
            record: b.decide(&bound).to_record(),
            explanation: None,
        }
    })
}

/// A JSON value as the Python value `json.loads` would give.
fn to_py<'py>(py: Python<'py>, v: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match v {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => b.into_bound_py_any(py)?,
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                i.into_bound_py_any(py)?
            } else if let Some(u) = n.as_u64() {
                u.into_bound_py_any(py)?
            } else {
                n.as_f64().unwrap_or(f64::NAN).into_bound_py_any(py)?
            }
        }
        Value::String(s) => s.into_bound_py_any(py)?,
        Value::Array(a) => {
            let l = PyList::empty(py);
            for x in a {
                l.append(to_py(py, x)?)?;
            }
            l.into_any()
        }
        Value::Object(o) => {
            let d = PyDict::new(py);
            for (k, x) in o {
                d.set_item(k, to_py(py, x)?)?;
            }
            d.into_any()
        }
    })
}

fn bundle_error(e: impl std::fmt::Display) -> PyErr {
    BundleError::new_err(e.to_string())
}

#[pymethods]
impl Bundle {
    /// Loads and verifies the bundle file at `path`.
    #[staticmethod]
    fn from_file(py: Python<'_>, path: PathBuf) -> PyResult<Bundle> {
        py.detach(|| RtBundle::from_file(&path))
            .map(|inner| Bundle { inner })
            .map_err(bundle_error)
    }

    /// Loads and verifies a bundle from bytes.
    #[staticmethod]
    fn from_bytes(py: Python<'_>, data: &[u8]) -> PyResult<Bundle> {
        let data = data.to_vec();
        py.detach(|| RtBundle::from_bytes(&data))
            .map(|inner| Bundle { inner })
            .map_err(bundle_error)
    }

    /// Decides one request (a dict or a JSON string).
    #[pyo3(signature = (request, *, explain = false))]
    fn decide(
        &self,
        py: Python<'_>,
        request: &Bound<'_, PyAny>,
        explain: bool,
    ) -> PyResult<Decision> {
        let req = request_of(request)?;
        let b = &self.inner;
        py.detach(|| decide_req(b, &req, explain))
            .map_err(|Bad(m)| RequestError::new_err(m))
    }

    /// Decides each request of an iterable, in order, with the GIL
    /// released once for all of them.
    #[pyo3(signature = (requests, *, explain = false))]
    fn decide_many(
        &self,
        py: Python<'_>,
        requests: &Bound<'_, PyAny>,
        explain: bool,
    ) -> PyResult<Vec<Decision>> {
        let mut reqs = Vec::new();
        for (i, r) in requests.try_iter()?.enumerate() {
            let r = r?;
            reqs.push(
                request_of(&r)
                    .map_err(|e| RequestError::new_err(format!("request {i}: {}", e.value(py))))?,
            );
        }
        let b = &self.inner;
        py.detach(|| {
            reqs.iter()
                .enumerate()
                .map(|(i, r)| {
                    decide_req(b, r, explain).map_err(|Bad(m)| Bad(format!("request {i}: {m}")))
                })
                .collect::<Result<Vec<_>, _>>()
        })
        .map_err(|Bad(m)| RequestError::new_err(m))
    }

    /// The package the bundle was compiled from.
    #[getter]
    fn package(&self) -> String {
        self.inner.name().to_string()
    }

    /// The number of rules.
    #[getter]
    fn rule_count(&self) -> usize {
        self.inner.rule_count()
    }

    /// Benchmarks only (private): the mean seconds of `n` JSON-text
    /// decisions made in Rust, with no Python in the loop, so that
    /// `bench/bench.py` can measure the binding's overhead under the same
    /// machine load.
    fn _rust_seconds_per_decision(&self, py: Python<'_>, text: String, n: u32) -> f64 {
        let b = &self.inner;
        py.detach(|| {
            let start = std::time::Instant::now();
            for _ in 0..n {
                let allowed = match b.bind_str(std::hint::black_box(&text)) {
                    Ok(bound) => b.decide(&bound).is_allow(),
                    Err(_) => false,
                };
                std::hint::black_box(allowed);
            }
            start.elapsed().as_secs_f64() / f64::from(n.max(1))
        })
    }

    fn __repr__(&self) -> String {
        format!("<jitp.Bundle package={:?}>", self.inner.name())
    }
}

#[pymethods]
impl Decision {
    /// True exactly when the decision is `allow`.
    #[getter]
    fn allowed(&self) -> bool {
        self.record.is_allow()
    }

    /// `allow`, `deny` or `step_up`.
    #[getter]
    fn decision(&self) -> String {
        effect_str(&self.record)
    }

    /// Why: `granted`, `requirements_missing`, `invalid_request`, ...
    #[getter]
    fn reason(&self) -> &'static str {
        self.record.reason.as_str()
    }

    /// The id of the deciding rule.
    #[getter]
    fn rule(&self) -> Option<String> {
        self.record.rule.clone()
    }

    /// The task of the deciding rule.
    #[getter]
    fn task(&self) -> Option<String> {
        self.record.task.clone()
    }

    /// When the grant lapses, as a UTC `datetime`.
    #[getter]
    fn expires_at<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        let Some(text) = &self.record.expires_at else {
            return Ok(None);
        };
        let Ok(Time(micros)) = Time::parse(text) else {
            return Err(Error::new_err(format!("bad expiry `{text}`")));
        };
        let dt = py.import("datetime")?;
        let utc = dt.getattr("timezone")?.getattr("utc")?;
        let epoch = dt
            .getattr("datetime")?
            .call1((1970, 1, 1, 0, 0, 0, 0, utc))?;
        let delta = dt.getattr("timedelta")?.call1((0, 0, micros))?;
        Ok(Some(epoch.call_method1("__add__", (delta,))?))
    }

    /// For `step_up`: the requirements still missing.
    #[getter]
    fn needs(&self) -> Vec<String> {
        self.record.needs.clone()
    }

    /// For `allow`: `[{"kind": "notify"|"audit", "target": ...}]`.
    #[getter]
    fn obligations<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let v = serde_json::to_value(&self.record.obligations).unwrap_or_default();
        to_py(py, &v)
    }

    /// What went wrong, for invalid requests and failed guards.
    #[getter]
    fn error(&self) -> Option<String> {
        self.record.error.clone()
    }

    /// With `explain=True`: each candidate rule's trace.
    #[getter]
    fn explanation<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        match &self.explanation {
            None => Ok(None),
            Some(rules) => {
                let v = serde_json::to_value(rules).unwrap_or_default();
                to_py(py, &v).map(Some)
            }
        }
    }

    /// The decision as the dict of `jitp eval`'s JSON.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_py(py, &self.json())
    }

    /// The decision as the JSON text `jitp eval` prints (pretty; without
    /// the final newline).
    fn to_json(&self) -> String {
        serde_json::to_string_pretty(&self.json()).unwrap_or_default()
    }

    fn __repr__(&self) -> String {
        format!(
            "<jitp.Decision {} reason={} rule={:?}>",
            effect_str(&self.record),
            self.record.reason.as_str(),
            self.record.rule
        )
    }
}

impl Decision {
    /// The JSON of `jitp eval` (and, explained, of `--explain --format json`).
    fn json(&self) -> Value {
        let mut doc = self.record.to_json();
        if let (Some(rules), Value::Object(o)) = (&self.explanation, &mut doc) {
            o.insert(
                "explanation".into(),
                serde_json::to_value(rules).unwrap_or_default(),
            );
        }
        doc
    }
}

fn effect_str(r: &DecisionRecord) -> String {
    match serde_json::to_value(r.decision) {
        Ok(Value::String(s)) => s,
        _ => "deny".into(),
    }
}

/// Compiles policy files or directories into a bundle.
#[pyfunction]
#[pyo3(signature = (paths, *, package = None))]
fn compile(py: Python<'_>, paths: &Bound<'_, PyAny>, package: Option<String>) -> PyResult<Bundle> {
    let paths: Vec<PathBuf> = if let Ok(p) = paths.extract::<PathBuf>() {
        vec![p]
    } else {
        let mut v = Vec::new();
        for p in paths.try_iter()? {
            v.push(p?.extract::<PathBuf>()?);
        }
        v
    };
    let result = py.detach(|| -> Result<RtBundle, String> {
        use jitp::driver;
        let mut loaded = driver::load(&paths).map_err(|e| e.to_string())?;
        let set = loaded.select(package.as_deref())?.clone();
        let built = driver::check_and_build(&mut loaded.sources, &set);
        built
            .bundle
            .ok_or_else(|| jitp::render::terminal(&loaded.sources, &built.diagnostics, false))
    });
    result
        .map(|inner| Bundle { inner })
        .map_err(CompileError::new_err)
}

/// The native module.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add_class::<Bundle>()?;
    m.add_class::<Decision>()?;
    m.add_function(wrap_pyfunction!(compile, m)?)?;
    m.add("Error", py.get_type::<Error>())?;
    m.add("BundleError", py.get_type::<BundleError>())?;
    m.add("RequestError", py.get_type::<RequestError>())?;
    m.add("CompileError", py.get_type::<CompileError>())?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
