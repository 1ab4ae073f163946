//! A token server for the registry's bearer-token authentication, so that the anonymous token
//! flow (`401` with `WWW-Authenticate: Bearer realm=...`, then a token from the realm) runs
//! against the real registry.
//!
//! The token is a JWT signed with a throw-away RSA key (`openssl`), whose self-signed
//! certificate is the registry's `rootcertbundle` and travels in the token's `x5c` header. It
//! grants pull and push on one repository. The server hands it to anyone who asks and records
//! each request line and whether it carried credentials.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// One request the token server saw.
#[derive(Clone, Debug)]
pub struct TokenRequest {
    /// `GET /token?scope=...&service=... HTTP/1.1`.
    pub line: String,
    /// Whether it had an `Authorization` header.
    pub authorized: bool,
}

/// A running token server.
pub struct TokenServer {
    port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    /// What it was asked.
    pub requests: Arc<Mutex<Vec<TokenRequest>>>,
    /// The registry's `auth:` section for this server.
    pub registry_auth: String,
}

const SERVICE: &str = "berth-test-registry";
const ISSUER: &str = "berth-test-issuer";

fn openssl(args: &[&str], dir: &Path) -> Vec<u8> {
    let output = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("running openssl");
    assert!(
        output.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

fn base64(data: &[u8], url: bool) -> String {
    let alphabet: &[u8; 64] = if url {
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    } else {
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    };
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(alphabet[((n >> (18 - 6 * i)) & 63) as usize]));
            } else if !url {
                out.push('=');
            }
        }
    }
    out
}

/// Makes a signed token granting `actions` on `repository`; returns it and the certificate.
fn make_token(dir: &Path, repository: &str) -> (String, PathBuf) {
    openssl(
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "key.pem",
            "-out",
            "cert.pem",
            "-days",
            "2",
            "-subj",
            "/CN=berth-test-token",
        ],
        dir,
    );
    let der = openssl(&["x509", "-in", "cert.pem", "-outform", "DER"], dir);
    let header = serde_json::json!({"typ": "JWT", "alg": "RS256", "x5c": [base64(&der, false)]});
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let claims = serde_json::json!({
        "iss": ISSUER,
        "sub": "",
        "aud": SERVICE,
        "exp": now + 3600,
        "nbf": now - 60,
        "iat": now - 60,
        "jti": format!("berth-{now}"),
        "access": [{"type": "repository", "name": repository, "actions": ["pull", "push"]}],
    });
    let signing_input = format!(
        "{}.{}",
        base64(header.to_string().as_bytes(), true),
        base64(claims.to_string().as_bytes(), true)
    );
    std::fs::write(dir.join("input"), &signing_input).expect("signing input");
    let signature = openssl(&["dgst", "-sha256", "-sign", "key.pem", "input"], dir);
    (
        format!("{signing_input}.{}", base64(&signature, true)),
        dir.join("cert.pem"),
    )
}

impl TokenServer {
    /// Starts a token server for `repository`, keeping its files in `dir`.
    pub fn start(dir: &Path, repository: &str) -> TokenServer {
        let (token, cert) = make_token(dir, repository);
        let listener = TcpListener::bind("127.0.0.1:0").expect("token server socket");
        let port = listener.local_addr().expect("address").port();
        let stop = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let thread = {
            let (stop, requests) = (Arc::clone(&stop), Arc::clone(&requests));
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    if let Ok(stream) = stream {
                        serve(stream, &token, &requests);
                    }
                }
            })
        };
        let registry_auth = format!(
            "  token:\n    realm: http://127.0.0.1:{port}/token\n    service: {SERVICE}\n    issuer: {ISSUER}\n    rootcertbundle: {}\n",
            cert.display()
        );
        TokenServer {
            port,
            stop,
            thread: Some(thread),
            requests,
            registry_auth,
        }
    }
}

fn serve(stream: TcpStream, token: &str, requests: &Mutex<Vec<TokenRequest>>) {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let mut authorized = false;
    loop {
        let mut header = String::new();
        match reader.read_line(&mut header) {
            Ok(0) | Err(_) => break,
            Ok(_) if header.trim().is_empty() => break,
            Ok(_) => authorized |= header.to_ascii_lowercase().starts_with("authorization:"),
        }
    }
    requests.lock().expect("requests").push(TokenRequest {
        line: line.trim().to_owned(),
        authorized,
    });
    let body =
        serde_json::json!({"token": token, "access_token": token, "expires_in": 3600}).to_string();
    let response = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = reader.get_mut().write_all(response.as_bytes());
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so that it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
