//! Opening the authorization URL: the system browser, or the developer's `--browser CMD`.
//!
//! `CMD` is split into words the way a POSIX shell splits a simple command (quotes and
//! backslashes), but nothing is expanded and no shell runs it: the URL is appended as one more
//! argument and the program is started directly, without waiting for it. Characters that would
//! make a shell do more than split (`$`, `` ` ``, `|`, `&`, `;`, `<`, `>`, `(`, `)`, a leading
//! `~` or `#`, a leading `NAME=value`) are refused unless quoted, rather than passed on with a
//! meaning the developer did not intend.

use std::fmt;
use std::process::{Command, Stdio};

/// A program and its arguments, ready to receive the URL as its last argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrowserCommand {
    argv: Vec<String>,
}

impl BrowserCommand {
    /// The platform's "open this URL" command: `xdg-open` (Linux, BSD), `open` (macOS), or
    /// `rundll32 url.dll,FileProtocolHandler` (Windows).
    pub fn system() -> Self {
        let argv: &[&str] = if cfg!(target_os = "macos") {
            &["open"]
        } else if cfg!(windows) {
            &["rundll32", "url.dll,FileProtocolHandler"]
        } else {
            &["xdg-open"]
        };
        BrowserCommand {
            argv: argv.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    /// Parses `--browser CMD` (see [`split`]).
    pub fn parse(cmd: &str) -> Result<Self, SplitError> {
        split(cmd).map(|argv| BrowserCommand { argv })
    }

    /// The program that is started.
    pub fn program(&self) -> &str {
        &self.argv[0]
    }

    /// The full argument vector for `url`: the words, then the URL as one argument.
    pub fn argv_for(&self, url: &str) -> Vec<String> {
        let mut argv = self.argv.clone();
        argv.push(url.to_owned());
        argv
    }

    /// Starts the command with `url` appended and returns without waiting for it. Its standard
    /// streams are closed (its output must not mix with the CLI's). A background thread reaps it
    /// and warns on stderr if it exits unsuccessfully; the URL is never printed.
    pub fn open(&self, url: &str) -> std::io::Result<()> {
        let argv = self.argv_for(url);
        let mut child = Command::new(&argv[0])
            .args(&argv[1..])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let program = self.program().to_owned();
        std::thread::spawn(move || {
            if let Ok(status) = child.wait()
                && !status.success()
            {
                eprintln!(
                    "warning: the browser command `{program}` exited unsuccessfully ({status}); still waiting for the sign-in"
                );
            }
        });
        Ok(())
    }
}

/// Why `--browser CMD` could not be split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SplitError {
    /// Nothing but spaces.
    Empty,
    /// A quote is never closed.
    UnterminatedQuote(char),
    /// A backslash ends the command.
    TrailingBackslash,
    /// An unquoted character that a shell would act on (expansion, pipes, redirections…).
    ShellSyntax(char),
    /// The command starts with `NAME=value`, which a shell takes as an environment assignment.
    Assignment,
}

impl fmt::Display for SplitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SplitError::Empty => f.write_str("the browser command is empty"),
            SplitError::UnterminatedQuote(q) => write!(f, "unterminated {q} quote"),
            SplitError::TrailingBackslash => f.write_str("the command ends with a backslash"),
            SplitError::ShellSyntax(c) => write!(
                f,
                "`{c}` needs a shell, and the browser command is not run by one: quote it, or write a script and pass its path"
            ),
            SplitError::Assignment => f.write_str(
                "environment assignments (NAME=value) need a shell: set the variable before running keyfob, or use `env NAME=value CMD`",
            ),
        }
    }
}

impl std::error::Error for SplitError {}

/// Characters a shell acts on outside quotes (beyond splitting): refused.
const SHELL_SYNTAX: &[char] = &['$', '`', '|', '&', ';', '<', '>', '(', ')'];
/// Characters a shell acts on at the start of an unquoted word: refused there.
const WORD_START_SYNTAX: &[char] = &['~', '#'];

/// Splits `cmd` into words like a POSIX shell: blanks separate words; `'…'` keeps everything
/// literally; `"…"` keeps everything except that `\` escapes `"`, `\`, `$`, `` ` `` and a
/// newline; outside quotes `\` escapes any character, and backslash-newline joins lines.
/// Nothing is expanded; see the module documentation for what is refused.
pub fn split(cmd: &str) -> Result<Vec<String>, SplitError> {
    let mut words = Vec::new();
    let mut word = String::new();
    // Whether a word has started: `''` is an empty word, blanks are none.
    let mut in_word = false;
    // Whether the current word may still be an assignment (only unquoted `NAME` so far).
    let mut assignment_candidate = true;
    let mut chars = cmd.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' | '\n' => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                    assignment_candidate = false;
                }
            }
            '\'' => {
                in_word = true;
                assignment_candidate = false;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => return Err(SplitError::UnterminatedQuote('\'')),
                    }
                }
            }
            '"' => {
                in_word = true;
                assignment_candidate = false;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some('\n') => {}
                            Some(e @ ('"' | '\\' | '$' | '`')) => word.push(e),
                            Some(other) => {
                                word.push('\\');
                                word.push(other);
                            }
                            None => return Err(SplitError::UnterminatedQuote('"')),
                        },
                        Some(e @ ('$' | '`')) => return Err(SplitError::ShellSyntax(e)),
                        Some(c) => word.push(c),
                        None => return Err(SplitError::UnterminatedQuote('"')),
                    }
                }
            }
            '\\' => match chars.next() {
                Some('\n') => {}
                Some(e) => {
                    in_word = true;
                    assignment_candidate = false;
                    word.push(e);
                }
                None => return Err(SplitError::TrailingBackslash),
            },
            c if SHELL_SYNTAX.contains(&c) => return Err(SplitError::ShellSyntax(c)),
            c if !in_word && WORD_START_SYNTAX.contains(&c) => {
                return Err(SplitError::ShellSyntax(c));
            }
            '=' if words.is_empty() && assignment_candidate && is_name(&word) => {
                return Err(SplitError::Assignment);
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    if words.is_empty() {
        return Err(SplitError::Empty);
    }
    Ok(words)
}

/// A shell variable name: a letter or `_`, then letters, digits or `_`.
fn is_name(word: &str) -> bool {
    let mut chars = word.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(cmd: &str) -> Vec<String> {
        split(cmd).unwrap_or_else(|e| panic!("{cmd:?}: {e}"))
    }

    #[test]
    fn splits_like_a_shell() {
        assert_eq!(words("firefox"), ["firefox"]);
        assert_eq!(
            words("  firefox   --new-window\t-P dev "),
            ["firefox", "--new-window", "-P", "dev"]
        );
        assert_eq!(
            words("'/opt/My Browser/run' --x"),
            ["/opt/My Browser/run", "--x"]
        );
        assert_eq!(
            words(r#""/opt/My Browser/run" "a b""#),
            ["/opt/My Browser/run", "a b"]
        );
        assert_eq!(words(r"/opt/My\ Browser/run"), ["/opt/My Browser/run"]);
        assert_eq!(words(r#"a"b"'c'd"#), ["abcd"]);
        assert_eq!(words("x '' \"\""), ["x", "", ""]);
        assert_eq!(words(r#"say "it's" 'a "b"'"#), ["say", "it's", r#"a "b""#]);
        // Inside double quotes only \" \\ \$ \` and \newline are escapes.
        assert_eq!(words(r#""a\"b\\c\$d\e""#), [r#"a"b\c$d\e"#]);
        // Inside single quotes nothing is.
        assert_eq!(words(r"'a\b'"), [r"a\b"]);
        assert_eq!(words("a \\\nb"), ["a", "b"]);
        assert_eq!(words("a\\\nb"), ["ab"]);
        // Quoted or escaped, shell characters are plain text; mid-word `~`, `#`, `=` too.
        assert_eq!(
            words(r"echo '$HOME|x' \; \$"),
            ["echo", "$HOME|x", ";", "$"]
        );
        assert_eq!(words("a~b c#d e=f"), ["a~b", "c#d", "e=f"]);
        assert_eq!(words("'A=1' cmd"), ["A=1", "cmd"]);
        assert_eq!(words("env A=1 cmd"), ["env", "A=1", "cmd"]);
        assert_eq!(words("'~/bin/x'"), ["~/bin/x"]);
        // Non-ASCII text passes through.
        assert_eq!(words("navigateur «été»"), ["navigateur", "«été»"]);
    }

    #[test]
    fn refuses_what_needs_a_shell_or_is_malformed() {
        for (cmd, expected) in [
            ("", SplitError::Empty),
            ("  \t ", SplitError::Empty),
            ("'abc", SplitError::UnterminatedQuote('\'')),
            ("\"abc", SplitError::UnterminatedQuote('"')),
            ("\"abc\\", SplitError::UnterminatedQuote('"')),
            ("abc\\", SplitError::TrailingBackslash),
            ("open $BROWSER", SplitError::ShellSyntax('$')),
            ("\"$BROWSER\"", SplitError::ShellSyntax('$')),
            ("a `b`", SplitError::ShellSyntax('`')),
            ("a | b", SplitError::ShellSyntax('|')),
            ("a && b", SplitError::ShellSyntax('&')),
            ("a; b", SplitError::ShellSyntax(';')),
            ("a > log", SplitError::ShellSyntax('>')),
            ("a < in", SplitError::ShellSyntax('<')),
            ("(a)", SplitError::ShellSyntax('(')),
            ("~/bin/browser", SplitError::ShellSyntax('~')),
            ("a #comment", SplitError::ShellSyntax('#')),
            ("DISPLAY=:1 firefox", SplitError::Assignment),
        ] {
            assert_eq!(split(cmd), Err(expected.clone()), "{cmd:?}");
            assert!(!expected.to_string().is_empty());
        }
    }

    #[test]
    fn the_url_is_one_extra_argument() {
        let browser = BrowserCommand::parse("'my browser' --incognito").unwrap();
        let url = "http://127.0.0.1:1/authorize?a=1&b=two words;$x";
        assert_eq!(browser.program(), "my browser");
        assert_eq!(browser.argv_for(url), ["my browser", "--incognito", url]);
        assert!(!BrowserCommand::system().program().is_empty());
    }

    #[cfg(unix)]
    #[test]
    fn open_starts_the_program_without_waiting() {
        // `sleep 30` with the "URL" 1 runs for 31 s; starting it takes milliseconds. The bound
        // tells the two apart with room for a loaded machine.
        let started = std::time::Instant::now();
        BrowserCommand::parse("sleep 30")
            .unwrap()
            .open("1")
            .unwrap();
        assert!(started.elapsed() < std::time::Duration::from_secs(15));
        let missing = BrowserCommand::parse("/nonexistent/keyfob-browser").unwrap();
        assert!(missing.open("http://127.0.0.1/").is_err());
    }
}
