use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    // A command line that does not parse is bad input: exit 1, as every refusal
    // (clap's own default would be 2, which here means a device or internal failure).
    let cli = match ceremony::cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
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
