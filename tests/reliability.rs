//! Crash and concurrency safety with the real binary: processes killed with
//! SIGKILL at many points, interrupted with SIGINT, or run three at once on one
//! cache must end with exactly the results of one uninterrupted run.
mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::BIN;

/// A suite with a learned representation that trains for a few seconds (so
/// kills land in training, embedding, evaluation and cache writes alike).
fn suite() -> String {
    "suite: tiny
dataset: {path: tiny, format: idx, val_fraction: 0.2}
representations:
  raw: {kind: raw}
  pca: {kind: pca, components: 8}
  mlp:
    kind: supervised
    encoder: {arch: mlp, hidden: [64, 32]}
    train: {epochs: 80, batch_size: 16, warmup_epochs: 0}
evaluations:
  linear: {kind: linear_probe}
  knn: {kind: knn, k: [5]}
  clusters: {kind: clustering}
matrix:
  seed: [0, 1]
"
    .into()
}

fn setup() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    common::make_dataset(tmp.path(), 240, 60);
    std::fs::write(tmp.path().join("tiny.yaml"), suite()).unwrap();
    tmp
}

fn spawn(dir: &Path, cache: &str, out: &str) -> Child {
    Command::new(BIN)
        .current_dir(dir)
        .args(["run", "tiny.yaml", "--device", "cpu", "-q", "--cache", cache, "--out", out])
        .env("OMP_NUM_THREADS", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// (representation/evaluation/metric/seed, value) sorted, from a run directory.
/// The results a run reports, without the probe's solver diagnostics: the
/// final gradient (and so the iteration count) of a fit repeated in another
/// process can differ in the last bits, which only they show (the supervised
/// MLP's features did here; every accuracy, choice and score agreed).
fn results(dir: &Path) -> Vec<(String, f64)> {
    common::results(dir)
        .0
        .into_iter()
        .filter(|(k, _)| !k.contains("/grad_max/") && !k.contains("/iterations/"))
        .collect()
}

fn run_to_end(dir: &Path, cache: &str, out: &str) -> String {
    let o = spawn(dir, cache, out).wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert!(o.status.success(), "{err}");
    err
}

/// "N computed, M cached" from the summary line.
fn counts(stderr: &str) -> (usize, usize) {
    let line = stderr.lines().find(|l| l.contains(" computed, ")).unwrap_or_else(|| panic!("{stderr}"));
    let num = |s: &str| s.split_whitespace().last().unwrap().trim_start_matches('(').parse::<usize>().unwrap();
    let parts: Vec<&str> = line.split(',').collect();
    (num(parts[0].split(" computed").next().unwrap()), num(parts[1].split(" cached").next().unwrap()))
}

#[test]
fn sigkill_at_many_points_then_rerun_equals_an_uninterrupted_run() {
    let tmp = setup();
    let dir = tmp.path();
    let t = Instant::now();
    run_to_end(dir, "ref-cache", "ref");
    let full = t.elapsed();
    let reference = results(&dir.join("ref"));
    // 3 representations × 2 seeds × (linear 10 without its solver diagnostics
    // + knn 3 with balanced and worst-class accuracy + clusters 2).
    assert_eq!(reference.len(), 3 * 2 * 15);
    // Kill at 12 points spread over one uninterrupted run's duration; each
    // restart continues from what the previous ones left.
    let kills = 12;
    let mut killed = 0;
    for i in 0..kills {
        let mut c = spawn(dir, "cache", "out");
        std::thread::sleep(full.mul_f64(0.1 + 0.07 * i as f64).min(Duration::from_secs(20)));
        if c.try_wait().unwrap().is_none() {
            c.kill().unwrap(); // SIGKILL
            killed += 1;
        }
        let _ = c.wait();
    }
    // Each restart resumes, so the later ones may finish before their kill time.
    assert!(killed >= 4, "only {killed} of {kills} runs were still running when killed");
    eprintln!("{killed} of {kills} runs killed mid-run");
    run_to_end(dir, "cache", "out");
    assert_eq!(results(&dir.join("out")), reference, "resumed results must equal the uninterrupted run's, bit for bit");
    // Nothing corrupt in the cache; temp folders of killed writers are never entries.
    let v = Command::new(BIN).args(["cache", "verify", "--cache"]).arg(dir.join("cache")).output().unwrap();
    assert!(v.status.success(), "{}", String::from_utf8_lossy(&v.stdout));
}

#[test]
fn sigint_stops_cleanly_and_keeps_finished_work() {
    let tmp = setup();
    let dir = tmp.path();
    let t = Instant::now();
    run_to_end(dir, "ref-cache", "ref");
    let full = t.elapsed();
    let reference = results(&dir.join("ref"));
    let c = spawn(dir, "cache", "out");
    // Halfway: the first representations are done, the MLP is training.
    std::thread::sleep(full.mul_f64(0.5));
    let pid = c.id().to_string();
    assert!(Command::new("kill").args(["-INT", &pid]).status().unwrap().success());
    let o = c.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert_eq!(o.status.code(), Some(130), "a SIGINT mid-run exits with 130: {err}");
    // The report covers what finished and says so; nothing failed.
    let md = std::fs::read_to_string(dir.join("out/report.md")).unwrap();
    assert!(md.contains("Interrupted") && !md.contains("## Failures"), "{md}");
    assert!(err.contains("interrupted"), "{err}");
    let partial = results(&dir.join("out"));
    assert!(
        !partial.is_empty() && partial.len() < reference.len(),
        "{} of {} results before the interrupt",
        partial.len(),
        reference.len()
    );
    assert!(partial.iter().all(|p| reference.contains(p)));
    let after = run_to_end(dir, "cache", "out");
    assert_eq!(results(&dir.join("out")), reference);
    let (computed, cached) = counts(&after);
    assert_eq!(computed + cached, 3 * 2 * 3);
}

#[test]
fn three_concurrent_runs_compute_each_cell_once_and_agree() {
    concurrent_runs("flock");
}

/// The fallback for filesystems without flock(2).
#[test]
fn three_concurrent_runs_with_mkdir_locks() {
    concurrent_runs("mkdir");
}

fn concurrent_runs(lock: &str) {
    let tmp = setup();
    let dir = tmp.path();
    let children: Vec<Child> = (0..3)
        .map(|i| {
            let mut c = Command::new(BIN);
            c.current_dir(dir).args([
                "run",
                "tiny.yaml",
                "--device",
                "cpu",
                "-q",
                "--cache",
                "cache",
                "--out",
                &format!("out{i}"),
            ]);
            // One libtorch thread, as the fresh run below: a probe's solver sums in
            // another order over two threads, which moves ECE and NLL in the 8th digit.
            c.env("REPBENCH_LOCK", lock)
                .env("OMP_NUM_THREADS", "1")
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut computed = 0;
    for c in children {
        let o = c.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr).to_string();
        assert!(o.status.success(), "{err}");
        let (c, k) = counts(&err);
        assert_eq!(c + k, 18, "{err}");
        computed += c;
    }
    assert_eq!(computed, 18, "each of the 18 cells is computed by exactly one process");
    let r0 = results(&dir.join("out0"));
    assert_eq!(results(&dir.join("out1")), r0);
    assert_eq!(results(&dir.join("out2")), r0);
    // And the same as a run on a fresh cache.
    run_to_end(dir, "fresh", "fresh");
    assert_eq!(results(&dir.join("fresh")), r0);
}

/// Mounts a tmpfs of `kb` KiB at `dir` (root in a VM or CI machine); None where
/// mounting is not permitted (the test then says it was skipped).
fn tmpfs(dir: &Path, kb: u32) -> Option<()> {
    std::fs::create_dir_all(dir).unwrap();
    let ok = Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={kb}k"), "tmpfs"])
        .arg(dir)
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    ok.then_some(())
}

fn umount(dir: &Path) {
    let _ = Command::new("umount").arg(dir).status();
}

#[test]
fn full_or_read_only_cache_fails_clearly_and_leaves_no_partial_entry() {
    let tmp = setup();
    let dir = tmp.path();
    let mnt = dir.join("small");
    if tmpfs(&mnt, 4096).is_none() {
        eprintln!("skipped: cannot mount a tmpfs here (needs root)");
        return;
    }
    let result = std::panic::catch_unwind(|| {
        // Leave about 24 KiB free: enough for the first entries, not for all.
        let free = Command::new("df").args(["--output=avail", "-B1"]).arg(&mnt).output().unwrap();
        let avail: u64 = String::from_utf8_lossy(&free.stdout).lines().nth(1).unwrap().trim().parse().unwrap();
        std::fs::write(mnt.join("filler"), vec![0u8; avail.saturating_sub(24 << 10) as usize]).unwrap();
        let o = spawn(dir, mnt.join("cache").to_str().unwrap(), "out").wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr).to_string();
        assert!(!o.status.success());
        assert!(err.contains("No space left on device") && err.contains(mnt.to_str().unwrap()), "{err}");
        let v = Command::new(BIN).args(["cache", "verify", "--cache"]).arg(mnt.join("cache")).output().unwrap();
        assert!(v.status.success(), "no corrupt entry after a full disk: {}", String::from_utf8_lossy(&v.stdout));
        // Read-only: a clear error naming the cache, nothing written.
        std::fs::remove_file(mnt.join("filler")).unwrap();
        assert!(Command::new("mount").args(["-o", "remount,ro"]).arg(&mnt).status().unwrap().success());
        let o = spawn(dir, mnt.join("cache").to_str().unwrap(), "out").wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr).to_string();
        assert!(
            !o.status.success() && err.contains("Read-only file system") && err.contains(mnt.to_str().unwrap()),
            "{err}"
        );
        assert!(Command::new("mount").args(["-o", "remount,rw"]).arg(&mnt).status().unwrap().success());
        // With space again the run completes and matches a run on a fresh cache.
        run_to_end(dir, mnt.join("cache").to_str().unwrap(), "out");
        run_to_end(dir, "fresh", "fresh");
        assert_eq!(results(&dir.join("out")), results(&dir.join("fresh")));
    });
    umount(&mnt);
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
}

#[test]
fn a_changed_dataset_file_recomputes_everything_downstream() {
    let tmp = setup();
    let dir = tmp.path();
    run_to_end(dir, "cache", "out");
    let err = run_to_end(dir, "cache", "out");
    assert_eq!(counts(&err), (0, 18));
    // Flip one pixel: same size, new content (and mtime) → new fingerprint.
    let f = dir.join("tiny/train-images-idx3-ubyte");
    let mut b = std::fs::read(&f).unwrap();
    let last = b.len() - 1;
    b[last] ^= 0xff;
    std::thread::sleep(Duration::from_millis(20));
    std::fs::write(&f, b).unwrap();
    let err = run_to_end(dir, "cache", "out");
    assert_eq!(counts(&err), (18, 0), "every cell depends on the data: {err}");
    // A missing dataset is an error naming the folder.
    std::fs::remove_dir_all(dir.join("tiny")).unwrap();
    let o = spawn(dir, "cache", "out").wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert!(!o.status.success() && err.contains("tiny"), "{err}");
}

#[test]
fn two_workers_give_the_sequential_results_bit_for_bit() {
    let tmp = setup();
    let dir = tmp.path();
    // `threads: 1` fixes every cell's intra-op threads whatever the number of
    // workers (training rounds differently with 1 and 2 threads); the CKA
    // between representations is continuous, so it would show any difference.
    let s = suite()
        .replacen("suite: tiny\n", "suite: tiny\nthreads: 1\n", 1)
        .replace("  clusters: {kind: clustering}\n", "  clusters: {kind: clustering}\n  cka: {kind: similarity}\n");
    std::fs::write(dir.join("tiny.yaml"), s).unwrap();
    run_to_end(dir, "seq-cache", "seq");
    let o = Command::new(BIN)
        .current_dir(dir)
        .args(["run", "tiny.yaml", "--device", "cpu", "-q", "--cache", "par-cache", "--out", "par", "--jobs", "2"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert!(o.status.success(), "{:?} {err} {}", o.status, String::from_utf8_lossy(&o.stdout));
    // 6 units (3 representations × 2 seeds) ran in workers; the final pass read
    // them and computed the 2 CKA cells (one per seed).
    assert_eq!(counts(&err), (2, 18), "{err}");
    assert_eq!(std::fs::read_dir(dir.join("par/logs")).unwrap().count(), 6);
    assert_eq!(results(&dir.join("par")), results(&dir.join("seq")));
}

/// A photo folder big enough that decoding it takes a while: 3 classes of
/// 256×192 JPEGs with a class-specific gradient and noise.
fn photo_folder(root: &Path, per_class: usize) {
    let mut state = 7u64;
    for split in ["train", "test"] {
        for class in 0..3u32 {
            let d = root.join(split).join(format!("c{class}"));
            std::fs::create_dir_all(&d).unwrap();
            for i in 0..per_class {
                let img = image::RgbImage::from_fn(256, 192, |x, y| {
                    state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                    let n = (state >> 59) as u8;
                    let v = match class {
                        0 => x as u8,
                        1 => y as u8,
                        _ => (x + y) as u8,
                    };
                    image::Rgb([v.wrapping_add(n), v / 2 + n, 255 - v])
                });
                img.save(d.join(format!("{i:04}.jpg"))).unwrap();
            }
        }
    }
}

/// The image store is one cache entry: killed while decoding, it leaves no
/// entry (only a temp folder that `cache gc` clears); the build that finishes
/// stores exactly the bytes of an uninterrupted one.
#[test]
fn sigkill_while_decoding_the_image_store_leaves_nothing_half_written() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    photo_folder(&dir.join("photos"), 300);
    std::fs::write(
        dir.join("photos.yaml"),
        "suite: photos\ndataset: {path: photos, format: folder, image: {size: 96, resize: 110}}\nrepresentations: {raw: {kind: raw}}\nevaluations: {knn: {kind: knn, k: [5]}}\n",
    )
    .unwrap();
    let prepare = |cache: &str| {
        Command::new(BIN)
            .current_dir(dir)
            .args(["prepare", "photos.yaml", "--cache", cache])
            .env("RAYON_NUM_THREADS", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let t = Instant::now();
    let o = prepare("ref-cache").wait_with_output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let full = t.elapsed();
    let store_files = |cache: &str| -> Vec<(String, Vec<u8>)> {
        let mut v: Vec<(String, Vec<u8>)> = walkdir::WalkDir::new(dir.join(cache).join("objects"))
            .into_iter()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().is_file() && e.file_name() != "meta.json")
            .map(|e| (e.file_name().to_string_lossy().into_owned(), std::fs::read(e.path()).unwrap()))
            .collect();
        v.sort();
        v
    };
    let reference = store_files("ref-cache");
    assert_eq!(reference.iter().filter(|(n, _)| n.ends_with(".u8")).count(), 2);
    let mut killed = 0;
    for i in 0..5 {
        let mut c = prepare("cache");
        std::thread::sleep(full.mul_f64(0.15 + 0.15 * i as f64));
        if c.try_wait().unwrap().is_none() {
            c.kill().unwrap(); // SIGKILL
            killed += 1;
            let _ = c.wait();
            // A killed build left no entry, or — killed after the store was moved
            // into place, while the process was exiting — the whole one: never a part.
            let left = store_files("cache");
            assert!(left.is_empty() || left == reference, "a killed build left a partial entry in objects/");
        }
        let _ = c.wait();
    }
    assert!(killed >= 2, "only {killed} of 5 builds were still running when killed");
    let o = prepare("cache").wait_with_output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(store_files("cache"), reference, "the finished store equals an uninterrupted build, byte for byte");
    let v = Command::new(BIN).args(["cache", "verify", "--cache"]).arg(dir.join("cache")).output().unwrap();
    assert!(v.status.success(), "{}", String::from_utf8_lossy(&v.stdout));
}
