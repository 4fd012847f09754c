//! Nothing: the benchmarks are this package's bench targets (`cargo bench -p passive-reply-benches
//! --bench emit`, …), and `load_server` its binary (`benches/load.sh`). See BENCHMARKS.md.
