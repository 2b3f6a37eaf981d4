//! Hashing through the host (`assay:plugin/host.sha256`).
//!
//! Inside a component the host computes the digest natively, using the
//! CPU's SHA instructions that WebAssembly cannot reach; natively (in unit
//! tests) the `sha2` crate does. Both give the same bytes.

/// The SHA-256 digest of `data`.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    imp::sha256(data)
}

#[cfg(all(
    target_arch = "wasm32",
    any(feature = "validator", feature = "probe", feature = "router")
))]
mod imp {
    use crate::bindings::host as h;

    pub(super) fn sha256(data: &[u8]) -> [u8; 32] {
        let out = h::sha256(data);
        let mut digest = [0u8; 32];
        digest.copy_from_slice(&out);
        digest
    }
}

#[cfg(not(target_arch = "wasm32"))]
mod imp {
    use sha2::{Digest, Sha256};

    pub(super) fn sha256(data: &[u8]) -> [u8; 32] {
        Sha256::digest(data).into()
    }
}

#[cfg(all(
    target_arch = "wasm32",
    not(any(feature = "validator", feature = "probe", feature = "router"))
))]
mod imp {
    pub(super) fn sha256(_: &[u8]) -> [u8; 32] {
        panic!(
            "assay_plugin_sdk::digest::sha256 needs one of the features validator, probe or router"
        )
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn sha256_of_abc() {
        assert_eq!(
            super::sha256(b"abc")
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
