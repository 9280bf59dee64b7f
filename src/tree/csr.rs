//! Compressed sparse rows: the storage of the interaction lists.

use rayon::prelude::*;

/// A compressed sparse row list: row `i` is `indices[offsets[i]..offsets[i + 1]]`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Csr {
    /// Row starts; `offsets.len()` is the number of rows plus one.
    pub offsets: Vec<u32>,
    /// Concatenated rows.
    pub indices: Vec<u32>,
}

impl Csr {
    /// Builds from one vector per row.
    pub fn from_rows(rows: Vec<Vec<u32>>) -> Self {
        let mut offsets = Vec::with_capacity(rows.len() + 1);
        offsets.push(0u32);
        let mut total = 0u32;
        for r in &rows {
            total += r.len() as u32;
            offsets.push(total);
        }
        let mut indices = Vec::with_capacity(total as usize);
        for r in rows {
            indices.extend(r);
        }
        Self { offsets, indices }
    }

    /// Row `i`.
    #[inline]
    pub fn row(&self, i: usize) -> &[u32] {
        &self.indices[self.offsets[i] as usize..self.offsets[i + 1] as usize]
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.offsets.len().saturating_sub(1)
    }

    /// Longest row.
    pub fn max_row(&self) -> usize {
        self.offsets
            .windows(2)
            .map(|w| (w[1] - w[0]) as usize)
            .max()
            .unwrap_or(0)
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        4 * (self.offsets.len() + self.indices.len())
    }
}

/// Rows of a CSR built in parallel: `row(b, out)` appends row `b` to `out`. Chunks of nodes
/// fill one buffer each (no vector per row), concatenated at the end.
pub(crate) fn par_csr<F>(n: usize, row: F) -> Csr
where
    F: Fn(usize, &mut Vec<u32>) + Sync,
{
    const CHUNK: usize = 2048;
    let parts: Vec<(Vec<u32>, Vec<u32>)> = (0..n.div_ceil(CHUNK))
        .into_par_iter()
        .map(|c| {
            let range = c * CHUNK..((c + 1) * CHUNK).min(n);
            let mut ends = Vec::with_capacity(range.len());
            let mut data = Vec::with_capacity(range.len() * 8);
            for b in range {
                row(b, &mut data);
                ends.push(data.len() as u32);
            }
            (ends, data)
        })
        .collect();
    let total: usize = parts.iter().map(|p| p.1.len()).sum();
    let mut offsets = Vec::with_capacity(n + 1);
    offsets.push(0u32);
    let mut indices = Vec::with_capacity(total);
    for (ends, data) in parts {
        let base = indices.len() as u32;
        offsets.extend(ends.iter().map(|&e| base + e));
        indices.extend_from_slice(&data);
    }
    Csr { offsets, indices }
}

/// The transpose of `w` (`n` rows): row `a` lists the `b` with `a` in row `b`, ascending.
pub(crate) fn transpose(w: &Csr, n: usize) -> Csr {
    let mut offsets = vec![0u32; n + 1];
    for &a in &w.indices {
        offsets[a as usize + 1] += 1;
    }
    for i in 0..n {
        offsets[i + 1] += offsets[i];
    }
    let mut fill: Vec<u32> = offsets[..n].to_vec();
    let mut indices = vec![0u32; w.indices.len()];
    for b in 0..w.rows() {
        for &a in w.row(b) {
            indices[fill[a as usize] as usize] = b as u32;
            fill[a as usize] += 1;
        }
    }
    Csr { offsets, indices }
}
