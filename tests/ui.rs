//! Compile-fail tests: each `tests/ui/*.rs` must fail to compile with exactly the diagnostics in
//! its `.stderr`. Regenerate after reading them: `TRYBUILD=overwrite cargo test --test ui`.

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/*.rs");
}
