//! The `mm-harness` binary: everything lives in the library's `cli` module.

fn main() -> std::process::ExitCode {
    // Inside the twin image the binary also answers to omnibus's command names (gitlab-rails).
    if let Some(code) = mm_harness::twin::container::dispatch_argv0() {
        return code;
    }
    mm_harness::cli::main()
}
