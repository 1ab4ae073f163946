//! Any bytes as a compose file: loading may fail, but never panic, hang or overflow.
#![no_main]

use berth_compose::loader::{ConfigSource, Environment};
use berth_compose::{LoadOptions, load};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut env = Environment::new();
    env.insert("HOME".into(), "/nonexistent".into());
    env.insert("FOO".into(), "foo".into());
    env.insert("EMPTY".into(), String::new());
    // A directory that does not exist: the fuzzer must not read the machine's files by
    // accident through `.env`; include/extends of absolute paths only read.
    let mut opts = LoadOptions::new("/nonexistent/berth-fuzz".into(), env);
    opts.files = vec![ConfigSource::stdin(text.to_string())];
    opts.project_name = Some("fuzz".into());
    if let Ok(project) = load(&opts) {
        // What loads must print and load again.
        let printed = berth_compose::yaml::to_string(&project.tree);
        let _ = berth_compose::yaml::parse(&printed, "printed");
    }
});
