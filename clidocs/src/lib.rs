//! Man pages and shell completions made from a binary's own clap
//! definition, so what a package installs cannot drift from the options
//! the binary takes. A binary calls [`write_if_asked`] first thing:
//! started with `LIFELINE_WRITE_DOCS=DIR` (as `scripts/package` starts
//! it), it writes them under DIR and exits instead of running.

use std::path::Path;

use clap_complete::Shell;

/// The variable naming the folder to write into.
pub const WRITE_DOCS: &str = "LIFELINE_WRITE_DOCS";

/// With `LIFELINE_WRITE_DOCS` set, writes the man pages and completions
/// of the command `cmd` makes there and exits (status 1, saying why, when
/// they cannot be written). A binary whose subcommands are parsed apart
/// from its main options adds them to `cmd` for this.
pub fn write_if_asked(cmd: impl FnOnce() -> clap::Command) {
    let Some(dir) = std::env::var_os(WRITE_DOCS) else {
        return;
    };
    match write(cmd(), Path::new(&dir)) {
        Ok(()) => std::process::exit(0),
        Err(e) => {
            eprintln!("cannot write the man pages and completions in {dir:?}: {e}");
            std::process::exit(1);
        }
    }
}

/// Writes `DIR/man/NAME.1` (and `NAME-SUBCOMMAND.1` for each subcommand)
/// and `DIR/completions/` for bash (`NAME.bash`), zsh (`_NAME`) and fish
/// (`NAME.fish`).
pub fn write(cmd: clap::Command, dir: &Path) -> std::io::Result<()> {
    let man = dir.join("man");
    let completions = dir.join("completions");
    std::fs::create_dir_all(&man)?;
    std::fs::create_dir_all(&completions)?;
    let name = cmd.get_name().to_owned();
    clap_mangen::generate_to(cmd.clone(), &man)?;
    for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
        clap_complete::generate_to(shell, &mut cmd.clone(), &name, &completions)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_and_its_subcommands_get_pages_and_every_shell_a_completion() {
        let cmd = clap::Command::new("lifeline-demo")
            .about("Demo.")
            .arg(
                clap::Arg::new("relay")
                    .long("relay")
                    .help("Where the relay is."),
            )
            .subcommand(clap::Command::new("serve").about("Serve."));
        let dir = tempfile::tempdir().unwrap();
        write(cmd, dir.path()).unwrap();
        let page = std::fs::read_to_string(dir.path().join("man/lifeline-demo.1")).unwrap();
        assert!(page.contains(".TH lifeline-demo 1"), "{page}");
        assert!(page.contains("relay"), "{page}");
        assert!(dir.path().join("man/lifeline-demo-serve.1").is_file());
        for f in ["lifeline-demo.bash", "_lifeline-demo", "lifeline-demo.fish"] {
            let text = std::fs::read_to_string(dir.path().join("completions").join(f)).unwrap();
            assert!(text.contains("relay"), "{f}: {text}");
        }
    }
}
