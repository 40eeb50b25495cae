//! Text a peer supplied (the host's chat, names, refusals, saved paths;
//! the relay's reasons), made safe to put on the technician's terminal or
//! window: every control character goes (C0 with tab and newline, DEL, C1
//! with the 8-bit CSI U+009B), so nothing a host sends can move the
//! cursor, clear the screen, set the title or write the clipboard (OSC
//! 52); so do the bidirectional overrides and isolates, which can make a
//! line read other than it is.

use std::borrow::Cow;

/// Whether `c` may not be shown as it is.
fn hidden(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
        )
}

/// `text` without control characters or bidirectional overrides: one line,
/// as written otherwise.
pub fn shown(text: &str) -> Cow<'_, str> {
    if text.chars().any(hidden) {
        Cow::Owned(text.chars().filter(|c| !hidden(*c)).collect())
    } else {
        Cow::Borrowed(text)
    }
}

/// `text` of several lines (our own line breaks), each line [`shown`].
pub fn shown_lines(text: &str) -> String {
    text.split('\n').map(shown).collect::<Vec<_>>().join("\n")
}

/// Every string inside a JSON value [`shown`], keys too: a `--json` line
/// carries no control character, even one JSON would escape.
pub fn shown_json(value: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::String(s) => Value::String(shown(&s).into_owned()),
        Value::Array(a) => Value::Array(a.into_iter().map(shown_json).collect()),
        Value::Object(o) => Value::Object(
            o.into_iter()
                .map(|(k, v)| (shown(&k).into_owned(), shown_json(v)))
                .collect(),
        ),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_sequences_and_overrides_are_gone() {
        let evil = "hi\u{1b}]52;c;cHduZWQ=\u{7}\u{1b}[2J\u{9b}31m\u{7f}\r\n\t\u{202E}gpj.exe";
        assert_eq!(shown(evil), "hi]52;c;cHduZWQ=[2J31mgpj.exe");
        assert!(matches!(shown("plain text, ünïcödé"), Cow::Borrowed(_)));
        assert_eq!(shown_lines("a\u{1b}[0m\nb\u{9b}"), "a[0m\nb");
    }

    #[test]
    fn json_strings_are_cleaned_at_any_depth() {
        let v = serde_json::json!({"a\u{1b}": ["x\u{9b}y", {"b": "\u{7}z"}], "n": 3});
        assert_eq!(
            shown_json(v),
            serde_json::json!({"a": ["xy", {"b": "z"}], "n": 3})
        );
    }
}
