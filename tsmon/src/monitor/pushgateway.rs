//! The Pushgateway monitor: each flush replaces this task's group with the whole snapshot.

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::Full;

use super::client::{Outcome, PushClient};
use super::{BoxFuture, Monitor};
use crate::error::{Cause, Error};
use crate::exposition::{self, Format};
use crate::settings::PushOptions;
use crate::store::Snapshot;
use crate::target::Target;

/// Pushes to a Prometheus Pushgateway. Each flush `PUT`s the whole snapshot (chunk size 0: a
/// `PUT` replaces the group, so it cannot be split) to the group
/// `/metrics/job/<job_name>/service_name/<service>/data_center/<dc>/task_num/<n>` of the default
/// target. The host is not in the grouping key: a process that takes over a task number replaces
/// the group of the one before, so the number of groups stays at the number of task numbers in
/// use. Label values travel base64-encoded, so any value is safe in the path.
///
/// `https://` needs the `tls` feature; credentials, headers and TLS options come from the
/// `push` [settings](crate::settings) ([`PushOptions`]). A 401 or 403 is counted in
/// `tsmon/push/unauthorized` and not retried.
///
/// ```
/// use tsmon::monitor::PushgatewayMonitor;
/// let t = tsmon::Target::new("shop", "web").with_data_center("eu").with_task_num(3);
/// assert_eq!(
///     PushgatewayMonitor::group_path(&t),
///     "/metrics/job@base64/d2Vi/service_name@base64/c2hvcA/data_center@base64/ZXU/task_num@base64/Mw"
/// );
/// ```
#[derive(Debug)]
pub struct PushgatewayMonitor {
    base: String,
    client: PushClient,
    native_classic: bool,
}

impl PushgatewayMonitor {
    /// A monitor pushing to the Pushgateway at `base` (`http://host:port`), without
    /// credentials.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidSettings`] for a URL that is not `http://` (or `https://` with the
    /// `tls` feature).
    pub fn new(base: &str) -> Result<Self, Error> {
        Self::with_options(base, &PushOptions::default())
    }

    /// A monitor pushing to `base` with the credentials, headers and TLS of `options`.
    ///
    /// ```
    /// use tsmon::monitor::PushgatewayMonitor;
    /// use tsmon::settings::{BasicAuth, PushOptions, Secret};
    /// let options = PushOptions {
    ///     basic_auth: Some(BasicAuth {
    ///         username: "tsmon".into(),
    ///         password: Some(Secret::new("s3cret")),
    ///         password_file: None,
    ///     }),
    ///     ..PushOptions::default()
    /// };
    /// let m = PushgatewayMonitor::with_options("http://127.0.0.1:9091", &options).unwrap();
    /// # drop(m);
    /// assert!(PushgatewayMonitor::new("ftp://127.0.0.1:9091").is_err());
    /// ```
    ///
    /// # Errors
    ///
    /// As [`new`](Self::new), and when a TLS file cannot be read.
    pub fn with_options(base: &str, options: &PushOptions) -> Result<Self, Error> {
        crate::settings::MonitorSpec::parse(&format!("pushgateway:{base}"))?;
        Ok(PushgatewayMonitor {
            base: base.trim_end_matches('/').to_owned(),
            client: PushClient::new("pushgateway", base, options)?,
            native_classic: false,
        })
    }

    /// Whether native histograms carry classic buckets (the `native_classic_buckets`
    /// setting): the push is in the text format, which has no native buckets, so without
    /// them a native histogram is its count and sum.
    ///
    /// ```
    /// let m = tsmon::monitor::PushgatewayMonitor::new("http://127.0.0.1:9091")
    ///     .unwrap()
    ///     .with_native_classic(true);
    /// # drop(m);
    /// ```
    #[must_use]
    pub fn with_native_classic(mut self, on: bool) -> Self {
        self.native_classic = on;
        self
    }

    /// The group of a target, as a URL path.
    #[must_use]
    pub fn group_path(target: &Target) -> String {
        let b64 = |v: &str| {
            if v.is_empty() {
                "=".to_owned()
            } else {
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v)
            }
        };
        format!(
            "/metrics/job@base64/{}/service_name@base64/{}/data_center@base64/{}/task_num@base64/{}",
            b64(&target.job_name),
            b64(&target.service_name),
            b64(&target.data_center),
            b64(&target.task_num.to_string()),
        )
    }

    async fn put(&self, chunk: &Snapshot) -> Result<(), Error> {
        let Some(target) = chunk.targets().first() else {
            return Ok(());
        };
        let url = format!("{}{}", self.base, Self::group_path(target));
        let mut body = Vec::new();
        let options = exposition::Options::default().with_native_classic(self.native_classic);
        exposition::encode_with(chunk, Format::Text, options, &mut body);
        let request = hyper::Request::put(&url)
            .header(hyper::header::CONTENT_TYPE, Format::Text.content_type())
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| {
                Error::Monitor(Cause::with_source(format!("Pushgateway request {url}"), e))
            })?;
        match self
            .client
            .send(request, &format!("Pushgateway {url}"))
            .await
        {
            Outcome::Delivered => Ok(()),
            Outcome::Unauthorized(e) | Outcome::Rejected(e) | Outcome::Failed(e) => {
                Err(Error::Monitor(e))
            }
        }
    }
}

impl Monitor for PushgatewayMonitor {
    fn send<'a>(&'a self, chunk: &'a Snapshot) -> BoxFuture<'a, Result<(), Error>> {
        Box::pin(self.put(chunk))
    }
}
