//! Tree, Morton keys and interaction lists against brute-force definitions.

use std::collections::{BTreeSet, HashMap};

use oxifmm::points::{Distribution, generate};
use oxifmm::tree::NONE;
use oxifmm::{Domain, Error, InteractionLists, LinearTree, MortonKey, TreeOptions};
use rand::{RngExt, SeedableRng, rngs::StdRng};

fn naive_adjacent<const D: usize>(a: MortonKey<D>, b: MortonKey<D>) -> bool {
    // Geometric: closed boxes intersect, interiors disjoint (via floating point boxes).
    let (aa, ba) = (a.anchor(), b.anchor());
    let (wa, wb) = (a.width_units() as f64, b.width_units() as f64);
    let mut touch = true;
    let mut overlap_interior = true;
    for k in 0..D {
        let (alo, ahi) = (aa[k] as f64, aa[k] as f64 + wa);
        let (blo, bhi) = (ba[k] as f64, ba[k] as f64 + wb);
        touch &= alo <= bhi && blo <= ahi;
        overlap_interior &= alo < bhi && blo < ahi;
    }
    touch && !overlap_interior
}

#[test]
fn morton_round_trips() {
    fn check<const D: usize>() {
        let mut rng = StdRng::seed_from_u64(1);
        let n = 1u64 << MortonKey::<D>::MAX_LEVEL;
        for _ in 0..20_000 {
            let level = rng.random_range(0..=MortonKey::<D>::MAX_LEVEL);
            let w = 1u64 << (MortonKey::<D>::MAX_LEVEL - level);
            let anchor: [u64; D] = std::array::from_fn(|_| rng.random_range(0..n) / w * w);
            let k = MortonKey::<D>::from_anchor(anchor, level);
            assert_eq!(k.anchor(), anchor);
            assert_eq!(k.level(), level);
            assert_eq!(MortonKey::<D>::from_raw(k.raw()), k);
            if level > 0 {
                let p = k.parent();
                assert_eq!(p.level(), level - 1);
                let pw = 2 * w;
                let pa: [u64; D] = std::array::from_fn(|i| anchor[i] / pw * pw);
                assert_eq!(p.anchor(), pa);
                assert!(p.children().any(|c| c == k));
                assert_eq!(p.child(k.child_index()), k);
                assert!(p.contains(k) && !k.contains(p));
                assert!(p < k, "pre-order: parent before child");
                assert_eq!(k.siblings().count(), 1 << D);
                assert_eq!(k.ancestors().count(), level as usize + 1);
            }
            if level < MortonKey::<D>::MAX_LEVEL {
                for (i, c) in k.children().enumerate() {
                    assert_eq!(c.parent(), k);
                    let off: [u64; D] = std::array::from_fn(|a| ((i >> (D - 1 - a)) & 1) as u64);
                    let ca: [u64; D] = std::array::from_fn(|a| anchor[a] + off[a] * (w / 2));
                    assert_eq!(c.anchor(), ca);
                    // Subtree contiguity: every descendant's key lies between k and the
                    // next box of k's level.
                    assert!(c.code() >= k.code() && c.code() < k.code() + k.code_span());
                }
            }
            // Colleagues against naive geometry.
            let col: BTreeSet<_> = k.colleagues().collect();
            let mut naive = BTreeSet::new();
            let total = 3usize.pow(D as u32);
            for idx in 0..total {
                let mut ok = true;
                let mut zero = true;
                let mut a = [0u64; D];
                let mut t = idx;
                for d in 0..D {
                    let off = (t % 3) as i64 - 1;
                    t /= 3;
                    zero &= off == 0;
                    let c = anchor[d] as i64 + off * w as i64;
                    ok &= c >= 0 && c < n as i64;
                    a[d] = c.max(0) as u64;
                }
                if ok && !zero {
                    naive.insert(MortonKey::<D>::from_anchor(a, level));
                }
            }
            assert_eq!(col, naive);
            for c in &col {
                assert!(c.is_adjacent(k) && naive_adjacent(*c, k));
            }
        }
        // Encoding a point against naive binning.
        let domain = Domain::<D>::new([-1.0; D], 2.0).unwrap();
        for _ in 0..10_000 {
            let p: [f64; D] = std::array::from_fn(|_| rng.random_range(-1.0..1.0));
            let level = rng.random_range(0..=10u32);
            let k = MortonKey::<D>::from_point(&p, &domain, level);
            let c = k.centre(&domain);
            let hw = 0.5 * k.width(&domain);
            for d in 0..D {
                assert!((p[d] - c[d]).abs() <= hw * (1.0 + 1e-12));
            }
        }
    }
    check::<2>();
    check::<3>();
}

#[test]
fn adjacency_across_levels_matches_geometry() {
    fn check<const D: usize>() {
        let mut rng = StdRng::seed_from_u64(2);
        let n = 1u64 << MortonKey::<D>::MAX_LEVEL;
        for _ in 0..50_000 {
            let l1 = rng.random_range(0..5u32);
            let l2 = rng.random_range(0..5u32);
            let a =
                MortonKey::<D>::from_anchor(std::array::from_fn(|_| rng.random_range(0..n)), l1);
            let b =
                MortonKey::<D>::from_anchor(std::array::from_fn(|_| rng.random_range(0..n)), l2);
            assert_eq!(a.is_adjacent(b), naive_adjacent(a, b), "{a:?} {b:?}");
        }
    }
    check::<2>();
    check::<3>();
}

struct Checked<const D: usize> {
    tree: LinearTree<D>,
    lists: InteractionLists,
}

fn build<const D: usize>(dist: Distribution, n: usize, seed: u64, max_pts: usize) -> Checked<D> {
    let pts = generate::<f64, D>(dist, n, seed);
    let tree = LinearTree::build(&pts, None, &TreeOptions::adaptive(max_pts, 12)).unwrap();
    let lists = InteractionLists::build(&tree);
    Checked { tree, lists }
}

fn check_structure<const D: usize>(t: &LinearTree<D>, n_points: usize) {
    // Level-major order, parents and children consistent, leaves hold every point once.
    for l in 0..t.levels().len() {
        for i in t.levels()[l].clone() {
            assert_eq!(t.keys()[i].level() as usize, l);
            if i > t.levels()[l].start {
                assert!(t.keys()[i - 1] < t.keys()[i]);
            }
            if l > 0 {
                let p = t.parents()[i] as usize;
                assert_eq!(t.keys()[p], t.keys()[i].parent());
                assert!(t.children(p).contains(&i));
            } else {
                assert_eq!(t.parents()[i], NONE);
            }
            assert_eq!(t.index_of(t.keys()[i]), Some(i));
            for (c, ci) in t.children(i).enumerate() {
                assert_eq!(t.keys()[ci], t.keys()[i].child(c));
            }
        }
    }
    let mut covered = vec![0u32; n_points];
    for &leaf in t.leaves() {
        for s in t.sources(leaf as usize) {
            covered[s] += 1;
        }
    }
    assert!(
        covered.iter().all(|&c| c == 1),
        "every source in exactly one leaf"
    );
    let mut perm = t.source_order().to_vec();
    perm.sort_unstable();
    assert!(
        perm.iter().enumerate().all(|(i, &p)| i as u32 == p),
        "source_order is a permutation"
    );
}

fn check_points_in_boxes<const D: usize>(t: &LinearTree<D>, pts: &[[f64; D]]) {
    for &leaf in t.leaves() {
        let k = t.keys()[leaf as usize];
        for s in t.sources(leaf as usize) {
            let p = pts[t.source_order()[s] as usize];
            assert_eq!(MortonKey::from_point(&p, t.domain(), k.level()), k);
        }
    }
}

fn check_balance<const D: usize>(t: &LinearTree<D>) {
    let leaves: Vec<_> = t.leaves().iter().map(|&i| t.keys()[i as usize]).collect();
    for a in &leaves {
        for b in &leaves {
            if naive_adjacent(*a, *b) {
                assert!(
                    a.level().abs_diff(b.level()) <= 1,
                    "2:1 balance broken: {a:?} {b:?}"
                );
            }
        }
    }
}

#[allow(clippy::needless_range_loop)] // node indices index several parallel arrays
fn check_lists<const D: usize>(c: &Checked<D>) {
    let t = &c.tree;
    let n = t.len();
    let is_leaf = |i: usize| t.is_leaf(i);
    let key = |i: usize| t.keys()[i];
    let set = |row: &[u32]| row.iter().copied().collect::<BTreeSet<u32>>();
    // W by definition: descendants A of B's colleagues, A not adjacent to B, parent(A) adjacent.
    let mut w_naive: Vec<BTreeSet<u32>> = vec![BTreeSet::new(); n];
    for b in 0..n {
        let bk = key(b);
        // U
        let u_naive: BTreeSet<u32> = if is_leaf(b) {
            t.leaves()
                .iter()
                .copied()
                .filter(|&a| a as usize == b || naive_adjacent(key(a as usize), bk))
                .collect()
        } else {
            BTreeSet::new()
        };
        assert_eq!(set(c.lists.u.row(b)), u_naive, "U of node {b}");
        // V
        let v_naive: BTreeSet<u32> = if bk.level() >= 2 {
            (0..n as u32)
                .filter(|&a| {
                    let ak = key(a as usize);
                    ak.level() == bk.level()
                        && naive_adjacent(ak.parent(), bk.parent())
                        && !naive_adjacent(ak, bk)
                        && ak != bk
                })
                .collect()
        } else {
            BTreeSet::new()
        };
        assert_eq!(set(c.lists.v.row(b)), v_naive, "V of node {b}");
        if is_leaf(b) {
            for a in 0..n {
                let ak = key(a);
                if ak.level() > bk.level() + 1 || (ak.level() == bk.level() + 1) {
                    let anc = ak.ancestor_at(bk.level());
                    if anc != bk
                        && naive_adjacent(anc, bk)
                        && !naive_adjacent(ak, bk)
                        && naive_adjacent(ak.parent(), bk)
                    {
                        w_naive[b].insert(a as u32);
                    }
                }
            }
        }
        assert_eq!(set(c.lists.w.row(b)), w_naive[b], "W of node {b}");
    }
    for b in 0..n {
        let x_naive: BTreeSet<u32> = (0..n)
            .filter(|&a| w_naive[a].contains(&(b as u32)))
            .map(|a| a as u32)
            .collect();
        assert_eq!(set(c.lists.x.row(b)), x_naive, "X of node {b}");
    }
    // Bounds under 2:1 balance.
    let (vmax, umax, wmax, xmax) = if D == 3 {
        (189, 60, 148, 19)
    } else {
        (27, 20, 28, 9)
    };
    assert!(c.lists.v.max_row() <= vmax, "|V| = {}", c.lists.v.max_row());
    assert!(c.lists.u.max_row() <= umax, "|U| = {}", c.lists.u.max_row());
    assert!(c.lists.w.max_row() <= wmax, "|W| = {}", c.lists.w.max_row());
    assert!(c.lists.x.max_row() <= xmax, "|X| = {}", c.lists.x.max_row());
}

/// Every (target leaf, source leaf) pair is covered exactly once: by U, or by one V/W/X
/// interaction of the target leaf or one of its ancestors.
fn check_completeness<const D: usize>(c: &Checked<D>) {
    let t = &c.tree;
    let l = &c.lists;
    let leaf_pos: HashMap<u32, usize> = t
        .leaves()
        .iter()
        .enumerate()
        .map(|(i, &n)| (n, i))
        .collect();
    // Leaves under each node, as a range of leaf positions is not contiguous in level-major
    // order, so collect explicitly.
    let n = t.len();
    let mut under: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (pos, &leaf) in t.leaves().iter().enumerate() {
        let mut i = leaf as usize;
        loop {
            under[i].push(pos);
            if t.parents()[i] == NONE {
                break;
            }
            i = t.parents()[i] as usize;
        }
    }
    let mut w_nonempty = false;
    let mut x_nonempty = false;
    for &tl in t.leaves() {
        let mut count = vec![0u32; t.leaves().len()];
        for &s in l.u.row(tl as usize) {
            count[leaf_pos[&s]] += 1;
        }
        for &a in l.w.row(tl as usize) {
            w_nonempty = true;
            for &p in &under[a as usize] {
                count[p] += 1;
            }
        }
        let mut anc = tl as usize;
        loop {
            for &a in l.v.row(anc) {
                for &p in &under[a as usize] {
                    count[p] += 1;
                }
            }
            for &s in l.x.row(anc) {
                x_nonempty = true;
                count[leaf_pos[&s]] += 1;
            }
            if t.parents()[anc] == NONE {
                break;
            }
            anc = t.parents()[anc] as usize;
        }
        for (p, &cnt) in count.iter().enumerate() {
            assert_eq!(
                cnt,
                1,
                "target leaf {tl} / source leaf {} covered {cnt} times",
                t.leaves()[p]
            );
        }
    }
    let _ = (w_nonempty, x_nonempty);
}

fn full_check<const D: usize>(
    dist: Distribution,
    n: usize,
    seed: u64,
    max_pts: usize,
) -> Checked<D> {
    let pts = generate::<f64, D>(dist, n, seed);
    let c = build::<D>(dist, n, seed, max_pts);
    check_structure(&c.tree, n);
    check_points_in_boxes(&c.tree, &pts);
    check_balance(&c.tree);
    check_lists(&c);
    check_completeness(&c);
    c
}

#[test]
fn lists_3d_uniform() {
    full_check::<3>(Distribution::Uniform, 3000, 11, 20);
}

#[test]
fn lists_3d_sphere() {
    full_check::<3>(Distribution::Sphere, 3000, 12, 20);
}

#[test]
fn lists_3d_clusters_have_w_and_x() {
    let c = full_check::<3>(Distribution::Clusters, 3000, 13, 10);
    assert!(!c.lists.w.indices.is_empty() && !c.lists.x.indices.is_empty());
    assert!(c.tree.depth() >= 5, "clusters give a deep tree");
}

#[test]
fn lists_2d_all_distributions() {
    for (i, dist) in [
        Distribution::Uniform,
        Distribution::Sphere,
        Distribution::Clusters,
    ]
    .into_iter()
    .enumerate()
    {
        let c = full_check::<2>(dist, 3000, 20 + i as u64, 12);
        if dist == Distribution::Clusters {
            assert!(!c.lists.w.indices.is_empty() && !c.lists.x.indices.is_empty());
        }
    }
}

#[test]
fn separate_targets_and_uniform_tree() {
    let s = generate::<f64, 3>(Distribution::Sphere, 2000, 1);
    let tg = generate::<f64, 3>(Distribution::Uniform, 1500, 2);
    let tree = LinearTree::build(&s, Some(&tg), &TreeOptions::adaptive(15, 10)).unwrap();
    let lists = InteractionLists::build(&tree);
    let mut covered = vec![0u32; tg.len()];
    for &leaf in tree.leaves() {
        for i in tree.targets(leaf as usize) {
            covered[i] += 1;
            let p = tg[tree.target_order()[i] as usize];
            assert_eq!(
                MortonKey::from_point(&p, tree.domain(), tree.keys()[leaf as usize].level()),
                tree.keys()[leaf as usize]
            );
        }
    }
    assert!(covered.iter().all(|&c| c == 1));
    let c = Checked { tree, lists };
    check_balance(&c.tree);
    check_lists(&c);
    check_completeness(&c);

    let u = LinearTree::build(&s, None, &TreeOptions::uniform(3)).unwrap();
    assert_eq!(u.leaves().len(), 512);
    assert!(
        u.leaves()
            .iter()
            .all(|&l| u.keys()[l as usize].level() == 3)
    );
}

#[test]
fn coincident_points_stop_at_max_depth() {
    let pts = vec![[0.25f64, 0.5, 0.75]; 1000];
    let mut more = pts.clone();
    more.push([0.0, 0.0, 0.0]);
    let tree = LinearTree::build(&more, None, &TreeOptions::adaptive(10, 8)).unwrap();
    assert_eq!(tree.depth(), 8);
}

#[test]
fn bad_input_is_a_typed_error() {
    let good = generate::<f64, 3>(Distribution::Uniform, 10, 1);
    let empty: Vec<[f64; 3]> = vec![];
    assert!(matches!(
        LinearTree::build(&empty, None, &TreeOptions::adaptive(10, 8)),
        Err(Error::Empty { .. })
    ));
    assert!(matches!(
        LinearTree::build(&good, Some(&empty), &TreeOptions::adaptive(10, 8)),
        Err(Error::Empty { what: "targets" })
    ));
    let mut nan = good.clone();
    nan[3][1] = f64::NAN;
    assert!(matches!(
        LinearTree::build(&nan, None, &TreeOptions::adaptive(10, 8)),
        Err(Error::NonFinite { index: 3, .. })
    ));
    let mut inf = good.clone();
    inf[5][0] = f64::INFINITY;
    assert!(matches!(
        LinearTree::build(&good, Some(&inf), &TreeOptions::adaptive(10, 8)),
        Err(Error::NonFinite {
            what: "targets",
            index: 5
        })
    ));
    assert!(matches!(
        LinearTree::build(&good, None, &TreeOptions::adaptive(0, 8)),
        Err(Error::InvalidParameter {
            name: "max_points_per_leaf",
            ..
        })
    ));
    assert!(matches!(
        LinearTree::build(&good, None, &TreeOptions::adaptive(10, 40)),
        Err(Error::InvalidParameter {
            name: "max_depth",
            ..
        })
    ));
    let mut opts = TreeOptions::adaptive(10, 8);
    opts.domain = Some(Domain::new([0.0; 3], 0.5).unwrap());
    assert!(matches!(
        LinearTree::build(&good, None, &opts),
        Err(Error::OutsideDomain { .. })
    ));
    assert!(Domain::<3>::new([0.0; 3], -1.0).is_err());
}

#[test]
fn batch_encode_matches_from_point() {
    fn check<const D: usize>() {
        let mut rng = StdRng::seed_from_u64(11);
        let domain = Domain::<D>::new([-0.25; D], 1.5).unwrap();
        // Inside, on the faces, and outside (clamped) points.
        let mut pts: Vec<[f64; D]> = (0..50_000)
            .map(|_| std::array::from_fn(|_| rng.random_range(-0.5..1.5)))
            .collect();
        pts.push([-0.25; D]);
        pts.push([1.25; D]);
        let codes = oxifmm::geometry::morton::encode_points(&domain, &pts);
        let mut serial = vec![0u64; pts.len()];
        oxifmm::geometry::morton::encode_points_into(&domain, &pts, &mut serial);
        assert_eq!(codes, serial);
        let max = MortonKey::<D>::MAX_LEVEL;
        for (p, &c) in pts.iter().zip(&codes) {
            let k = MortonKey::<D>::from_point(p, &domain, max);
            assert_eq!(k.code(), c);
            assert_eq!(
                c,
                oxifmm::geometry::morton::interleave(domain.finest_anchor(p))
            );
            let l = rng.random_range(0..=max);
            assert_eq!(
                MortonKey::<D>::from_point(p, &domain, l),
                MortonKey::<D>::from_anchor(domain.finest_anchor(p), l)
            );
        }
        let pf: Vec<[f32; D]> = pts.iter().map(|p| p.map(|x| x as f32)).collect();
        let cf = oxifmm::geometry::morton::encode_points(&domain, &pf);
        for (p, &c) in pf.iter().zip(&cf) {
            let q = p.map(|x| x as f64);
            assert_eq!(c, MortonKey::<D>::from_point(&q, &domain, max).code());
        }
    }
    check::<2>();
    check::<3>();
}
