//! The dashboard's rows as a model, built from the store when it changes (its generation),
//! never per frame. Per view a table of typed values (`table.rs`: a value owns its cell's
//! text, its sort key and the filter's text; a column its title, width priority and sort; a
//! row what Enter opens), built by one module per view (`overview`, `sems`, `shm`, `queues`,
//! `procs`, `events`); the details and the Problems view as documents of lines and links
//! (`doc.rs`, `detail/`, `problems.rs`); the namespace picker's choices (`picker.rs`);
//! `cache.rs` keeps each with the stamp of the store it was built from. The app reads
//! targets and links here; the views only draw what is here.
//!
//! Layering (checked by `xtask/tests/architecture.rs`: no import cycle among the ui's files):
//! `table`, `doc`, `cx` at the bottom; `blind`, `waits` on them; the view builders and
//! `problems` on those; `detail/` on those; `cache` on everything here; this file only
//! declares and re-exports.
pub mod blind;
pub mod cache;
pub mod cx;
pub mod detail;
pub mod doc;
pub mod events;
pub mod overview;
pub mod picker;
pub mod posix;
pub mod problem_kinds;
pub mod problems;
pub mod problems_posix;
pub mod procs;
pub mod queues;
pub mod sems;
pub mod shm;
pub mod table;
pub mod waits;

pub use cache::{Cache, Entry, Opts, Stamp, TableId};
pub use cx::Cx;

use crate::ui::view::View;

/// The table a view lists (the Problems view is a document).
pub fn table_of(view: View) -> Option<TableId> {
    match view {
        View::Overview => Some(TableId::Waits),
        View::Semaphores => Some(TableId::Sems),
        View::Shm => Some(TableId::Shm),
        View::Queues => Some(TableId::Queues),
        View::Processes => Some(TableId::Procs),
        View::Events => Some(TableId::Events),
        View::Problems => None,
        View::Posix => Some(TableId::Posix),
    }
}
