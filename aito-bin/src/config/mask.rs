//! Credentials inside URLs, masked wherever the configuration is shown: in
//! `scheme://user:password@host` the password becomes `***` (a lone user-info, which some
//! tools take as the password, too), and so does the value of every query parameter whose
//! name says it is a secret (`token`, `api_key`, `sig`, ...). Text around the URLs is kept.

/// Query parameter names (lowercase, as substrings) whose values are secrets.
const SECRET_PARAMETERS: &[&str] = &[
    "token",
    "key",
    "secret",
    "password",
    "passwd",
    "pwd",
    "sig",
    "auth",
    "credential",
    "session",
];

/// `text` with the credentials of every URL in it masked.
pub(crate) fn mask_urls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        // The scheme: the letters, digits and `+-.` right before `://`.
        let scheme_start = rest[..at]
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
            .map_or(0, |index| index + 1);
        if scheme_start == at {
            out.push_str(&rest[..at + 3]);
            rest = &rest[at + 3..];
            continue;
        }
        out.push_str(&rest[..at + 3]);
        let after = &rest[at + 3..];
        let end = after
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '<' | '>' | '`'))
            .unwrap_or(after.len());
        out.push_str(&mask_one(&after[..end]));
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

/// Masks one URL after its `scheme://`.
fn mask_one(url: &str) -> String {
    let authority_end = url.find(['/', '?', '#']).unwrap_or(url.len());
    let mut out = String::with_capacity(url.len());
    match url[..authority_end].rfind('@') {
        Some(at) => {
            let userinfo = &url[..at];
            match userinfo.split_once(':') {
                Some((user, _password)) => {
                    out.push_str(user);
                    out.push_str(":***");
                }
                None if userinfo.is_empty() => {}
                None => out.push_str("***"),
            }
            out.push_str(&url[at..authority_end]);
        }
        None => out.push_str(&url[..authority_end]),
    }
    let tail = &url[authority_end..];
    let Some(query_at) = tail.find('?') else {
        out.push_str(tail);
        return out;
    };
    out.push_str(&tail[..=query_at]);
    let query_and_fragment = &tail[query_at + 1..];
    let (query, fragment) = match query_and_fragment.find('#') {
        Some(hash) => query_and_fragment.split_at(hash),
        None => (query_and_fragment, ""),
    };
    let pairs: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, _value)) if is_secret(name) => format!("{name}=***"),
            _ => pair.to_owned(),
        })
        .collect();
    out.push_str(&pairs.join("&"));
    out.push_str(fragment);
    out
}

fn is_secret(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    SECRET_PARAMETERS.iter().any(|secret| name.contains(secret))
}

/// Masks the URLs in every string of a TOML value, recursively.
pub(crate) fn mask_value(value: &mut toml::Value) {
    match value {
        toml::Value::String(text) if text.contains("://") => *text = mask_urls(text),
        toml::Value::Array(items) => items.iter_mut().for_each(mask_value),
        toml::Value::Table(table) => table.iter_mut().for_each(|(_, item)| mask_value(item)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_and_secret_parameters_are_masked_in_every_url() {
        for (text, shown) in [
            (
                "https://bot:ghp_s3cret@mcp.example.com/v1",
                "https://bot:***@mcp.example.com/v1",
            ),
            ("redis://s3cret@cache:6379", "redis://***@cache:6379"),
            (
                "https://hooks.example/x?token=s3cret&team=a#top",
                "https://hooks.example/x?token=***&team=a#top",
            ),
            (
                "https://h.example/?api_key=s3cret&X-Amz-Signature=s3cret",
                "https://h.example/?api_key=***&X-Amz-Signature=***",
            ),
            (
                "--db postgres://app:s3cret@db/app --verbose",
                "--db postgres://app:***@db/app --verbose",
            ),
            ("https://example.com/path", "https://example.com/path"),
            ("no url here", "no url here"),
            ("://odd", "://odd"),
        ] {
            let masked = mask_urls(text);
            assert_eq!(masked, shown);
            assert!(!masked.contains("s3cret"), "{masked}");
        }
    }
}
