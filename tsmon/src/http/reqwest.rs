//! The HTTP client metrics for reqwest: a [`reqwest_middleware::Middleware`] that records what
//! [`HttpClientMetricsLayer`] records for tower clients (see
//! [`super::client`]), into the same series.
//!
//! - Request bytes are the body's length when reqwest holds it in memory, else its
//!   `Content-Length`, else 0 (a streamed body is not read by the middleware).
//! - Response bytes are the bytes read from the response body, however it is read
//!   (`bytes()`, `text()`, `chunk()`); the call is recorded when the body ends or the
//!   response is dropped.
//! - An error (no connection, reqwest's own timeout) and a call dropped before its response
//!   (an outer `tokio::time::timeout`) count with status 0, as in Go.
//!
//! ```
//! let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
//!     .with(tsmon::http::reqwest::ReqwestMetrics::new("github"))
//!     .build();
//! // client.get("https://api.github.com/").send().await? records under name="api.github.com".
//! # let _ = client;
//! ```

use super::client::{ClientBody, Host, HttpClientMetricsLayer};

/// The middleware. Cheap to clone.
#[derive(Clone, Debug)]
pub struct ReqwestMetrics {
    layer: HttpClientMetricsLayer,
}

impl ReqwestMetrics {
    /// Records as `client` (the `client` field).
    ///
    /// ```
    /// let m = tsmon::http::reqwest::ReqwestMetrics::new("storage");
    /// # let _ = m;
    /// ```
    #[must_use]
    pub fn new(client: impl Into<String>) -> Self {
        ReqwestMetrics {
            layer: HttpClientMetricsLayer::new(client),
        }
    }

    /// Records into `state` instead of the State current where each call is made.
    ///
    /// ```
    /// let state = tsmon::State::builder().build()?;
    /// let m = tsmon::http::reqwest::ReqwestMetrics::new("storage").with_state(state);
    /// # let _ = m;
    /// # Ok::<(), tsmon::Error>(())
    /// ```
    #[must_use]
    pub fn with_state(mut self, state: crate::State) -> Self {
        self.layer = self.layer.with_state(state);
        self
    }
}

fn request_bytes(req: &reqwest::Request) -> u64 {
    if let Some(n) = req.body().and_then(reqwest::Body::as_bytes) {
        return n.len() as u64;
    }
    req.headers()
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[async_trait::async_trait]
impl reqwest_middleware::Middleware for ReqwestMetrics {
    async fn handle(
        &self,
        req: reqwest::Request,
        extensions: &mut http::Extensions,
        next: reqwest_middleware::Next<'_>,
    ) -> reqwest_middleware::Result<reqwest::Response> {
        let host = match req.url().host_str() {
            Some(h) => Host::Owned(h.into()),
            None => Host::None,
        };
        let Some(mut exchange) = self.layer.begin(host, request_bytes(&req)) else {
            return next.run(req, extensions).await;
        };
        // On an error, or this future dropped, the exchange records with status 0.
        let response = next.run(req, extensions).await?;
        exchange.responded(response.status());
        let url = response.url().clone();
        let (mut parts, body) = http::Response::<reqwest::Body>::from(response).into_parts();
        // Keep the response's URL, which reqwest carries in an extension.
        {
            use reqwest::ResponseBuilderExt as _;
            if let Ok(with_url) = http::Response::builder().url(url).body(()) {
                parts.extensions.extend(with_url.into_parts().0.extensions);
            }
        }
        let body = reqwest::Body::wrap(ClientBody::new(body, Some(exchange)));
        Ok(reqwest::Response::from(http::Response::from_parts(
            parts, body,
        )))
    }
}
