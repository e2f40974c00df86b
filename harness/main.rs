//! The `mm-harness` binary: everything lives in the library's `cli` module.

fn main() -> std::process::ExitCode {
    mm_harness::cli::main()
}
