//! Compile-fail tests: each `tests/ui/*.rs` must fail to compile with exactly the diagnostics in
//! its `.stderr`; each `tests/ui/pass/*.rs` must build and run (so errors that only appear after
//! monomorphization would show). Regenerate the `.stderr` files with
//! `TRYBUILD=overwrite cargo test --all-features --test ui` (all features, as CI runs it: the
//! compiler's list of a trait's implementors depends on them), and read every changed one as a
//! user would before committing it.

#[test]
#[cfg_attr(
    not(all(feature = "bytes", feature = "tokio", feature = "axum")),
    ignore = "the expected compiler output is that of a build with all features: run with --all-features"
)]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/*.rs");
    cases.pass("tests/ui/pass/*.rs");
}
