//! A local registry process: `docker-registry serve` on 127.0.0.1 with a free port, its own
//! storage directory and a generated configuration; optionally with htpasswd basic auth.
//! The process is killed and reaped when the guard drops.

use std::fs;
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running (or stopped) local registry.
pub struct TestRegistry {
    dir: tempfile::TempDir,
    port: u16,
    child: Option<Child>,
    /// `(user, password)` when the registry requires basic auth.
    pub credentials: Option<(String, String)>,
}

impl TestRegistry {
    /// Starts an open registry.
    pub fn start() -> TestRegistry {
        TestRegistry::launch(None)
    }

    /// Starts a registry that requires `user`/`password` (htpasswd, bcrypt).
    pub fn start_with_auth(user: &str, password: &str) -> TestRegistry {
        TestRegistry::launch(Some((user.to_owned(), password.to_owned())))
    }

    /// Starts a registry with an `auth:` section given as YAML (indented under `auth:`).
    pub fn start_with_auth_config(auth_yaml: &str) -> TestRegistry {
        TestRegistry::launch_with(None, Some(auth_yaml.to_owned()))
    }

    fn launch(credentials: Option<(String, String)>) -> TestRegistry {
        TestRegistry::launch_with(credentials, None)
    }

    fn launch_with(
        credentials: Option<(String, String)>,
        auth_yaml: Option<String>,
    ) -> TestRegistry {
        let dir = tempfile::Builder::new()
            .prefix("berth-registry-")
            .tempdir()
            .expect("a temporary directory");
        let port = free_port();
        let storage = dir.path().join("storage");
        fs::create_dir_all(&storage).expect("storage directory");
        let mut config = format!(
            "version: 0.1\n\
             log:\n  level: error\n  accesslog:\n    disabled: true\n\
             storage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n\
             http:\n  addr: 127.0.0.1:{port}\n  secret: berth-test-{port}\n",
            storage.display()
        );
        if let Some((user, password)) = &credentials {
            let htpasswd = dir.path().join("htpasswd");
            let output = Command::new("htpasswd")
                .args(["-Bbn", user, password])
                .output()
                .expect("running htpasswd");
            assert!(output.status.success(), "htpasswd failed");
            fs::write(&htpasswd, &output.stdout).expect("writing htpasswd");
            config.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: berth-test\n    path: {}\n",
                htpasswd.display()
            ));
        }
        if let Some(auth) = auth_yaml {
            config.push_str("auth:\n");
            config.push_str(&auth);
        }
        fs::write(dir.path().join("config.yml"), config).expect("writing registry config");
        let mut registry = TestRegistry {
            dir,
            port,
            child: None,
            credentials,
        };
        registry.spawn();
        registry
    }

    fn spawn(&mut self) {
        let log = fs::File::create(self.log_path()).expect("registry log");
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(self.dir.path().join("config.yml"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .spawn()
            .expect("starting docker-registry");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                panic!(
                    "docker-registry exited ({status}) before listening:\n{}",
                    fs::read_to_string(self.log_path()).unwrap_or_default()
                );
            }
            assert!(
                Instant::now() < deadline,
                "docker-registry did not start listening"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("registry.log")
    }

    /// `127.0.0.1:<port>`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The registry's process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Kills the registry (SIGKILL) and reaps it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the registry again on the same port with the same storage.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("binding a free port");
    listener.local_addr().expect("local address").port()
}
