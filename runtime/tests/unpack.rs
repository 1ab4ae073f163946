//! Layer unpacking against hostile and ordinary layers, built in memory with the `tar` crate.
//!
//! Hostile layers must be refused with an error naming the entry, and a sentinel directory
//! beside the destination must be left exactly as it was. Tests that need root (devices,
//! ownership, trusted xattrs, overlay mounts) fail when `BERTH_REQUIRE_PRIVILEGED=1` and they
//! cannot get it, and otherwise say so on stderr and return early.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use berth_runtime::image::{
    Algorithm, Compression, Digest, UnpackError, VerifyingReader, unpack_layer,
};
use tar::{EntryType, Header};

const MTIME: u64 = 1_600_000_000;

/// Metadata of one entry.
#[derive(Clone)]
struct Meta {
    mode: u32,
    uid: u64,
    gid: u64,
    mtime: u64,
    xattrs: Vec<(String, Vec<u8>)>,
}

impl Meta {
    fn mode(mode: u32) -> Meta {
        Meta {
            mode,
            uid: 0,
            gid: 0,
            mtime: MTIME,
            xattrs: Vec::new(),
        }
    }

    fn owner(mut self, uid: u64, gid: u64) -> Meta {
        self.uid = uid;
        self.gid = gid;
        self
    }

    fn mtime(mut self, mtime: u64) -> Meta {
        self.mtime = mtime;
        self
    }

    fn xattr(mut self, name: &str, value: &[u8]) -> Meta {
        self.xattrs.push((name.to_owned(), value.to_vec()));
        self
    }
}

/// A layer tarball under construction. Paths are written raw into the header, so that hostile
/// names (which the tar crate's safe helpers refuse) can be made.
struct Layer {
    builder: tar::Builder<Vec<u8>>,
}

fn pax_record(key: &str, value: &[u8]) -> Vec<u8> {
    // The length prefix counts itself, so grow it until it is stable.
    let body = key.len() + value.len() + 3;
    let mut length = body + 1;
    while length != body + length.to_string().len() {
        length = body + length.to_string().len();
    }
    let mut record = format!("{length} {key}=").into_bytes();
    record.extend_from_slice(value);
    record.push(b'\n');
    record
}

fn set_raw(field: &mut [u8], value: &str) {
    field.fill(0);
    field[..value.len()].copy_from_slice(value.as_bytes());
}

impl Layer {
    fn new() -> Layer {
        Layer {
            builder: tar::Builder::new(Vec::new()),
        }
    }

    fn entry(
        &mut self,
        kind: EntryType,
        path: &str,
        link: &str,
        data: &[u8],
        meta: &Meta,
    ) -> &mut Layer {
        if !meta.xattrs.is_empty() {
            let mut records = Vec::new();
            for (name, value) in &meta.xattrs {
                records.extend(pax_record(&format!("SCHILY.xattr.{name}"), value));
            }
            let mut pax = Header::new_ustar();
            set_raw(&mut pax.as_old_mut().name, "PaxHeaders/entry");
            pax.set_entry_type(EntryType::XHeader);
            pax.set_size(records.len() as u64);
            pax.set_mode(0o644);
            pax.set_cksum();
            self.builder.append(&pax, records.as_slice()).unwrap();
        }
        let mut header = Header::new_gnu();
        set_raw(&mut header.as_old_mut().name, path);
        set_raw(&mut header.as_old_mut().linkname, link);
        header.set_entry_type(kind);
        header.set_size(data.len() as u64);
        header.set_mode(meta.mode);
        header.set_uid(meta.uid);
        header.set_gid(meta.gid);
        header.set_mtime(meta.mtime);
        header.set_cksum();
        self.builder.append(&header, data).unwrap();
        self
    }

    /// A PAX extended header with raw records, describing the next entry.
    fn pax(&mut self, records: &[(&str, &[u8])]) -> &mut Layer {
        let mut data = Vec::new();
        for (key, value) in records {
            data.extend(pax_record(key, value));
        }
        let mut header = Header::new_ustar();
        set_raw(&mut header.as_old_mut().name, "PaxHeaders/entry");
        header.set_entry_type(EntryType::XHeader);
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        self.builder.append(&header, data.as_slice()).unwrap();
        self
    }

    /// A GNU long-name header, naming the next entry.
    fn gnu_long_name(&mut self, name: &str) -> &mut Layer {
        let mut header = Header::new_gnu();
        set_raw(&mut header.as_old_mut().name, "././@LongLink");
        header.set_entry_type(EntryType::GNULongName);
        header.set_size(name.len() as u64 + 1);
        header.set_cksum();
        let mut data = name.as_bytes().to_vec();
        data.push(0);
        self.builder.append(&header, data.as_slice()).unwrap();
        self
    }

    fn file(&mut self, path: &str, data: &str) -> &mut Layer {
        self.entry(
            EntryType::Regular,
            path,
            "",
            data.as_bytes(),
            &Meta::mode(0o644),
        )
    }

    fn dir(&mut self, path: &str) -> &mut Layer {
        self.entry(EntryType::Directory, path, "", b"", &Meta::mode(0o755))
    }

    fn symlink(&mut self, path: &str, target: &str) -> &mut Layer {
        self.entry(EntryType::Symlink, path, target, b"", &Meta::mode(0o777))
    }

    fn hard_link(&mut self, path: &str, target: &str) -> &mut Layer {
        self.entry(EntryType::Link, path, target, b"", &Meta::mode(0o644))
    }

    fn device(
        &mut self,
        kind: EntryType,
        path: &str,
        major: u32,
        minor: u32,
        meta: &Meta,
    ) -> &mut Layer {
        let mut header = Header::new_gnu();
        set_raw(&mut header.as_old_mut().name, path);
        header.set_entry_type(kind);
        header.set_size(0);
        header.set_mode(meta.mode);
        header.set_uid(meta.uid);
        header.set_gid(meta.gid);
        header.set_mtime(meta.mtime);
        header.set_device_major(major).unwrap();
        header.set_device_minor(minor).unwrap();
        header.set_cksum();
        self.builder.append(&header, &b""[..]).unwrap();
        self
    }

    fn tar(&mut self) -> Vec<u8> {
        self.builder.finish().unwrap();
        self.builder.get_ref().clone()
    }
}

/// A destination directory with a sentinel directory beside it.
struct Fixture {
    _temp: tempfile::TempDir,
    root: PathBuf,
    dest: PathBuf,
    outside: PathBuf,
}

fn fixture() -> Fixture {
    let temp = tempfile::tempdir().unwrap();
    let root = temp.path().to_owned();
    let dest = root.join("dest");
    let outside = root.join("outside");
    fs::create_dir(&dest).unwrap();
    fs::create_dir(&outside).unwrap();
    fs::write(outside.join("secret"), "secret").unwrap();
    Fixture {
        _temp: temp,
        root,
        dest,
        outside,
    }
}

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

impl Fixture {
    /// Nothing was created, changed or removed beside `dest`.
    fn assert_untouched(&self) {
        assert_eq!(names(&self.root), ["dest", "outside"]);
        assert_eq!(names(&self.outside), ["secret"]);
        let secret = self.outside.join("secret");
        let meta = fs::symlink_metadata(&secret).unwrap();
        assert!(meta.file_type().is_file());
        assert_eq!(meta.nlink(), 1, "the secret got a hard link");
        assert_eq!(fs::read_to_string(secret).unwrap(), "secret");
        assert_eq!(xattr(&self.outside, "trusted.overlay.opaque"), None);
    }

    fn unpack(&self, layer: &[u8]) -> Result<berth_runtime::image::UnpackStats, UnpackError> {
        unpack_layer(layer, Compression::None, &self.dest)
    }

    /// The outside directory as seen from the filesystem root, without the leading '/'.
    fn outside_relative_to_root(&self) -> String {
        self.outside
            .to_str()
            .unwrap()
            .trim_start_matches('/')
            .to_owned()
    }
}

fn assert_refused(fixture: &Fixture, layer: &[u8], entry: &str) {
    match fixture.unpack(layer) {
        Ok(stats) => panic!("hostile layer unpacked: {stats:?}"),
        Err(error) => {
            assert!(
                matches!(error, UnpackError::Refused { .. }),
                "not refused as hostile: {error}"
            );
            assert!(
                error.to_string().contains(&format!("{entry:?}")),
                "error does not name {entry:?}: {error}"
            );
        }
    }
    fixture.assert_untouched();
}

#[test]
fn refuses_absolute_paths() {
    let f = fixture();
    let path = format!("{}/pwned", f.outside.display());
    assert_refused(&f, &Layer::new().file(&path, "x").tar(), &path);
    assert_refused(&f, &Layer::new().dir("/").tar(), "/");
}

#[test]
fn refuses_dot_dot_escapes() {
    let f = fixture();
    assert_refused(
        &f,
        &Layer::new().file("../outside/pwned", "x").tar(),
        "../outside/pwned",
    );
    assert_refused(&f, &Layer::new().file("../x", "x").tar(), "../x");
    assert_refused(
        &f,
        &Layer::new()
            .dir("a")
            .file("a/../../outside/pwned", "x")
            .tar(),
        "a/../../outside/pwned",
    );
    assert_refused(
        &f,
        &Layer::new().dir("a/../../outside/d").tar(),
        "a/../../outside/d",
    );
}

#[test]
fn refuses_files_through_a_symlink_to_the_root() {
    let f = fixture();
    let path = format!("evil/{}/pwned", f.outside_relative_to_root());
    let layer = Layer::new().symlink("evil", "/").file(&path, "x").tar();
    assert_refused(&f, &layer, &path);
    // The symlink itself is kept verbatim: it is only dangerous if followed here.
    assert_eq!(fs::read_link(f.dest.join("evil")).unwrap(), Path::new("/"));
}

#[test]
fn refuses_files_through_a_symlink_to_an_absolute_directory() {
    let f = fixture();
    let outside = f.outside.to_str().unwrap().to_owned();
    let layer = Layer::new()
        .symlink("evil", &outside)
        .file("evil/pwned", "x")
        .tar();
    assert_refused(&f, &layer, "evil/pwned");
    let layer = Layer::new().symlink("evil", &outside).dir("evil/sub").tar();
    assert_refused(&f, &layer, "evil/sub");
}

#[test]
fn refuses_files_through_a_symlink_to_dot_dot() {
    let f = fixture();
    let layer = Layer::new()
        .symlink("up", "..")
        .file("up/outside/pwned", "x")
        .tar();
    assert_refused(&f, &layer, "up/outside/pwned");
    let layer = Layer::new()
        .dir("a")
        .symlink("a/up", "../..")
        .file("a/up/outside/pwned", "x")
        .tar();
    assert_refused(&f, &layer, "a/up/outside/pwned");
}

#[test]
fn refuses_escaping_symlink_chains() {
    let f = fixture();
    let layer = Layer::new()
        .symlink("l1", "l2")
        .symlink("l2", "sub/l3")
        .dir("sub")
        .symlink("sub/l3", "../..")
        .file("l1/outside/pwned", "x")
        .tar();
    assert_refused(&f, &layer, "l1/outside/pwned");
    let layer = Layer::new()
        .dir("x/y")
        .symlink("x/y/back", "../../x/y/../../..")
        .symlink("hop", "x/y/back/outside")
        .file("hop/pwned", "x")
        .tar();
    assert_refused(&f, &layer, "hop/pwned");
}

#[test]
fn refuses_a_symlink_that_replaced_a_directory() {
    let f = fixture();
    let layer = Layer::new()
        .dir("d")
        .file("d/ok", "fine")
        .symlink("d", "../outside")
        .file("d/pwned", "x")
        .tar();
    assert_refused(&f, &layer, "d/pwned");
}

#[test]
fn refuses_whiteouts_and_links_through_escaping_symlinks() {
    let f = fixture();
    // A whiteout through the symlink would delete outside/secret.
    let layer = Layer::new()
        .symlink("s", "../outside")
        .file("s/.wh.secret", "")
        .tar();
    assert_refused(&f, &layer, "s/.wh.secret");
    let layer = Layer::new()
        .symlink("s", "../outside")
        .file("s/.wh..wh..opq", "")
        .tar();
    assert_refused(&f, &layer, "s/.wh..wh..opq");
    let layer = Layer::new()
        .symlink("s", "../outside")
        .symlink("s/link", "x")
        .tar();
    assert_refused(&f, &layer, "s/link");
    let layer = Layer::new()
        .symlink("s", "../outside")
        .hard_link("s/h", "t")
        .tar();
    assert_refused(&f, &layer, "s/h");
}

#[test]
fn refuses_hard_links_out_of_the_layer() {
    let f = fixture();
    assert_refused(&f, &Layer::new().hard_link("h", "/etc/passwd").tar(), "h");
    let secret = format!("{}/secret", f.outside.display());
    assert_refused(&f, &Layer::new().hard_link("h", &secret).tar(), "h");
    assert_refused(
        &f,
        &Layer::new().hard_link("h", "../outside/secret").tar(),
        "h",
    );
    assert_refused(&f, &Layer::new().hard_link("h", "../x").tar(), "h");
    assert_refused(
        &f,
        &Layer::new()
            .dir("a")
            .hard_link("h", "a/../../outside/secret")
            .tar(),
        "h",
    );
    assert!(!f.dest.join("h").exists());
}

#[test]
fn refuses_hard_links_through_symlinks() {
    let f = fixture();
    let layer = Layer::new()
        .symlink("s", "../outside")
        .hard_link("h", "s/secret")
        .tar();
    assert_refused(&f, &layer, "h");
    let outside = f.outside.to_str().unwrap().to_owned();
    let layer = Layer::new()
        .symlink("s", &outside)
        .hard_link("h", "s/secret")
        .tar();
    assert_refused(&f, &layer, "h");
    let layer = Layer::new()
        .symlink("s", "/")
        .hard_link("h", "s/etc/passwd")
        .tar();
    assert_refused(&f, &layer, "h");
}

#[test]
fn refuses_escapes_hidden_in_pax_and_gnu_long_names() {
    let f = fixture();
    // The ustar name is harmless; the PAX path that overrides it is not.
    let layer = Layer::new()
        .pax(&[("path", b"../outside/pwned")])
        .file("harmless", "x")
        .tar();
    assert_refused(&f, &layer, "../outside/pwned");
    let layer = Layer::new()
        .pax(&[("linkpath", b"../outside/secret")])
        .hard_link("h", "harmless")
        .tar();
    assert_refused(&f, &layer, "h");
    let layer = Layer::new()
        .gnu_long_name("a/../../outside/pwned")
        .file("harmless", "x")
        .tar();
    assert_refused(&f, &layer, "a/../../outside/pwned");
    assert!(!f.dest.join("harmless").exists());
}

#[test]
fn long_names_and_pax_times_are_read() {
    let f = fixture();
    let long = format!("{}/{}", "d".repeat(120), "f".repeat(120));
    let layer = Layer::new()
        .pax(&[("path", long.as_bytes()), ("mtime", b"1700000000.25")])
        .file("short", "pax")
        .gnu_long_name(&format!("{long}2"))
        .file("short2", "gnu")
        .tar();
    f.unpack(&layer).unwrap();
    let meta = fs::metadata(f.dest.join(&long)).unwrap();
    assert_eq!(
        (meta.mtime(), meta.mtime_nsec()),
        (1_700_000_000, 250_000_000)
    );
    assert_eq!(
        fs::read_to_string(f.dest.join(format!("{long}2"))).unwrap(),
        "gnu"
    );
    assert!(!f.dest.join("short").exists());
}

#[test]
fn a_hard_link_to_a_symlink_links_the_symlink_itself() {
    let f = fixture();
    let layer = Layer::new()
        .symlink("s", "/etc/passwd")
        .hard_link("h", "s")
        .tar();
    let stats = f.unpack(&layer).unwrap();
    assert_eq!(stats.hard_links, 1);
    let meta = fs::symlink_metadata(f.dest.join("h")).unwrap();
    assert!(meta.file_type().is_symlink());
    assert_eq!(meta.nlink(), 2);
    f.assert_untouched();
}

#[test]
fn symlink_loops_are_an_error() {
    let f = fixture();
    let layer = Layer::new()
        .symlink("a", "b")
        .symlink("b", "a")
        .file("a/x", "x")
        .tar();
    let error = f.unpack(&layer).unwrap_err();
    assert!(error.to_string().contains("too many levels"), "{error}");
    assert!(error.to_string().contains("\"a/x\""), "{error}");
    f.assert_untouched();
}

#[test]
fn symlinks_cannot_stack_directories_deeper_than_a_path_can_reach() {
    let f = fixture();
    let deep = vec!["a"; 1500].join("/");
    let layer = Layer::new()
        .pax(&[("linkpath", deep.as_bytes())])
        .symlink("l1", "placeholder")
        .pax(&[("linkpath", format!("l1/{deep}").as_bytes())])
        .symlink("l2", "placeholder")
        .file("l2/x", "x")
        .tar();
    let error = f.unpack(&layer).unwrap_err();
    assert!(error.to_string().contains("deeper than"), "{error}");
    f.assert_untouched();
}

#[test]
fn in_tree_symlinks_are_followed_inside_the_layer() {
    let f = fixture();
    let layer = Layer::new()
        .dir("usr/lib")
        .symlink("lib", "usr/lib")
        .file("lib/libc.so", "elf")
        .dir("usr/bin")
        .symlink("usr/bin/up", "../../usr/./lib/")
        .file("usr/bin/up/libm.so", "elf2")
        .symlink("abs", "/usr/lib/libc.so")
        .tar();
    f.unpack(&layer).unwrap();
    assert_eq!(
        fs::read_to_string(f.dest.join("usr/lib/libc.so")).unwrap(),
        "elf"
    );
    assert_eq!(
        fs::read_to_string(f.dest.join("usr/lib/libm.so")).unwrap(),
        "elf2"
    );
    assert!(
        fs::symlink_metadata(f.dest.join("lib"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    // Absolute targets are kept verbatim: they are resolved inside the container.
    assert_eq!(
        fs::read_link(f.dest.join("abs")).unwrap(),
        Path::new("/usr/lib/libc.so")
    );
    f.assert_untouched();
}

#[test]
fn later_entries_replace_earlier_ones() {
    let f = fixture();
    let layer = Layer::new()
        .file("a", "first")
        .file("a", "second")
        .file("b", "file")
        .dir("b")
        .file("b/inner", "kept")
        .dir("c")
        .file("c/x", "x")
        .dir("c/deep/er")
        .file("c", "file over dir")
        .dir("d")
        .file("d/kept", "yes")
        .dir("d")
        .dir("e")
        .symlink("e", "d")
        .symlink("f", "a")
        .file("f", "file over symlink")
        .tar();
    f.unpack(&layer).unwrap();
    assert_eq!(fs::read_to_string(f.dest.join("a")).unwrap(), "second");
    assert_eq!(fs::read_to_string(f.dest.join("b/inner")).unwrap(), "kept");
    assert_eq!(
        fs::read_to_string(f.dest.join("c")).unwrap(),
        "file over dir"
    );
    assert_eq!(fs::read_to_string(f.dest.join("d/kept")).unwrap(), "yes");
    assert_eq!(fs::read_link(f.dest.join("e")).unwrap(), Path::new("d"));
    let meta = fs::symlink_metadata(f.dest.join("f")).unwrap();
    assert!(meta.file_type().is_file());
    assert_eq!(fs::read_to_string(f.dest.join("a")).unwrap(), "second");
    f.assert_untouched();
}

#[test]
fn missing_parents_are_created_and_dot_paths_accepted() {
    let f = fixture();
    let layer = Layer::new()
        .dir("./")
        .file("./x/y/z", "deep")
        .file("a/../b", "cleaned")
        .tar();
    f.unpack(&layer).unwrap();
    assert_eq!(fs::read_to_string(f.dest.join("x/y/z")).unwrap(), "deep");
    assert_eq!(fs::read_to_string(f.dest.join("b")).unwrap(), "cleaned");
    // `a/../b` is cleaned lexically, as Docker does: `a` is never created.
    assert!(!f.dest.join("a").exists());
}

fn sample_layer() -> Vec<u8> {
    Layer::new()
        .dir("etc")
        .file("etc/hostname", "berth\n")
        .symlink("etc/localtime", "/usr/share/zoneinfo/UTC")
        .hard_link("etc/hostname.bak", "etc/hostname")
        .tar()
}

fn check_sample(dest: &Path) {
    assert_eq!(
        fs::read_to_string(dest.join("etc/hostname")).unwrap(),
        "berth\n"
    );
    assert_eq!(
        fs::read_link(dest.join("etc/localtime")).unwrap(),
        Path::new("/usr/share/zoneinfo/UTC")
    );
    assert_eq!(
        fs::metadata(dest.join("etc/hostname.bak")).unwrap().ino(),
        fs::metadata(dest.join("etc/hostname")).unwrap().ino()
    );
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

fn zstd(data: &[u8]) -> Vec<u8> {
    zstd::encode_all(data, 3).unwrap()
}

#[test]
fn plain_gzip_and_zstd_layers() {
    let tar = sample_layer();
    for (blob, declared) in [
        (tar.clone(), Compression::None),
        (gzip(&tar), Compression::Gzip),
        (zstd(&tar), Compression::Zstd),
        // Magic bytes win over a wrong declaration, as in Docker.
        (gzip(&tar), Compression::None),
        (zstd(&tar), Compression::Gzip),
    ] {
        let f = fixture();
        let stats = unpack_layer(blob.as_slice(), declared, &f.dest).unwrap();
        assert_eq!((stats.files, stats.symlinks, stats.hard_links), (1, 1, 1));
        assert_eq!(stats.bytes, 6);
        check_sample(&f.dest);
    }
    let f = fixture();
    let error = unpack_layer(tar.as_slice(), Compression::Zstd, &f.dest).unwrap_err();
    assert!(
        matches!(error, UnpackError::CompressionMismatch { .. }),
        "{error}"
    );
    let mut truncated = gzip(&tar);
    truncated.truncate(truncated.len() / 2);
    assert!(matches!(
        unpack_layer(truncated.as_slice(), Compression::Gzip, &f.dest),
        Err(UnpackError::Read(_))
    ));
}

#[test]
fn the_whole_blob_is_read_so_it_can_be_verified() {
    let blob = gzip(&sample_layer());
    let digest = Digest::of_bytes(Algorithm::Sha256, &blob);
    let f = fixture();
    let reader = VerifyingReader::new(blob.as_slice(), digest).with_size(blob.len() as u64);
    unpack_layer(reader, Compression::Gzip, &f.dest).unwrap();

    let wrong = Digest::of_bytes(Algorithm::Sha256, b"something else");
    let f = fixture();
    let reader = VerifyingReader::new(blob.as_slice(), wrong);
    let error = unpack_layer(reader, Compression::Gzip, &f.dest).unwrap_err();
    assert!(error.to_string().contains("digest mismatch"), "{error}");
}

#[test]
fn bad_destinations_and_entries_are_errors() {
    let f = fixture();
    let missing = f.root.join("missing");
    assert!(matches!(
        unpack_layer(sample_layer().as_slice(), Compression::None, &missing),
        Err(UnpackError::Destination { .. })
    ));
    let error = f
        .unpack(&Layer::new().hard_link("h", "nothing").tar())
        .unwrap_err();
    assert!(matches!(error, UnpackError::Invalid { .. }), "{error}");
    let error = f
        .unpack(&Layer::new().file("f", "x").file("f/g", "y").tar())
        .unwrap_err();
    assert!(error.to_string().contains("not a directory"), "{error}");
    let error = f.unpack(&Layer::new().file("./", "x").tar()).unwrap_err();
    assert!(matches!(error, UnpackError::Invalid { .. }), "{error}");
    let error = f
        .unpack(&Layer::new().dir("d").hard_link("h", "d").tar())
        .unwrap_err();
    assert!(
        error.to_string().contains("hard link to a directory"),
        "{error}"
    );
    let error = f
        .unpack(&Layer::new().file(".wh...", "").tar())
        .unwrap_err();
    assert!(matches!(error, UnpackError::Invalid { .. }), "{error}");
    let error = f
        .unpack(b"definitely not a tar archive, but long enough to be read as one....")
        .err();
    assert!(error.is_some());
    f.assert_untouched();
}

/// Whether this test can do what needs root. Fails the test under BERTH_REQUIRE_PRIVILEGED=1.
fn privileged(test: &str) -> bool {
    if rustix::process::geteuid().is_root() {
        return true;
    }
    assert!(
        std::env::var("BERTH_REQUIRE_PRIVILEGED").as_deref() != Ok("1"),
        "{test} needs root, and BERTH_REQUIRE_PRIVILEGED=1"
    );
    eprintln!("skipping {test}: needs root");
    false
}

fn xattr(path: &Path, name: &str) -> Option<Vec<u8>> {
    let mut value = Vec::with_capacity(256);
    match rustix::fs::lgetxattr(path, name, rustix::buffer::spare_capacity(&mut value)) {
        Ok(_) => Some(value),
        Err(rustix::io::Errno::NODATA) => None,
        Err(error) => panic!("reading {name} of {}: {error}", path.display()),
    }
}

#[test]
fn ownership_modes_times_and_xattrs_are_kept() {
    if !privileged("ownership_modes_times_and_xattrs_are_kept") {
        return;
    }
    let f = fixture();
    let layer = Layer::new()
        .entry(
            EntryType::Directory,
            "bin",
            "",
            b"",
            &Meta::mode(0o755).mtime(1_000),
        )
        .entry(
            EntryType::Regular,
            "bin/su",
            "",
            b"#!",
            &Meta::mode(0o4755).mtime(2_000),
        )
        .entry(
            EntryType::Regular,
            "bin/wall",
            "",
            b"",
            &Meta::mode(0o2755).owner(0, 5),
        )
        .entry(EntryType::Directory, "tmp", "", b"", &Meta::mode(0o1777))
        .entry(
            EntryType::Directory,
            "home/u",
            "",
            b"",
            &Meta::mode(0o700).owner(1000, 1000),
        )
        .entry(
            EntryType::Regular,
            "home/u/notes",
            "",
            b"hi",
            &Meta::mode(0o600)
                .owner(1000, 100)
                .xattr("trusted.berth.test", b"hello")
                .xattr("user.berth.note", b"yes")
                .xattr("trusted.overlay.redirect", b"/elsewhere"),
        )
        .entry(
            EntryType::Symlink,
            "home/u/link",
            "notes",
            b"",
            &Meta::mode(0o777)
                .owner(1000, 1000)
                .mtime(3_000)
                .xattr("trusted.berth.link", b"l"),
        )
        .hard_link("home/u/notes2", "home/u/notes")
        .pax(&[("uid", b"4000000"), ("gid", b"4000001")])
        .file("big-ids", "")
        .device(EntryType::Char, "dev/null", 1, 3, &Meta::mode(0o666))
        .device(
            EntryType::Block,
            "dev/loop0",
            7,
            0,
            &Meta::mode(0o660).owner(0, 6),
        )
        .device(
            EntryType::Fifo,
            "run/fifo",
            0,
            0,
            &Meta::mode(0o620).owner(1000, 5),
        )
        .tar();
    let stats = f.unpack(&layer).unwrap();
    assert_eq!(stats.files, 4);
    assert_eq!(stats.devices, 2);
    assert_eq!(stats.fifos, 1);
    assert_eq!(
        stats.skipped_xattrs, 1,
        "trusted.overlay.redirect must be skipped"
    );

    let meta = |p: &str| fs::symlink_metadata(f.dest.join(p)).unwrap();
    assert_eq!(
        (meta("big-ids").uid(), meta("big-ids").gid()),
        (4_000_000, 4_000_001)
    );
    assert_eq!(meta("bin/su").mode() & 0o7777, 0o4755);
    assert_eq!(meta("bin/su").mtime(), 2_000);
    assert_eq!(
        meta("bin").mtime(),
        1_000,
        "directory times are set after their content"
    );
    assert_eq!(meta("bin/wall").mode() & 0o7777, 0o2755);
    assert_eq!(meta("bin/wall").gid(), 5);
    assert_eq!(meta("tmp").mode() & 0o7777, 0o1777);
    assert_eq!((meta("home/u").uid(), meta("home/u").gid()), (1000, 1000));
    assert_eq!(meta("home/u").mode() & 0o7777, 0o700);
    let notes = meta("home/u/notes");
    assert_eq!(
        (notes.uid(), notes.gid(), notes.mode() & 0o7777),
        (1000, 100, 0o600)
    );
    assert_eq!(notes.mtime(), MTIME as i64);
    assert_eq!(notes.nlink(), 2);
    assert_eq!(meta("home/u/notes2").ino(), notes.ino());
    let notes_path = f.dest.join("home/u/notes");
    assert_eq!(
        xattr(&notes_path, "trusted.berth.test").as_deref(),
        Some(&b"hello"[..])
    );
    assert_eq!(
        xattr(&notes_path, "user.berth.note").as_deref(),
        Some(&b"yes"[..])
    );
    assert_eq!(xattr(&notes_path, "trusted.overlay.redirect"), None);
    let link = meta("home/u/link");
    assert!(link.file_type().is_symlink());
    assert_eq!((link.uid(), link.gid(), link.mtime()), (1000, 1000, 3_000));
    assert_eq!(
        xattr(&f.dest.join("home/u/link"), "trusted.berth.link").as_deref(),
        Some(&b"l"[..])
    );
    let null = meta("dev/null");
    assert!(null.file_type().is_char_device());
    assert_eq!(null.rdev(), rustix::fs::makedev(1, 3));
    assert_eq!(null.mode() & 0o7777, 0o666);
    let lp = meta("dev/loop0");
    assert!(lp.file_type().is_block_device());
    assert_eq!(
        (lp.rdev(), lp.gid(), lp.mode() & 0o7777),
        (rustix::fs::makedev(7, 0), 6, 0o660)
    );
    let fifo = meta("run/fifo");
    assert!(fifo.file_type().is_fifo());
    assert_eq!(
        (fifo.uid(), fifo.gid(), fifo.mode() & 0o7777),
        (1000, 5, 0o620)
    );
    f.assert_untouched();
}

#[test]
fn whiteouts_become_overlay_markers() {
    if !privileged("whiteouts_become_overlay_markers") {
        return;
    }
    let f = fixture();
    let layer = Layer::new()
        .dir("etc")
        .file("etc/.wh.motd", "")
        .file("etc/.wh..wh.plnk", "")
        .file("opaque/.wh..wh..opq", "")
        .dir("opaque")
        .file("opaque/new", "n")
        .file("gone", "replaced by the whiteout below")
        .file(".wh.gone", "")
        .tar();
    let stats = f.unpack(&layer).unwrap();
    assert_eq!(stats.whiteouts, 2);
    assert_eq!(stats.opaque_directories, 1);
    assert_eq!(stats.skipped_entries, 1);
    for whiteout in ["etc/motd", "gone"] {
        let meta = fs::symlink_metadata(f.dest.join(whiteout)).unwrap();
        assert!(meta.file_type().is_char_device(), "{whiteout}");
        assert_eq!(meta.rdev(), 0, "{whiteout}");
    }
    assert!(!f.dest.join("etc/.wh.motd").exists());
    assert!(!f.dest.join("etc/.wh..wh.plnk").exists());
    assert!(!f.dest.join("opaque/.wh..wh..opq").exists());
    assert_eq!(
        xattr(&f.dest.join("opaque"), "trusted.overlay.opaque").as_deref(),
        Some(&b"y"[..])
    );
    assert_eq!(fs::read_to_string(f.dest.join("opaque/new")).unwrap(), "n");
    assert_eq!(xattr(&f.dest.join("etc"), "trusted.overlay.opaque"), None);
    f.assert_untouched();
}

/// Unmounts on drop, so that a failing assertion does not leave a mount behind.
struct Mounted(PathBuf);

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = rustix::mount::unmount(&self.0, rustix::mount::UnmountFlags::DETACH);
    }
}

#[test]
fn a_layer_sequence_stacks_as_overlay_lower_directories() {
    if !privileged("a_layer_sequence_stacks_as_overlay_lower_directories") {
        return;
    }
    let temp = tempfile::tempdir().unwrap();
    let base = Layer::new()
        .dir("etc")
        .file("etc/motd", "welcome")
        .file("etc/hosts", "127.0.0.1 localhost")
        .dir("var/cache")
        .file("var/cache/a", "a")
        .file("var/cache/b", "b")
        .file("bin/tool", "v1")
        .tar();
    let update = gzip(
        &Layer::new()
            .file("etc/.wh.motd", "")
            .file("var/cache/.wh..wh..opq", "")
            .file("var/cache/c", "c")
            .file("bin/tool", "v2")
            .tar(),
    );
    let last = zstd(
        &Layer::new()
            .file("etc/motd", "back again")
            .file("bin/.wh.tool", "")
            .tar(),
    );
    let mut lowers = Vec::new();
    for (index, (blob, compression)) in [
        (base, Compression::None),
        (update, Compression::Gzip),
        (last, Compression::Zstd),
    ]
    .into_iter()
    .enumerate()
    {
        let dir = temp.path().join(format!("layer{index}"));
        fs::create_dir(&dir).unwrap();
        unpack_layer(blob.as_slice(), compression, &dir).unwrap();
        lowers.push(dir);
    }

    // After the first two layers: motd gone, cache opaque, tool updated.
    let merged = temp.path().join("merged");
    fs::create_dir(&merged).unwrap();
    let mount = |lowers: &[PathBuf]| {
        // overlayfs lists the topmost lower directory first.
        let list: Vec<String> = lowers
            .iter()
            .rev()
            .map(|p| p.display().to_string())
            .collect();
        let options = std::ffi::CString::new(format!("lowerdir={}", list.join(":"))).unwrap();
        match rustix::mount::mount(
            "overlay",
            &merged,
            "overlay",
            rustix::mount::MountFlags::RDONLY,
            options.as_c_str(),
        ) {
            Ok(()) => Some(Mounted(merged.clone())),
            Err(error) => {
                assert!(
                    std::env::var("BERTH_REQUIRE_PRIVILEGED").as_deref() != Ok("1"),
                    "overlay mount failed: {error}"
                );
                eprintln!("skipping overlay check: mount failed: {error}");
                None
            }
        }
    };
    let Some(guard) = mount(&lowers[..2]) else {
        return;
    };
    assert!(!merged.join("etc/motd").exists());
    assert_eq!(
        fs::read_to_string(merged.join("etc/hosts")).unwrap(),
        "127.0.0.1 localhost"
    );
    assert_eq!(names(&merged.join("var/cache")), ["c"]);
    assert_eq!(fs::read_to_string(merged.join("bin/tool")).unwrap(), "v2");
    drop(guard);

    // With the third: motd is back, tool is gone.
    let Some(guard) = mount(&lowers) else {
        return;
    };
    assert_eq!(
        fs::read_to_string(merged.join("etc/motd")).unwrap(),
        "back again"
    );
    assert!(!merged.join("bin/tool").exists());
    assert_eq!(names(&merged.join("bin")), Vec::<String>::new());
    assert_eq!(names(&merged.join("var/cache")), ["c"]);
    drop(guard);
}
