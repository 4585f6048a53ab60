//! An error and its causes as one line, each said once: `what failed: why: what to do`.
//!
//! Like anyhow's `{:#}`, but a cause whose text its parent already shows (an `#[error]` that
//! prints its `#[source]` as well as marking it) is not printed a second time.

use std::error::Error;

/// `error` and its causes on one line.
pub fn chain(error: &anyhow::Error) -> String {
    join(error.chain())
}

/// A standard error and its causes on one line.
pub fn chain_of(error: &(dyn Error + 'static)) -> String {
    join(std::iter::successors(Some(error), |&e| e.source()))
}

fn join<'a>(errors: impl Iterator<Item = &'a (dyn Error + 'static)>) -> String {
    let mut line = String::new();
    for error in errors {
        let text = error.to_string();
        if text.is_empty() || line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("pulling window W failed: {source}")]
    struct Repeats {
        #[source]
        source: std::io::Error,
    }

    #[derive(Debug, thiserror::Error)]
    #[error("cannot open staging file F")]
    struct Marks {
        #[source]
        source: std::io::Error,
    }

    #[test]
    fn each_cause_is_said_once_whether_its_parent_repeats_it_or_not() {
        let io = || std::io::Error::other("disk full");
        assert_eq!(
            chain_of(&Repeats { source: io() }),
            "pulling window W failed: disk full"
        );
        assert_eq!(
            chain_of(&Marks { source: io() }),
            "cannot open staging file F: disk full"
        );
        let error = anyhow::Error::new(Repeats { source: io() }).context("JST_X");
        assert_eq!(chain(&error), "JST_X: pulling window W failed: disk full");
    }
}
