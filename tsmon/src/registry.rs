//! The catalog: every metric declared anywhere in the binary, gathered at link time.
//!
//! Each [`metric!`](crate::metric!) declaration puts its [`MetricDesc`] into the [`linkme`]
//! distributed slice [`TSMON_METRICS`], so the whole catalog is known before `main` runs, in debug and
//! release builds alike, including metrics of other crates and of modules nothing references.
//!
//! ```
//! tsmon::metric! {
//!     /// Widgets made.
//!     static WIDGETS: Counter(color: String) = "example/registry/widgets";
//! }
//! let desc = tsmon::registry::catalog().iter().find(|d| d.name() == "example/registry/widgets").unwrap();
//! assert_eq!(desc.fields()[0].name, "color");
//! assert!(desc.site().file().ends_with(".rs"));
//! # let _ = &WIDGETS;
//! ```

// Unsafe code here: linkme declares the catalog with `#[link_section]`.
#![allow(unsafe_code)]

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::OnceLock;

use crate::desc::MetricDesc;
use crate::error::Error;

mod dynamic;
#[cfg(feature = "metrics")]
pub(crate) use dynamic::FACADE;
use dynamic::all as dynamic_all;
#[cfg(any(
    feature = "metrics",
    feature = "prometheus",
    feature = "prometheus-client"
))]
pub(crate) use dynamic::{DynamicSpec, register as register_dynamic, sanitize_name, sorted_labels};
#[cfg(any(feature = "prometheus", feature = "prometheus-client"))]
pub(crate) use dynamic::{new_owner, sanitize_label};

/// The distributed slice every declared metric lands in. Its link section is named after it,
/// and linkme refuses two slices of one name in a binary, so the name carries the crate's
/// (metriken's slice is `METRICS`).
#[linkme::distributed_slice]
pub static TSMON_METRICS: [MetricDesc];

/// Every metric in the binary, in link order.
///
/// Under Miri, which cannot read linkme's link sections, the catalog is empty, so the unit
/// tests of the store's unsafe code run there without one.
#[must_use]
#[inline]
pub fn catalog() -> &'static [MetricDesc] {
    if cfg!(miri) { &[] } else { &TSMON_METRICS }
}

/// The metrics registered at run time so far (through the `metrics` facade's recorder or an
/// attached registry), in registration order. Their [`site`](MetricDesc::site) has line 0 and
/// names the crate they came through; the catalog's text, Markdown and JSON list them after
/// the declared ones are known, with `"dynamic": true` in the JSON.
///
/// ```
/// // A process that registers nothing at run time has none.
/// assert!(tsmon::registry::dynamic_catalog().iter().all(|d| d.site().line() == 0));
/// ```
#[must_use]
pub fn dynamic_catalog() -> Vec<&'static MetricDesc> {
    dynamic_all()
}

/// A metric of the catalog (declared or registered at run time) by name.
#[cfg(feature = "pull")]
pub(crate) fn find(name: &str) -> Option<&'static MetricDesc> {
    catalog()
        .iter()
        .find(|d| d.name == name)
        .or_else(|| dynamic_all().into_iter().find(|d| d.name == name))
}

/// Where the catalog lies in memory, read once: linkme's slice checks itself on every access,
/// which a lookup by field values should not pay for.
#[derive(Clone, Copy, Debug)]
pub(crate) struct CatalogRange {
    base: usize,
    len: usize,
}

impl CatalogRange {
    pub(crate) fn get() -> Self {
        let all = catalog();
        CatalogRange {
            base: all.as_ptr() as usize,
            len: all.len(),
        }
    }

    /// The index of `desc` in the catalog: an address at a whole number of entries from the
    /// start, within the catalog, can only be that entry (objects do not overlap).
    #[inline]
    pub(crate) fn index_of(self, desc: &'static MetricDesc) -> Option<usize> {
        const SIZE: usize = size_of::<MetricDesc>();
        let offset = (desc as *const MetricDesc as usize).wrapping_sub(self.base);
        let index = offset / SIZE;
        (index < self.len && index * SIZE == offset).then_some(index)
    }
}

/// Checks the catalog: names must be unique, and so must the Prometheus names they map to.
/// Every error found is returned, each naming both declaration sites.
///
/// # Errors
///
/// The list of [`Error::DuplicateMetric`] and [`Error::PrometheusNameClash`] found.
pub fn validate() -> Result<(), Vec<Error>> {
    validate_descs(catalog().iter())
}

pub(crate) fn validate_descs(
    descs: impl Iterator<Item = &'static MetricDesc>,
) -> Result<(), Vec<Error>> {
    let mut errors = Vec::new();
    let mut by_name: HashMap<&str, &'static MetricDesc> = HashMap::new();
    let mut by_prom: HashMap<String, &'static MetricDesc> = HashMap::new();
    for d in descs {
        if let Some(&first) = by_name.get(d.name) {
            if first.shared && d.shared {
                if let Some(what) = shape_difference(first, d) {
                    errors.push(Error::IncompatibleFamily {
                        name: d.name,
                        what,
                        first: &first.site,
                        second: &d.site,
                    });
                }
            } else {
                errors.push(Error::DuplicateMetric {
                    name: d.name,
                    first: &first.site,
                    second: &d.site,
                });
            }
            continue;
        }
        by_name.insert(d.name, d);
        let prometheus = d.prometheus_name();
        if let Some(first) = by_prom.insert(prometheus.clone(), d) {
            errors.push(Error::PrometheusNameClash {
                prometheus,
                first_name: first.name,
                first: &first.site,
                second_name: d.name,
                second: &d.site,
            });
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// What differs between two declarations of one shared metric, if anything.
fn shape_difference(a: &MetricDesc, b: &MetricDesc) -> Option<&'static str> {
    if a.kind != b.kind {
        Some("kinds")
    } else if a.fields != b.fields {
        Some("fields")
    } else if a.units != b.units {
        Some("units")
    } else if a.bucketer.map(|s| s.bucketer().ok()) != b.bucketer.map(|s| s.bucketer().ok()) {
        Some("bucketers")
    } else if a.max_series != b.max_series {
        Some("series caps")
    } else {
        None
    }
}

/// For each catalog entry, the entry whose store it uses: itself, or the first declaration of a
/// shared metric declared several times.
pub(crate) fn canonical() -> &'static [u32] {
    static CANONICAL: OnceLock<Box<[u32]>> = OnceLock::new();
    CANONICAL.get_or_init(|| {
        let mut first: HashMap<&str, u32> = HashMap::new();
        catalog()
            .iter()
            .enumerate()
            .map(|(i, d)| {
                let i = u32::try_from(i).unwrap_or(u32::MAX);
                if d.shared {
                    *first.entry(d.name).or_insert(i)
                } else {
                    i
                }
            })
            .collect()
    })
}

/// Each metric of the catalog once (the canonical declaration of a shared one), by name.
fn sorted() -> Vec<&'static MetricDesc> {
    let canonical = canonical();
    let mut all: Vec<&'static MetricDesc> = catalog()
        .iter()
        .enumerate()
        .filter(|&(i, _)| canonical[i] as usize == i)
        .map(|(_, d)| d)
        .collect();
    all.extend(dynamic_all());
    all.sort_by_key(|d| d.name);
    all
}

/// The catalog as a human-readable table, sorted by name: what `--tsmon-list-metrics` prints.
///
/// ```
/// let text = tsmon::registry::describe();
/// assert!(text.contains("tsmon/store/overflow_writes"));
/// ```
#[must_use]
pub fn describe() -> String {
    let all = sorted();
    let mut out = String::new();
    for d in all {
        let fields: Vec<String> = d
            .fields
            .iter()
            .map(|f| format!("{}: {:?}", f.name, f.ty))
            .collect();
        let _ = writeln!(
            out,
            "{}  {}({})  {}{}\n    {}\n    declared at {}",
            d.name,
            d.kind.as_str(),
            fields.join(", "),
            d.units
                .map(|u| format!("[{}] ", u.go_str()))
                .unwrap_or_default(),
            d.prometheus_name(),
            d.description,
            d.site,
        );
    }
    out
}

/// The catalog as a Markdown table, sorted by name: one row per metric with its name,
/// Prometheus name, kind, fields, units, description and declaration site. What a binary with
/// `#[tsmon::main]` prints with `TSMON_PRINT_CATALOG=markdown`, for a team's metrics docs.
///
/// ```
/// let md = tsmon::registry::catalog_markdown();
/// assert!(md.starts_with("| metric | Prometheus name |"));
/// assert!(md.contains("| `tsmon/store/overflow_writes` | `tsmon_store_overflow_writes_total` | Counter |"));
/// ```
#[must_use]
pub fn catalog_markdown() -> String {
    let all = sorted();
    // A cell's text, with what would break the table escaped.
    let cell = |s: &str| s.replace('|', "\\|").replace(['\n', '\r'], " ");
    let mut out = String::from(
        "| metric | Prometheus name | kind | fields | units | description | declared at |\n\
         |---|---|---|---|---|---|---|\n",
    );
    for d in all {
        let fields: Vec<String> = d
            .fields
            .iter()
            .map(|f| format!("`{}`: {:?}", f.name, f.ty))
            .collect();
        let _ = writeln!(
            out,
            "| `{}` | `{}` | {} | {} | {} | {} | {} |",
            d.name,
            d.prometheus_series_name(),
            d.kind.as_str(),
            fields.join(", "),
            d.units.map(|u| u.go_str()).unwrap_or(""),
            cell(d.description),
            cell(&d.site.to_string()),
        );
    }
    out
}

/// `TSMON_PRINT_CATALOG`: prints the catalog to stdout as Markdown (`markdown`) or JSON
/// (`json`) and gives the exit status (0), or says on stderr what the variable takes (2).
/// `None` when the variable is not set.
pub(crate) fn print_if_asked() -> Option<i32> {
    let asked = crate::env::print_catalog()?;
    let text = match asked.trim().to_ascii_lowercase().as_str() {
        "markdown" | "md" => catalog_markdown(),
        "json" => {
            let mut json = catalog_json();
            json.push('\n');
            json
        }
        other => {
            eprintln!("tsmon: TSMON_PRINT_CATALOG takes `markdown` or `json`, not `{other}`");
            return Some(2);
        }
    };
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    if stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        .is_err()
    {
        return Some(1);
    }
    Some(0)
}

/// The catalog as JSON (what the pull endpoint serves at `/metrics/catalog`): one object per
/// metric with its name, Prometheus name, kind, description, fields, units, bucketer and
/// declaration site.
///
/// ```
/// let json: serde_json::Value = serde_json::from_str(&tsmon::registry::catalog_json()).unwrap();
/// let overflow = json.as_array().unwrap().iter()
///     .find(|m| m["name"] == "tsmon/store/overflow_writes").unwrap();
/// assert_eq!(overflow["prometheus_name"], "tsmon_store_overflow_writes_total");
/// assert_eq!(overflow["fields"][0]["name"], "metric");
/// ```
#[must_use]
pub fn catalog_json() -> String {
    let canonical = canonical();
    let mut out = String::from("[");
    let dynamic = dynamic_all();
    for (n, d) in catalog()
        .iter()
        .enumerate()
        .filter(|&(i, _)| canonical[i] as usize == i)
        .map(|(_, d)| d)
        .chain(dynamic.iter().copied())
        .enumerate()
    {
        let prometheus = d.prometheus_series_name();
        if n > 0 {
            out.push(',');
        }
        out.push_str("{\"name\":");
        json_str(&mut out, d.name);
        out.push_str(",\"prometheus_name\":");
        json_str(&mut out, &prometheus);
        out.push_str(",\"kind\":");
        json_str(&mut out, d.kind.as_str());
        out.push_str(",\"description\":");
        json_str(&mut out, d.description);
        out.push_str(",\"fields\":[");
        for (k, f) in d.fields.iter().enumerate() {
            if k > 0 {
                out.push(',');
            }
            out.push_str("{\"name\":");
            json_str(&mut out, f.name);
            out.push_str(",\"type\":");
            json_str(&mut out, &format!("{:?}", f.ty));
            out.push('}');
        }
        out.push_str("],\"units\":");
        match d.units {
            Some(u) => json_str(&mut out, u.go_str()),
            None => out.push_str("null"),
        }
        out.push_str(",\"bucketer\":");
        match d.bucketer {
            Some(b) => {
                out.push_str("{\"width\":");
                json_num(&mut out, b.width());
                out.push_str(",\"growth_factor\":");
                json_num(&mut out, b.growth_factor());
                let _ = write!(out, ",\"num_finite_buckets\":{}", b.num_finite_buckets());
                out.push_str(",\"scale\":");
                json_num(&mut out, b.scale());
                if let Some(bounds) = b.explicit_bounds() {
                    out.push_str(",\"bounds\":[");
                    for (i, &x) in bounds.iter().enumerate() {
                        if i > 0 {
                            out.push(',');
                        }
                        json_num(&mut out, x);
                    }
                    out.push(']');
                }
                out.push('}');
            }
            None => out.push_str("null"),
        }
        out.push_str(",\"site\":");
        json_str(&mut out, &d.site.to_string());
        if d.site.line == 0 {
            out.push_str(",\"dynamic\":true");
        }
        out.push('}');
    }
    out.push(']');
    out
}

/// A JSON string: quoted, with `"`, `\\` and control characters escaped.
fn json_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// A JSON number (`null` for what JSON cannot hold).
fn json_num(out: &mut String, v: f64) {
    if v.is_finite() {
        out.push_str(ryu::Buffer::new().format(v));
    } else {
        out.push_str("null");
    }
}
