//! NumPy `.npy` files: encoding, decoding, reading and writing one array.

use std::fs;
use std::io::Write;
use std::path::Path;

use super::data::{Array, DataError, Dtype, input_err, output_err};
use crate::fs::{Staged, stage};

const NPY_MAGIC: &[u8] = b"\x93NUMPY";

/// Encodes an array as the bytes of a `.npy` file (format 1.0, header padded to 64 bytes).
/// `data` is stored as `dtype` (rounded for `F32` and `C64`); for a complex `dtype` it holds
/// (re, im) pairs, as NumPy stores complex numbers.
///
/// # Panics
///
/// When `data.len()` is not the product of `shape` times [`Dtype::reals`].
pub fn encode_npy(shape: &[usize], dtype: Dtype, data: &[f64]) -> Vec<u8> {
    assert_eq!(
        shape.iter().product::<usize>() * dtype.reals(),
        data.len(),
        "encode_npy: shape does not match data length"
    );
    let shape_str = match shape {
        [n] => format!("({n},)"),
        _ => format!(
            "({})",
            shape
                .iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let mut header = format!(
        "{{'descr': '{}', 'fortran_order': False, 'shape': {shape_str}, }}",
        dtype.descr()
    );
    // magic (6) + version (2) + header length (2) + header + '\n', a multiple of 64.
    let unpadded = 10 + header.len() + 1;
    header.extend(std::iter::repeat_n(
        ' ',
        unpadded.next_multiple_of(64) - unpadded,
    ));
    header.push('\n');
    let mut out = Vec::with_capacity(10 + header.len() + data.len() * dtype.real_size());
    out.extend_from_slice(NPY_MAGIC);
    out.extend_from_slice(&[1, 0]);
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    match dtype.real() {
        Dtype::F32 => data
            .iter()
            .for_each(|&x| out.extend_from_slice(&(x as f32).to_le_bytes())),
        _ => data
            .iter()
            .for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
    }
    out
}

/// The value of `'key':` in a NumPy header dict (the text up to the next top-level comma or
/// closing brace).
fn dict_value<'h>(header: &'h str, key: &str) -> Option<&'h str> {
    let pos = header
        .find(&format!("'{key}'"))
        .or_else(|| header.find(&format!("\"{key}\"")))?;
    let rest = header[pos + key.len() + 2..].trim_start();
    let rest = rest.strip_prefix(':')?.trim_start();
    let end = if rest.starts_with('(') {
        rest.find(')')? + 1
    } else {
        rest.find([',', '}']).unwrap_or(rest.len())
    };
    Some(rest[..end].trim())
}

/// Decodes the bytes of a `.npy` file (`path` names it in errors).
///
/// Accepts format versions 1.0, 2.0 and 3.0 with `descr` `'<f8'`, `'<f4'`, `'<c16'` or
/// `'<c8'` and
/// `fortran_order: False`; rejects anything else, and a data section whose length does not
/// match the shape, with [`DataError::Input`].
pub fn decode_npy(bytes: &[u8], path: &Path) -> Result<Array, DataError> {
    let bad = |r: String| input_err(path, r);
    if bytes.len() < 10 || &bytes[..6] != NPY_MAGIC {
        return Err(bad("not a .npy file (bad magic)".into()));
    }
    let (header_len, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
        v => return Err(bad(format!("unsupported .npy format version {v}"))),
    };
    let header = bytes
        .get(start..start + header_len)
        .ok_or_else(|| bad("truncated .npy header".into()))?;
    let header = std::str::from_utf8(header).map_err(|_| bad(".npy header is not text".into()))?;
    let descr = dict_value(header, "descr")
        .ok_or_else(|| bad("no 'descr' in .npy header".into()))?
        .trim_matches(['\'', '"']);
    let dtype = match descr {
        "<f8" => Dtype::F64,
        "<f4" => Dtype::F32,
        "<c16" => Dtype::C128,
        "<c8" => Dtype::C64,
        other => {
            return Err(bad(format!(
                "unsupported dtype '{other}' (need float64 '<f8', float32 '<f4', \
                 complex128 '<c16' or complex64 '<c8')"
            )));
        }
    };
    match dict_value(header, "fortran_order") {
        Some("False") => {}
        Some("True") => {
            return Err(bad(
                "fortran_order arrays are not supported (save a C-ordered array)".into(),
            ));
        }
        _ => return Err(bad("no valid 'fortran_order' in .npy header".into())),
    }
    let shape_str = dict_value(header, "shape")
        .ok_or_else(|| bad("no 'shape' in .npy header".into()))?
        .trim_start_matches('(')
        .trim_end_matches(')');
    let shape: Vec<usize> = shape_str
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.trim_end_matches('L').parse::<usize>())
        .collect::<Result<_, _>>()
        .map_err(|_| bad(format!("bad shape ({shape_str}) in .npy header")))?;
    let count = shape
        .iter()
        .try_fold(1usize, |a, &s| a.checked_mul(s))
        .ok_or_else(|| bad("shape too large".into()))?;
    let body = &bytes[start + header_len..];
    let need = count
        .checked_mul(dtype.size())
        .ok_or_else(|| bad("shape too large".into()))?;
    if body.len() != need {
        return Err(bad(format!(
            "data section has {} bytes, shape {shape:?} of {} needs {need}",
            body.len(),
            descr
        )));
    }
    let data = match dtype.real_size() {
        8 => body
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")))
            .collect(),
        _ => body
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")) as f64)
            .collect(),
    };
    Ok(Array { shape, dtype, data })
}

/// Reads a `.npy` file; see [`decode_npy`]. A missing or unreadable file is
/// [`DataError::Input`].
pub fn read_npy(path: &Path) -> Result<Array, DataError> {
    let bytes = fs::read(path).map_err(|e| input_err(path, e.to_string()))?;
    decode_npy(&bytes, path)
}

/// Writes a `.npy` file atomically ([`crate::fs::write_atomic`]).
pub fn write_npy(
    path: &Path,
    shape: &[usize],
    dtype: Dtype,
    data: &[f64],
) -> Result<(), DataError> {
    stage_bytes(path, &encode_npy(shape, dtype, data))?
        .commit()
        .map_err(|e| output_err(path, e.to_string()))
}

/// `bytes` staged for `dest` ([`crate::fs::stage`]): written and fsynced, not yet in place.
pub(crate) fn stage_bytes(dest: &Path, bytes: &[u8]) -> Result<Staged, DataError> {
    let err = |e: std::io::Error| output_err(dest, e.to_string());
    stage(dest, err, |file, _| file.write_all(bytes).map_err(err))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn npy_round_trip_and_alignment() {
        for (shape, dtype) in [
            (vec![5usize], Dtype::F64),
            (vec![4, 3], Dtype::F32),
            (vec![0, 2], Dtype::F64),
            (vec![3], Dtype::C128),
            (vec![2, 3], Dtype::C64),
        ] {
            let n = shape.iter().product::<usize>() * dtype.reals();
            let data: Vec<f64> = (0..n).map(|i| i as f64 * 0.5 - 1.0).collect();
            let bytes = encode_npy(&shape, dtype, &data);
            let hl = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
            assert_eq!((10 + hl) % 64, 0);
            let a = decode_npy(&bytes, Path::new("x.npy")).unwrap();
            assert_eq!(a.shape, shape);
            assert_eq!(a.dtype, dtype);
            assert_eq!(a.data, data);
        }
    }

    fn find(hay: &[u8], needle: &str) -> usize {
        hay.windows(needle.len())
            .position(|w| w == needle.as_bytes())
            .unwrap()
    }

    #[test]
    fn npy_rejects_bad_headers() {
        let ok = encode_npy(&[2], Dtype::F64, &[1.0, 2.0]);
        let p = Path::new("x.npy");
        let swap = |a: &str, b: &str| {
            let mut v = ok.clone();
            let i = find(&v, a);
            v[i..i + a.len()].copy_from_slice(b.as_bytes());
            decode_npy(&v, p).unwrap_err().to_string()
        };
        assert!(swap("<f8", "<i8").contains("unsupported dtype"));
        assert!(swap("False", "True,").contains("fortran_order"));
        assert!(
            decode_npy(&ok[..ok.len() - 1], p)
                .unwrap_err()
                .to_string()
                .contains("data section")
        );
        assert!(
            decode_npy(b"hello world", p)
                .unwrap_err()
                .to_string()
                .contains("magic")
        );
    }

    #[test]
    fn reads_numpy_style_header() {
        // The header NumPy itself writes (version 1.0, trailing comma, spaces).
        let mut h = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }".to_string();
        while !(10 + h.len() + 1).is_multiple_of(64) {
            h.push(' ');
        }
        h.push('\n');
        let mut b = NPY_MAGIC.to_vec();
        b.extend_from_slice(&[1, 0]);
        b.extend_from_slice(&(h.len() as u16).to_le_bytes());
        b.extend_from_slice(h.as_bytes());
        for i in 0..6 {
            b.extend_from_slice(&(i as f32).to_le_bytes());
        }
        let a = decode_npy(&b, Path::new("x.npy")).unwrap();
        assert_eq!(a.shape, vec![2, 3]);
        assert_eq!(a.data, vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
    }
}
