//! Text from outside (a server's error page, a library's message, a YAML value) made safe for
//! one log line.

/// `text` on one line: control characters (line breaks, tabs, terminal escapes) become spaces
/// and runs of whitespace one space. Every message trendmaster prints is one line, and a value
/// quoted from bad input must not break that (or send escape codes to a terminal).
pub fn one_line(text: &str) -> String {
    text.split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::one_line;

    #[test]
    fn breaks_tabs_and_escapes_become_single_spaces() {
        assert_eq!(one_line("a\nb\r\n\tc  d"), "a b c d");
        assert_eq!(one_line("red \u{1b}[31mtext\u{7}"), "red [31mtext");
        assert_eq!(one_line("  plain  "), "plain");
        assert_eq!(one_line(""), "");
    }
}
