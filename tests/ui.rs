//! Compile-fail tests: each `tests/ui/*.rs` must fail to compile with exactly the diagnostics in
//! its `.stderr`; each `tests/ui/pass/*.rs` must build and run (so errors that only appear after
//! monomorphization would show). Regenerate the `.stderr` files with
//! `TRYBUILD=overwrite cargo test -p passive-reply-tests --test ui` (all features, this package's
//! default, as CI runs it: the compiler's list of a trait's implementors depends on them), and read every changed one as a
//! user would before committing it.

#[test]
#[cfg_attr(
    not(all(feature = "bytes", feature = "tokio", feature = "axum", feature = "client", feature = "redis")),
    ignore = "the expected compiler output is that of a build with all features (this package's default)"
)]
fn ui() {
    // Paths from this package's directory, `tests/`.
    let cases = trybuild::TestCases::new();
    cases.compile_fail("ui/*.rs");
    cases.pass("ui/pass/*.rs");
}
