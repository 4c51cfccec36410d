//! A separate crate (on edition 2021) that declares metrics, to prove the catalog collects
//! metrics of other crates.

tsmon::metric! {
    /// Declared in the helper crate.
    pub static HELPER_COUNTER: Counter(source: String) = "helper/counter";
}

mod unreferenced {
    tsmon::metric! {
        /// Declared in a module nothing references.
        static HIDDEN: IntGauge = "helper/unreferenced_gauge";
    }
}

pub mod hygiene;
