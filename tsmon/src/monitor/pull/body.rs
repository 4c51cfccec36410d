//! The endpoint's response body: a whole reply, or a scrape's text written a chunk at a time as
//! the connection takes it (so a large scrape holds one chunk, not the whole text).

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::body::{Frame, SizeHint};

/// The chunks of a scrape after the first, made as they are asked for.
pub(crate) type Chunks = Box<dyn Iterator<Item = Vec<u8>> + Send>;

/// A reply's body: its first (or only) bytes, then any further chunks.
pub(crate) struct Body {
    first: Option<Bytes>,
    /// `None` once ended; a body with none from the start has a known length.
    rest: Option<Chunks>,
}

impl Body {
    /// A whole body (sent with its length).
    pub(crate) fn whole(bytes: Vec<u8>) -> Self {
        Body {
            first: Some(Bytes::from(bytes)),
            rest: None,
        }
    }

    /// A scrape's chunks: the first is made now; if it is the only one, the body is sent with
    /// its length, otherwise chunked.
    pub(crate) fn chunks(mut chunks: Chunks) -> Self {
        let first = chunks.next().unwrap_or_default();
        let rest = (chunks.size_hint().1 != Some(0)).then_some(chunks);
        Body {
            first: Some(Bytes::from(first)),
            rest,
        }
    }
}

impl hyper::body::Body for Body {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        if let Some(first) = this.first.take()
            && !first.is_empty()
        {
            return Poll::Ready(Some(Ok(Frame::data(first))));
        }
        let next = this.rest.as_mut().and_then(Iterator::next);
        if next.is_none() {
            this.rest = None;
        }
        Poll::Ready(next.map(|chunk| Ok(Frame::data(Bytes::from(chunk)))))
    }

    fn is_end_stream(&self) -> bool {
        self.first.as_ref().is_none_or(Bytes::is_empty) && self.rest.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        match (&self.first, &self.rest) {
            (first, None) => SizeHint::with_exact(first.as_ref().map_or(0, |b| b.len() as u64)),
            (_, Some(_)) => SizeHint::default(),
        }
    }
}
