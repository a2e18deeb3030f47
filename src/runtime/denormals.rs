//! Subnormal ("denormal") floats flushed to zero.
//!
//! Why: on x86 a multiply or add whose operand or result is subnormal (below
//! 1.2e-38 in f32) takes a microcode assist of ~100 cycles instead of one, and
//! training makes them: weight decay shrinks dead filters geometrically through
//! the subnormal range, and a sharp softmax (DINO's teacher at temperature 0.04,
//! attention) gives probabilities of exp(-90). On the Intel Xeon of the
//! development machine a 2-thread convolution took 25× and a matrix product 200×
//! longer on subnormal operands (docs/subnormals.md), and a
//! collapsed DINO ran its last epochs 2–4× slower. PyTorch leaves them on
//! (`torch.set_flush_denormal(False)`); repbench turns on FTZ (results flushed) and
//! DAZ (operands read as zero) at start-up, before libtorch or rayon start any
//! thread: a thread copies its creator's floating-point control register, so every
//! worker inherits the setting. `REPBENCH_KEEP_DENORMALS=1` keeps IEEE subnormals
//! (PyTorch's behaviour), for comparisons; the manifest records which was used.
//!
//! A value that small changes a sum of ordinary-sized terms by nothing (it is under
//! half an ulp), so results move only where every term is that small.

/// The environment variable that keeps subnormals (any value but `0`).
pub const KEEP_VAR: &str = "REPBENCH_KEEP_DENORMALS";

#[cfg(target_arch = "x86_64")]
mod arch {
    /// MXCSR bits: FTZ (15) and DAZ (6).
    const BITS: u32 = (1 << 15) | (1 << 6);

    fn read() -> u32 {
        let mut csr: u32 = 0;
        // SAFETY: stmxcsr stores the 32-bit MXCSR register at the given address.
        unsafe { std::arch::asm!("stmxcsr [{}]", in(reg) &mut csr as *mut u32, options(nostack)) };
        csr
    }

    pub fn set(on: bool) -> bool {
        let csr = if on { read() | BITS } else { read() & !BITS };
        // SAFETY: ldmxcsr loads MXCSR from the given address; only the FTZ and DAZ
        // bits differ from the current value, which are valid on every x86_64 CPU.
        unsafe { std::arch::asm!("ldmxcsr [{}]", in(reg) &csr as *const u32, options(nostack)) };
        true
    }

    pub fn get() -> bool {
        read() & BITS == BITS
    }
}

#[cfg(target_arch = "aarch64")]
mod arch {
    /// FPCR bit 24: flush-to-zero (inputs and results).
    const FZ: u64 = 1 << 24;

    fn read() -> u64 {
        let v: u64;
        // SAFETY: reads the floating-point control register.
        unsafe { std::arch::asm!("mrs {}, fpcr", out(reg) v, options(nomem, nostack)) };
        v
    }

    pub fn set(on: bool) -> bool {
        let v = if on { read() | FZ } else { read() & !FZ };
        // SAFETY: writes FPCR with only the FZ bit changed.
        unsafe { std::arch::asm!("msr fpcr, {}", in(reg) v, options(nomem, nostack)) };
        true
    }

    pub fn get() -> bool {
        read() & FZ == FZ
    }
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
mod arch {
    pub fn set(_on: bool) -> bool {
        false
    }

    pub fn get() -> bool {
        false
    }
}

/// Sets flushing on this thread (and the threads it starts afterwards) unless
/// `REPBENCH_KEEP_DENORMALS` asks to keep subnormals. Call it first thing in a
/// process. Returns whether subnormals are flushed now.
pub fn init_from_env() -> bool {
    let keep = std::env::var_os(KEEP_VAR).is_some_and(|v| v != "0");
    set_flush(!keep);
    flushed()
}

/// Turns flushing on or off for this thread; false where the CPU architecture
/// has no such switch known to repbench (then subnormals are kept).
pub fn set_flush(on: bool) -> bool {
    arch::set(on)
}

/// Whether this thread flushes subnormals to zero.
pub fn flushed() -> bool {
    arch::get()
}

/// How many of `n` subnormal values survive `x * 1` in libtorch: 0 when every
/// thread libtorch ran the product on flushes them, `n` when none does. Large
/// enough for libtorch to split it over its intra-op threads.
pub fn surviving_subnormals(n: i64) -> i64 {
    let x = tch::Tensor::full([n], 1e-39, (tch::Kind::Float, tch::Device::Cpu));
    (x * 1.0).count_nonzero(0).int64_value(&[])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flushing_reaches_threads_started_afterwards_and_can_be_undone() {
        let before = flushed();
        assert!(set_flush(true));
        assert!(flushed());
        assert!(std::thread::spawn(flushed).join().unwrap(), "a new thread inherits the setting");
        let tiny = std::hint::black_box(1e-39f32);
        assert_eq!(std::hint::black_box(tiny * 1.0), 0.0, "a subnormal operand reads as zero");
        assert!(set_flush(false));
        assert!(!flushed());
        assert!(!std::thread::spawn(flushed).join().unwrap());
        assert_eq!(std::hint::black_box(tiny * 1.0), tiny, "IEEE subnormals again");
        set_flush(before);
    }
}
