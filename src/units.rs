//! Durations and byte sizes as the settings write them (`90s`, `1h30m`, `2d`; `16MB`), with
//! the serde readers the components' configurations deserialize them with.

use std::time::Duration;

use anyhow::{Context, bail};
use serde::{Deserialize, Deserializer};

/// Parses `16MB`, `512KB`, `1GB` (powers of 1024) or a bare number of bytes.
pub fn parse_bytes(text: &str) -> anyhow::Result<u64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: u64 = number
        .parse()
        .with_context(|| format!("invalid size {text:?}: expected e.g. 16MB, 512KB"))?;
    let factor: u64 = match unit.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 1,
        "K" | "KB" | "KIB" => 1 << 10,
        "M" | "MB" | "MIB" => 1 << 20,
        "G" | "GB" | "GIB" => 1 << 30,
        other => bail!("invalid size unit {other:?} in {text:?}: use B, KB, MB or GB"),
    };
    value
        .checked_mul(factor)
        .with_context(|| format!("size {text:?} is too large"))
}

/// The longest duration any setting accepts: ten years. Longer ones are typos (and would not
/// fit a date), so they are refused when the configuration is read, never later.
pub const MAX_DURATION: Duration = Duration::from_secs(3650 * 86400);

/// Parses a duration as humantime reads it (`90s`, `10m`, `1h30m`, `2d`, `250ms`) or a bare
/// number of seconds, at most [`MAX_DURATION`].
pub fn parse_duration(text: &str) -> anyhow::Result<Duration> {
    let text = text.trim();
    let parsed = if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        text.parse::<u64>()
            .map(Duration::from_secs)
            .map_err(|_| anyhow::anyhow!("number is too large"))
    } else {
        humantime::parse_duration(text).map_err(|e| match e {
            humantime::DurationError::NumberOverflow => anyhow::anyhow!("number is too large"),
            other => anyhow::anyhow!("{other}"),
        })
    };
    match parsed {
        Ok(duration) if duration <= MAX_DURATION => Ok(duration),
        Ok(_) => bail!("duration {text:?} is longer than ten years: use at most 3650d"),
        Err(reason) => bail!(
            "invalid duration {text:?} ({reason}): use e.g. 30s, 10m, 1h30m or 2d (at most 3650d)"
        ),
    }
}

/// Reads a duration written as [`parse_duration`] reads it (`deserialize_with`).
pub fn deserialize_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(d)?;
    parse_duration(&text).map_err(|e| serde::de::Error::custom(format!("{e:#}")))
}

/// Reads a size written as [`parse_bytes`] reads it (`deserialize_with`).
pub fn deserialize_bytes<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    let text = String::deserialize(d)?;
    parse_bytes(&text).map_err(|e| serde::de::Error::custom(format!("{e:#}")))
}
