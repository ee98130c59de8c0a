//! TLS through rustls (ring provider): the client configuration, the
//! certificate option parsing, the "accept anything" verifier behind the
//! loudly named opt-out, and the socket that is plain or TLS.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore, StreamOwned};

use super::error::NativeError;
use super::options::Options;

/// Parses PEM (one or more certificates) or DER into DER certificates,
/// each checked to be usable as a trust anchor (so that garbage is refused
/// here, not at the first connection).
pub(crate) fn parse_certificates(bytes: &[u8]) -> Result<Vec<Vec<u8>>, NativeError> {
    let certs = split_certificates(bytes)?;
    for der in &certs {
        RootCertStore::empty()
            .add(CertificateDer::from(der.as_slice()))
            .map_err(|e| NativeError::InvalidOptions(format!("bad root certificate: {e}")))?;
    }
    Ok(certs)
}

fn split_certificates(bytes: &[u8]) -> Result<Vec<Vec<u8>>, NativeError> {
    let is_pem = bytes
        .windows(b"-----BEGIN".len())
        .any(|w| w == b"-----BEGIN");
    if !is_pem {
        if bytes.is_empty() {
            return Err(NativeError::InvalidOptions("empty certificate".into()));
        }
        return Ok(vec![bytes.to_vec()]);
    }
    let mut out = Vec::new();
    for cert in CertificateDer::pem_slice_iter(bytes) {
        let cert =
            cert.map_err(|e| NativeError::InvalidOptions(format!("bad PEM certificate: {e}")))?;
        out.push(cert.to_vec());
    }
    if out.is_empty() {
        return Err(NativeError::InvalidOptions(
            "no CERTIFICATE block in the PEM".into(),
        ));
    }
    Ok(out)
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The rustls client configuration for these options: webpki roots plus the
/// added ones, or no verification at all with the danger opt-out.
pub(crate) fn client_config(o: &Options) -> Result<Arc<ClientConfig>, NativeError> {
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| NativeError::Tls(e.to_string()))?;
    let config = if o.danger_accept_invalid_certs {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(provider())))
            .with_no_client_auth()
    } else {
        let mut roots = RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        for der in &o.root_certificates {
            roots
                .add(CertificateDer::from(der.clone()))
                .map_err(|e| NativeError::InvalidOptions(format!("bad root certificate: {e}")))?;
        }
        builder.with_root_certificates(roots).with_no_client_auth()
    };
    Ok(Arc::new(config))
}

/// The rustls configuration of one client, built on first use.
#[derive(Default)]
pub(crate) struct ConfigCache(Option<Arc<ClientConfig>>);

impl ConfigCache {
    /// The configuration for these options (built once).
    pub(crate) fn get(&mut self, o: &Options) -> Result<Arc<ClientConfig>, NativeError> {
        if let Some(c) = &self.0 {
            return Ok(Arc::clone(c));
        }
        let c = client_config(o)?;
        self.0 = Some(Arc::clone(&c));
        Ok(c)
    }
}

/// The server name rustls verifies the certificate against (and sends as
/// SNI when it is a DNS name).
pub(crate) fn server_name(host: &str) -> Result<ServerName<'static>, NativeError> {
    ServerName::try_from(host.to_string())
        .map_err(|e| NativeError::InvalidOptions(format!("bad TLS server name {host:?}: {e}")))
}

/// DANGER: the verifier of [`Options::danger_accept_invalid_certs`].
#[derive(Debug)]
struct AcceptAnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// The connection: plain TCP or TLS over TCP.
pub(crate) enum Stream {
    /// Plain TCP.
    Plain(TcpStream),
    /// TLS over TCP.
    Tls(Box<StreamOwned<ClientConnection, DeadlineSock>>),
}

/// The socket under TLS, with a deadline for reads. rustls reads the socket
/// as often as it takes to decrypt a whole record within one `read` (and
/// to finish a handshake), so a socket timeout alone bounds each of those
/// reads, not their sum: a server dripping a record one octet per almost a
/// timeout could hold a read for hours. Each socket read here waits at most
/// until the deadline, and none starts after it (`TimedOut`).
pub(crate) struct DeadlineSock {
    tcp: TcpStream,
    deadline: Option<Instant>,
}

impl Read for DeadlineSock {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(deadline) = self.deadline {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(io::Error::from(io::ErrorKind::TimedOut));
            }
            self.tcp.set_read_timeout(Some(left))?;
        }
        self.tcp.read(buf)
    }
}

impl Write for DeadlineSock {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.tcp.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.tcp.flush()
    }
}

impl Stream {
    /// The TCP socket underneath.
    pub(crate) fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(s) => s,
            Stream::Tls(t) => &t.sock.tcp,
        }
    }

    /// Bounds the next read to `wait` in all (plain TCP: the socket's read
    /// timeout; TLS: a deadline over every socket read it takes).
    pub(crate) fn set_read_wait(&mut self, wait: Duration) {
        let _ = self.tcp().set_read_timeout(Some(wait));
        if let Stream::Tls(t) = self {
            t.sock.deadline = Some(Instant::now() + wait);
        }
    }

    /// Lifts the deadline of `set_read_wait` (before non-blocking reads).
    pub(crate) fn clear_read_wait(&mut self) {
        if let Stream::Tls(t) = self {
            t.sock.deadline = None;
        }
    }

    /// Wraps a plain socket in TLS and completes the handshake within
    /// `timeout`. A TLS stream cannot be wrapped again.
    pub(crate) fn into_tls(
        self,
        config: Arc<ClientConfig>,
        name: ServerName<'static>,
        timeout: Duration,
    ) -> Result<Stream, NativeError> {
        let sock = match self {
            Stream::Plain(s) => s,
            Stream::Tls(_) => return Err(NativeError::Tls("the link is already TLS".into())),
        };
        let conn =
            ClientConnection::new(config, name).map_err(|e| NativeError::Tls(e.to_string()))?;
        let start = Instant::now();
        let sock = DeadlineSock {
            tcp: sock,
            deadline: Some(start + timeout),
        };
        let mut tls = StreamOwned::new(conn, sock);
        while tls.conn.is_handshaking() {
            match tls.conn.complete_io(&mut tls.sock) {
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    if start.elapsed() >= timeout {
                        return Err(NativeError::Tls("the handshake timed out".into()));
                    }
                }
                Err(e) => return Err(NativeError::Tls(tls_io_message(&e))),
            }
        }
        tls.sock.deadline = None;
        Ok(Stream::Tls(Box::new(tls)))
    }

    /// Shuts down TLS politely (close_notify) and the socket, ignoring errors.
    pub(crate) fn shutdown(&mut self) {
        if let Stream::Tls(t) = self {
            t.sock.deadline = None;
            t.conn.send_close_notify();
            let _ = t.conn.complete_io(&mut t.sock);
        }
        let _ = self.tcp().shutdown(std::net::Shutdown::Both);
    }
}

/// The message of a TLS I/O error (rustls wraps its errors in io::Error).
pub(crate) fn tls_io_message(e: &io::Error) -> String {
    match e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        Some(tls) => tls.to_string(),
        None if e.kind() == io::ErrorKind::UnexpectedEof => {
            "the server closed the connection during the handshake".into()
        }
        None => e.to_string(),
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls(t) => t.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(t) => t.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(t) => t.flush(),
        }
    }
}
