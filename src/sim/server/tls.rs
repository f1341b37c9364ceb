//! TLS for the simulators (`sitrep sim --tls`): a throwaway certificate authority and a server
//! certificate for 127.0.0.1 / localhost, made at start, so that clients which hard-code
//! `https://` (the vendors' own SDKs) can talk to a simulator unchanged, trusting the CA's
//! PEM (`REQUESTS_CA_BUNDLE`, or reqwest's `add_root_certificate`).
//!
//! A CA plus a leaf rather than one self-signed leaf: strict verifiers (Python 3.13's
//! `VERIFY_X509_STRICT`) refuse a leaf that is its own trust anchor.
//! Handshakes run in their own tasks, so one slow or silent client cannot stall the others.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose,
};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::server::TlsStream;

/// How long a client may take to finish its handshake before the connection is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A server identity made for one run.
pub struct Identity {
    /// The CA certificate a client must trust (PEM).
    pub ca_pem: String,
    acceptor: TlsAcceptor,
}

/// Make a CA and a server certificate for 127.0.0.1 and localhost, signed by it.
pub fn identity() -> Result<Identity, String> {
    let e = |what: &str, err: &dyn std::fmt::Display| format!("cannot make the {what}: {err}");
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(|x| e("CA", &x))?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "sitrep simulator CA");
    ca_params.distinguished_name = dn;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_key = KeyPair::generate().map_err(|x| e("CA key", &x))?;
    let ca = CertifiedIssuer::self_signed(ca_params, ca_key).map_err(|x| e("CA", &x))?;

    let mut leaf_params =
        CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
            .map_err(|x| e("server certificate", &x))?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "127.0.0.1");
    leaf_params.distinguished_name = dn;
    leaf_params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    leaf_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    leaf_params.use_authority_key_identifier_extension = true;
    let leaf_key = KeyPair::generate().map_err(|x| e("server key", &x))?;
    let leaf = leaf_params
        .signed_by(&leaf_key, &ca)
        .map_err(|x| e("server certificate", &x))?;

    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
    let provider = Arc::new(tokio_rustls::rustls::crypto::aws_lc_rs::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|x| e("TLS configuration", &x))?
        .with_no_client_auth()
        .with_single_cert(vec![leaf.der().clone(), ca.der().clone()], key)
        .map_err(|x| e("TLS configuration", &x))?;
    Ok(Identity {
        ca_pem: ca.pem(),
        acceptor: TlsAcceptor::from(Arc::new(config)),
    })
}

/// A listener handing axum connections whose TLS handshake has completed.
pub struct TlsListener {
    ready: tokio::sync::mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    addr: SocketAddr,
    accepting: tokio::task::JoinHandle<()>,
}

impl TlsListener {
    pub fn new(tcp: TcpListener, identity: &Identity) -> std::io::Result<TlsListener> {
        let addr = tcp.local_addr()?;
        let (tx, ready) = tokio::sync::mpsc::channel(64);
        let acceptor = identity.acceptor.clone();
        let accepting = tokio::spawn(async move {
            loop {
                let (stream, peer) = match tcp.accept().await {
                    Ok(c) => c,
                    Err(err) => {
                        // Out of file descriptors and the like: wait, as axum's own loop does.
                        tracing::debug!(%err, "simulator accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let acceptor = acceptor.clone();
                let tx = tx.clone();
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => {
                            let _ = tx.send((tls, peer)).await;
                        }
                        Ok(Err(err)) => tracing::debug!(%err, "simulator TLS handshake failed"),
                        Err(_) => tracing::debug!("simulator TLS handshake timed out"),
                    }
                });
            }
        });
        Ok(TlsListener {
            ready,
            addr,
            accepting,
        })
    }
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        self.accepting.abort();
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(c) => c,
            // The accept task is gone (only when the listener is being dropped).
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.addr)
    }
}
