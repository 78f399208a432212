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

const BASE32: &[u8; 32] = b"0123456789bcdefghjkmnpqrstuvwxyz";

/// The geohash of a point, `precision` characters long.
pub fn geohash(lat: f64, lon: f64, precision: usize) -> String {
    let (mut lat_r, mut lon_r) = ((-90.0f64, 90.0f64), (-180.0f64, 180.0f64));
    let mut out = String::with_capacity(precision);
    let (mut bits, mut ch, mut even) = (0, 0usize, true);
    while out.len() < precision {
        let (range, v) = if even { (&mut lon_r, lon) } else { (&mut lat_r, lat) };
        let mid = (range.0 + range.1) / 2.0;
        ch <<= 1;
        if v >= mid {
            ch |= 1;
            range.0 = mid;
        } else {
            range.1 = mid;
        }
        even = !even;
        bits += 1;
        if bits == 5 {
            out.push(BASE32[ch] as char);
            bits = 0;
            ch = 0;
        }
    }
    out
}

/// The cell a geohash names: its centre, and its half-size in degrees (lat, lon).
pub fn geohash_cell(hash: &str) -> Option<(f64, f64, f64, f64)> {
    let (mut lat_r, mut lon_r) = ((-90.0f64, 90.0f64), (-180.0f64, 180.0f64));
    let mut even = true;
    for c in hash.bytes() {
        let v = BASE32.iter().position(|b| *b == c)?;
        for shift in (0..5).rev() {
            let range = if even { &mut lon_r } else { &mut lat_r };
            let mid = (range.0 + range.1) / 2.0;
            if (v >> shift) & 1 == 1 {
                range.0 = mid;
            } else {
                range.1 = mid;
            }
            even = !even;
        }
    }
    Some(((lat_r.0 + lat_r.1) / 2.0, (lon_r.0 + lon_r.1) / 2.0, (lat_r.1 - lat_r.0) / 2.0, (lon_r.1 - lon_r.0) / 2.0))
}

/// A point made approximate: the centre of its geohash cell, with an accuracy
/// that covers the cell. What is stored when precise location is not allowed.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct CoarsePoint {
    pub lat: f64,
    pub lon: f64,
    pub accuracy_m: f64,
    /// The geohash cell.
    pub cell: String,
}

impl std::fmt::Debug for CoarsePoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CoarsePoint(<redacted>)")
    }
}

impl Point {
    /// The point made approximate to a geohash cell of `precision` characters.
    pub fn coarsen(&self, precision: usize) -> CoarsePoint {
        let cell = geohash(self.lat, self.lon, precision);
        let (lat, lon, dlat, dlon) = geohash_cell(&cell).unwrap_or((0.0, 0.0, 90.0, 180.0));
        // Half the cell's diagonal, in metres (a degree of latitude is ~111 km).
        let dy = dlat * 111_320.0;
        let dx = dlon * 111_320.0 * lat.to_radians().cos();
        CoarsePoint { lat, lon, accuracy_m: (dx * dx + dy * dy).sqrt().round(), cell }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn geohashes_match_the_reference_and_cells_contain_their_points() {
        // The canonical example (Wikipedia, geohash.org): 57.64911, 10.40744.
        assert_eq!(geohash(57.64911, 10.40744, 11), "u4pruydqqvj");
        assert_eq!(geohash(52.3702, 4.8952, 5), "u173z");
        let c = Point::parse(52.3702, 4.8952, 5.0).unwrap().coarsen(5);
        assert_eq!(c.cell, "u173z");
        assert!((c.lat - 52.3702).abs() < 0.03 && (c.lon - 4.8952).abs() < 0.03);
        assert!(c.lat != 52.3702 && c.lon != 4.8952, "the precise point is not kept");
        assert!((2000.0..4000.0).contains(&c.accuracy_m), "a ~4.9 km cell: {}", c.accuracy_m);
        let (lat, lon, dlat, dlon) = geohash_cell("u173z").unwrap();
        assert!((lat - 52.3702).abs() <= dlat && (lon - 4.8952).abs() <= dlon);
        assert_eq!(geohash_cell("u1a"), None);
    }

    #[test]
    fn coordinates_are_range_checked() {
        assert!(Point::parse(51.5, -0.12, 10.0).is_ok());
        assert_eq!(Point::parse(91.0, 0.0, 1.0), Err(LocationError::Latitude));
        assert_eq!(Point::parse(f64::NAN, 0.0, 1.0), Err(LocationError::Latitude));
        assert_eq!(Point::parse(0.0, 180.5, 1.0), Err(LocationError::Longitude));
        assert_eq!(Point::parse(0.0, 0.0, -1.0), Err(LocationError::Accuracy));
        assert_eq!(format!("{:?}", Point::parse(1.0, 2.0, 3.0).unwrap()), "Point(<redacted>)");
    }

    proptest::proptest! {
        /// Any three numbers: refused, or a point in range whose coarse cell
        /// (what is stored without the precise-location permission) contains it.
        #[test]
        fn any_coordinates_are_refused_or_coarsen_around_themselves(
            lat in proptest::num::f64::ANY, lon in proptest::num::f64::ANY, acc in proptest::num::f64::ANY,
        ) {
            if let Ok(p) = Point::parse(lat, lon, acc) {
                proptest::prop_assert!((-90.0..=90.0).contains(&p.lat) && (-180.0..=180.0).contains(&p.lon));
                let hash = geohash(p.lat, p.lon, 5);
                let (lat, lon, dlat, dlon) = geohash_cell(&hash).unwrap();
                proptest::prop_assert!((p.lat - lat).abs() <= dlat && (p.lon - lon).abs() <= dlon);
            }
        }
    }
}
