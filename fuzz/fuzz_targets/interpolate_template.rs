//! Any text as a `${...}` template: substitution may fail, but never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let lookup = |name: &str| match name {
        "FOO" => Some("foo".to_string()),
        "EMPTY" => Some(String::new()),
        _ => None,
    };
    let _ = berth_compose::interpolate::substitute(text, &lookup);
    let _ = berth_compose::dotenv::parse(text, &lookup);
});
