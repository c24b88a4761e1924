use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = ceremony::cli::Cli::parse();
    match ceremony::commands::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            if let Some(hint) = err.hint() {
                eprintln!("hint: {hint}");
            }
            ExitCode::from(err.exit_code() as u8)
        }
    }
}
