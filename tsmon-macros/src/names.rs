//! Naming rules shared by every macro: what a metric or field name may be, and how units map to
//! Prometheus suffixes. The runtime crate applies the same rules again when a State starts, so a
//! catalog assembled by other means is held to them too.

/// Label names that tsmon itself puts on every series, or that Prometheus reserves.
pub(crate) const RESERVED_FIELDS: &[&str] = &[
    "service_name",
    "job_name",
    "data_center",
    "host_name",
    "task_num",
    "le",
    "quantile",
    "tsmon_overflow",
];

/// Suffixes that the exposition formats derive from a family name.
pub(crate) const RESERVED_SUFFIXES: &[&str] = &[
    "_total", "_created", "_bucket", "_count", "_sum", "_info", "_gcount", "_gsum",
];

/// Checks a metric name against the Go rule `^(/[a-zA-Z0-9_-]+)+$` (after an implicit prefix when
/// the name does not start with `/`) and against what Prometheus can carry.
pub(crate) fn check_metric_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("empty metric name".into());
    }
    let body = name.strip_prefix('/').unwrap_or(name);
    if body.is_empty() || body.split('/').any(str::is_empty) {
        return Err(format!(
            "invalid metric name `{name}`: path segments must not be empty (`a/b`, not `a//b` or `a/`)"
        ));
    }
    if let Some(bad) = body
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '/')))
    {
        return Err(format!(
            "invalid metric name `{name}`: `{bad}` is not allowed; use ASCII letters, digits, `_`, `-` and `/`"
        ));
    }
    if body.starts_with(|c: char| c.is_ascii_digit()) {
        return Err(format!(
            "invalid metric name `{name}`: a Prometheus name cannot start with a digit"
        ));
    }
    if body.starts_with("__") {
        return Err(format!(
            "invalid metric name `{name}`: names starting with `__` are reserved by Prometheus"
        ));
    }
    let mapped = body.replace(['/', '-'], "_");
    if let Some(suffix) = RESERVED_SUFFIXES.iter().find(|s| mapped.ends_with(*s)) {
        return Err(format!(
            "invalid metric name `{name}`: the suffix `{suffix}` is added by the exposition formats; leave it out"
        ));
    }
    Ok(())
}

/// Checks a field (label) name.
pub(crate) fn check_field_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let valid = matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        return Err(format!(
            "invalid field name `{name}`: it must match `[A-Za-z_][A-Za-z0-9_]*`"
        ));
    }
    if name.starts_with("__") {
        return Err(format!(
            "invalid field name `{name}`: names starting with `__` are reserved by Prometheus"
        ));
    }
    if RESERVED_FIELDS.contains(&name) {
        return Err(format!(
            "field name `{name}` is reserved: tsmon or Prometheus already uses this label"
        ));
    }
    Ok(())
}
