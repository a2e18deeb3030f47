//! What each figure draws, one struct per figure kind, stored among a cell's
//! details. The evaluation that computes the data writes it with `put` and the
//! report reads it back with `get` — the same struct on both sides, so a
//! renamed or missing field is an error naming the figure and the field when
//! the report loads, not a silently empty figure. Fields keep the names the
//! details always had, so stored runs read as before.
use super::embedding_map::MapMethod;
use super::FigureKind;
use crate::error::{Error, Result};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};

/// A figure kind's data.
pub trait FigureData: Serialize + DeserializeOwned {
    const KIND: FigureKind;
}

/// Adds `data`'s fields to a cell's details (a JSON object).
pub fn put<T: FigureData>(details: &mut serde_json::Value, data: &T) -> Result<()> {
    let fields = serde_json::to_value(data).map_err(|e| Error::stage(format!("{:?} figure data: {e}", T::KIND)))?;
    match (details.as_object_mut(), fields) {
        (Some(into), serde_json::Value::Object(from)) => {
            into.extend(from);
            Ok(())
        }
        _ => Err(Error::stage(format!("{:?} figure data: details are not a JSON object", T::KIND))),
    }
}

/// Reads a figure kind's data from a cell's details; the error names the kind
/// and what is missing or malformed.
pub fn get<T: FigureData>(details: &serde_json::Value) -> std::result::Result<T, String> {
    T::deserialize(details).map_err(|e| format!("{:?} figure data: {e}", T::KIND))
}

/// An `Option` field that must be present (`null` allowed): serde would
/// otherwise read a missing `Option` as `None`, hiding a renamed field.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> std::result::Result<Option<T>, D::Error> {
    Option::<T>::deserialize(d)
}

/// Test predictions against labels: `confusion[true][predicted]` counts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfusionData {
    pub confusion: Vec<Vec<i64>>,
}

impl FigureData for ConfusionData {
    const KIND: FigureKind = FigureKind::Confusion;
}

/// Confidence bins of the test predictions (see `class_metrics::calibration`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReliabilityData {
    pub reliability: Vec<super::class_metrics::Bin>,
}

impl FigureData for ReliabilityData {
    const KIND: FigureKind = FigureKind::Reliability;
}

/// Linear CKA between an encoder's blocks (`null` when not computed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BlockCkaData {
    #[serde(deserialize_with = "present")]
    pub layer_cka: Option<Vec<Vec<f64>>>,
    /// The CKA estimator; absent in cells stored before the debiased default (biased).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimator: Option<crate::eval::similarity::CkaEstimator>,
}

impl FigureData for BlockCkaData {
    const KIND: FigureKind = FigureKind::BlockCka;
}

/// A 2-D map of test points with their labels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmbeddingMapData {
    pub method: MapMethod,
    pub x: Vec<f64>,
    pub y: Vec<f64>,
    pub labels: Vec<i64>,
}

impl FigureData for EmbeddingMapData {
    const KIND: FigureKind = FigureKind::EmbeddingMap;
}

/// Last-block CLS attention of a few test images: the images (`u8`, N × C × H
/// × W as `image_shape` = [C, H, W]), their labels, and `attention` (N × heads
/// × grid[0] × grid[1]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttentionGridData {
    pub image_shape: Vec<i64>,
    pub images: Vec<u8>,
    pub labels: Vec<i64>,
    pub heads: i64,
    pub grid: [i64; 2],
    pub attention: Vec<f64>,
}

impl FigureData for AttentionGridData {
    const KIND: FigureKind = FigureKind::AttentionGrid;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_then_get_round_trips_and_a_missing_field_is_an_error() {
        let mut details = serde_json::json!({ "test_images": 3 });
        let c = ConfusionData { confusion: vec![vec![1, 0], vec![2, 3]] };
        put(&mut details, &c).unwrap();
        assert_eq!(details["test_images"], 3, "other details stay");
        assert_eq!(get::<ConfusionData>(&details).unwrap(), c);
        let e = get::<ConfusionData>(&serde_json::json!({ "confusions": [[1]] })).unwrap_err();
        assert!(e.contains("Confusion") && e.contains("missing field `confusion`"), "{e}");
        // A missing Option is an error too; an explicit null is "not computed".
        let e = get::<BlockCkaData>(&serde_json::json!({})).unwrap_err();
        assert!(e.contains("layer_cka"), "{e}");
        assert_eq!(get::<BlockCkaData>(&serde_json::json!({ "layer_cka": null })).unwrap().layer_cka, None);
    }

    #[test]
    fn put_keeps_the_bytes_the_details_had() {
        // details.json of stored runs must not change when evaluations write
        // their figure data through `put` instead of `json!` (keys are sorted).
        let labels = vec![0i64, 1];
        let x = vec![0.5, 1.25];
        let by_hand = serde_json::json!({ "method": MapMethod::Tsne, "x": x, "y": x, "labels": labels });
        let mut typed = serde_json::json!({});
        put(&mut typed, &EmbeddingMapData { method: MapMethod::Tsne, x: x.clone(), y: x, labels }).unwrap();
        assert_eq!(serde_json::to_string(&typed).unwrap(), serde_json::to_string(&by_hand).unwrap());
    }
}
