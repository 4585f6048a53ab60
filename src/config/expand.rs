//! `${VAR}` and `${VAR:-default}` in the TOML file's strings, replaced from the environment
//! after the file is parsed (so a value holding quotes or newlines cannot break the TOML).

use anyhow::bail;

/// Expands every string in `value` (tables and arrays walked), naming the key of a problem.
pub(super) fn expand_value(
    value: &mut toml::Value,
    key: &str,
    env: &impl Fn(&str) -> Option<String>,
) -> anyhow::Result<()> {
    match value {
        toml::Value::String(text) => *text = expand(text, key, env)?,
        toml::Value::Array(items) => {
            for (index, item) in items.iter_mut().enumerate() {
                expand_value(item, &format!("{key}[{index}]"), env)?;
            }
        }
        toml::Value::Table(table) => {
            for (name, item) in table.iter_mut() {
                let path = if key.is_empty() {
                    name.clone()
                } else {
                    format!("{key}.{name}")
                };
                expand_value(item, &path, env)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// `text` with `${VAR}` replaced by the variable (an error when it is unset or empty),
/// `${VAR:-default}` by the variable or, when it is unset or empty, `default`; `$${` is a
/// literal `${`.
pub(super) fn expand(
    text: &str,
    key: &str,
    env: &impl Fn(&str) -> Option<String>,
) -> anyhow::Result<String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at..];
        if let Some(tail) = after.strip_prefix("$${") {
            out.push_str("${");
            rest = tail;
            continue;
        }
        let Some(body_start) = after.strip_prefix("${") else {
            out.push('$');
            rest = &after[1..];
            continue;
        };
        let Some(end) = body_start.find('}') else {
            bail!("{key}: `${{` without a closing `}}` (write `$${{` for a literal `${{`)");
        };
        let body = &body_start[..end];
        let (name, default) = match body.split_once(":-") {
            Some((name, default)) => (name, Some(default)),
            None => (body, None),
        };
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            bail!("{key}: `${{{body}}}` is not a variable name (letters, digits and _)");
        }
        match (env(name).filter(|v| !v.is_empty()), default) {
            (Some(value), _) => out.push_str(&value),
            (None, Some(default)) => out.push_str(default),
            (None, None) => bail!(
                "{key}: the environment variable {name} is not set (or give a default: \
                 `${{{name}:-value}}`)"
            ),
        }
        rest = &body_start[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Whether `text` is nothing but references (`${A}`, `${A}${B}`): then the file does not hold
/// the value itself.
pub(super) fn only_references(text: &str) -> bool {
    let mut rest = text.trim();
    if rest.is_empty() {
        return false;
    }
    while !rest.is_empty() {
        let Some(body) = rest.strip_prefix("${") else {
            return false;
        };
        let Some(end) = body.find('}') else {
            return false;
        };
        if body[..end].contains(":-") {
            // A default written in the file is a value the file holds.
            return false;
        }
        rest = &body[end + 1..];
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "HOST" => Some("db.internal".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn references_are_replaced_and_defaults_fill_unset_or_empty_variables() {
        let cases = [
            ("mysql://u@${HOST}:3306/bi", "mysql://u@db.internal:3306/bi"),
            ("${MISSING:-fallback}", "fallback"),
            ("${EMPTY:-fallback}", "fallback"),
            ("${HOST:-unused}", "db.internal"),
            ("${MISSING:-}", ""),
            ("price $5 and $${HOST}", "price $5 and ${HOST}"),
            ("no references", "no references"),
        ];
        for (text, expanded) in cases {
            assert_eq!(expand(text, "k", &env).unwrap(), expanded, "{text}");
        }
    }

    #[test]
    fn an_unset_variable_without_a_default_names_the_key_and_the_variable() {
        let error = expand("${MISSING}", "qimen.app_secret", &env).unwrap_err();
        let text = error.to_string();
        assert!(
            text.contains("qimen.app_secret") && text.contains("MISSING"),
            "{text}"
        );
        assert!(expand("${UNCLOSED", "k", &env).is_err());
        assert!(expand("${bad name}", "k", &env).is_err());
    }

    #[test]
    fn a_value_made_only_of_references_is_not_held_by_the_file() {
        assert!(only_references("${JST_SECRET}"));
        assert!(only_references("${A}${B}"));
        assert!(!only_references("literal"));
        assert!(!only_references("pre-${A}"));
        assert!(!only_references("${A:-literal}"));
    }
}
