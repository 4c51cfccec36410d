//! trybuild cases for every tsmon macro diagnostic: see `tests/`.
