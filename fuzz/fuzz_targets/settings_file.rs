//! The settings-file parser: no text panics it, and nothing is dropped without a word: every
//! top-level entry of a file that parses either sets its key or is refused with a reason.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tsmon::settings::{Key, Settings, SettingsLayer};

/// The top-level names of a file, read as tsmon reads it: JSON if it starts with `{`, TOML
/// otherwise.
fn entries(text: &str) -> Vec<String> {
    if text.trim().starts_with('{') {
        serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(text.trim())
            .expect("tsmon parsed it")
            .keys()
            .cloned()
            .collect()
    } else {
        toml::from_str::<toml::Table>(text)
            .expect("tsmon parsed it")
            .keys()
            .cloned()
            .collect()
    }
}

fuzz_target!(|text: &str| {
    let Ok((layer, refused)) = SettingsLayer::from_text(text) else {
        assert!(Settings::default().merge_text(text).is_err());
        return;
    };
    let names = entries(text);
    let set: Vec<Key> = Key::ALL.into_iter().filter(|k| layer.sets(*k)).collect();
    assert_eq!(
        set.len() + refused.len(),
        names.len(),
        "{set:?} {refused:?} {names:?}"
    );
    for key in &set {
        assert!(names.iter().any(|n| n == key.name()), "{key:?}");
        assert!(layer.shown(*key).is_some());
    }
    for r in &refused {
        assert!(names.contains(&r.key), "{r}");
        assert!(!r.reason.is_empty(), "{r}");
    }
});
