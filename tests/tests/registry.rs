//! The link-time catalog: metrics of other crates and of unreferenced modules are listed.

use tsmon::field::FieldType;
use tsmon::metric::MetricKind;

mod nobody_references_this {
    tsmon::metric! {
        /// Declared in a module that no code references.
        static ORPHAN: FloatGauge = "e2e/registry/orphan";
    }
}

#[test]
fn catalog_lists_metrics_of_other_crates_and_unreferenced_modules() {
    // Reference the helper crate so it is linked at all; its unreferenced module is not touched.
    let _ = &tsmon_test_helper::HELPER_COUNTER;
    let catalog = tsmon::registry::catalog();
    let find = |name: &str| catalog.iter().find(|d| d.name() == name);

    let helper = find("helper/counter").expect("metric of another crate");
    assert_eq!(helper.kind(), MetricKind::Counter);
    assert_eq!(helper.site().crate_name(), "tsmon-test-helper");
    assert_eq!(helper.fields()[0].name, "source");
    assert_eq!(helper.fields()[0].ty, FieldType::String);
    assert_eq!(helper.description(), "Declared in the helper crate.");

    let hidden = find("helper/unreferenced_gauge").expect("unreferenced module of another crate");
    assert_eq!(
        hidden.site().module_path(),
        "tsmon_test_helper::unreferenced"
    );

    let orphan = find("e2e/registry/orphan").expect("unreferenced module of this crate");
    assert_eq!(orphan.kind(), MetricKind::FloatGauge);
    assert!(orphan.site().file().ends_with("registry.rs"));
    assert_eq!(orphan.site().line(), 9);

    assert!(
        find("tsmon/store/overflow_writes").is_some(),
        "tsmon's own metrics"
    );
    assert!(tsmon::registry::validate().is_ok());
    assert!(tsmon::registry::describe().contains("helper/unreferenced_gauge  IntGauge()"));
}
