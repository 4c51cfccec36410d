//! Prometheus exposition: text format 0.0.4 and OpenMetrics 1.0.
//!
//! # Names
//!
//! A Go-style metric name maps to a Prometheus name by one rule, [`prometheus_name`]: drop a
//! leading `/`, replace `/` and `-` with `_`, and append the unit (`_seconds`, `_bytes`, …) unless
//! the name already ends with it. Counters then get `_total` (and, in OpenMetrics with
//! [`Options::created`], `_created`),
//! histograms `_bucket`, `_sum` and `_count`, string metrics `_info`. So `http/server_durations`
//! in milliseconds is `http_server_durations_milliseconds`.
//!
//! # Series
//!
//! Every series carries its target's labels (`service_name`, `job_name`, `data_center`,
//! `host_name`, `task_num`) followed by its fields in declaration order. Counters and gauges are
//! one sample each; a bool is 0 or 1; a string metric is an info series with the string in the
//! `value` label; a distribution is a histogram with cumulative `le` buckets at the bucketer's
//! finite bounds plus `+Inf` (a non-cumulative one is a gauge histogram in OpenMetrics, and a
//! histogram in the text format, which has no such type). Label values are escaped (`\\`, `\"`,
//! `\n`), so any UTF-8 comes out parseable.
//!
//! # Two sources, one text
//!
//! [`encode`] writes a [`Snapshot`] (what push monitors send). The pull endpoint and
//! [`State::encode_into`](crate::State::encode_into) write straight from the store instead,
//! reading each series once as they go, with no copy of the snapshot: the same text a snapshot
//! taken at that moment would give (a test compares the two for every kind and every shape of
//! line), at a fraction of the cost for large stores. A counter's or gauge's line is written
//! from its cell and its key's bytes, after a start (`name{target labels,field="`) rendered
//! once per family and target. Families come in name order, series in creation order.
//!
//! ```
//! use tsmon::exposition::{Format, encode_to_string};
//! tsmon::metric! {
//!     /// Disk reads.
//!     #[tsmon(units = bytes)]
//!     static READ: Counter(disk: String) = "example/exposition/read";
//! }
//! let target = tsmon::Target::new("svc", "job").with_data_center("dc").with_host("h");
//! let state = tsmon::State::builder().with_target(target).build().unwrap();
//! state.in_scope(|| READ.add(4096, "sd\"a"));
//! let text = encode_to_string(&state.snapshot(), Format::Text);
//! // (Other metrics of the binary, such as instrumented functions, are in `text` too.)
//! let family: String = text.lines().filter(|l| l.contains("example_exposition_read")).map(|l| format!("{l}\n")).collect();
//! assert_eq!(
//!     family,
//!     "# HELP example_exposition_read_bytes_total Disk reads.\n# TYPE example_exposition_read_bytes_total counter\n\
//!      example_exposition_read_bytes_total{service_name=\"svc\",job_name=\"job\",data_center=\"dc\",host_name=\"h\",task_num=\"0\",disk=\"sd\\\"a\"} 4096\n"
//! );
//! ```

mod bytes;
#[cfg(feature = "prometheus")]
mod collector;
mod format;
pub mod model;
mod protobuf;
mod walk;

pub use format::{Format, Options};

#[cfg(feature = "prometheus")]
pub use collector::Collector;

use std::sync::Arc;

use crate::desc::MetricDesc;
pub use crate::desc::prometheus_name;
use crate::field::FieldType;
use crate::store::{CellSnapshot, Plain, Snapshot, Visit};
use crate::target::Target;
pub(crate) use bytes::push_f64;
use bytes::*;
use model::{Dialect, Extra, FamilyType};
pub(crate) use walk::{StoreChunks, encode_store};

/// Encodes a snapshot into a string.
///
/// ```
/// let snap = tsmon::store::Snapshot::default();
/// assert_eq!(tsmon::exposition::encode_to_string(&snap, tsmon::exposition::Format::OpenMetrics), "# EOF\n");
/// ```
#[must_use]
pub fn encode_to_string(snapshot: &Snapshot, format: Format) -> String {
    let mut out = Vec::with_capacity(snapshot.len() * 160 + 64);
    encode(snapshot, format, &mut out);
    // Only valid UTF-8 goes in: names are ASCII, values are formatted numbers or UTF-8 strings.
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// Encodes a snapshot, appending to `out`, with the default [`Options`] (no `_created`).
pub fn encode(snapshot: &Snapshot, format: Format, out: &mut Vec<u8>) {
    encode_with(snapshot, format, Options::default(), out);
}

/// Encodes a snapshot with `options`, appending to `out`.
pub fn encode_with(snapshot: &Snapshot, format: Format, options: Options, out: &mut Vec<u8>) {
    if format == Format::Protobuf {
        protobuf::encode(snapshot, options, out);
        return;
    }
    let mut enc = Encoder::new(format, options, std::mem::take(out), snapshot.targets());
    enc.reserve_lines(snapshot.len());
    for m in snapshot.metrics() {
        for cell in m.cells() {
            enc.cell(m.desc(), cell, m.field_bytes(cell));
        }
    }
    *out = enc.finish();
}

/// Writes families cell by cell: a family's header comes with its first cell.
struct Encoder {
    format: Format,
    out: Vec<u8>,
    labels: Vec<u8>,
    /// Each target's labels, rendered once: `service_name="…",…,task_num="…"`.
    targets: Vec<Vec<u8>>,
    /// The format's dialect of the series model.
    dialect: Dialect,
    /// The family being written, its type and its Prometheus name.
    family: Option<&'static MetricDesc>,
    ty: FamilyType,
    name: String,
    /// For the family being written, by target id: `name{target labels` (single-line kinds).
    heads: Vec<Option<Vec<u8>>>,
    /// For the family being written, by field: `,name="`.
    field_prefixes: Vec<Vec<u8>>,
    /// Their lengths together.
    prefixes_len: usize,
    /// For the family being written, by target id: the start of a plain number's line, the
    /// head with the first field's prefix (`name{target labels,field="`).
    starts: Vec<Option<Vec<u8>>>,
}

/// A target's labels, rendered: `service_name="…",…,task_num="…"`.
fn render_target(t: &Target) -> Vec<u8> {
    let mut b = Vec::with_capacity(96);
    for (i, (name, value)) in t.labels().iter().enumerate() {
        if i > 0 {
            b.push(b',');
        }
        push_label(&mut b, name, value);
    }
    b
}

/// The `target_info` family (OpenMetrics: the info family `target`) with the default target's
/// labels, as the OpenTelemetry-to-Prometheus convention writes it.
fn write_target_info(format: Format, labels: &[u8], out: &mut Vec<u8>) {
    let (name, ty) = match format {
        Format::OpenMetrics => ("target", "info"),
        Format::Text | Format::Protobuf => ("target_info", "gauge"),
    };
    for line in [
        format!("# HELP {name} Target metadata: the labels of the process's target.\n"),
        format!("# TYPE {name} {ty}\n"),
    ] {
        out.extend_from_slice(line.as_bytes());
    }
    out.extend_from_slice(b"target_info{");
    out.extend_from_slice(labels);
    out.extend_from_slice(b"} 1\n");
}

impl Encoder {
    fn new(format: Format, options: Options, mut out: Vec<u8>, targets: &[Arc<Target>]) -> Self {
        let mut targets: Vec<Vec<u8>> = targets.iter().map(|t| render_target(t)).collect();
        // `target_info`: the default target's labels go once into their own family, and its
        // series carry none of them.
        let info = if options.target_info && !targets.is_empty() {
            Some(std::mem::take(&mut targets[0]))
        } else {
            None
        };
        if let Some(labels) = info {
            write_target_info(format, &labels, &mut out);
        }
        Encoder {
            format,
            out,
            labels: Vec::with_capacity(256),
            targets,
            dialect: match format {
                Format::Text | Format::Protobuf => Dialect {
                    native_classic: options.native_classic,
                    ..Dialect::TEXT
                },
                Format::OpenMetrics => Dialect {
                    created: options.created,
                    native_classic: options.native_classic,
                    ..Dialect::OPENMETRICS
                },
            },
            family: None,
            ty: FamilyType::Gauge,
            name: String::new(),
            heads: Vec::new(),
            field_prefixes: Vec::new(),
            prefixes_len: 0,
            starts: Vec::new(),
        }
    }

    /// Room for `lines` lines at once (a whole text in one buffer): lines run about 60 bytes
    /// plus the target's labels.
    fn reserve_lines(&mut self, lines: usize) {
        let per_line = 64 + self.targets.first().map_or(0, Vec::len);
        self.out
            .reserve(lines.saturating_mul(per_line).saturating_add(256));
    }

    /// The labels of targets made after the encoder was (ids from the ones it has on).
    #[cold]
    fn add_targets(&mut self, targets: &[Arc<Target>]) {
        let known = self.targets.len();
        self.targets
            .extend(targets.iter().skip(known).map(|t| render_target(t)));
    }

    fn finish(mut self) -> Vec<u8> {
        if self.format == Format::OpenMetrics {
            self.out.extend_from_slice(b"# EOF\n");
        }
        self.out
    }

    /// Starts a family: its header and its per-family tables.
    fn begin(&mut self, desc: &'static MetricDesc) {
        self.family = Some(desc);
        self.name = desc.prometheus_name();
        self.heads.clear();
        self.starts.clear();
        self.field_prefixes.clear();
        for f in desc.fields {
            let mut p = Vec::with_capacity(f.name.len() + 3);
            p.push(b',');
            p.extend_from_slice(f.name.as_bytes());
            p.extend_from_slice(b"=\"");
            self.field_prefixes.push(p);
        }
        self.prefixes_len = self.field_prefixes.iter().map(Vec::len).sum();
        self.ty = desc.family_type();
        // OpenMetrics names the family; the text format names it after its samples.
        let (suffix, ty) = match self.format {
            Format::OpenMetrics => ("", self.ty.openmetrics()),
            Format::Text | Format::Protobuf => (self.ty.sample_suffix(), self.ty.text()),
        };
        let name = std::mem::take(&mut self.name);
        self.header(&name, suffix, ty, desc);
        self.name = name;
    }

    fn header(&mut self, name: &str, suffix: &str, ty: &str, desc: &MetricDesc) {
        let om = self.format == Format::OpenMetrics;
        self.out.extend_from_slice(b"# HELP ");
        self.out.extend_from_slice(name.as_bytes());
        self.out.extend_from_slice(suffix.as_bytes());
        self.out.push(b' ');
        escape_into(&mut self.out, desc.description, om);
        self.out.extend_from_slice(b"\n# TYPE ");
        self.out.extend_from_slice(name.as_bytes());
        self.out.extend_from_slice(suffix.as_bytes());
        self.out.push(b' ');
        self.out.extend_from_slice(ty.as_bytes());
        self.out.push(b'\n');
        if let (true, Some(u)) = (om, desc.units) {
            self.out.extend_from_slice(b"# UNIT ");
            self.out.extend_from_slice(name.as_bytes());
            self.out.push(b' ');
            self.out.extend_from_slice(u.prometheus().as_bytes());
            self.out.push(b'\n');
        }
    }

    /// Renders the labels of one series (target, then fields) into `self.labels`.
    fn series_labels(&mut self, desc: &MetricDesc, cell: &CellSnapshot, fields: &[u8]) {
        self.labels.clear();
        let target = self
            .targets
            .get(cell.target_id() as usize)
            .or(self.targets.first());
        if let Some(t) = target {
            self.labels.extend_from_slice(t);
        }
        if cell.is_overflow() {
            self.labels.extend_from_slice(b",tsmon_overflow=\"true\"");
        } else {
            put_fields(&mut self.labels, desc.fields, &self.field_prefixes, fields);
        }
        // No target labels (`target_info`): the first label has no comma before it.
        if self.labels.first() == Some(&b',') {
            self.labels.remove(0);
        }
    }

    /// A line of a single-line kind, written straight out: the cached `name{target labels`,
    /// the fields rendered from the key, the value. The overflow series takes the long way.
    fn single_line(
        &mut self,
        suffix: &str,
        desc: &MetricDesc,
        cell: &CellSnapshot,
        fields: &[u8],
        value: impl FnOnce(&mut Vec<u8>),
    ) {
        if cell.is_overflow() {
            self.series_labels(desc, cell, fields);
            self.line(suffix, None, value);
            return;
        }
        let head = head(
            &mut self.heads,
            &self.targets,
            &self.name,
            suffix,
            cell.target_id(),
        );
        // No target labels (`target_info`): the first field goes without its comma (skipped
        // as it is written, not removed after: that would move the line's bytes).
        let bare = head.ends_with(b"{");
        self.out.extend_from_slice(head);
        put_fields_from(
            &mut self.out,
            desc.fields,
            &self.field_prefixes,
            fields,
            usize::from(bare),
        );
        put(&mut self.out, b"} ");
        value(&mut self.out);
        put(&mut self.out, b"\n");
    }

    /// Makes the start of a plain number's line for target `t` (see `starts`).
    #[cold]
    fn make_start(&mut self, t: usize) {
        let suffix = if self.ty == FamilyType::Counter {
            "_total"
        } else {
            ""
        };
        let mut start = head(&mut self.heads, &self.targets, &self.name, suffix, t as u32).to_vec();
        if let Some(prefix) = self.field_prefixes.first() {
            // No target labels (`target_info`): the first field has no comma before it.
            let bare = start.ends_with(b"{");
            start.extend_from_slice(&prefix[usize::from(bare)..]);
        }
        if self.starts.len() <= t {
            self.starts.resize(t + 1, None);
        }
        self.starts[t] = Some(start);
    }

    /// One sample line from the rendered labels: `name+suffix{labels[,extra]} value`.
    fn line(
        &mut self,
        suffix: &str,
        extra: Option<(&str, &[u8])>,
        value: impl FnOnce(&mut Vec<u8>),
    ) {
        self.out.extend_from_slice(self.name.as_bytes());
        self.out.extend_from_slice(suffix.as_bytes());
        self.out.push(b'{');
        self.out.extend_from_slice(&self.labels);
        if let Some((k, v)) = extra {
            if !self.labels.is_empty() {
                self.out.push(b',');
            }
            self.out.extend_from_slice(k.as_bytes());
            self.out.extend_from_slice(b"=\"");
            self.out.extend_from_slice(v);
            self.out.push(b'"');
        }
        self.out.extend_from_slice(b"} ");
        value(&mut self.out);
        self.out.push(b'\n');
    }

    /// The lines of one series of `desc` (whose cells arrive together, metrics in name order),
    /// as the series model gives its samples.
    fn cell(&mut self, desc: &'static MetricDesc, cell: &CellSnapshot, fields: &[u8]) {
        if !self.family.is_some_and(|f| std::ptr::eq(f, desc)) {
            self.begin(desc);
        }
        let (ty, dialect) = (self.ty, self.dialect);
        // Exemplars go out in OpenMetrics only: a counter's on `_total`, a histogram's on
        // each bucket's line.
        let om = self.format == Format::OpenMetrics;
        if model::is_single_sample(ty, dialect) {
            let ex = (om && ty == FamilyType::Counter)
                .then(|| cell.exemplar(0))
                .flatten();
            model::samples(ty, dialect, cell.value(), cell.start_micros(), |s| {
                self.single_line(s.suffix, desc, cell, fields, |o| {
                    push_number(o, s.value);
                    if let Some(ex) = ex {
                        push_exemplar(o, ex);
                    }
                });
            });
            return;
        }
        self.series_labels(desc, cell, fields);
        let mut extra = Vec::with_capacity(32);
        let mut bucket = 0;
        model::samples(ty, dialect, cell.value(), cell.start_micros(), |s| {
            let ex = match s.suffix {
                _ if !om => None,
                "_bucket" => {
                    bucket += 1;
                    cell.exemplar(bucket - 1)
                }
                "_total" => cell.exemplar(0),
                _ => None,
            };
            let label = s.label.map(|(name, value)| {
                extra.clear();
                match value {
                    Extra::Le(bound) => push_f64(&mut extra, bound),
                    Extra::Value(v) => escape_into(&mut extra, v, true),
                }
                (name, extra.as_slice())
            });
            self.line(s.suffix, label, |o| {
                push_number(o, s.value);
                if let Some(ex) = ex {
                    push_exemplar(o, ex);
                }
            });
        });
    }
}

/// The cached start of a single-line kind's line for target `t`: `name+suffix{target labels`
/// (an unknown target id gets the default target's labels).
#[inline]
fn head<'h>(
    heads: &'h mut Vec<Option<Vec<u8>>>,
    targets: &[Vec<u8>],
    name: &str,
    suffix: &str,
    t: u32,
) -> &'h [u8] {
    let t = t as usize;
    if heads.len() <= t {
        heads.resize(t + 1, None);
    }
    heads[t].get_or_insert_with(|| {
        let target = targets.get(t).or(targets.first());
        let mut h = Vec::with_capacity(name.len() + suffix.len() + 1 + target.map_or(0, Vec::len));
        h.extend_from_slice(name.as_bytes());
        h.extend_from_slice(suffix.as_bytes());
        h.push(b'{');
        if let Some(target) = target {
            h.extend_from_slice(target);
        }
        h
    })
}

/// The store's walk, straight into the text: plain numbers of single-sample families are
/// written from their cell and key with no snapshot cell between.
impl Visit for Encoder {
    fn numbers(&mut self, desc: &'static MetricDesc) -> bool {
        let ty = desc.family_type();
        matches!(ty, FamilyType::Counter | FamilyType::Gauge)
            && model::is_single_sample(ty, self.dialect)
    }

    #[inline]
    fn number(&mut self, desc: &'static MetricDesc, target: u32, fields: &[u8], value: Plain) {
        if !self.family.is_some_and(|f| std::ptr::eq(f, desc)) {
            self.begin(desc);
        }
        let t = target as usize;
        if !matches!(self.starts.get(t), Some(Some(_))) {
            self.make_start(t);
        }
        let Some(Some(start)) = self.starts.get(t) else {
            return;
        };
        let out = &mut self.out;
        // Room for the whole line at once: escaping at most doubles a string, an integer
        // field's 8 key bytes make at most 20 digits, a bool's one byte `false`.
        out.reserve(start.len() + self.prefixes_len + 5 * fields.len() + 40);
        put_medium(out, start);
        match (desc.fields, fields.split_first()) {
            // One string field shorter than 128 bytes (a one-byte length): the common case.
            ([f], Some((&n, rest))) if f.ty == FieldType::String && n < 0x80 => {
                escape_bytes(out, rest.get(..usize::from(n)).unwrap_or(rest), true);
                put(out, b"\"} ");
            }
            ([], _) => put(out, b"} "),
            _ => {
                // The start holds the first field's prefix: skipped whole here.
                let skip = self.field_prefixes.first().map_or(0, Vec::len);
                put_fields_from(out, desc.fields, &self.field_prefixes, fields, skip);
                put(out, b"} ");
            }
        }
        match value {
            Plain::Int(i) => push_int(out, i),
            Plain::Float(f) => push_f64(out, f),
        }
        put(out, b"\n");
    }

    fn cell(&mut self, desc: &'static MetricDesc, cell: &CellSnapshot, fields: &[u8]) {
        Encoder::cell(self, desc, cell, fields);
    }
}
