//! The exposition formats, as an `Accept` header negotiates them, and the options an
//! exposition takes beyond its format.

/// An exposition format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    /// The Prometheus text format, version 0.0.4.
    Text,
    /// OpenMetrics 1.0.
    OpenMetrics,
    /// Prometheus' protobuf format (`io.prometheus.client.MetricFamily`, length-delimited),
    /// which Prometheus asks for first when its native histograms are on. Binary: write it
    /// with [`encode_with`](super::encode_with) or [`State::encode_into`](crate::State::encode_into) (a `String`
    /// of it would not be UTF-8).
    Protobuf,
}

impl Format {
    /// The `Content-Type` of this format.
    ///
    /// ```
    /// assert_eq!(tsmon::exposition::Format::Text.content_type(), "text/plain; version=0.0.4; charset=utf-8");
    /// ```
    #[must_use]
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Text => "text/plain; version=0.0.4; charset=utf-8",
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
            Format::Protobuf => {
                "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited"
            }
        }
    }

    /// The format an `Accept` header asks for: OpenMetrics when it names
    /// `application/openmetrics-text` with a higher or equal quality than the text format, else text.
    ///
    /// ```
    /// use tsmon::exposition::Format;
    /// let prometheus = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
    /// assert_eq!(Format::from_accept(prometheus), Format::OpenMetrics);
    /// assert_eq!(Format::from_accept("text/plain"), Format::Text);
    /// assert_eq!(Format::from_accept(""), Format::Text);
    /// // Prometheus with `--enable-feature=native-histograms`:
    /// let native = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited,application/openmetrics-text;version=1.0.0;q=0.8,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
    /// assert_eq!(Format::from_accept(native), Format::Protobuf);
    /// // Protobuf of another message, or not delimited, is not this format.
    /// assert_eq!(Format::from_accept("application/vnd.google.protobuf;proto=other.Message"), Format::Text);
    /// ```
    #[must_use]
    pub fn from_accept(accept: &str) -> Format {
        let mut best = (Format::Text, -1.0f32);
        for part in accept.split(',') {
            let mut params = part.split(';').map(str::trim);
            let media = params.next().unwrap_or("").to_ascii_lowercase();
            let mut q = 1.0f32;
            let (mut proto, mut delimited) = (false, false);
            for p in params {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                match k.trim().to_ascii_lowercase().as_str() {
                    "q" => q = v.trim().parse().unwrap_or(0.0),
                    "proto" => proto = v.trim() == "io.prometheus.client.MetricFamily",
                    "encoding" => delimited = v.trim() == "delimited",
                    _ => {}
                }
            }
            let format = match media.as_str() {
                "application/vnd.google.protobuf" if proto && delimited => Format::Protobuf,
                "application/openmetrics-text" => Format::OpenMetrics,
                "text/plain" | "*/*" | "text/*" => Format::Text,
                _ => continue,
            };
            // On equal quality, the richer format.
            if q > best.1 || (q == best.1 && format.rank() > best.0.rank()) {
                best = (format, q);
            }
        }
        best.0
    }

    /// The format's short name: `text`, `openmetrics` or `protobuf`.
    ///
    /// ```
    /// assert_eq!(tsmon::exposition::Format::Protobuf.name(), "protobuf");
    /// ```
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Format::Text => "text",
            Format::OpenMetrics => "openmetrics",
            Format::Protobuf => "protobuf",
        }
    }

    fn rank(self) -> u8 {
        match self {
            Format::Text => 0,
            Format::OpenMetrics => 1,
            Format::Protobuf => 2,
        }
    }
}

/// What an exposition says beyond its format.
///
/// ```
/// use tsmon::exposition::{Format, Options, encode_with};
/// tsmon::metric! {
///     /// Jobs run.
///     static RUN: Counter = "example/options/run";
/// }
/// let state = tsmon::State::builder().build().unwrap();
/// state.in_scope(|| RUN.inc(()));
/// let mut plain = Vec::new();
/// encode_with(&state.snapshot(), Format::OpenMetrics, Options::default(), &mut plain);
/// assert!(!String::from_utf8(plain).unwrap().contains("_created"));
/// let mut created = Vec::new();
/// encode_with(&state.snapshot(), Format::OpenMetrics, Options::default().with_created(true), &mut created);
/// assert!(String::from_utf8(created).unwrap().contains("example_options_run_created"));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Options {
    /// OpenMetrics only: each counter's and histogram's `_created` sample (off by default;
    /// see the `openmetrics_created` setting for why).
    pub created: bool,
    /// The default target's labels once, in a `target_info` family, instead of on every
    /// series (see the `pull_target_info` setting).
    pub target_info: bool,
    /// Classic buckets beside a native histogram's, for receivers without native support
    /// (see the `native_classic_buckets` setting).
    pub native_classic: bool,
}

impl Options {
    /// With or without the target's labels on every series (`target_info`).
    ///
    /// ```
    /// use tsmon::exposition::{Format, Options, encode_with};
    /// let state = tsmon::State::builder().with_target(tsmon::Target::new("svc", "job")).build()?;
    /// let mut out = Vec::new();
    /// encode_with(&state.snapshot(), Format::Text, Options::default().with_target_info(true), &mut out);
    /// let text = String::from_utf8(out).unwrap();
    /// assert!(text.contains("target_info{service_name=\"svc\",job_name=\"job\""));
    /// # Ok::<(), tsmon::Error>(())
    /// ```
    #[must_use]
    pub fn with_target_info(mut self, target_info: bool) -> Self {
        self.target_info = target_info;
        self
    }

    /// With or without the `_created` samples.
    ///
    /// ```
    /// let options = tsmon::exposition::Options::default().with_created(true);
    /// assert!(options.created);
    /// ```
    #[must_use]
    pub fn with_created(mut self, created: bool) -> Self {
        self.created = created;
        self
    }

    /// With or without classic buckets beside a native histogram's.
    ///
    /// ```
    /// let options = tsmon::exposition::Options::default().with_native_classic(true);
    /// assert!(options.native_classic);
    /// ```
    #[must_use]
    pub fn with_native_classic(mut self, native_classic: bool) -> Self {
        self.native_classic = native_classic;
        self
    }

    /// The options the settings ask for.
    pub(crate) fn from_settings(s: &crate::settings::Settings) -> Self {
        Options {
            created: s.openmetrics_created,
            target_info: s.pull_target_info,
            native_classic: s.native_classic_buckets,
        }
    }
}
