//! Qimen request signing: md5, hmac (HMAC-MD5) and hmac-sha256 over the sorted parameters.
//!
//! Shared by the client, which signs, and the fake gateway, which checks.

use hmac::{Hmac, Mac};
use md5::{Digest, Md5};
use sha2::Sha256;

use crate::secret::Secret;

/// How a request is signed (`sign_method`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
pub enum SignMethod {
    #[default]
    #[serde(rename = "md5")]
    Md5,
    #[serde(rename = "hmac")]
    HmacMd5,
    #[serde(rename = "hmac-sha256")]
    HmacSha256,
}

impl SignMethod {
    /// The value of the `sign_method` parameter.
    pub fn as_param(self) -> &'static str {
        match self {
            SignMethod::Md5 => "md5",
            SignMethod::HmacMd5 => "hmac",
            SignMethod::HmacSha256 => "hmac-sha256",
        }
    }

    /// Parses a `sign_method` value; `None` for anything the gateway does not know.
    pub fn from_param(value: &str) -> Option<Self> {
        match value {
            "md5" => Some(SignMethod::Md5),
            "hmac" => Some(SignMethod::HmacMd5),
            "hmac-sha256" => Some(SignMethod::HmacSha256),
            _ => None,
        }
    }
}

impl std::str::FromStr for SignMethod {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SignMethod::from_param(s)
            .ok_or_else(|| format!("unknown sign method {s:?}: expected md5, hmac or hmac-sha256"))
    }
}

/// The string that is signed: every parameter except `sign` with a non-empty value, sorted by
/// key in byte order, concatenated as `key1value1key2value2…`.
pub fn string_to_sign<'a>(params: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut kept: Vec<(&str, &str)> = params
        .into_iter()
        .filter(|(key, value)| *key != "sign" && !value.is_empty())
        .collect();
    kept.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let mut out = String::new();
    for (key, value) in kept {
        out.push_str(key);
        out.push_str(value);
    }
    out
}

/// The upper-case hex signature of `params` (the `sign` parameter, if present, is ignored).
pub fn sign<'a>(
    params: impl IntoIterator<Item = (&'a str, &'a str)>,
    secret: &Secret,
    method: SignMethod,
) -> String {
    let payload = string_to_sign(params);
    let key = secret.expose().as_bytes();
    let digest: Vec<u8> = match method {
        SignMethod::Md5 => {
            let mut hasher = Md5::new();
            hasher.update(key);
            hasher.update(payload.as_bytes());
            hasher.update(key);
            hasher.finalize().to_vec()
        }
        SignMethod::HmacMd5 => {
            let mut mac = Hmac::<Md5>::new_from_slice(key).expect("HMAC takes a key of any length");
            mac.update(payload.as_bytes());
            mac.finalize().into_bytes().to_vec()
        }
        SignMethod::HmacSha256 => {
            let mut mac =
                Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes a key of any length");
            mac.update(payload.as_bytes());
            mac.finalize().into_bytes().to_vec()
        }
    };
    hex::encode_upper(digest)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order_list_params() -> Vec<(&'static str, &'static str)> {
        vec![
            ("app_key", "12345678"),
            ("customer_id", "10969016"),
            ("end_time", "2024-05-07 00:00:00"),
            ("format", "json"),
            ("method", "jushuitan.order.list.query"),
            ("page_index", "1"),
            ("page_size", "50"),
            ("start_time", "2024-05-01 00:00:00"),
            ("target_app_key", "23060081"),
            ("timestamp", "2024-05-07 12:00:00"),
            ("v", "2.0"),
        ]
    }

    fn check(extra: &[(&'static str, &'static str)], method: SignMethod, expected: &str) {
        let mut params = order_list_params();
        params.push(("sign_method", method.as_param()));
        params.extend_from_slice(extra);
        let secret = Secret::new("helloworld");
        assert_eq!(sign(params.iter().copied(), &secret, method), expected);
    }

    #[test]
    fn taobao_published_example_signs_as_documented() {
        let params = [
            ("app_key", "12345678"),
            ("fields", "num_iid,title,nick,price,num"),
            ("format", "json"),
            ("method", "taobao.item.seller.get"),
            ("num_iid", "11223344"),
            ("session", "test"),
            ("sign_method", "md5"),
            ("timestamp", "2016-01-01 12:00:00"),
            ("v", "2.0"),
        ];
        let signature = sign(params, &Secret::new("helloworld"), SignMethod::Md5);
        assert_eq!(signature, "66987CB115214E59E6EC978214934FB8");
    }

    #[test]
    fn order_list_md5_vector() {
        check(&[], SignMethod::Md5, "CABEFDDCAEF5DCA6930ACCB340054AD4");
    }

    #[test]
    fn empty_session_does_not_change_the_signature() {
        check(
            &[("session", "")],
            SignMethod::Md5,
            "CABEFDDCAEF5DCA6930ACCB340054AD4",
        );
    }

    #[test]
    fn order_list_hmac_md5_vector() {
        check(&[], SignMethod::HmacMd5, "58D24B0FE8B663CC6FC57C8A1C6FD393");
    }

    #[test]
    fn order_list_hmac_sha256_vector() {
        check(
            &[],
            SignMethod::HmacSha256,
            "21FD34A73CD0B7C2220308E1AA856AF96D902E9021E2A4A4B3C946712997C2A2",
        );
    }

    #[test]
    fn list_valued_parameters_sign_as_comma_separated_strings() {
        check(
            &[
                ("status", "Sent"),
                ("so_ids", "3168479786331150357,3168890472371444265"),
            ],
            SignMethod::Md5,
            "2FD5F3579A5E786704BFE4A6533D8A34",
        );
    }

    #[test]
    fn an_existing_sign_parameter_is_ignored() {
        check(
            &[("sign", "WHATEVER")],
            SignMethod::Md5,
            "CABEFDDCAEF5DCA6930ACCB340054AD4",
        );
    }
}
