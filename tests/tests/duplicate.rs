//! Two metrics with one name: a State refuses to start, naming both declaration sites.

tsmon::metric! {
    /// Clashes with the helper crate's metric of the same name.
    static CLASH: Counter(source: String) = "helper/counter";
    /// Maps to the same Prometheus name as `e2e/dup/a_b`.
    static SLASH: IntGauge = "e2e/dup/a/b";
    /// Maps to the same Prometheus name as `e2e/dup/a/b`.
    static UNDERSCORE: IntGauge = "e2e/dup/a_b";
}

/// Shares its prefix with `remove` but declares other fields.
#[tsmon::instrument(prefix = "e2e/dup/rpc", fields(service = "cart"))]
fn add() {}

/// Shares its prefix with `add` but declares other fields.
#[tsmon::instrument(prefix = "e2e/dup/rpc", fields(shard = 1))]
fn remove() {}

/// Same prefix, same fields as `add`: merged with it, no error.
#[tsmon::instrument(prefix = "e2e/dup/rpc", fields(service = "cart"))]
fn list() {}

#[test]
fn instrumented_fns_sharing_a_prefix_must_agree_on_its_shape() {
    let _ = (add, remove, list);
    let errors = tsmon::registry::validate().unwrap_err();
    let messages: Vec<String> = errors.iter().map(ToString::to_string).collect();
    let family: Vec<&String> = messages
        .iter()
        .filter(|m| m.contains("e2e/dup/rpc/"))
        .collect();
    // calls, durations and in_flight of `remove` differ from `add`'s; `list` agrees with `add`.
    assert_eq!(family.len(), 3, "{family:#?}");
    for m in family {
        assert!(m.contains("with different fields"), "{m}");
        assert!(m.contains("tests/duplicate.rs:14:"), "{m}");
        assert!(m.contains("tests/duplicate.rs:18:"), "{m}");
        assert!(!m.contains("tests/duplicate.rs:22:"), "{m}");
    }
}

#[test]
fn duplicate_names_are_a_clear_error_naming_both_sites() {
    let _ = (
        &tsmon_test_helper::HELPER_COUNTER,
        &CLASH,
        &SLASH,
        &UNDERSCORE,
    );
    let errors = tsmon::registry::validate().unwrap_err();
    let messages: Vec<String> = errors.iter().map(ToString::to_string).collect();
    let dup = messages
        .iter()
        .find(|m| m.starts_with("duplicate metric name \"helper/counter\""))
        .unwrap();
    assert!(dup.contains("helper/src/lib.rs:6:"), "{dup}");
    assert!(dup.contains("tests/duplicate.rs:5:"), "{dup}");
    assert!(
        dup.contains("(crate `tsmon-test-helper`)") && dup.contains("(crate `tsmon-tests`)"),
        "{dup}"
    );
    let clash = messages.iter().find(|m| m.contains("e2e_dup_a_b")).unwrap();
    assert!(
        clash.contains("\"e2e/dup/a/b\"") && clash.contains("\"e2e/dup/a_b\""),
        "{clash}"
    );

    let err = tsmon::State::builder().build().unwrap_err();
    assert!(messages.contains(&err.to_string()), "{err}");
}
