//! The stand-in images of the conformance corpus (its README, section "Images"), built here
//! from Debian's `busybox-static` and pushed to the harness's own registry on 127.0.0.1, and
//! the berth configuration that makes unqualified names (`alpine`) resolve there and nowhere
//! else.

use std::path::Path;

use crate::support::busybox;
use crate::support::image::{
    Compress, Format, Layer, LayerBuilder, Pusher, build_image_with_config,
};
use crate::support::registry::TestRegistry;

/// The repositories and tags served, as Docker Hub names them (`library/<name>`).
pub const SERVED: &[(&str, &[&str])] = &[
    ("alpine", &["3.13.12", "3.14", "3.15", "latest"]),
    ("bash", &["latest"]),
    ("busybox", &["1.35.0", "latest"]),
    ("hello-world", &["latest"]),
    ("nginx", &["latest", "alpine"]),
];

const PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// `nginx` of the stand-in: `-t` succeeds, anything else serves the html directory on port
/// 80 with busybox httpd. The shell stays PID 1 with a handler so that SIGTERM (and nginx's
/// own SIGQUIT) stop it at once.
const NGINX: &str = r#"#!/bin/sh
# Stand-in for nginx (berth conformance harness): busybox httpd.
case "$1" in
  -t|-T) echo "nginx: configuration file /etc/nginx/nginx.conf test is successful" >&2; exit 0 ;;
  -v|-V) echo "nginx version: nginx/stand-in" >&2; exit 0 ;;
esac
trap 'kill $child 2>/dev/null; exit 0' TERM QUIT INT
httpd -f -p 80 -h /usr/share/nginx/html &
child=$!
wait $child
"#;

/// `curl` of the stand-in: prints the body of the last URL argument (busybox wget).
const CURL: &str = r#"#!/bin/sh
# Stand-in for curl (berth conformance harness): busybox wget.
url=
for arg in "$@"; do
  case "$arg" in
    -*) ;;
    *) url="$arg" ;;
  esac
done
exec wget -qO- "$url"
"#;

const BASH: &str = "#!/bin/sh\n# Stand-in for bash (berth conformance harness): busybox ash.\nexec /bin/ash \"$@\"\n";

const HELLO: &str = "#!/bin/sh\necho\necho 'Hello from Docker!'\necho 'This message shows that your installation appears to be working correctly.'\necho\n";

const INDEX: &str = "<!DOCTYPE html>\n<html>\n<head>\n<title>Welcome to nginx!</title>\n</head>\n<body>\n<h1>Welcome to nginx!</h1>\n<p>berth conformance stand-in.</p>\n</body>\n</html>\n";

/// The layer every stand-in starts from: busybox with all applets, plus the directories and
/// files the README asks of `alpine` (`/run` and `/var/run` pointing to it, `/usr/local/bin`).
fn base_layer() -> Layer {
    LayerBuilder::new()
        .entries(&busybox::rootfs())
        .dir("run", 0o755)
        .symlink("var/run", "/run")
        .dir("usr/local", 0o755)
        .dir("usr/local/bin", 0o755)
        .dir("usr/local/sbin", 0o755)
        .finish(Compress::Gzip)
}

fn config(cmd: &[&str], extra: serde_json::Value) -> serde_json::Value {
    let mut config = serde_json::json!({
        "Env": [PATH],
        "Cmd": cmd,
        "WorkingDir": "/",
        "Labels": {"org.berth.conformance": "stand-in"},
    });
    if let (Some(config), serde_json::Value::Object(extra)) = (config.as_object_mut(), extra) {
        config.extend(extra);
    }
    config
}

/// Builds the stand-ins and pushes them to `registry` under every name of [`SERVED`].
pub async fn push_all(registry: &TestRegistry) {
    let arch = berth_runtime::image::registry::Platform::host().architecture;
    let base = base_layer();
    let none = serde_json::json!({});
    let alpine = build_image_with_config(
        vec![base.clone()],
        Format::Oci,
        &arch,
        config(&["/bin/sh"], none.clone()),
    );
    let bash_layer = LayerBuilder::new()
        .dir("usr/local/bin", 0o755)
        .file("usr/local/bin/bash", BASH.as_bytes(), 0o755)
        .finish(Compress::Gzip);
    let bash = build_image_with_config(
        vec![base.clone(), bash_layer],
        Format::Oci,
        &arch,
        config(&["bash"], none.clone()),
    );
    let busybox_image = build_image_with_config(
        vec![base.clone()],
        Format::Docker,
        &arch,
        config(&["sh"], none.clone()),
    );
    let hello_layer = LayerBuilder::new()
        .file("hello", HELLO.as_bytes(), 0o755)
        .finish(Compress::Gzip);
    let hello = build_image_with_config(
        vec![base.clone(), hello_layer],
        Format::Docker,
        &arch,
        config(&["/hello"], none.clone()),
    );
    let nginx_layer = LayerBuilder::new()
        .dir("usr/share", 0o755)
        .dir("usr/share/nginx", 0o755)
        .dir("usr/share/nginx/html", 0o755)
        .file("usr/share/nginx/html/index.html", INDEX.as_bytes(), 0o644)
        .dir("usr/local/bin", 0o755)
        .file("usr/local/bin/curl", CURL.as_bytes(), 0o755)
        .dir("usr/sbin", 0o755)
        .file("usr/sbin/nginx", NGINX.as_bytes(), 0o755)
        .dir("etc/nginx", 0o755)
        .file("etc/nginx/nginx.conf", b"# stand-in\n", 0o644)
        .finish(Compress::Gzip);
    let nginx_extra = serde_json::json!({
        "ExposedPorts": {"80/tcp": {}},
        "StopSignal": "SIGQUIT",
    });
    let nginx = build_image_with_config(
        vec![base.clone(), nginx_layer.clone()],
        Format::Oci,
        &arch,
        config(&["nginx", "-g", "daemon off;"], nginx_extra.clone()),
    );
    // nginx:alpine differs from nginx (its own image ID), as upstream's do.
    let mut alpine_extra = nginx_extra;
    alpine_extra["Labels"] = serde_json::json!({"org.berth.conformance": "stand-in-alpine"});
    let nginx_alpine = build_image_with_config(
        vec![base, nginx_layer],
        Format::Oci,
        &arch,
        config(&["nginx", "-g", "daemon off;"], alpine_extra),
    );
    let pusher = Pusher::new(&registry.host(), registry.credentials.as_ref());
    for (repository, tags) in SERVED {
        for tag in *tags {
            let image = match (*repository, *tag) {
                ("alpine", _) => &alpine,
                ("bash", _) => &bash,
                ("busybox", _) => &busybox_image,
                ("hello-world", _) => &hello,
                ("nginx", "alpine") => &nginx_alpine,
                _ => &nginx,
            };
            pusher
                .push_image(&format!("library/{repository}"), tag, image)
                .await;
        }
    }
}

/// Writes the berth configuration file of the run: Docker Hub is served by `registry`, and
/// by nothing else.
pub fn write_config(path: &Path, registry: &TestRegistry) -> std::io::Result<()> {
    std::fs::write(
        path,
        format!(
            "# berth conformance harness: Docker Hub images come from the local registry only.\n\
             default-registry = \"http://{}\"\n",
            registry.host()
        ),
    )
}
