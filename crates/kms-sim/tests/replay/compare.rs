//! Shape comparison of a captured KMS message with the simulator's, and the
//! id map that ties captured ids to the simulator's ids.
//!
//! Rules (also summarised at the top of `tests/replay.rs`):
//! - objects: same key set, recursively (missing and extra keys both fail);
//! - JSON types must match (`null`, bool, number, string, array, object);
//! - booleans are compared exactly (flow state, `isRemote`...);
//! - numbers: type only, except keys `code`, `componentId`, `errorCode`;
//! - strings are classified (uuid, `<uuid>_kurento.MediaPipeline`,
//!   `<pipe>/<uuid>_kurento.Type`, `manager_ServerManager`, other) and the
//!   class (with the element type) must match. Id-like strings go through the
//!   id map: a captured uuid already mapped must come back as its sim
//!   counterpart, an unmapped one is bound to the sim's (and a sim uuid may
//!   not stand for two captured ones);
//! - other strings: SDP (`v=0...`) by type only (and remembered, so a later
//!   request carrying the captured SDP gets the sim's); exact (after captured
//!   ids are replaced by the sim's) for enum-like values (`^[A-Z][A-Z0-9_]+$`),
//!   for keys in [`EXACT_KEYS`], and for the top-level `result.value` of
//!   operations not listed in [`VOLATILE_OPS`]; anything else by type only;
//! - arrays: same length, element by element; arrays of ids that are all
//!   mapped are compared as sets; `getPipelines`/`getSessions` lists are
//!   server-wide (the captured KMS held objects of other runs): every listed
//!   id that the replay created must be listed by the sim and the sim may list
//!   only those; `getInfo` lists (modules, factories) compare their first
//!   element's shape only;
//! - maps keyed by stats ids (every key id-like): entries are paired by their
//!   `type`, count per `type` must match, entries compared recursively.

use serde_json::{Map, Value};
use std::collections::HashMap;

/// Keys whose string values are compared exactly.
pub const EXACT_KEYS: &[&str] = &[
    "__module__",
    "__type__",
    "type",
    "qualifiedType",
    "hierarchy",
    "message",
    "key",
    "value",
    "padName",
    "sinkDescription",
    "sourceDescription",
    "description",
    "jsonrpc",
    "capabilities",
    "state",
    "newState",
    "oldState",
    "mediaType",
];

/// Keys whose numbers are compared exactly.
pub const EXACT_NUMBER_KEYS: &[&str] = &["code", "componentId", "errorCode"];

/// Operations whose string results depend on the host, build or time.
pub const VOLATILE_OPS: &[&str] = &[
    "getGstreamerDot",
    "getExternalIPv4",
    "getExternalIPv6",
    "getExternalAddress",
    "getStunServerAddress",
    "getTurnUrl",
    "getNetworkInterfaces",
    "getMetadata",
    "getKmd",
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Class {
    Uuid,
    Pipeline,
    Element(String),
    Manager,
    Other,
}

pub fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

fn pipeline_uuid(s: &str) -> Option<&str> {
    let u = s.strip_suffix("_kurento.MediaPipeline")?;
    is_uuid(u).then_some(u)
}

pub fn classify(s: &str) -> Class {
    if s == "manager_ServerManager" {
        return Class::Manager;
    }
    if is_uuid(s) {
        return Class::Uuid;
    }
    if pipeline_uuid(s).is_some() {
        return Class::Pipeline;
    }
    if let Some((pipe, elem)) = s.split_once('/') {
        if pipeline_uuid(pipe).is_some() && elem.len() > 36 && is_uuid(&elem[..36]) {
            if let Some(t) = elem[36..].strip_prefix("_kurento.") {
                if !t.is_empty() && t.chars().all(|c| c.is_ascii_alphanumeric()) {
                    return Class::Element(t.to_string());
                }
            }
        }
    }
    Class::Other
}

fn is_id_class(c: &Class) -> bool {
    matches!(c, Class::Uuid | Class::Pipeline | Class::Element(_))
}

fn is_enum_like(s: &str) -> bool {
    s.len() >= 2
        && s.as_bytes()[0].is_ascii_uppercase()
        && s.bytes()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == b'_')
}

/// Every uuid found inside `s`, in order.
pub fn uuids_in(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut i = 0;
    while i + 36 <= s.len() {
        if s.is_char_boundary(i) && s.is_char_boundary(i + 36) && is_uuid(&s[i..i + 36]) {
            out.push(&s[i..i + 36]);
            i += 36;
        } else {
            i += 1;
        }
    }
    out
}

/// Captured ids (uuid granularity) to the simulator's, plus captured SDP texts
/// to the simulator's SDP texts.
#[derive(Debug, Clone, Default)]
pub struct IdMap {
    pub fwd: HashMap<String, String>,
    pub rev: HashMap<String, String>,
    pub sdp: HashMap<String, String>,
}

impl IdMap {
    /// Replace every mapped captured uuid inside `s`.
    pub fn subst_str(&self, s: &str) -> String {
        if let Some(sim) = self.sdp.get(s) {
            return sim.clone();
        }
        let mut out = s.to_string();
        for u in uuids_in(s) {
            if let Some(m) = self.fwd.get(u) {
                out = out.replace(u, m);
            }
        }
        out
    }

    /// `subst_str` on every string (and object key) of a JSON value.
    pub fn subst(&self, v: &Value) -> Value {
        match v {
            Value::String(s) => Value::String(self.subst_str(s)),
            Value::Array(a) => Value::Array(a.iter().map(|x| self.subst(x)).collect()),
            Value::Object(o) => Value::Object(
                o.iter()
                    .map(|(k, x)| (self.subst_str(k), self.subst(x)))
                    .collect::<Map<_, _>>(),
            ),
            other => other.clone(),
        }
    }

    /// Bind the uuids of captured id `cap` to those of sim id `got`; errors
    /// when either side is already bound to something else.
    fn bind(&mut self, cap: &str, got: &str) -> Result<(), String> {
        let cu = uuids_in(cap);
        let gu = uuids_in(got);
        if cu.len() != gu.len() {
            return Err(format!("id {got:?} does not have the form of {cap:?}"));
        }
        for (c, g) in cu.iter().zip(gu.iter()) {
            match (self.fwd.get(*c), self.rev.get(*g)) {
                (Some(m), _) if m != g => {
                    return Err(format!(
                        "expected id {:?}, got {got:?} (captured {cap:?})",
                        self.subst_str(cap)
                    ))
                }
                (None, Some(other)) if other != c => {
                    return Err(format!(
                    "sim id {got:?} already stands for captured {other:?}, here captured {cap:?}"
                ))
                }
                _ => {
                    self.fwd.insert(c.to_string(), g.to_string());
                    self.rev.insert(g.to_string(), c.to_string());
                }
            }
        }
        Ok(())
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Comparison context: the operation of the request (for op-specific rules).
pub struct Cmp<'a> {
    pub ids: &'a mut IdMap,
    pub op: Option<String>,
    pub errs: Vec<String>,
}

impl<'a> Cmp<'a> {
    pub fn new(ids: &'a mut IdMap, op: Option<&str>) -> Self {
        Cmp {
            ids,
            op: op.map(str::to_string),
            errs: Vec::new(),
        }
    }

    fn op_is(&self, names: &[&str]) -> bool {
        self.op.as_deref().is_some_and(|o| names.contains(&o))
    }

    fn fail(&mut self, path: &str, msg: String) {
        self.errs.push(format!("{path}: {msg}"));
    }

    /// Compare `cap` (captured) with `got` (sim) at `path`; `key` is the
    /// object key the values sit under (array elements inherit it).
    pub fn value(&mut self, path: &str, key: &str, cap: &Value, got: &Value) {
        if type_name(cap) != type_name(got) {
            self.fail(
                path,
                format!(
                    "type {} expected (captured {}), got {}",
                    type_name(cap),
                    short(cap),
                    short(got)
                ),
            );
            return;
        }
        match (cap, got) {
            (Value::Bool(a), Value::Bool(b)) if a != b => {
                self.fail(path, format!("expected {a}, got {b}"))
            }
            (Value::Number(a), Value::Number(b)) if EXACT_NUMBER_KEYS.contains(&key) && a != b => {
                self.fail(path, format!("expected {a}, got {b}"))
            }
            (Value::String(a), Value::String(b)) => self.string(path, key, a, b),
            (Value::Array(a), Value::Array(b)) => self.array(path, key, a, b),
            (Value::Object(a), Value::Object(b)) => self.object(path, a, b),
            _ => {}
        }
    }

    fn string(&mut self, path: &str, key: &str, cap: &str, got: &str) {
        let (cc, gc) = (classify(cap), classify(got));
        if cc != gc {
            self.fail(
                path,
                format!("id format {cc:?} expected (captured {cap:?}), got {gc:?} ({got:?})"),
            );
            return;
        }
        if is_id_class(&cc) {
            if let Err(e) = self.ids.bind(cap, got) {
                self.fail(path, e);
            }
            return;
        }
        if cc == Class::Manager {
            return;
        }
        if cap.starts_with("v=0") {
            if !got.starts_with("v=0") {
                self.fail(path, format!("SDP expected, got {}", short_str(got)));
            } else {
                self.ids.sdp.insert(cap.to_string(), got.to_string());
            }
            return;
        }
        let top_value = path == "result.value" && !self.op_is(VOLATILE_OPS);
        let exact = is_enum_like(cap)
            || top_value
            || (EXACT_KEYS.contains(&key) && !(key == "value" && self.op_is(VOLATILE_OPS)));
        if exact {
            let want = self.ids.subst_str(cap);
            if want != got {
                self.fail(path, format!("expected {want:?}, got {got:?}"));
            }
        }
    }

    fn array(&mut self, path: &str, key: &str, cap: &[Value], got: &[Value]) {
        if self.op_is(&["getPipelines", "getSessions"]) && path == "result.value" {
            return self.server_list(path, cap, got);
        }
        if self.op_is(&["getInfo"]) {
            if let (Some(c), Some(g)) = (cap.first(), got.first()) {
                self.value(&format!("{path}[0]"), key, c, g);
            }
            if cap.is_empty() != got.is_empty() {
                self.fail(
                    path,
                    format!("{} elements expected, got {}", cap.len(), got.len()),
                );
            }
            return;
        }
        if cap.len() != got.len() {
            self.fail(
                path,
                format!(
                    "{} elements expected, got {}: {}",
                    cap.len(),
                    got.len(),
                    short_arr(got)
                ),
            );
            return;
        }
        let all_mapped_ids = !cap.is_empty()
            && cap.iter().all(|c| {
                c.as_str().is_some_and(|s| {
                    is_id_class(&classify(s))
                        && uuids_in(s).iter().all(|u| self.ids.fwd.contains_key(*u))
                })
            });
        if all_mapped_ids {
            let mut want: Vec<String> = cap
                .iter()
                .map(|c| self.ids.subst_str(c.as_str().unwrap_or_default()))
                .collect();
            let mut have: Vec<String> = got
                .iter()
                .map(|g| g.as_str().map_or_else(|| g.to_string(), str::to_string))
                .collect();
            want.sort();
            have.sort();
            if want != have {
                self.fail(path, format!("ids {want:?} expected, got {have:?}"));
            }
            return;
        }
        for (i, (c, g)) in cap.iter().zip(got.iter()).enumerate() {
            self.value(&format!("{path}[{i}]"), key, c, g);
        }
    }

    fn server_list(&mut self, path: &str, cap: &[Value], got: &[Value]) {
        for g in got {
            if !g.is_string() {
                self.fail(path, format!("string elements expected, got {}", short(g)));
                return;
            }
        }
        let known: Vec<String> = cap
            .iter()
            .filter_map(Value::as_str)
            .filter(|s| !s.is_empty() && uuids_in(s).iter().all(|u| self.ids.fwd.contains_key(*u)))
            .map(|s| self.ids.subst_str(s))
            .collect();
        let have: Vec<&str> = got
            .iter()
            .filter_map(Value::as_str)
            .filter(|s| !s.is_empty())
            .collect();
        for k in &known {
            if !have.contains(&k.as_str()) {
                self.fail(path, format!("{k:?} expected in the list, got {have:?}"));
            }
        }
        for h in &have {
            if !known.iter().any(|k| k == h) {
                self.fail(
                    path,
                    format!("unexpected {h:?} in the list (expected {known:?})"),
                );
            }
        }
    }

    fn object(&mut self, path: &str, cap: &Map<String, Value>, got: &Map<String, Value>) {
        let stats_map = !cap.is_empty()
            && cap.keys().all(|k| is_id_class(&classify(k)))
            && got.keys().all(|k| is_id_class(&classify(k)));
        if stats_map {
            return self.stats_map(path, cap, got);
        }
        for (k, c) in cap {
            match got.get(k) {
                None => self.fail(path, format!("missing key {k:?} (captured {})", short(c))),
                Some(g) => self.value(&join(path, k), k, c, g),
            }
        }
        for k in got.keys() {
            if !cap.contains_key(k) {
                self.fail(path, format!("unexpected key {k:?}"));
            }
        }
    }

    fn stats_map(&mut self, path: &str, cap: &Map<String, Value>, got: &Map<String, Value>) {
        let kind = |v: &Value| {
            v.get("type")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        let count = |m: &Map<String, Value>| {
            let mut c: Vec<String> = m.values().map(kind).collect();
            c.sort();
            c
        };
        let (cc, gc) = (count(cap), count(got));
        if cc != gc {
            self.fail(
                path,
                format!("entries of types {cc:?} expected, got {gc:?}"),
            );
            return;
        }
        let mut used: Vec<&String> = Vec::new();
        for (ck, cv) in cap {
            let t = kind(cv);
            let mapped = self.ids.subst_str(ck);
            let pick = got
                .iter()
                .filter(|(gk, gv)| kind(gv) == t && !used.contains(gk))
                .min_by_key(|(gk, _)| {
                    if **gk == mapped {
                        0
                    } else if !self.ids.rev.contains_key(gk.as_str()) {
                        1
                    } else {
                        2
                    }
                });
            if let Some((gk, gv)) = pick {
                used.push(gk);
                let p = join(path, &format!("<{t}>"));
                // Several entries of one type (AUDIO and VIDEO streams) with a
                // stats id never seen before cannot be paired for sure: compare
                // them without binding their ids (a single-media getStats or
                // an already bound id pairs them for sure).
                let ambiguous = got.values().filter(|v| kind(v) == t).count() > 1
                    && !uuids_in(ck).iter().all(|u| self.ids.fwd.contains_key(*u));
                if ambiguous {
                    let mut scratch = self.ids.clone();
                    let mut sub = Cmp {
                        ids: &mut scratch,
                        op: self.op.clone(),
                        errs: Vec::new(),
                    };
                    sub.string(&p, "", ck, gk);
                    sub.value(&p, "", cv, gv);
                    self.errs.extend(sub.errs);
                } else {
                    self.string(&p, "", ck, gk);
                    self.value(&p, "", cv, gv);
                }
            }
        }
    }
}

fn join(path: &str, k: &str) -> String {
    if path.is_empty() {
        k.to_string()
    } else {
        format!("{path}.{k}")
    }
}

fn short_str(s: &str) -> String {
    let t: String = s.chars().take(80).collect();
    format!("{t:?}")
}

pub fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 120 {
        format!(
            "{}...",
            &s[..s.char_indices().nth(117).map_or(s.len(), |(i, _)| i)]
        )
    } else {
        s
    }
}

fn short_arr(v: &[Value]) -> String {
    short(&Value::Array(v.to_vec()))
}

/// Compare a whole captured JSON-RPC message with the sim's (ids excluded).
/// Returns the differences; an empty list means "same shape".
pub fn compare_message(ids: &mut IdMap, op: Option<&str>, cap: &Value, got: &Value) -> Vec<String> {
    let strip = |v: &Value| {
        let mut v = v.clone();
        if let Some(o) = v.as_object_mut() {
            o.remove("id");
        }
        v
    };
    let mut c = Cmp::new(ids, op);
    c.value("", "", &strip(cap), &strip(got));
    c.errs
}
