//! The audit trail: one JSON object per line for every flag, would-release
//! and release, appended with a single write. A release is an `intent`
//! record, `fsync`ed before the request is sent, then a `result` record once
//! KMS answered (or did not); an intent left without a result by a crash gets
//! a `reconciled` record at the next start (see `reconcile`). No record says
//! more than is known, and a torn tail left by a power loss is cut at the
//! next open. Rotation-friendly: `reopen` (on SIGHUP) opens the path anew.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use serde::Serialize;

use crate::model::{Millis, ObjectId};
use crate::policy::{Evidence, Hold};

use super::Mode;

/// What a record is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    /// An object became a candidate of a rule (once per streak).
    Flag,
    /// Dry-run: the object would be released now (once per streak).
    WouldRelease,
    /// A release is about to be sent (written and synced first).
    Intent,
    /// How KMS answered one release (`ok`, `not_found`, `failed`, `timeout`).
    Result,
    /// What KMS showed, at a later check, of an intent whose result is
    /// unknown (a crash or a timeout): `gone` or `not_released`.
    Reconciled,
    /// A release was not sent: a last safety check failed.
    ReleaseAborted,
    /// The start-up sweep released an object the daemon itself had created
    /// in an earlier process (or, in a cluster, a dead member had).
    LeftoverReleased,
}

/// One line of the audit log.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Record {
    /// RFC 3339, milliseconds, UTC.
    pub time: String,
    pub time_ms: Millis,
    pub event: Event,
    /// The release's id, shared by its intent, result and reconciled records.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub target: String,
    pub object: ObjectId,
    pub object_type: String,
    pub pipeline: ObjectId,
    pub rule: String,
    pub mode: Mode,
    /// `manual` for the operator API, `policy` otherwise.
    pub origin: &'static str,
    /// The outcome label (`flagged`, `would_release`, `intent`, `ok`,
    /// `not_found`, `failed`, `timeout`, `gone`, `not_released`, ...).
    pub outcome: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub held: Option<Hold>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evidence: Option<Evidence>,
    /// In a cluster, the target's lock the release was sent under
    /// (`member`, `lock_revision`).
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub lock: Option<super::fence::LockStamp>,
    /// For a released leftover: the cluster member that had created it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub creator: Option<String>,
}

impl Record {
    /// A leftover of the daemon's own (created by `creator`'s process
    /// `instance`) released by the start-up sweep on `target`.
    pub fn leftover(
        target: &str,
        object: &str,
        creator: Option<&str>,
        instance: Option<&str>,
    ) -> Record {
        let now = crate::clock::now_millis();
        Record {
            time: rfc3339(now),
            time_ms: now,
            event: Event::LeftoverReleased,
            id: None,
            target: target.to_string(),
            object: object.into(),
            object_type: kms_proto::ids::type_of(object).to_string(),
            pipeline: kms_proto::ids::pipeline_of(object).into(),
            rule: "leftover-sweep".into(),
            mode: Mode::Enforce,
            origin: "own",
            outcome: "ok",
            held: None,
            detail: Some(format!(
                "created by process {}",
                instance.unwrap_or("(untagged)")
            )),
            evidence: None,
            lock: None,
            creator: creator.map(str::to_string),
        }
    }
}

/// Formats `ms` since the epoch as RFC 3339 with milliseconds.
pub fn rfc3339(ms: Millis) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms);
    humantime::format_rfc3339_millis(t).to_string()
}

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("audit log {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("audit record: {0}")]
    Encode(#[from] serde_json::Error),
}

/// The audit log file (or none: records only go to the process log).
#[derive(Debug)]
pub struct AuditLog {
    path: Option<PathBuf>,
    file: Mutex<Option<File>>,
}

fn open(path: &Path) -> std::io::Result<File> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut f = OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .open(path)?;
    cut_torn_tail(&mut f)?;
    Ok(f)
}

/// Drop a last line that has no newline (a write cut by power loss).
fn cut_torn_tail(f: &mut File) -> std::io::Result<()> {
    let len = f.metadata()?.len();
    if len == 0 {
        return Ok(());
    }
    let mut last = [0u8; 1];
    f.seek(SeekFrom::Start(len - 1))?;
    f.read_exact(&mut last)?;
    if last[0] == b'\n' {
        return Ok(());
    }
    // Scan back for the previous newline, in blocks.
    let mut end = len;
    let mut buf = vec![0u8; 8192];
    let keep = loop {
        let start = end.saturating_sub(buf.len() as u64);
        let n = (end - start) as usize;
        f.seek(SeekFrom::Start(start))?;
        f.read_exact(&mut buf[..n])?;
        if let Some(i) = buf[..n].iter().rposition(|b| *b == b'\n') {
            break start + i as u64 + 1;
        }
        if start == 0 {
            break 0;
        }
        end = start;
    };
    tracing::warn!(
        cut = len - keep,
        "audit log ended in a torn record; cutting it"
    );
    f.set_len(keep)?;
    f.sync_all()
}

impl AuditLog {
    /// Open (or create) the log at `path`; `None` keeps records in the process log only.
    pub fn open(path: Option<&Path>) -> Result<AuditLog, AuditError> {
        let file = match path {
            Some(p) => Some(open(p).map_err(|source| AuditError::Io {
                path: p.to_path_buf(),
                source,
            })?),
            None => None,
        };
        Ok(AuditLog {
            path: path.map(Path::to_path_buf),
            file: Mutex::new(file),
        })
    }

    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Open the path anew (after the file was rotated away).
    pub fn reopen(&self) -> Result<(), AuditError> {
        let Some(p) = &self.path else {
            return Ok(());
        };
        let f = open(p).map_err(|source| AuditError::Io {
            path: p.clone(),
            source,
        })?;
        *self.file.lock().unwrap_or_else(PoisonError::into_inner) = Some(f);
        Ok(())
    }

    /// Append `records` (one write) and sync them to disk before returning.
    pub fn append(&self, records: &[Record]) -> Result<(), AuditError> {
        self.write(records, true)
    }

    /// Append `records` in one write; with `sync`, wait until they are on
    /// disk (a later synced write covers unsynced ones).
    pub fn write(&self, records: &[Record], sync: bool) -> Result<(), AuditError> {
        if records.is_empty() {
            return Ok(());
        }
        let mut buf = Vec::with_capacity(records.len() * 512);
        for r in records {
            serde_json::to_writer(&mut buf, r)?;
            buf.push(b'\n');
            tracing::info!(
                target: "kurento_exporter::audit",
                event = ?r.event,
                kms = %r.target,
                object = %r.object,
                rule = %r.rule,
                mode = r.mode.as_str(),
                outcome = r.outcome,
                "audit"
            );
        }
        let mut guard = self.file.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(f) = guard.as_mut() else {
            return Ok(());
        };
        let path = self.path.clone().unwrap_or_default();
        f.write_all(&buf)
            .and_then(|()| if sync { f.sync_data() } else { Ok(()) })
            .map_err(|source| AuditError::Io { path, source })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(object: &str) -> Record {
        Record {
            time: rfc3339(1_700_000_000_123),
            time_ms: 1_700_000_000_123,
            event: Event::Intent,
            id: Some("i1".into()),
            target: "kms".into(),
            object: object.into(),
            object_type: "WebRtcEndpoint".into(),
            pipeline: "p".into(),
            rule: "r".into(),
            mode: Mode::Enforce,
            origin: "policy",
            outcome: "intent",
            held: None,
            detail: None,
            evidence: None,
            lock: None,
            creator: None,
        }
    }

    fn dir() -> PathBuf {
        let d = std::env::temp_dir().join(format!("ke-audit-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn lines_are_json_and_survive_rotation() {
        let d = dir();
        let path = d.join("a/audit.jsonl");
        let log = AuditLog::open(Some(&path)).unwrap();
        log.append(&[record("x"), record("y")]).unwrap();
        std::fs::rename(&path, d.join("old.jsonl")).unwrap();
        log.reopen().unwrap();
        log.append(&[record("z")]).unwrap();
        let old = std::fs::read_to_string(d.join("old.jsonl")).unwrap();
        let new = std::fs::read_to_string(&path).unwrap();
        assert_eq!(old.lines().count(), 2);
        assert_eq!(new.lines().count(), 1);
        let v: serde_json::Value = serde_json::from_str(new.trim()).unwrap();
        assert_eq!(v["object"], "z");
        assert_eq!(v["event"], "intent");
        assert_eq!(v["id"], "i1");
        assert_eq!(v["mode"], "enforce");
        assert_eq!(v["time"], "2023-11-14T22:13:20.123Z");
        std::fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn a_torn_tail_is_cut_at_open() {
        let d = dir();
        let path = d.join("audit.jsonl");
        std::fs::write(&path, "{\"a\":1}\n{\"b\":").unwrap();
        let log = AuditLog::open(Some(&path)).unwrap();
        log.append(&[record("x")]).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        for l in lines {
            serde_json::from_str::<serde_json::Value>(l).unwrap();
        }
        // A file of one torn line only.
        std::fs::write(&path, "{\"b\":").unwrap();
        drop(AuditLog::open(Some(&path)).unwrap());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "");
        std::fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn without_a_path_nothing_is_written() {
        let log = AuditLog::open(None).unwrap();
        log.append(&[record("x")]).unwrap();
        log.reopen().unwrap();
        assert!(log.path().is_none());
    }
}
