//! A minimal root filesystem from Debian's `busybox-static`: `/bin/busybox` and a symlink for
//! every applet it lists, plus the usual top-level directories and a few files in `/etc`.

use super::image::Entry;

/// Where Debian's `busybox-static` installs the binary.
pub const BUSYBOX: &str = "/bin/busybox";

/// The entries of the busybox root filesystem.
pub fn rootfs() -> Vec<Entry> {
    let binary = std::fs::read(BUSYBOX).expect("reading /bin/busybox (package busybox-static)");
    let output = std::process::Command::new(BUSYBOX)
        .arg("--list-full")
        .output()
        .expect("busybox --list-full");
    let applets = String::from_utf8_lossy(&output.stdout).into_owned();
    let mut entries = Vec::new();
    for dir in [
        "bin", "sbin", "usr", "usr/bin", "usr/sbin", "etc", "root", "proc", "sys", "dev", "var",
        "home",
    ] {
        entries.push(Entry::Dir(dir.to_owned(), 0o755));
    }
    entries.push(Entry::Dir("tmp".to_owned(), 0o1777));
    entries.push(Entry::File("bin/busybox".to_owned(), binary, 0o755));
    for (path, content) in [
        (
            "etc/passwd",
            "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n",
        ),
        ("etc/group", "root:x:0:\nnogroup:x:65534:\n"),
        ("etc/motd", "welcome to the berth test image\n"),
        ("etc/hostname", "berth-test\n"),
    ] {
        entries.push(Entry::File(
            path.to_owned(),
            content.as_bytes().to_vec(),
            0o644,
        ));
    }
    for applet in applets.lines().map(str::trim).filter(|a| !a.is_empty()) {
        if applet != "bin/busybox" {
            entries.push(Entry::Symlink(applet.to_owned(), "/bin/busybox".to_owned()));
        }
    }
    entries
}
