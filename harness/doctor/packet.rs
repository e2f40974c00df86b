//! Mattermost Support Packets (`--support-packet FILE.zip`): the evidence an operator can hand over
//! when the server cannot be reached from where the doctor runs. The doctor reads, from the zip:
//!
//! - `sanitized_config.json` — the configuration with secrets replaced by `********` (the
//!   config.json checks and the drift against gitlab.rb run on it);
//! - `metadata.yaml` (`server_version`, `license_id`), `diagnostics.yaml` (`server.version`,
//!   `license.sku_short_name`; Mattermost ≥ 10) and, in older packets, `support_packet.yaml`
//!   (`server_version`) — the running version for the version findings and the v11 licence rule;
//! - `mattermost.log` and every other `*.log` (notifications, advanced log targets) — each line
//!   matched against troubleshooting.md's symptoms ([`super::explain`]).
//!
//! The format is what Mattermost writes: `server/channels/app/support_packet.go` (metadata.yaml,
//! plugins.json, stats.yaml, jobs.yaml, permissions.yaml) and
//! `server/channels/app/platform/support_packet.go` (diagnostics.yaml, sanitized_config.json,
//! mattermost.log, cpu.prof, heap.prof, goroutines) in mattermost/mattermost (master, read
//! 2026-12); in a cluster every node's files sit under a directory named after the node, so
//! entries are matched by their base name.
//!
//! Owns: [`read_packet`] and its bounds. A packet is hostile input: the file, the number of
//! entries, each entry's declared and actual inflated size, the sum of what is inflated, the log
//! lines kept and their length are capped ([`Limits`]); anything past a cap or not a zip is a
//! [`PacketError`] (exit 2 with a hint), never a panic. Secrets the sanitiser missed (a
//! password-, secret- or key-named setting whose value is not `********`) are collected so the
//! report redacts them wherever they appear, log lines included.

use std::io::{Read, Seek};

use serde_json::Value;

use super::explain::explain;
use super::finding::{FindingKind, bound};
use crate::config::Version;
use crate::diag::SourceFile;

/// How much of a packet the doctor reads.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// The zip file itself.
    pub max_file_bytes: u64,
    /// Entries listed in the central directory.
    pub max_entries: usize,
    /// One entry, inflated (declared or actual).
    pub max_entry_bytes: u64,
    /// Everything inflated, together.
    pub max_total_bytes: u64,
    /// Log lines that matched a symptom, kept as evidence.
    pub max_hits: usize,
    /// Characters of one log line kept as evidence.
    pub max_line_chars: usize,
}

impl Limits {
    /// Generous for real packets (a log file or a few, profiles, a few small YAML and JSON
    /// files); small enough that a hostile file cannot exhaust memory (the tests run the binary
    /// under a 2 GiB `ulimit -v`).
    pub const DEFAULT: Limits = Limits {
        max_file_bytes: 512 * 1024 * 1024,
        max_entries: 10_000,
        max_entry_bytes: 128 * 1024 * 1024,
        max_total_bytes: 256 * 1024 * 1024,
        max_hits: 200,
        max_line_chars: 400,
    };
}

/// A packet that cannot be read (bad input: exit 2).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct PacketError {
    pub message: String,
    pub hint: String,
}

fn err(message: impl Into<String>, hint: impl Into<String>) -> PacketError {
    PacketError {
        message: message.into(),
        hint: hint.into(),
    }
}

/// One log line that names a known failure.
#[derive(Debug, Clone)]
pub struct LogHit {
    /// `mattermost.log:12` (entry name and 1-based line).
    pub at: String,
    /// The line, bounded (secrets redacted by the report).
    pub text: String,
    /// The findings that explain it, most likely first.
    pub kinds: Vec<FindingKind>,
}

/// What the doctor understood of a Support Packet.
#[derive(Debug, Clone, Default)]
pub struct SupportPacket {
    /// The file name, for the report header.
    pub name: String,
    /// Every entry's name, as listed.
    pub entries: Vec<String>,
    /// `sanitized_config.json`, named `PACKET!sanitized_config.json`.
    pub config: Option<SourceFile>,
    /// The running Mattermost version and the file that said it.
    pub server_version: Option<(Version, String)>,
    /// Whether the server has a licence (metadata.yaml `license_id`, diagnostics.yaml
    /// `license.sku_short_name`); `None` when neither file says.
    pub licensed: Option<bool>,
    /// Log lines read, over every log entry.
    pub log_lines: usize,
    /// Log entries read.
    pub logs: Vec<String>,
    /// Lines that name a known failure (at most [`Limits::max_hits`]).
    pub hits: Vec<LogHit>,
    /// Lines that matched past the cap (counted, not kept).
    pub hits_dropped: usize,
    /// Secret values the sanitiser left in the config (redacted from every output).
    pub unsanitised: Vec<String>,
}

/// The base name of an entry (`node1/mattermost.log` → `mattermost.log`).
fn base(name: &str) -> &str {
    name.rsplit(['/', '\\']).next().unwrap_or(name)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Wanted {
    Config,
    Metadata,
    Diagnostics,
    OldPacket,
    Log,
}

fn wanted(name: &str) -> Option<Wanted> {
    let b = base(name).to_ascii_lowercase();
    match b.as_str() {
        "sanitized_config.json" => Some(Wanted::Config),
        "metadata.yaml" => Some(Wanted::Metadata),
        "diagnostics.yaml" => Some(Wanted::Diagnostics),
        "support_packet.yaml" => Some(Wanted::OldPacket),
        _ if b.ends_with(".log") => Some(Wanted::Log),
        _ => None,
    }
}

/// Read a Support Packet from `path`.
pub fn read_packet_file(path: &std::path::Path) -> Result<SupportPacket, PacketError> {
    let name = path.display().to_string();
    let file = std::fs::File::open(path).map_err(|e| {
        err(
            format!("cannot read --support-packet {name}: {e}"),
            "give the .zip that System Console > Reporting > Support Packet (or `mmctl system supportpacket`) downloaded",
        )
    })?;
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    read_packet(&name, std::io::BufReader::new(file), len, Limits::DEFAULT)
}

/// Read a Support Packet of `len` bytes from `reader`.
pub fn read_packet<R: Read + Seek>(
    name: &str,
    reader: R,
    len: u64,
    limits: Limits,
) -> Result<SupportPacket, PacketError> {
    let shown = crate::report::escape::terminal_line(name).into_owned();
    let not_a_packet = "give the .zip that System Console > Reporting > Support Packet (or `mmctl system supportpacket`) downloaded, unmodified";
    if len > limits.max_file_bytes {
        return Err(err(
            format!(
                "{shown} is {len} bytes; the doctor reads packets of at most {} bytes",
                limits.max_file_bytes
            ),
            "generate the packet without the CPU/heap profiles, or pass its sanitized_config.json with --config-json",
        ));
    }
    let mut zip = zip::ZipArchive::new(reader)
        .map_err(|e| err(format!("{shown} is not a readable zip: {e}"), not_a_packet))?;
    if zip.len() > limits.max_entries {
        return Err(err(
            format!(
                "{shown} lists {} entries; a Support Packet has a few dozen (at most {} read)",
                zip.len(),
                limits.max_entries
            ),
            not_a_packet,
        ));
    }
    let mut packet = SupportPacket {
        name: shown.clone(),
        ..SupportPacket::default()
    };
    let mut total: u64 = 0;
    let mut metadata_version: Option<(Version, String)> = None;
    let mut diagnostics_version: Option<(Version, String)> = None;
    for index in 0..zip.len() {
        let mut entry = zip
            .by_index(index)
            .map_err(|e| err(format!("{shown}: entry {index}: {e}"), not_a_packet))?;
        let raw_name = entry
            .name()
            .map(|n| n.into_owned())
            .map_err(|e| err(format!("{shown}: entry {index}: {e}"), not_a_packet))?;
        let entry_name = crate::report::escape::terminal_line(&raw_name).into_owned();
        packet.entries.push(entry_name.clone());
        if entry.is_dir() {
            continue;
        }
        let Some(what) = wanted(&raw_name) else {
            continue;
        };
        if entry.size() > limits.max_entry_bytes {
            return Err(err(
                format!(
                    "{shown}: {entry_name} declares {} bytes inflated; the doctor inflates at most {} per entry",
                    entry.size(),
                    limits.max_entry_bytes
                ),
                "a zip bomb or a packet with an unrotated log: cut the log (LogSettings.FileMaxSizeMB) and generate the packet again",
            ));
        }
        let mut body = Vec::new();
        (&mut entry)
            .take(limits.max_entry_bytes + 1)
            .read_to_end(&mut body)
            .map_err(|e| {
                err(
                    format!("{shown}: cannot inflate {entry_name}: {e}"),
                    not_a_packet,
                )
            })?;
        if body.len() as u64 > limits.max_entry_bytes {
            return Err(err(
                format!(
                    "{shown}: {entry_name} inflates past {} bytes (it declares {})",
                    limits.max_entry_bytes,
                    entry.size()
                ),
                "the zip lies about its sizes (a zip bomb): do not trust this file",
            ));
        }
        total += body.len() as u64;
        if total > limits.max_total_bytes {
            return Err(err(
                format!(
                    "{shown}: the entries read inflate past {} bytes together",
                    limits.max_total_bytes
                ),
                "a zip bomb, or logs far larger than a packet holds: pass the sanitized_config.json with --config-json instead",
            ));
        }
        let text = String::from_utf8_lossy(&body);
        match what {
            Wanted::Config => {
                let doc: Value = serde_json::from_str(&text).map_err(|e| {
                    err(
                        format!("{shown}: {entry_name} is not JSON: {e}"),
                        not_a_packet,
                    )
                })?;
                collect_unsanitised(&doc, "", &mut packet.unsanitised);
                packet.config = Some(SourceFile::new(
                    format!("{shown}!{entry_name}"),
                    text.into_owned(),
                ));
            }
            Wanted::Metadata | Wanted::OldPacket => {
                if let Some(v) =
                    yaml_value(&text, None, "server_version").and_then(|v| parse_version(&v))
                {
                    metadata_version = Some((v, entry_name.clone()));
                }
                if let Some(id) = yaml_value(&text, None, "license_id") {
                    packet.licensed = Some(!id.is_empty());
                }
            }
            Wanted::Diagnostics => {
                if let Some(v) =
                    yaml_value(&text, Some("server"), "version").and_then(|v| parse_version(&v))
                {
                    diagnostics_version = Some((v, entry_name.clone()));
                }
                if packet.licensed.is_none()
                    && let Some(sku) = yaml_value(&text, Some("license"), "sku_short_name")
                {
                    packet.licensed = Some(!sku.is_empty());
                }
            }
            Wanted::Log => scan_log(&entry_name, &text, limits, &mut packet),
        }
    }
    packet.server_version = metadata_version.or(diagnostics_version);
    // Redact what the sanitiser missed from the evidence kept (the report redacts again).
    for hit in &mut packet.hits {
        for s in &packet.unsanitised {
            if hit.text.contains(s.as_str()) {
                hit.text = hit.text.replace(s.as_str(), crate::config::REDACTED);
            }
        }
    }
    if packet.config.is_none() && packet.server_version.is_none() && packet.logs.is_empty() {
        return Err(err(
            format!(
                "{shown} holds no sanitized_config.json, metadata.yaml, diagnostics.yaml or log: not a Mattermost Support Packet"
            ),
            not_a_packet,
        ));
    }
    Ok(packet)
}

/// Setting names whose values are secrets (what Mattermost's sanitiser replaces with
/// `model.FakeSetting`, and more: a value it missed is still a secret).
fn secret_name(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    k.contains("password")
        || k.contains("secret")
        || k.contains("datasource")
        || k.ends_with("key")
        || k.ends_with("salt")
        || k.ends_with("token")
}

fn collect_unsanitised(v: &Value, key: &str, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                collect_unsanitised(v, k, out);
            }
        }
        Value::Array(items) => {
            for item in items {
                collect_unsanitised(item, key, out);
            }
        }
        Value::String(s) if secret_name(key) => {
            let s = s.trim();
            if s.len() >= 4 && !s.chars().all(|c| c == '*') && !out.iter().any(|o| o == s) {
                out.push(s.to_string());
            }
        }
        _ => {}
    }
}

/// A scalar of the YAML Mattermost writes (goccy/go-yaml's block style): `key: value` at the top
/// level, or one level under `section:`. Quotes are removed. Enough for the fields read here; the
/// rest of the file is not interpreted.
fn yaml_value(text: &str, section: Option<&str>, key: &str) -> Option<String> {
    let mut in_section = section.is_none();
    for line in text.lines() {
        let content = line.split(" #").next().unwrap_or(line).trim_end();
        if content.trim().is_empty() || content.trim_start().starts_with('#') {
            continue;
        }
        let indented = content.starts_with(' ') || content.starts_with('\t');
        let trimmed = content.trim_start();
        if let Some(sec) = section {
            if !indented {
                in_section = trimmed.strip_suffix(':') == Some(sec);
                continue;
            }
            if !in_section || content.len() - trimmed.len() > 2 {
                continue;
            }
        } else if indented {
            continue;
        }
        if let Some(rest) = trimmed.strip_prefix(key)
            && let Some(value) = rest.strip_prefix(':')
        {
            return Some(value.trim().trim_matches(['"', '\'']).to_string());
        }
    }
    None
}

fn parse_version(v: &str) -> Option<Version> {
    let v = v.trim().trim_start_matches('v');
    // `9.11.3`, `10.11.0-rc1`: the release triple.
    let core: String = v
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    core.trim_end_matches('.').parse::<Version>().ok()
}

/// Match every line of one log against the symptoms.
fn scan_log(entry: &str, text: &str, limits: Limits, packet: &mut SupportPacket) {
    packet.logs.push(entry.to_string());
    for (n, line) in text.lines().enumerate() {
        packet.log_lines += 1;
        // Very long lines (a dumped request body) are matched on their head only.
        let mut cut = line.len().min(16 * 1024);
        while !line.is_char_boundary(cut) {
            cut -= 1;
        }
        let kinds = explain(&line[..cut]);
        if kinds.is_empty() {
            continue;
        }
        if packet.hits.len() >= limits.max_hits {
            packet.hits_dropped += 1;
            continue;
        }
        packet.hits.push(LogHit {
            at: format!("{entry}:{}", n + 1),
            text: bound(
                crate::report::escape::terminal_line(line.trim()).into_owned(),
                limits.max_line_chars,
            ),
            kinds,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_fields_are_read_where_mattermost_writes_them() {
        let diag = "version: 2\nlicense:\n  company: \"\"\n  sku_short_name: \"\"\nserver:\n  os: linux\n  version: 11.0.2 # comment\n  build_hash: abc\ndatabase:\n  version: \"16.4\"\n";
        assert_eq!(
            yaml_value(diag, Some("server"), "version").as_deref(),
            Some("11.0.2")
        );
        assert_eq!(
            yaml_value(diag, Some("license"), "sku_short_name").as_deref(),
            Some("")
        );
        assert_eq!(yaml_value(diag, None, "version").as_deref(), Some("2"));
        assert_eq!(parse_version("10.11.0-rc1"), Some(Version::new(10, 11, 0)));
        assert!(secret_name("SMTPPassword") && secret_name("DataSource"));
        assert!(!secret_name("SMTPServer"));
    }
}
