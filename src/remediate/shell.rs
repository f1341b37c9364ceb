//! POSIX shell quoting for CLI proposals. Every argument that came from an alert is quoted, so
//! a resource name like `x; rm -rf ~` or `$(curl evil)` stays one literal argument.

/// Quote one argument for a POSIX shell: bare when it only holds safe characters, otherwise
/// single-quoted with embedded single quotes written as `'\''`. Untrusted text is sanitized
/// first (escape sequences, controls and newlines removed).
pub fn quote(arg: &str) -> String {
    // A shell variable made by [`var`]: expanded, double-quoted. Text from an alert cannot
    // take this form: sanitizing removes the control character that marks it.
    if let Some(v) = arg.strip_prefix(VAR_MARK)
        && !v.is_empty()
        && v.chars().all(|c| c.is_ascii_uppercase() || c == '_')
    {
        return format!("\"${v}\"");
    }
    let clean = crate::sanitize::one_line(arg);
    let safe = !clean.is_empty()
        && clean.chars().all(|c| {
            c.is_ascii_alphanumeric()
                || matches!(c, '-' | '_' | '.' | '/' | ':' | '=' | ',' | '@' | '+')
        })
        && !clean.starts_with('-');
    if safe {
        return clean;
    }
    let mut out = String::with_capacity(clean.len() + 2);
    out.push('\'');
    for c in clean.chars() {
        if c == '\'' {
            out.push_str("'\\''");
        } else {
            out.push(c);
        }
    }
    out.push('\'');
    out
}

const VAR_MARK: char = '\u{1}';

/// An argument that is the shell variable `name` (upper case and `_`), which the analyst sets
/// before running the command; [`quote`] writes it as `"$NAME"`.
pub fn var(name: &str) -> String {
    format!("{VAR_MARK}{name}")
}

/// A command line from a program and its arguments, each quoted.
pub fn command(parts: &[&str]) -> String {
    parts.iter().map(|p| quote(p)).collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn safe_words_stay_bare_and_the_rest_is_single_quoted() {
        assert_eq!(quote("my-bucket_1.x"), "my-bucket_1.x");
        assert_eq!(quote("arn:aws:s3:::b/c"), "arn:aws:s3:::b/c");
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote("x; rm -rf ~"), "'x; rm -rf ~'");
        assert_eq!(quote("$(curl evil)"), "'$(curl evil)'");
        assert_eq!(quote("it's"), "'it'\\''s'");
        assert_eq!(quote(""), "''");
        // A leading dash would be read as an option.
        assert_eq!(quote("-rf"), "'-rf'");
        // Escapes and newlines never survive.
        assert_eq!(quote("a\x1b]0;t\x07b\nc"), "'ab c'");
        // Variables we add are expanded; the same text from an alert is not.
        assert_eq!(quote(&var("RESOURCE_GROUP")), "\"$RESOURCE_GROUP\"");
        assert_eq!(quote("$RESOURCE_GROUP"), "'$RESOURCE_GROUP'");
        assert_eq!(quote("\u{1}rm -rf"), "'rm -rf'");
    }

    #[test]
    fn quoted_arguments_round_trip_through_a_real_shell() {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!(
                "printf '%s\\n' {}",
                command(&["x; touch /tmp/pwned", "$(id)", "`id`", "it's", "a|b&c>d"])
            ))
            .output()
            .expect("sh");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "x; touch /tmp/pwned\n$(id)\n`id`\nit's\na|b&c>d\n"
        );
    }
}
