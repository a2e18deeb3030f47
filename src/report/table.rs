//! results.csv / results.parquet (long form, one row per metric) and summary.csv,
//! written through polars so any data tool reads them.
use super::stats::SummaryRow;
use crate::error::{Error, Result};
use crate::files::write_atomic;
use crate::runner::ResultRow;
use polars::prelude::*;
use std::path::Path;

fn perr(path: &Path, e: PolarsError) -> Error {
    Error::data(path, format!("polars: {e}"))
}

fn col<T, P>(name: &str, v: T) -> Column
where
    Series: NamedFrom<T, P>,
    P: ?Sized,
{
    Column::new(name.into(), v)
}

fn results_frame(rows: &[ResultRow]) -> PolarsResult<DataFrame> {
    let s = |f: fn(&ResultRow) -> &str| rows.iter().map(|r| f(r).to_string()).collect::<Vec<String>>();
    let f = |f: fn(&ResultRow) -> f64| rows.iter().map(f).collect::<Vec<f64>>();
    DataFrame::new(vec![
        col("suite", s(|r| &r.suite)),
        col("representation", s(|r| &r.representation)),
        col("kind", s(|r| &r.kind)),
        col("evaluation", s(|r| &r.evaluation)),
        col("eval_kind", s(|r| &r.eval_kind)),
        col("metric", s(|r| &r.metric)),
        col("value", f(|r| r.value)),
        col("seed", rows.iter().map(|r| r.seed).collect::<Vec<u64>>()),
        col("params", s(|r| &r.params)),
        col("cell_key", s(|r| &r.cell_key)),
        col("cached", rows.iter().map(|r| r.cached).collect::<Vec<bool>>()),
        col("fit_seconds", f(|r| r.fit_seconds)),
        col("embed_seconds", f(|r| r.embed_seconds)),
        col("eval_seconds", f(|r| r.eval_seconds)),
    ])
}

fn csv_bytes(path: &Path, df: &mut DataFrame) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    CsvWriter::new(&mut buf).include_header(true).finish(df).map_err(|e| perr(path, e))?;
    Ok(buf)
}

pub fn write_results(dir: &Path, rows: &[ResultRow]) -> Result<()> {
    let csv = dir.join("results.csv");
    let mut df = results_frame(rows).map_err(|e| perr(&csv, e))?;
    write_atomic(&csv, &csv_bytes(&csv, &mut df)?)?;
    let pq = dir.join("results.parquet");
    let mut buf = Vec::new();
    ParquetWriter::new(&mut buf).finish(&mut df).map_err(|e| perr(&pq, e))?;
    write_atomic(&pq, &buf)
}

pub fn write_summary(dir: &Path, rows: &[SummaryRow]) -> Result<()> {
    let path = dir.join("summary.csv");
    let s = |f: fn(&SummaryRow) -> &str| rows.iter().map(|r| f(r).to_string()).collect::<Vec<String>>();
    let f = |f: fn(&SummaryRow) -> f64| rows.iter().map(f).collect::<Vec<f64>>();
    let mut df = DataFrame::new(vec![
        col("representation", s(|r| &r.representation)),
        col("kind", s(|r| &r.kind)),
        col("params", s(|r| &r.params)),
        col("evaluation", s(|r| &r.evaluation)),
        col("eval_kind", s(|r| &r.eval_kind)),
        col("metric", s(|r| &r.metric)),
        col("mean", f(|r| r.mean)),
        col("std", f(|r| r.std)),
        col("n", rows.iter().map(|r| r.n as u64).collect::<Vec<u64>>()),
        col("ci95_low", f(|r| r.ci95_low)),
        col("ci95_high", f(|r| r.ci95_high)),
        col("cell_keys", s(|r| &r.cell_keys)),
    ])
    .map_err(|e| perr(&path, e))?;
    write_atomic(&path, &csv_bytes(&path, &mut df)?)
}

/// Reads results.parquet back into rows.
pub fn read_results(path: &Path) -> Result<Vec<ResultRow>> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let df = ParquetReader::new(file).finish().map_err(|e| perr(path, e))?;
    let get = |name: &str| df.column(name).map_err(|e| perr(path, e));
    let strs = |name: &str| -> Result<Vec<String>> {
        Ok(get(name)?.str().map_err(|e| perr(path, e))?.into_iter().map(|v| v.unwrap_or("").to_string()).collect())
    };
    let floats = |name: &str| -> Result<Vec<f64>> {
        Ok(get(name)?.f64().map_err(|e| perr(path, e))?.into_iter().map(|v| v.unwrap_or(f64::NAN)).collect())
    };
    let (suite, rep, kind, eval, ekind, metric, params, key) = (
        strs("suite")?,
        strs("representation")?,
        strs("kind")?,
        strs("evaluation")?,
        strs("eval_kind")?,
        strs("metric")?,
        strs("params")?,
        strs("cell_key")?,
    );
    let (value, fit, emb, ev) =
        (floats("value")?, floats("fit_seconds")?, floats("embed_seconds")?, floats("eval_seconds")?);
    let seed: Vec<u64> = get("seed")?.u64().map_err(|e| perr(path, e))?.into_iter().map(|v| v.unwrap_or(0)).collect();
    let cached: Vec<bool> =
        get("cached")?.bool().map_err(|e| perr(path, e))?.into_iter().map(|v| v.unwrap_or(false)).collect();
    Ok((0..df.height())
        .map(|i| ResultRow {
            suite: suite[i].clone(),
            representation: rep[i].clone(),
            kind: kind[i].clone(),
            evaluation: eval[i].clone(),
            eval_kind: ekind[i].clone(),
            metric: metric[i].clone(),
            value: value[i],
            seed: seed[i],
            params: params[i].clone(),
            cell_key: key[i].clone(),
            cached: cached[i],
            fit_seconds: fit[i],
            embed_seconds: emb[i],
            eval_seconds: ev[i],
        })
        .collect())
}
