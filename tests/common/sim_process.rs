//! `sitrep sim` in its own process, as a user runs it, with its announcement (the first line
//! it prints: base URL, `source_toml`, the `env` a client needs). Killed on drop.

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};

use super::Sandbox;

pub struct SimProcess {
    child: Child,
    pub announcement: serde_json::Value,
}

impl Drop for SimProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl SimProcess {
    /// `sitrep sim --vendor VENDOR --alerts N --seed SEED`.
    pub fn start(sb: &Sandbox, vendor: &str, alerts: usize, seed: u64) -> SimProcess {
        let mut child = sb
            .cmd()
            .args(["sim", "--vendor", vendor])
            .args(["--alerts", &alerts.to_string(), "--seed", &seed.to_string()])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn sim");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("announcement");
        let announcement = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
        SimProcess {
            child,
            announcement,
        }
    }

    /// The `[[source]]` table naming the simulator.
    pub fn source_toml(&self) -> String {
        self.announcement["source_toml"]
            .as_str()
            .expect("source_toml")
            .to_string()
    }

    /// The environment variables (name, value) its credentials are read from.
    pub fn env(&self) -> Vec<(String, String)> {
        self.announcement["env"]
            .as_object()
            .expect("env")
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().expect("value").to_string()))
            .collect()
    }
}
