//! `stoa serve --acme DOMAIN` against a real ACME server: Debian's pebble, with pebble-challtestsrv as its
//! DNS (every name is 127.0.0.1). The certificate is obtained by the HTTP-01 challenge and served (to the
//! Rust client, and to Chromium through the whole sign-up, room and 440 Hz journey of https.mjs), kept
//! across a restart without asking the CA again, and renewed when it is near its end. A CA that cannot be
//! reached and an order the CA refuses stop the start with a clear error.
//!
//! Needs pebble (scripts/test installs it), /usr/bin/chromium and tests/browser/node_modules.

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};

const STOA: &str = env!("CARGO_BIN_EXE_stoa");

fn free_port() -> u16 {
    crate::common::reserved_port(false)
}

/// A TLS client configuration that trusts these PEM roots only.
fn trusting(pems: &[&str]) -> rustls::ClientConfig {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for pem in pems {
        for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
            roots.add(cert.unwrap()).unwrap();
        }
    }
    rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth()
}

/// pebble and its DNS, for as long as this lives.
struct Pebble {
    _dns: Child,
    _pebble: Child,
    /// The directory URL.
    directory: String,
    /// The root that signs pebble's own HTTPS (what `--acme-ca-root` names).
    api_root: PathBuf,
    /// The root that signs the certificates pebble issues.
    issuing_root: String,
}

/// Starts pebble; its HTTP-01 validations connect to port `http_port`, and it refuses `nonce_reject` percent
/// of nonces at random.
async fn pebble(dir: &Path, http_port: u16, nonce_reject: u8) -> Pebble {
    assert!(
        Path::new("/usr/bin/pebble").exists() && Path::new("/usr/bin/pebble-challtestsrv").exists(),
        "Debian's pebble is needed: run scripts/test, which installs it"
    );
    // pebble serves its API over HTTPS with a certificate we make, from a root of our own.
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();
    let api_key = KeyPair::generate().unwrap();
    let api_cert = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
        .unwrap()
        .signed_by(&api_key, &ca)
        .unwrap();
    let api_root = dir.join("pebble-root.pem");
    std::fs::write(&api_root, ca.pem()).unwrap();
    std::fs::write(dir.join("pebble-cert.pem"), api_cert.pem()).unwrap();
    std::fs::write(dir.join("pebble-key.pem"), api_key.serialize_pem()).unwrap();
    let (api, management, dns) = (free_port(), free_port(), free_port());
    let config = serde_json::json!({"pebble": {
        "listenAddress": format!("127.0.0.1:{api}"),
        "managementListenAddress": format!("127.0.0.1:{management}"),
        "certificate": dir.join("pebble-cert.pem"),
        "privateKey": dir.join("pebble-key.pem"),
        "httpPort": http_port,
        "tlsPort": free_port(),
        "ocspResponderURL": "",
        "externalAccountBindingRequired": false,
    }});
    std::fs::write(dir.join("pebble.json"), config.to_string()).unwrap();
    let dns_child = Command::new("pebble-challtestsrv")
        .args(["-defaultIPv4", "127.0.0.1", "-defaultIPv6", ""])
        .args(["-dns01", &format!("127.0.0.1:{dns}"), "-http01", "", "-https01", "", "-tlsalpn01", ""])
        .args(["-management", &format!("127.0.0.1:{}", free_port())])
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let pebble_child = Command::new("pebble")
        .arg("-config")
        .arg(dir.join("pebble.json"))
        .args(["-dnsserver", &format!("127.0.0.1:{dns}")])
        // No random pauses before validations: the test is about Stoa.
        .env("PEBBLE_VA_NOSLEEP", "1")
        .env("PEBBLE_WFE_NONCEREJECT", nonce_reject.to_string())
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let http = reqwest::Client::builder()
        .use_preconfigured_tls(trusting(&[&std::fs::read_to_string(&api_root).unwrap()]))
        .build()
        .unwrap();
    let directory = format!("https://127.0.0.1:{api}/dir");
    for _ in 0..100 {
        if http.get(&directory).send().await.is_ok_and(|r| r.status().is_success()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let issuing_root = http
        .get(format!("https://127.0.0.1:{management}/roots/0"))
        .send()
        .await
        .expect("pebble's management API answers")
        .text()
        .await
        .unwrap();
    Pebble { _dns: dns_child, _pebble: pebble_child, directory, api_root, issuing_root }
}

/// `stoa serve --acme stoa.test` on a fresh port, its plain HTTP on `http_port`.
fn serve(data: &Path, http_port: u16, directory: &str, api_root: &Path, extra: &[&str]) -> Command {
    let mut cmd = Command::new(STOA);
    cmd.arg("serve")
        .arg("--data")
        .arg(data)
        .args(["--acme", "stoa.test", "--acme-directory", directory])
        .arg("--acme-ca-root")
        .arg(api_root)
        .args(["--https", "127.0.0.1:0", "--http", &format!("127.0.0.1:{http_port}"), "--media-udp", "127.0.0.1:0"])
        .args(extra)
        .env("RUST_LOG", "warn,str0m=error")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    cmd
}

/// A started server: its public URL, its bootstrap invite (on a fresh folder) and the process.
struct Started {
    child: Child,
    url: String,
    invite: Option<String>,
}

async fn started(mut cmd: Command) -> Started {
    let mut child = cmd.spawn().unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
    let (mut url, mut invite, mut banner_done) = (String::new(), None, false);
    loop {
        // Once the banner's address lines are out, what follows (an invite, on a fresh folder) comes at once.
        let wait = if banner_done { Duration::from_millis(1500) } else { Duration::from_secs(60) };
        let line = match tokio::time::timeout(wait, out.next_line()).await {
            Ok(line) => line.unwrap(),
            Err(_) if banner_done => return Started { child, url, invite },
            Err(_) => panic!("the server did not start in time"),
        };
        let Some(line) = line else {
            if banner_done {
                return Started { child, url, invite };
            }
            let mut err = String::new();
            let _ = tokio::io::AsyncReadExt::read_to_string(child.stderr.as_mut().unwrap(), &mut err).await;
            panic!("stoa serve exited: {err}");
        };
        if let Some(rest) = line.strip_prefix("Stoa is listening on ") {
            url = rest.split_whitespace().next().unwrap().to_string();
        } else if line.starts_with("HTTPS on ") {
            banner_done = true;
        } else if line.contains("/invite/") {
            invite = Some(line.trim().to_string());
            return Started { child, url, invite };
        }
    }
}

impl Started {
    /// Kills the server and waits until it is gone, so that its ports are free again.
    async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

/// The certificate `url` presents (DER), checked against pebble's issuing root for the name stoa.test.
async fn served_certificate(url: &str, issuing_root: &str) -> Vec<u8> {
    let port: u16 = url.rsplit(':').next().unwrap().parse().unwrap();
    let client = reqwest::Client::builder()
        .use_preconfigured_tls(trusting(&[issuing_root]))
        .resolve("stoa.test", std::net::SocketAddr::from(([127, 0, 0, 1], port)))
        .tls_info(true)
        .build()
        .unwrap();
    let resp = client.get(format!("{url}/healthz")).send().await.expect("the ACME certificate verifies for stoa.test");
    assert_eq!(resp.status(), 200);
    resp.extensions().get::<reqwest::tls::TlsInfo>().unwrap().peer_certificate().unwrap().to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_acme_certificate_is_obtained_served_kept_across_a_restart_and_renewed() {
    stoa_server::tls::install_default_crypto();
    let dir = tempfile::tempdir().unwrap();
    let http_port = free_port();
    let ca = pebble(dir.path(), http_port, 0).await;
    let data = dir.path().join("data");

    // An order the CA refuses: its validation connects to a port where nothing answers the challenge.
    let refused =
        serve(&dir.path().join("refused"), free_port(), &ca.directory, &ca.api_root, &[]).output().await.unwrap();
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "{err}");
    assert!(err.contains("the ACME CA refused the order for stoa.test"), "{err}");
    assert!(refused.stdout.is_empty(), "nothing was served: {}", String::from_utf8_lossy(&refused.stdout));

    // Obtained at the first start, and served.
    let first = started(serve(&data, http_port, &ca.directory, &ca.api_root, &[])).await;
    assert!(first.url.starts_with("https://stoa.test:"), "{}", first.url);
    let issued = served_certificate(&first.url, &ca.issuing_root).await;
    assert!(data.join("acme/cert.pem").exists() && data.join("acme/account.json").exists());
    let key_mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(data.join("acme/key.pem")).unwrap().permissions());
    assert_eq!(key_mode & 0o077, 0, "the private key is readable by its owner only");

    // Chromium signs up, starts a room, speaks, and a friend hears 440 Hz, over it.
    let browser = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/browser");
    let mut node = Command::new("node")
        .arg("https.mjs")
        .current_dir(&browser)
        .env("BOOTSTRAP", first.invite.as_deref().expect("a fresh server prints an invite"))
        .env("CERT", data.join("acme/cert.pem"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(node.stdout.take().unwrap()).lines();
    let heard = tokio::time::timeout(Duration::from_secs(120), lines.next_line()).await.expect("Chromium in time");
    assert!(heard.unwrap().is_some(), "https.mjs failed over the ACME certificate; see its output above");
    node.stdin.take().unwrap().write_all(b"done\n").await.unwrap();
    assert!(node.wait().await.unwrap().success(), "https.mjs failed; see its output above");
    first.stop().await;

    // A restart uses the kept certificate without asking the CA: here the CA's address leads nowhere.
    let nowhere = format!("https://127.0.0.1:{}/dir", free_port());
    let again = started(serve(&data, http_port, &nowhere, &ca.api_root, &[])).await;
    assert_eq!(served_certificate(&again.url, &ca.issuing_root).await, issued, "the kept certificate");
    again.stop().await;

    // Backed up and restored into another folder (issue 32), a server there serves the same certificate,
    // still without asking the CA: the ACME account, key and certificate travel in the backup.
    let archive = dir.path().join("backup.tar");
    let restored = dir.path().join("restored");
    for args in [
        vec!["backup", "--data", data.to_str().unwrap(), "--out", archive.to_str().unwrap()],
        vec!["restore", archive.to_str().unwrap(), "--data", restored.to_str().unwrap()],
    ] {
        let out = Command::new(STOA).arg("admin").args(&args).output().await.unwrap();
        assert!(out.status.success(), "stoa admin {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    let elsewhere = started(serve(&restored, http_port, &nowhere, &ca.api_root, &[])).await;
    assert_eq!(served_certificate(&elsewhere.url, &ca.issuing_root).await, issued, "the restored certificate");
    elsewhere.stop().await;

    // Near its end (a renewal margin longer than its life), it is renewed, and the new one is served.
    let near = ["--acme-renew-before-days", "100000"];
    let renewed = started(serve(&data, http_port, &ca.directory, &ca.api_root, &near)).await;
    let fresh = served_certificate(&renewed.url, &ca.issuing_root).await;
    assert_ne!(fresh, issued, "a new certificate");
    renewed.stop().await;
}

#[tokio::test]
async fn an_unreachable_ca_or_a_bad_domain_stops_the_start_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root.pem");
    let ca = CertifiedIssuer::self_signed(
        CertificateParams::new(Vec::<String>::new()).unwrap(),
        KeyPair::generate().unwrap(),
    )
    .unwrap();
    std::fs::write(&root, ca.pem()).unwrap();
    let nowhere = format!("https://127.0.0.1:{}/dir", free_port());
    let out = serve(&dir.path().join("data"), free_port(), &nowhere, &root, &[]).output().await.unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains(&format!("cannot reach the ACME directory at {nowhere}")), "{err}");
    assert!(out.stdout.is_empty());

    for bad in ["localhost", "not a domain", "-x.example.org"] {
        let out = Command::new(STOA).arg("serve").arg(format!("--acme={bad}")).output().await.unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && err.contains("is not a domain name"), "{bad}: {err}");
    }
    let both = Command::new(STOA)
        .args(["serve", "--acme", "stoa.example.org", "--tls-cert", "c.pem", "--tls-key", "k.pem"])
        .output()
        .await
        .unwrap();
    assert!(!both.status.success());
}

#[tokio::test]
async fn sixteen_orders_in_a_row_succeed_against_a_ca_that_refuses_a_third_of_its_nonces() {
    stoa_server::tls::install_default_crypto();
    let dir = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let http_port = listener.local_addr().unwrap().port();
    let ca = pebble(dir.path(), http_port, 30).await;
    // The HTTP-01 challenges are answered as `stoa serve` answers them, by its plain-HTTP router.
    let challenges = stoa_server::tls::Challenges::default();
    let plain = stoa_server::tls::plain_http(Arc::from("https://stoa.test"), challenges.clone());
    tokio::spawn(async move { axum::serve(listener, plain).await.unwrap() });
    let config = stoa_server::acme::AcmeConfig {
        domains: vec!["stoa.test".into()],
        directory: ca.directory.clone(),
        ca_root: Some(ca.api_root.clone()),
        renew_before: stoa_server::acme::RENEW_BEFORE,
    };
    let acme = stoa_server::acme::Acme::new(config, &dir.path().join("data"), challenges).unwrap();
    for i in 0..16 {
        let cert = acme.obtain().await.unwrap_or_else(|e| panic!("order {i}: {e}"));
        assert!(cert.names.iter().any(|n| n == "stoa.test"), "order {i}: {:?}", cert.names);
    }
}
