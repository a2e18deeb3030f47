//! The content-addressed store. Every stage (dataset split, representation fit,
//! embeddings, evaluation) is keyed by sha256 over the canonical JSON of its
//! resolved config, its upstream keys and the cache format version — never by a
//! path — and written atomically, so an entry is either complete or absent.
pub mod gc;
pub mod inspect;
pub mod key;
pub mod lock;
pub mod mapped_tensors;
pub mod store;
