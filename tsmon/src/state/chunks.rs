//! The exposition written a chunk at a time ([`State::encode_chunks`]): what the pull endpoint
//! streams, so a scrape of a large store holds a chunk of its text, not all of it.

use super::State;
use crate::exposition::{self, Format, StoreChunks};

/// The exposition of a State as it is now, a chunk at a time: each item is the next piece of
/// the text [`State::encode_into`] would write, made when it is asked for. Concatenated, the
/// pieces are one valid exposition. See [`State::encode_chunks`].
///
/// ```
/// tsmon::metric! {
///     /// Jobs by queue.
///     static JOBS: Counter(queue: String) = "example/chunks/jobs";
/// }
/// let state = tsmon::State::builder().build().unwrap();
/// state.in_scope(|| (0..1000).for_each(|i| JOBS.inc(&format!("queue-{i}"))));
/// let chunks: Vec<Vec<u8>> = state.encode_chunks(tsmon::exposition::Format::Text, 4096).collect();
/// assert!(chunks.len() > 1);
/// assert_eq!(chunks.concat(), state.encode(tsmon::exposition::Format::Text).into_bytes());
/// ```
pub struct EncodeChunks {
    state: State,
    /// The text's walk, until it has ended.
    text: Option<StoreChunks>,
    /// The protobuf format's whole body (it is written from a snapshot, in one piece).
    whole: Option<Vec<u8>>,
    chunk: usize,
}

impl std::fmt::Debug for EncodeChunks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EncodeChunks")
            .field("chunk", &self.chunk)
            .field("ended", &self.is_ended())
            .finish_non_exhaustive()
    }
}

impl EncodeChunks {
    pub(super) fn new(state: &State, format: Format, chunk: usize) -> Self {
        let options = exposition::Options::from_settings(&state.settings());
        let chunk = chunk.max(1);
        if format == Format::Protobuf {
            let mut whole = Vec::new();
            exposition::encode_with(&state.snapshot(), format, options, &mut whole);
            return EncodeChunks {
                state: state.clone(),
                text: None,
                whole: Some(whole),
                chunk,
            };
        }
        let text = StoreChunks::new(
            &state.inner.store,
            format,
            options,
            Vec::with_capacity(chunk_capacity(chunk)),
        );
        EncodeChunks {
            state: state.clone(),
            text: Some(text),
            whole: None,
            chunk,
        }
    }

    /// Whether every chunk has been given (the next [`next`](Iterator::next) is `None`).
    ///
    /// ```
    /// let state = tsmon::State::builder().build().unwrap();
    /// let mut chunks = state.encode_chunks(tsmon::exposition::Format::OpenMetrics, 1 << 20);
    /// assert!(!chunks.is_ended());
    /// assert!(String::from_utf8(chunks.next().unwrap()).unwrap().ends_with("# EOF\n"));
    /// assert!(chunks.is_ended());
    /// ```
    #[must_use]
    pub fn is_ended(&self) -> bool {
        self.text.is_none() && self.whole.is_none()
    }
}

/// A chunk's buffer: the chunk and room for the line that crosses its end.
fn chunk_capacity(chunk: usize) -> usize {
    chunk.saturating_add(1024).min(1 << 24)
}

impl Iterator for EncodeChunks {
    type Item = Vec<u8>;

    /// The next piece, at least the chunk's size unless it is the last (a line is never
    /// split; a histogram series' lines stay together).
    fn next(&mut self) -> Option<Vec<u8>> {
        if let Some(whole) = self.whole.take() {
            return Some(whole);
        }
        let text = self.text.as_mut()?;
        let more = text.fill(&self.state.inner.store, self.chunk);
        let out = text.take(if more { chunk_capacity(self.chunk) } else { 0 });
        if !more {
            self.text = None;
        }
        (!out.is_empty()).then_some(out)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        if self.is_ended() {
            (0, Some(0))
        } else {
            (0, None)
        }
    }
}
