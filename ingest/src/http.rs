//! Kraft's own HTTP clients (reqwest 0.13, and async-openai on it) and
//! their TLS. They use rustls with the *ring* provider, which the chat
//! platforms' crates (teloxide and serenity on reqwest 0.12,
//! tokio-tungstenite) build anyway, so no second crypto library (aws-lc, a
//! C build of several minutes) is compiled. reqwest is built without a
//! provider of its own and panics on first use unless one is installed:
//! every client is made here, after `install_tls`.

use std::sync::Once;

static TLS: Once = Once::new();

/// Makes ring the process's rustls provider, once. A provider installed
/// before (by an embedding program) is kept.
pub fn install_tls() {
    TLS.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// A reqwest client builder with TLS ready.
pub fn client_builder() -> reqwest::ClientBuilder {
    install_tls();
    reqwest::Client::builder()
}

/// A reqwest client with the defaults and TLS ready.
pub fn client() -> reqwest::Client {
    install_tls();
    reqwest::Client::new()
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_client_reaches_https_setup_without_a_second_provider() {
        // Building a client makes reqwest set up rustls; without a
        // provider it would panic here.
        let c = super::client_builder().build();
        assert!(c.is_ok(), "{c:?}");
        assert!(rustls::crypto::CryptoProvider::get_default().is_some());
    }
}
