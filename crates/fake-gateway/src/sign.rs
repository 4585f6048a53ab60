//! The gateway's own check of a request's `sign`, written from the protocol document and not
//! shared with jst-sync's client, so that the fake checks the client independently.
//!
//! Every parameter but `sign` whose value is not empty, sorted by key in byte order, joined as
//! `key1value1key2value2…` with raw UTF-8 values; `md5`: MD5(secret + s + secret); `hmac`:
//! HMAC-MD5(secret, s); `hmac-sha256`: HMAC-SHA256(secret, s); upper-case hex.

use hmac::{Hmac, Mac};
use md5::{Digest, Md5};
use sha2::Sha256;

use crate::secret::Secret;

/// `sign_method` as the gateway accepts it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SignMethod {
    #[default]
    Md5,
    HmacMd5,
    HmacSha256,
}

impl SignMethod {
    /// `md5`, `hmac`, `hmac-sha256`; anything else is not a method the gateway knows.
    pub fn from_param(text: &str) -> Option<Self> {
        match text {
            "md5" => Some(Self::Md5),
            "hmac" => Some(Self::HmacMd5),
            "hmac-sha256" => Some(Self::HmacSha256),
            _ => None,
        }
    }

    pub fn as_param(self) -> &'static str {
        match self {
            Self::Md5 => "md5",
            Self::HmacMd5 => "hmac",
            Self::HmacSha256 => "hmac-sha256",
        }
    }
}

/// The `sign` of `params` (any order; `sign` itself and empty values are left out).
pub fn sign<'a>(
    params: impl IntoIterator<Item = (&'a str, &'a str)>,
    secret: &Secret,
    method: SignMethod,
) -> String {
    let mut pairs: Vec<(&str, &str)> = params
        .into_iter()
        .filter(|(key, value)| *key != "sign" && !value.is_empty())
        .collect();
    pairs.sort_unstable();
    let mut text = Vec::new();
    for (key, value) in pairs {
        text.extend_from_slice(key.as_bytes());
        text.extend_from_slice(value.as_bytes());
    }
    let secret = secret.expose().as_bytes();
    let digest = match method {
        SignMethod::Md5 => {
            let mut md5 = Md5::new();
            md5.update(secret);
            md5.update(&text);
            md5.update(secret);
            md5.finalize().to_vec()
        }
        SignMethod::HmacMd5 => {
            let mut mac = Hmac::<Md5>::new_from_slice(secret).expect("HMAC takes any key");
            mac.update(&text);
            mac.finalize().into_bytes().to_vec()
        }
        SignMethod::HmacSha256 => {
            let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key");
            mac.update(&text);
            mac.finalize().into_bytes().to_vec()
        }
    };
    hex::encode_upper(digest)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order_list(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
        let mut params = vec![
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
        ];
        params.extend_from_slice(extra);
        params
    }

    #[test]
    fn the_protocol_documents_vectors_hold() {
        let secret = Secret::new("helloworld");
        let taobao = [
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
        assert_eq!(
            sign(taobao, &secret, SignMethod::Md5),
            "66987CB115214E59E6EC978214934FB8"
        );
        let md5 = order_list(&[("sign_method", "md5"), ("session", "")]);
        assert_eq!(
            sign(md5, &secret, SignMethod::Md5),
            "CABEFDDCAEF5DCA6930ACCB340054AD4"
        );
        let hmac = order_list(&[("sign_method", "hmac")]);
        assert_eq!(
            sign(hmac, &secret, SignMethod::HmacMd5),
            "58D24B0FE8B663CC6FC57C8A1C6FD393"
        );
        let sha = order_list(&[("sign_method", "hmac-sha256")]);
        assert_eq!(
            sign(sha, &secret, SignMethod::HmacSha256),
            "21FD34A73CD0B7C2220308E1AA856AF96D902E9021E2A4A4B3C946712997C2A2"
        );
        let filtered = order_list(&[
            ("sign_method", "md5"),
            ("status", "Sent"),
            ("so_ids", "3168479786331150357,3168890472371444265"),
        ]);
        assert_eq!(
            sign(filtered, &secret, SignMethod::Md5),
            "2FD5F3579A5E786704BFE4A6533D8A34"
        );
    }
}
