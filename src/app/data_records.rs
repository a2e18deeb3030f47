//! What a run's manifest records about its inputs: each dataset (format, root,
//! fingerprint), the images per class in every split it used, and every file a
//! bring-your-own representation imported.
use crate::cache::store::Store;
use crate::data::groups::TestGroups;
use crate::data::split::SplitClassCounts;
use crate::report::manifest::{DatasetRecord, ImportedFile, SplitCounts};
use crate::runner::plan::{DatasetPlan, SuitePlan};

/// Images per class in each split of every distinct evaluation-data split the
/// run used, with its test images' groups where the suite asks for them (read
/// from the cache; a split that is not there is left out).
pub(super) fn split_counts(plan: &SuitePlan, store: &Store) -> Vec<SplitCounts> {
    let mut out: Vec<(crate::cache::key::Key, SplitCounts)> = Vec::new();
    let mut data = crate::runner::execute::DataMemo::new(plan, store);
    for p in &plan.points {
        let label = p.label("").trim().to_string();
        if let Some((_, c)) = out.iter_mut().find(|(k, _)| *k == p.data.key) {
            c.points.push(label);
            continue;
        }
        let Ok(Some(entry)) = store.get(&p.data.key) else { continue };
        let splits = || crate::files::read_json::<crate::data::split::Splits>(&entry.file("splits.json")).ok();
        let stored = entry.file(crate::runner::stages::COUNTS_FILE);
        let counts = match crate::files::read_json::<SplitClassCounts>(&stored) {
            Ok(c) => c,
            // Entries from before counts.json: count from the data (decodes it).
            Err(_) => {
                let (Some(splits), Ok(ds)) = (splits(), data.get(&p.data)) else { continue };
                SplitClassCounts::of(&ds, &splits)
            }
        };
        let spec = &p.data.spec;
        // Computed from the stored metadata and split; why not, when not (the report warns).
        let (groups, groups_error) = match (spec.groups.is_empty(), splits()) {
            (true, _) => (None, None),
            (false, None) => (None, Some("the split's indices are not readable".to_string())),
            (false, Some(s)) => match data.get(&p.data).and_then(|ds| TestGroups::of(&ds, &s.test, &spec.groups)) {
                Ok(g) => (Some(g), None),
                Err(e) => (None, Some(e.to_string())),
            },
        };
        let SplitClassCounts { dataset, classes, class_names, train, val, test } = counts;
        // Names are not in any key: the suite's own list (names of the data's
        // labels, before `classes` and `label_map`) wins over the stored one.
        let class_names = match &spec.class_names {
            Some(names) if spec.label_map.is_empty() && spec.classes.is_empty() => names.clone(),
            Some(names) if spec.label_map.is_empty() => {
                spec.classes.iter().map(|&c| names.get(c).cloned().unwrap_or_else(|| format!("class {c}"))).collect()
            }
            _ => class_names,
        };
        out.push((
            p.data.key.clone(),
            SplitCounts { points: vec![label], dataset, classes, class_names, train, val, test, groups, groups_error },
        ));
    }
    out.into_iter().map(|(_, c)| c).collect()
}

/// Every imported file of the suite, once.
pub(super) fn imported_files(plan: &SuitePlan) -> Vec<ImportedFile> {
    let mut out: Vec<ImportedFile> = Vec::new();
    for f in plan.points.iter().flat_map(|p| p.reps.iter().flat_map(|r| r.files.iter())) {
        if !out.contains(f) {
            out.push(f.clone());
        }
    }
    out
}

/// What the image store of a photo dataset holds, if it was built.
fn store_record(d: &DatasetPlan, store: &Store) -> Option<crate::report::manifest::ImageStoreRecord> {
    if !d.source.format.uses_store() {
        return None;
    }
    let key = d.source.store_key(&d.fingerprint);
    let entry = store.get(&key).ok()??;
    let info: crate::data::image_store::StoreInfo = crate::files::read_json(&entry.file("store.json")).ok()?;
    let bytes =
        ["train.u8", "test.u8"].iter().filter_map(|f| std::fs::metadata(entry.file(f)).ok()).map(|m| m.len()).sum();
    Some(crate::report::manifest::ImageStoreRecord {
        key: key.0,
        shape: [info.channels, info.height, info.width],
        train: info.train,
        val: info.val,
        test: info.test,
        bytes,
        build_seconds: entry.meta.seconds,
        skipped: info.skipped.len(),
        skipped_examples: info.skipped.into_iter().take(10).collect(),
    })
}

pub(super) fn dataset_record(d: &DatasetPlan, store: &Store) -> DatasetRecord {
    DatasetRecord {
        images: store_record(d, store),
        name: d.source.name.clone(),
        format: format!("{:?}", d.source.format).to_lowercase(),
        root: d.source.root.display().to_string(),
        files: d.source.files.len(),
        fingerprint: d.fingerprint.clone(),
        note: d.source.note.clone(),
    }
}
