//! `sitrep completions bash|zsh|fish|powershell`: a script for each shell that names the
//! subcommands, needs no config or database, and (bash) parses.

mod common;

use common::Sandbox;

#[test]
fn each_shell_gets_a_script_naming_the_subcommands() {
    let sb = Sandbox::new();
    for shell in ["bash", "zsh", "fish", "powershell"] {
        let out = sb.ok(&["completions", shell]);
        assert!(out.len() > 500, "{shell}: {out}");
        for sub in ["export", "audit", "outbox", "completions"] {
            assert!(out.contains(sub), "{shell} script lacks {sub}");
        }
        // Values of an enum option are completed too (clap_complete's PowerShell script
        // completes names only).
        if shell != "powershell" {
            assert!(
                out.contains("sarif"),
                "{shell} script lacks export's formats"
            );
        }
    }
    // No config or database was needed (nor created).
    assert!(!sb.db().exists());
}

#[test]
fn the_bash_script_parses() {
    let sb = Sandbox::new();
    let script = sb.ok(&["completions", "bash"]);
    let file = sb.write("sitrep.bash", &script);
    let out = std::process::Command::new("bash")
        .arg("-n")
        .arg(&file)
        .output()
        .expect("bash on PATH");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // And sourcing it registers the completion function.
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!("source {} && complete -p sitrep", file.display()))
        .output()
        .expect("bash");
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("sitrep"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn an_unknown_shell_is_a_usage_error() {
    let sb = Sandbox::new();
    let err = sb.fails(&["completions", "tcsh"], 2);
    assert!(err.contains("tcsh"), "{err}");
}
