//! Parsing device geolocation into a checked point.

use serde::{Deserialize, Serialize};

/// A checked geolocation fix.
#[derive(Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Point {
    pub lat: f64,
    pub lon: f64,
    pub accuracy_m: f64,
}

impl std::fmt::Debug for Point {
    // A child's position is child data: never in logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Point(<redacted>)")
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LocationError {
    #[error("lat must be a number from -90 to 90")]
    Latitude,
    #[error("lon must be a number from -180 to 180")]
    Longitude,
    #[error("accuracy_m must be a number from 0 to 100000")]
    Accuracy,
}

impl Point {
    pub fn parse(lat: f64, lon: f64, accuracy_m: f64) -> Result<Self, LocationError> {
        if !lat.is_finite() || !(-90.0..=90.0).contains(&lat) {
            return Err(LocationError::Latitude);
        }
        if !lon.is_finite() || !(-180.0..=180.0).contains(&lon) {
            return Err(LocationError::Longitude);
        }
        if !accuracy_m.is_finite() || !(0.0..=100_000.0).contains(&accuracy_m) {
            return Err(LocationError::Accuracy);
        }
        Ok(Self { lat, lon, accuracy_m })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coordinates_are_range_checked() {
        assert!(Point::parse(51.5, -0.12, 10.0).is_ok());
        assert_eq!(Point::parse(91.0, 0.0, 1.0), Err(LocationError::Latitude));
        assert_eq!(Point::parse(f64::NAN, 0.0, 1.0), Err(LocationError::Latitude));
        assert_eq!(Point::parse(0.0, 180.5, 1.0), Err(LocationError::Longitude));
        assert_eq!(Point::parse(0.0, 0.0, -1.0), Err(LocationError::Accuracy));
        assert_eq!(format!("{:?}", Point::parse(1.0, 2.0, 3.0).unwrap()), "Point(<redacted>)");
    }
}
