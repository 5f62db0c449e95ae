//! Keeps personal data out of logs: any run of 11 or more ID-like characters (citizen IDs,
//! phones, bank numbers) is masked before a line is written, whatever the line is about.

/// Masks every run of ≥ 11 digits (an optional trailing `X` included) to its first 3 and last 2
/// characters, so log lines stay useful for correlation but carry no identifier.
pub fn redact_log(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        if chars[i].is_ascii_digit() {
            let start = i;
            while i < chars.len() && chars[i].is_ascii_digit() {
                i += 1;
            }
            if i < chars.len() && matches!(chars[i], 'X' | 'x') {
                i += 1;
            }
            let run = &chars[start..i];
            if run.len() >= 11 {
                out.extend(&run[..3]);
                out.extend(std::iter::repeat_n('*', run.len() - 5));
                out.extend(&run[run.len() - 2..]);
            } else {
                out.extend(run);
            }
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::redact_log;

    #[test]
    fn identifiers_never_reach_a_log_line() {
        let line = redact_log("person 11010519491231002X phone 13812345678 batch 42 at 2026-11-29");
        assert!(!line.contains("11010519491231002X"));
        assert!(!line.contains("13812345678"));
        assert!(line.contains("110*************2X"));
        assert!(line.contains("batch 42 at 2026-11-29"));
    }
}
