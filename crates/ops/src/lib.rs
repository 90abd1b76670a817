//! The provider operations of the Waldur SDK service-provider guide and the Puhuri
//! resource-allocation guide as library calls, on the typed client (`tally_waldur`).
//!
//! Each mutating operation comes back as a [`Batch`]: one [`Outcome`] per object (done or failed,
//! the object's state now, the server's words) and the 401 that stopped the run, if one did.
//! What to do with it (print it, turn failures into an exit code) is the caller's: the `tally`
//! binary renders it and exits 4 on [`NotDone`], 6 on a refused token.
//!
//! The sequencing the guides leave to the reader lives here: which call to fall back to when a
//! server generation has no endpoint for this token (`resources::set_state`), which state to
//! report after an action, which refusal deserves a hint.

pub mod listing;
pub mod offering_users;
pub mod orders;
mod outcome;
pub mod provider;
pub mod resources;

pub use listing::{fetch, Listing};
pub use outcome::{each, tally_says, Batch, NotDone, Outcome};
