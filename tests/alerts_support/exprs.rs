//! The PromQL of the Grafana dashboards (grafana/dashboards/*.json): every
//! panel query with the dashboard variables and Grafana's built-in interval
//! variables replaced by concrete values, and every template variable query
//! (Grafana's `label_values(selector, label)`, run the way Grafana runs it:
//! the label values API with `match[]`).

use std::path::Path;

/// One PromQL expression and where it comes from.
#[derive(Debug, Clone)]
pub struct Query {
    /// e.g. `kurento-zombies.json #3 "Released (range)" [A]`.
    pub source: String,
    pub expr: String,
}

/// A `label_values(selector, label)` template variable.
#[derive(Debug, Clone)]
pub struct VarQuery {
    pub source: String,
    pub selector: String,
    pub label: String,
}

/// What the dashboards' variables are set to.
pub struct Selection<'a> {
    /// `$kms`: one target.
    pub kms: &'a str,
    /// `$pipeline` where the variable is single-valued; where it includes
    /// "All", its `allValue` (the "All" selection) is used.
    pub pipeline: &'a str,
}

/// Grafana's built-in variables: a dashboard over the last hour.
const BUILTINS: &[(&str, &str)] = &[
    ("$__rate_interval", "1m"),
    ("$__interval", "15s"),
    ("$__range", "1h"),
];

fn substitute(text: &str, vars: &[(String, String)]) -> String {
    let mut e = text.to_string();
    for (name, value) in vars {
        e = e.replace(&format!("${{{name}}}"), value);
        e = e.replace(&format!("${name}"), value);
    }
    e
}

/// A Grafana variable left in `expr` (`$name` or `${name}`; `$1` in
/// label_replace replacements is PromQL's own).
pub fn leftover_variable(expr: &str) -> Option<String> {
    let b = expr.as_bytes();
    (0..b.len()).find_map(|i| {
        let next = *b.get(i + 1)?;
        (b[i] == b'$' && (next == b'{' || next == b'_' || next.is_ascii_alphabetic()))
            .then(|| expr[i..].chars().take(20).collect())
    })
}

fn panels(dash: &serde_json::Value) -> Vec<&serde_json::Value> {
    let mut out = Vec::new();
    for p in dash["panels"].as_array().into_iter().flatten() {
        out.push(p);
        // collapsed rows hold their panels
        out.extend(p["panels"].as_array().into_iter().flatten());
    }
    out
}

/// Every dashboard's panel queries and variable queries, in file order.
pub fn dashboards(dir: &Path, sel: &Selection) -> (Vec<Query>, Vec<VarQuery>) {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    assert!(files.len() >= 3, "dashboards in {}", dir.display());
    let mut queries = Vec::new();
    let mut variables = Vec::new();
    for path in files {
        let file = path.file_name().unwrap().to_string_lossy().to_string();
        let dash: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let mut vars: Vec<(String, String)> = BUILTINS
            .iter()
            .map(|(k, v)| (k.trim_start_matches('$').to_string(), v.to_string()))
            .collect();
        let list = dash["templating"]["list"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        for v in &list {
            let name = v["name"].as_str().unwrap_or_default();
            let all = v["includeAll"] == true;
            let value = match name {
                "kms" => sel.kms.to_string(),
                "pipeline" if all => v["allValue"].as_str().unwrap_or(".*").to_string(),
                "pipeline" => sel.pipeline.to_string(),
                _ => continue,
            };
            vars.push((name.to_string(), value));
        }
        for v in &list {
            let name = v["name"].as_str().unwrap_or_default();
            match v["type"].as_str() {
                // a data source picker and a free-text box: no query
                Some("datasource") | Some("textbox") | Some("constant") | Some("interval") => {}
                Some("query") => {
                    let def = v["definition"]
                        .as_str()
                        .or(v["query"]["query"].as_str())
                        .or(v["query"].as_str())
                        .unwrap_or_default();
                    let inner = def
                        .strip_prefix("label_values(")
                        .and_then(|r| r.strip_suffix(')'))
                        .and_then(|r| r.rsplit_once(','))
                        .unwrap_or_else(|| {
                            panic!(
                                "{file}: variable {name}: not label_values(selector, label): {def}"
                            )
                        });
                    variables.push(VarQuery {
                        source: format!("{file} variable {name}"),
                        selector: substitute(inner.0.trim(), &vars),
                        label: inner.1.trim().to_string(),
                    });
                }
                other => panic!("{file}: variable {name}: unknown type {other:?}"),
            }
        }
        for p in panels(&dash) {
            for t in p["targets"].as_array().into_iter().flatten() {
                let Some(expr) = t["expr"].as_str() else {
                    continue;
                };
                queries.push(Query {
                    source: format!(
                        "{file} #{} {:?} [{}]",
                        p["id"],
                        p["title"].as_str().unwrap_or_default(),
                        t["refId"].as_str().unwrap_or_default()
                    ),
                    expr: substitute(expr, &vars),
                });
            }
        }
    }
    (queries, variables)
}
