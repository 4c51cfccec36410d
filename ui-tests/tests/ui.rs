//! Every diagnostic of tsmon's macros, pinned with trybuild. Regenerate the expected output with
//! `TRYBUILD=overwrite cargo test -p tsmon-ui-tests` and review the `.stderr` diffs like code.

#[rustversion::attr(
    not(stable),
    ignore = "the expected output is pinned to the stable compiler"
)]
#[cfg_attr(miri, ignore)]
#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/pass/*.rs");
    t.compile_fail("tests/fail/*.rs");
}
