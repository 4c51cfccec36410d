//! A body that shows each frame to an observer, and a guard that hands a value to a function
//! when a poll panics.

use std::pin::Pin;
use std::task::{Context, Poll};

use http_body::{Body, Frame, SizeHint};

/// What a layer learns from a body as it is read.
pub(crate) trait Observer {
    /// A data frame went through: its first contiguous chunk and its whole length (the two
    /// differ only for a buffer made of several chunks).
    fn data(&mut self, chunk: &[u8], len: usize);
    /// The trailers went through.
    fn trailers(&mut self, _trailers: &http::HeaderMap) {}
    /// The body ended: `true` when it was read to its end, `false` on an error. (A body
    /// dropped before its end reaches neither: the observer's own `Drop` sees that.)
    fn end(&mut self, complete: bool);
    /// The code producing the body panicked inside a poll.
    fn panicked(&mut self) {}
}

pin_project_lite::pin_project! {
    /// `inner`, with every frame shown to the observer; the observer is dropped (and so
    /// records) when the body ends, fails, or is dropped.
    pub(crate) struct Counted<B, O> {
        #[pin]
        inner: B,
        observer: Option<O>,
    }
}

impl<B, O> Counted<B, O> {
    pub(crate) fn new(inner: B, observer: Option<O>) -> Self {
        Counted { inner, observer }
    }
}

impl<B: Body, O: Observer> Body for Counted<B, O> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        use bytes::Buf as _;
        let mut this = self.project();
        if this.observer.is_none() {
            return this.inner.poll_frame(cx);
        }
        let guard = OnPanic::new(this.observer, |mut o: O| o.panicked());
        let frame = std::task::ready!(this.inner.as_mut().poll_frame(cx));
        let observer = &mut *guard.slot;
        match &frame {
            Some(Ok(f)) => {
                if let Some(o) = observer.as_mut() {
                    if let Some(data) = f.data_ref() {
                        o.data(data.chunk(), data.remaining());
                    } else if let Some(t) = f.trailers_ref() {
                        o.trailers(t);
                    }
                }
                // A body that knows it has ended may not be polled again.
                if this.inner.is_end_stream()
                    && let Some(mut o) = observer.take()
                {
                    o.end(true);
                }
            }
            Some(Err(_)) => {
                if let Some(mut o) = observer.take() {
                    o.end(false);
                }
            }
            None => {
                if let Some(mut o) = observer.take() {
                    o.end(true);
                }
            }
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Hands the value in `slot` to `f` if the thread panics while the guard lives (a handler's
/// poll panicking). Use the slot through the guard meanwhile.
pub(crate) struct OnPanic<'a, T> {
    pub(crate) slot: &'a mut Option<T>,
    f: fn(T),
}

impl<'a, T> OnPanic<'a, T> {
    pub(crate) fn new(slot: &'a mut Option<T>, f: fn(T)) -> Self {
        OnPanic { slot, f }
    }
}

impl<T> Drop for OnPanic<'_, T> {
    fn drop(&mut self) {
        if std::thread::panicking()
            && let Some(v) = self.slot.take()
        {
            (self.f)(v);
        }
    }
}

/// Declares a public body type around [`Counted`]`<B, $side>`: the type a layer's service
/// returns (its observer stays private), with `Debug` and a `Body` that delegates.
macro_rules! observed_body {
    ($(#[$doc:meta])* $name:ident, $side:ty) => {
        pin_project_lite::pin_project! {
            $(#[$doc])*
            pub struct $name<B> {
                #[pin]
                inner: $crate::middleware::Counted<B, $side>,
            }
        }

        impl<B> $name<B> {
            #[allow(dead_code)]
            pub(crate) fn new(body: B, side: Option<$side>) -> Self {
                $name {
                    inner: $crate::middleware::Counted::new(body, side),
                }
            }
        }

        impl<B> std::fmt::Debug for $name<B> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($name)).finish_non_exhaustive()
            }
        }

        impl<B: http_body::Body> http_body::Body for $name<B> {
            type Data = B::Data;
            type Error = B::Error;

            fn poll_frame(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
                self.project().inner.poll_frame(cx)
            }

            fn is_end_stream(&self) -> bool {
                self.inner.is_end_stream()
            }

            fn size_hint(&self) -> http_body::SizeHint {
                self.inner.size_hint()
            }
        }
    };
}

pub(crate) use observed_body;
