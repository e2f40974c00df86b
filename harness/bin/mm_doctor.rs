//! The `mm-doctor` binary: the same as `mm-harness doctor` (everything lives in the library's
//! `cli::doctor_cmd`).

fn main() -> std::process::ExitCode {
    mm_harness::cli::doctor_cmd::doctor_main()
}
