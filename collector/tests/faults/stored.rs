//! The store as the tests read it: straight from the database file, after the collector
//! stopped.

use std::collections::HashSet;
use std::path::Path;

/// The store as read straight from the file after the collector stopped.
pub struct Stored {
    /// Every stored event id, with how many rows carry it.
    pub ids: Vec<(String, i64)>,
    pub integrity: String,
}

impl Stored {
    pub fn read(db: &Path) -> Stored {
        let conn =
            rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
                .unwrap();
        let integrity: String = conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        let mut stmt = conn
            .prepare("SELECT id, count(*) FROM events GROUP BY id")
            .unwrap();
        let ids = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        Stored { ids, integrity }
    }

    /// The file's size in pages.
    pub fn page_count(db: &Path) -> i64 {
        let conn = rusqlite::Connection::open(db).unwrap();
        conn.query_row("PRAGMA page_count", [], |r| r.get(0))
            .unwrap()
    }

    pub fn id_set(&self) -> HashSet<String> {
        self.ids.iter().map(|(id, _)| id.clone()).collect()
    }

    /// Asserts every id of `acked` is stored exactly once.
    pub fn assert_holds_once(&self, acked: &HashSet<String>) {
        assert!(
            self.ids.iter().all(|(_, n)| *n == 1),
            "an event id is stored twice"
        );
        let stored = self.id_set();
        let missing: Vec<_> = acked.difference(&stored).take(5).collect();
        assert!(
            missing.is_empty(),
            "{} acknowledged events are not stored, e.g. {missing:?}",
            acked.difference(&stored).count()
        );
    }
}
