//! Training: one loop for every learned method (`trainer`), hand-written
//! optimizers whose state can be checkpointed (`optim`), and per-epoch checkpoints
//! in the cache so a killed run resumes from its last finished epoch (`checkpoint`).
pub mod checkpoint;
pub mod decay_check;
pub mod defaults;
pub mod monitor;
pub mod optim;
pub mod trainer;
