//! The database's files on disk are readable by their owner only.
//!
//! The database holds visitor ids, user ids and browsing histories, so the collector
//! creates it owner-only whatever the process umask: the directories it creates on the
//! way `0700`, the database file `0600` (created before SQLite opens it, then set
//! explicitly, since a umask could only take bits away). SQLite gives the `-wal` and
//! `-shm` files it creates the database file's mode; [`match_sidecars`] sets it again on
//! ones left behind by an earlier run. The mode of a database that already exists is the
//! operator's and is left alone, with a warning when others can read it.

use std::path::{Path, PathBuf};

use crate::store::StoreError;

/// Mode of the directories the collector creates for its database.
pub const DIR_MODE: u32 = 0o700;
/// Mode of a database file the collector creates, and of its `-wal` and `-shm` files.
pub const FILE_MODE: u32 = 0o600;

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Creates the missing directories above `db` (`0700`) and the file itself (`0600`) if it
/// does not exist yet; warns when an existing file is readable by others.
pub(super) fn prepare(db: &Path) -> Result<(), StoreError> {
    if let Some(dir) = db.parent().filter(|d| !d.as_os_str().is_empty()) {
        create_dirs(dir)?;
    }
    create_file(db)
}

/// The `-wal` and `-shm` files next to `db`.
#[cfg(unix)]
fn sidecars(db: &Path) -> [PathBuf; 2] {
    ["-wal", "-shm"].map(|suffix| {
        let mut name = db.as_os_str().to_owned();
        name.push(suffix);
        PathBuf::from(name)
    })
}

#[cfg(unix)]
fn create_dirs(dir: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::PermissionsExt;
    // The directories that do not exist yet, deepest first: only those get our mode.
    let missing: Vec<&Path> = dir
        .ancestors()
        .take_while(|d| !d.as_os_str().is_empty() && !d.exists())
        .collect();
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    for d in missing {
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(DIR_MODE)).map_err(io(d))?;
    }
    Ok(())
}

#[cfg(unix)]
fn create_file(db: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let created = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(FILE_MODE)
        .open(db);
    match created {
        Ok(_) => {
            std::fs::set_permissions(db, std::fs::Permissions::from_mode(FILE_MODE)).map_err(io(db))
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let mode = std::fs::metadata(db).map_err(io(db))?.permissions().mode();
            if mode & 0o077 != 0 {
                tracing::warn!(
                    path = %db.display(),
                    mode = format!("{:o}", mode & 0o777),
                    "the database file is readable by other users; chmod 600 it"
                );
            }
            Ok(())
        }
        Err(e) => Err(io(db)(e)),
    }
}

/// Gives the `-wal` and `-shm` files next to `db`, where they exist, the database file's
/// own mode.
#[cfg(unix)]
pub(super) fn match_sidecars(db: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::PermissionsExt;
    let Ok(meta) = std::fs::metadata(db) else {
        return Ok(());
    };
    let mode = meta.permissions().mode() & 0o777;
    for sidecar in sidecars(db) {
        match std::fs::metadata(&sidecar) {
            Ok(m) if m.permissions().mode() & 0o777 != mode => {
                std::fs::set_permissions(&sidecar, std::fs::Permissions::from_mode(mode))
                    .map_err(io(&sidecar))?;
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(not(unix))]
fn create_dirs(dir: &Path) -> Result<(), StoreError> {
    std::fs::create_dir_all(dir).map_err(io(dir))
}

#[cfg(not(unix))]
fn create_file(_db: &Path) -> Result<(), StoreError> {
    Ok(())
}

#[cfg(not(unix))]
pub(super) fn match_sidecars(_db: &Path) -> Result<(), StoreError> {
    Ok(())
}
