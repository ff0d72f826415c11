//! Entity data: attributes the server holds for subjects and resources, so a
//! PEP can send only `type` and `id`, and a caller cannot claim attributes
//! it does not have.

use crate::strict;
use jitp_runtime::{Bundle, Json, JsonObject, RequestErrorKind};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::path::Path;

/// Largest entity data file read, in bytes.
pub const MAX_ENTITIES_BYTES: u64 = 64 * 1024 * 1024;

/// Attributes per entity type and id.
#[derive(Debug, Default)]
pub struct Entities {
    /// Attributes by type, then id: looked up by `&str`, without copying
    /// the request's type and id.
    by_type: HashMap<String, HashMap<String, Map<String, Value>>>,
}

impl Entities {
    /// No entity data.
    pub fn empty() -> Entities {
        Entities::default()
    }

    /// How many entities the data holds.
    pub fn len(&self) -> usize {
        self.by_type.values().map(HashMap::len).sum()
    }

    /// Whether the data holds no entity.
    pub fn is_empty(&self) -> bool {
        // A type is only indexed with at least one entity.
        self.by_type.is_empty()
    }

    /// The attributes held for entity `id` of type `ty`.
    pub fn get(&self, ty: &str, id: &str) -> Option<&Map<String, Value>> {
        self.by_type.get(ty)?.get(id)
    }

    /// Reads an entity file (`{"Type": {"id": {"attr": value}}}`) and checks
    /// it against `bundle`'s schema; errors name the file and the JSON path.
    pub fn load(path: &Path, bundle: &Bundle) -> Result<Entities, String> {
        let file = path.display();
        let meta = std::fs::metadata(path)
            .map_err(|e| format!("cannot read `{file}`: {}", io_message(&e)))?;
        if !meta.is_file() {
            return Err(format!("cannot read `{file}`: not a regular file"));
        }
        if meta.len() > MAX_ENTITIES_BYTES {
            return Err(format!(
                "`{file}` is larger than {MAX_ENTITIES_BYTES} bytes"
            ));
        }
        let bytes =
            std::fs::read(path).map_err(|e| format!("cannot read `{file}`: {}", io_message(&e)))?;
        let doc = strict::parse(&bytes).map_err(|e| format!("`{file}`: {e}"))?;
        Entities::from_json(&doc, bundle).map_err(|e| format!("`{file}`: {e}"))
    }

    /// Checks and indexes parsed entity data.
    pub fn from_json(doc: &Value, bundle: &Bundle) -> Result<Entities, String> {
        let types = doc
            .as_object()
            .ok_or("the entity data must be a JSON object of entity types")?;
        let mut by_type: HashMap<String, HashMap<String, Map<String, Value>>> = HashMap::new();
        for (ty, ids) in types {
            let ids = ids
                .as_object()
                .ok_or_else(|| format!("at `$.{ty}`: must be an object of entity ids"))?;
            for (id, attrs) in ids {
                let at = format!("$.{ty}.{id}");
                let attrs = attrs
                    .as_object()
                    .ok_or_else(|| format!("at `{at}`: must be an object of attributes"))?;
                check_entity(bundle, ty, id, attrs).map_err(|e| format!("at `{at}`: {e}"))?;
                by_type
                    .entry(ty.clone())
                    .or_default()
                    .insert(id.clone(), attrs.clone());
            }
        }
        Ok(Entities { by_type })
    }
}

/// Binds a probe request with the entity as its subject: the runtime
/// binds the subject first, so an error there is an error in the data.
/// Unknown types and ill-typed attributes are refused; a missing attribute
/// is not (the request may supply it), nor is an attribute the type has
/// only as a resource (checked when a request binds it).
fn check_entity(
    bundle: &Bundle,
    ty: &str,
    id: &str,
    attrs: &Map<String, Value>,
) -> Result<(), String> {
    let probe = serde_json::json!({
        "subject": {"type": ty, "id": id, "properties": attrs},
        "action": {"name": ""},
    });
    let Err(e) = bundle.bind(&probe) else {
        return Ok(());
    };
    if e.path == "subject.type" {
        return Err(format!("unknown entity type `{ty}`"));
    }
    let Some(rest) = e.path.strip_prefix("subject.properties.") else {
        return Ok(());
    };
    let attr_named = attrs.keys().any(|k| {
        rest == k || rest.starts_with(&format!("{k}.")) || rest.starts_with(&format!("{k}["))
    });
    if !attr_named {
        return Ok(());
    }
    match e.kind {
        RequestErrorKind::WrongType { .. } | RequestErrorKind::InvalidValue => {
            Err(format!("attribute `{rest}`: {}", e.message()))
        }
        _ => Ok(()),
    }
}

fn io_message(e: &std::io::Error) -> String {
    let s = e.to_string();
    // "No such file or directory (os error 2)" -> "no such file or directory"
    let s = s.split(" (os error").next().unwrap_or(&s).to_string();
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => s,
    }
}

/// Merges the held attributes of an entity into the request's `role`
/// member (`subject` or `resource`), borrowed from the data rather than
/// copied. An attribute the data defines and the request also sets is
/// refused: the caller cannot override it.
pub fn merge<'e>(entities: &'e Entities, role: &str, member: &mut Json<'e>) -> Result<(), String> {
    if entities.is_empty() {
        return Ok(());
    }
    let Some(obj) = member.as_object_mut() else {
        return Ok(());
    };
    let (Some(ty), Some(id)) = (
        obj.get("type").and_then(Json::as_str),
        obj.get("id").and_then(Json::as_str),
    ) else {
        return Ok(());
    };
    let Some(held) = entities.get(ty, id) else {
        return Ok(());
    };
    if obj.get("properties").is_none_or(Json::is_null) {
        obj.insert(
            "properties",
            Json::Obj(JsonObject::with_capacity(held.len())),
        );
    }
    let Some(props) = obj.get_mut("properties").and_then(Json::as_object_mut) else {
        // Not an object: binding reports it.
        return Ok(());
    };
    for (k, v) in held {
        // Checked against the schema at load, so far shallower than this.
        let Some(v) = Json::from_value(v, jitp_runtime::MAX_REQUEST_DEPTH) else {
            return Err(format!(
                "`{role}.properties.{k}` in the server's entity data is nested too deep"
            ));
        };
        if props.insert_new(k.as_str(), v).is_err() {
            return Err(format!(
                "`{role}.properties.{k}` is defined by the server's entity data and cannot be set by the request"
            ));
        }
    }
    Ok(())
}
