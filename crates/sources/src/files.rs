use std::path::{Path, PathBuf};

/// Why a configured path list could not be turned into files.
#[derive(Debug, thiserror::Error)]
pub enum FileListError {
    #[error("invalid glob {pattern:?}: {reason}")]
    Pattern { pattern: String, reason: String },
    #[error("no file matches {pattern:?} (resolved against {base})")]
    NoMatch { pattern: String, base: PathBuf },
    #[error("cannot read {path}: {reason}")]
    Unreadable { path: PathBuf, reason: String },
}

/// Expands configured paths (globs allowed) against `base`, the config file's directory.
///
/// Each pattern must match at least one file: a pattern that matches nothing is almost
/// always a typo or a missing mount, and billing from "no records" would report zeros.
/// Files are returned sorted and de-duplicated, so runs are reproducible.
pub fn expand_paths(base: &Path, patterns: &[String]) -> Result<Vec<PathBuf>, FileListError> {
    let mut out = Vec::new();
    for pattern in patterns {
        let full = if Path::new(pattern).is_absolute() {
            PathBuf::from(pattern)
        } else {
            base.join(pattern)
        };
        let full_str = full.to_string_lossy().into_owned();
        let mut matched = Vec::new();
        let entries = glob::glob(&full_str).map_err(|e| FileListError::Pattern {
            pattern: pattern.clone(),
            reason: e.to_string(),
        })?;
        for entry in entries {
            let path = entry.map_err(|e| FileListError::Unreadable {
                path: e.path().to_path_buf(),
                reason: e.error().to_string(),
            })?;
            if path.is_file() {
                matched.push(path);
            }
        }
        if matched.is_empty() {
            return Err(FileListError::NoMatch {
                pattern: pattern.clone(),
                base: base.to_path_buf(),
            });
        }
        out.extend(matched);
    }
    out.sort();
    out.dedup();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_resolve_sorted_and_missing_files_fail() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["b.txt", "a.txt", "c.log"] {
            std::fs::write(dir.path().join(name), "x").unwrap();
        }
        let files = expand_paths(dir.path(), &["*.txt".into(), "a.txt".into()]).unwrap();
        let names: Vec<_> = files
            .iter()
            .map(|p| p.file_name().unwrap().to_str().unwrap())
            .collect();
        assert_eq!(names, ["a.txt", "b.txt"]);
        let err = expand_paths(dir.path(), &["missing/*.txt".into()]).unwrap_err();
        assert!(err.to_string().contains("missing/*.txt"), "{err}");
    }
}
