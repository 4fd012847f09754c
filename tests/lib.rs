//! Nothing: the integration tests of the workspace are this package's test targets, each a file
//! beside this one (`cargo test -p passive-reply-tests`, or `cargo test --workspace`).
