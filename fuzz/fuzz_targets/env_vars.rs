//! The `TSMON_*` reader: no variable panics it, each is checked on its own (a bad one refuses
//! only itself, with its value quoted), variables that are not settings are left alone, and
//! the layer holds the last accepted value of each key.
#![no_main]

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use tsmon::settings::{Key, OTHER_ENV_VARS, SettingsLayer};

#[derive(Arbitrary, Debug)]
struct Var {
    /// A known setting's variable, or a name of the fuzzer's.
    known: Option<u8>,
    name: String,
    value: String,
}

fuzz_target!(|vars: Vec<Var>| {
    let vars: Vec<(String, String)> = vars
        .into_iter()
        .map(|v| {
            let name = match v.known {
                Some(i) => Key::ALL[usize::from(i) % Key::ALL.len()]
                    .env_var()
                    .to_string(),
                None => v.name,
            };
            (name, v.value)
        })
        .collect();
    let (layer, refused) = SettingsLayer::from_env(vars.clone());

    let mut expected_refusals = Vec::new();
    let mut last: Vec<(Key, SettingsLayer)> = Vec::new();
    for (name, value) in &vars {
        if !name.starts_with("TSMON_") || OTHER_ENV_VARS.contains(&name.as_str()) {
            continue;
        }
        let (alone, alone_refused) = SettingsLayer::from_env([(name.clone(), value.clone())]);
        match Key::ALL.into_iter().find(|k| k.env_var() == name) {
            Some(key) if alone_refused.is_empty() => {
                assert!(alone.sets(key), "{name} accepted sets its key");
                last.retain(|(k, _)| *k != key);
                last.push((key, alone));
            }
            _ => {
                assert_eq!(alone_refused.len(), 1, "{name}");
                assert_eq!(alone_refused[0].key, *name);
                assert_eq!(alone_refused[0].value, format!("{value:?}"));
                assert!(!alone_refused[0].reason.is_empty());
                expected_refusals.push(alone_refused[0].clone());
            }
        }
    }
    assert_eq!(
        refused, expected_refusals,
        "each variable is judged on its own"
    );
    for key in Key::ALL {
        let want = last
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, l)| l.shown(key));
        assert_eq!(layer.shown(key), want.flatten(), "{key:?}");
    }
});
