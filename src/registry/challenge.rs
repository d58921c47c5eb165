//! `WWW-Authenticate` challenges, parsed as RFC 7235 auth-params.
//!
//! Registries answer an unauthenticated request with one or more challenges, e.g.
//! `Bearer realm="https://ghcr.io/token",service="ghcr.io",scope="repository:a/b:pull"`.
//! The scheme is case-insensitive, parameter names too, but values (the realm URL above
//! all) are kept exactly as sent. Quoted values may hold commas, which is why the header
//! cannot simply be split on them.

/// One challenge: a scheme and its parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// The scheme, lowercased (`bearer`, `basic`, ...).
    pub scheme: String,
    /// Parameters with lowercased names, values as sent.
    pub params: Vec<(String, String)>,
}

impl Challenge {
    /// The value of a parameter, by case-insensitive name.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Parses every challenge in one or more header values.
///
/// Malformed input never fails the parse: what cannot be read is skipped, and the caller
/// finds out when a challenge it needs (or its realm) is missing.
pub fn parse<'a>(values: impl IntoIterator<Item = &'a str>) -> Vec<Challenge> {
    let mut challenges = Vec::new();
    for value in values {
        parse_one(value, &mut challenges);
    }
    challenges
}

fn parse_one(text: &str, out: &mut Vec<Challenge>) {
    let mut p = Parser {
        text: text.as_bytes(),
        at: 0,
    };
    loop {
        p.skip(|b| b == b' ' || b == b'\t' || b == b',');
        if p.done() {
            return;
        }
        let Some(word) = p.token() else {
            // Not a token: skip one byte so a stray character cannot stall the loop.
            p.at += 1;
            continue;
        };
        let mark = p.at;
        p.skip(|b| b == b' ' || b == b'\t');

        // `name=value` continues the current challenge; a bare word starts a new one.
        // A token68 (e.g. `Basic dXNlcg==`) ends in '=' with no value after it.
        if p.peek() == Some(b'=') && p.value_follows() {
            p.at += 1;
            p.skip(|b| b == b' ' || b == b'\t');
            let value = p.value();
            match out.last_mut() {
                Some(current) => current.params.push((word.to_ascii_lowercase(), value)),
                None => continue,
            }
        } else {
            p.at = mark;
            out.push(Challenge {
                scheme: word.to_ascii_lowercase(),
                params: Vec::new(),
            });
            // Skip a token68 credential blob if one follows the scheme.
            p.skip(|b| b == b' ' || b == b'\t');
            let start = p.at;
            p.skip(|b| is_tchar(b) || b == b'/');
            p.skip(|b| b == b'=');
            let after = p.at;
            p.skip(|b| b == b' ' || b == b'\t');
            if !(p.done() || p.peek() == Some(b',')) || after == start {
                p.at = start;
            }
        }
    }
}

struct Parser<'a> {
    text: &'a [u8],
    at: usize,
}

impl Parser<'_> {
    fn done(&self) -> bool {
        self.at >= self.text.len()
    }

    fn peek(&self) -> Option<u8> {
        self.text.get(self.at).copied()
    }

    fn skip(&mut self, what: impl Fn(u8) -> bool) {
        while self.peek().is_some_and(&what) {
            self.at += 1;
        }
    }

    fn token(&mut self) -> Option<String> {
        let start = self.at;
        self.skip(is_tchar);
        (self.at > start).then(|| String::from_utf8_lossy(&self.text[start..self.at]).into_owned())
    }

    /// After '=': is there a quoted string or a token (rather than more '=' or the end)?
    fn value_follows(&self) -> bool {
        let mut i = self.at + 1;
        while matches!(self.text.get(i), Some(b' ' | b'\t')) {
            i += 1;
        }
        matches!(self.text.get(i), Some(&b) if b == b'"' || is_tchar(b))
    }

    fn value(&mut self) -> String {
        if self.peek() != Some(b'"') {
            return self.token().unwrap_or_default();
        }
        self.at += 1;
        let mut value = Vec::new();
        while let Some(b) = self.peek() {
            self.at += 1;
            match b {
                b'"' => break,
                b'\\' => {
                    if let Some(next) = self.peek() {
                        value.push(next);
                        self.at += 1;
                    }
                }
                _ => value.push(b),
            }
        }
        String::from_utf8_lossy(&value).into_owned()
    }
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(header: &str) -> Vec<Challenge> {
        parse([header])
    }

    #[test]
    fn reads_a_registry_bearer_challenge() {
        let c = one(
            r#"Bearer realm="https://ghcr.io/token",service="ghcr.io",scope="repository:a/b:pull""#,
        );
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].scheme, "bearer");
        assert_eq!(c[0].param("realm"), Some("https://ghcr.io/token"));
        assert_eq!(c[0].param("service"), Some("ghcr.io"));
        assert_eq!(c[0].param("scope"), Some("repository:a/b:pull"));
    }

    #[test]
    fn keeps_commas_inside_quotes_and_case_of_values() {
        let c = one(r#"BEARER Realm="https://Auth.Example/Token",scope="repository:x:pull,push""#);
        assert_eq!(c[0].scheme, "bearer");
        assert_eq!(c[0].param("realm"), Some("https://Auth.Example/Token"));
        assert_eq!(c[0].param("SCOPE"), Some("repository:x:pull,push"));
    }

    #[test]
    fn splits_several_challenges() {
        let c = one(r#"Basic realm="reg", Bearer realm="https://t/x", service="s""#);
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].scheme, "basic");
        assert_eq!(c[0].param("realm"), Some("reg"));
        assert_eq!(c[1].param("service"), Some("s"));
        let c = parse(["Basic realm=x", "bearer realm=\"https://t\""]);
        assert_eq!(
            c.iter().map(|c| c.scheme.as_str()).collect::<Vec<_>>(),
            ["basic", "bearer"]
        );
    }

    #[test]
    fn tolerates_spaces_escapes_and_token_values() {
        let c = one(
            r#"Bearer  realm = "https://t/a\"b" ,service=registry.local , error=insufficient_scope"#,
        );
        assert_eq!(c[0].param("realm"), Some(r#"https://t/a"b"#));
        assert_eq!(c[0].param("service"), Some("registry.local"));
        assert_eq!(c[0].param("error"), Some("insufficient_scope"));
    }

    #[test]
    fn skips_token68_and_bare_schemes() {
        let c = one("Negotiate abc123==, Basic");
        assert_eq!(
            c.iter().map(|c| c.scheme.as_str()).collect::<Vec<_>>(),
            ["negotiate", "basic"]
        );
        assert!(c[0].params.is_empty());
    }

    #[test]
    fn garbage_gives_no_usable_challenge() {
        for header in ["", ",,,", "=\"x\"", "\"unterminated"] {
            let c = one(header);
            assert!(
                c.iter().all(|c| c.param("realm").is_none()),
                "{header:?}: {c:?}"
            );
        }
    }
}
