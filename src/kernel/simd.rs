//! SIMD math for P2P kernels: reciprocals, reciprocal square roots, exponentials and
//! logarithms per lane,
//! generic over pulp's [`Simd`] so that a kernel body written with them compiles once per
//! instruction set. The generated microkernels (see `kernel::generated`) are built from these;
//! a user's own kernel can call them from its own `#[inline(always)]` pulp body:
//!
//! ```
//! use oxifmm::kernel::simd::rsqrt_f64s;
//! use pulp::{Simd, WithSimd};
//!
//! /// `1 / sqrt(x)` of every element, one SIMD vector at a time.
//! struct InvSqrt<'a>(&'a [f64], &'a mut [f64]);
//!
//! impl WithSimd for InvSqrt<'_> {
//!     type Output = ();
//!     #[inline(always)]
//!     fn with_simd<S: Simd>(self, simd: S) {
//!         let (xs, _) = S::as_simd_f64s(self.0);
//!         let (ys, _) = S::as_mut_simd_f64s(self.1);
//!         for (y, &x) in ys.iter_mut().zip(xs) {
//!             *y = rsqrt_f64s(simd, x);
//!         }
//!     }
//! }
//!
//! let x = vec![4.0; 64];
//! let mut y = vec![0.0; 64];
//! pulp::Arch::new().dispatch(InvSqrt(&x, &mut y)); // compiled per instruction set
//! assert!(y.iter().all(|&v| (v - 0.5).abs() < 1e-15));
//! ```
//!
//! # Numerics
//!
//! - Self-interaction: a source that coincides with a target (`r^2 == 0`) contributes exactly 0.
//!   The kernel value is computed anyway (it may be infinite or NaN there) and replaced by 0
//!   with a compare mask and a select: there is no branch in the source loop.
//! - `1/sqrt(r^2)`: f64 on AVX2 splits each pair of sources between the divider (which sqrt
//!   and division share, and which bounded the kernel) and the FMA ports: one by `sqrt` and a
//!   division, the other by a guess from the exponent-halving bit trick and four Newton steps
//!   (within a few ulp for every finite normal argument). The two overlap: 1.6x the pairs per
//!   second of sqrt and division for both, 1.3x with gradients. Elsewhere f64 uses `sqrt` and
//!   one division shared by two sources (`1/sqrt(a) = sqrt(b) / (sqrt(a) sqrt(b))`). f32 on
//!   AVX2 uses the hardware approximate reciprocal square root (12 bits) and one Newton step
//!   (about 22 bits), elsewhere `sqrt` and a division. Squared distances below the smallest
//!   normal number count as coincident (masked); they must not overflow to infinity
//!   (coordinates more than ~1e154 apart).
//! - `exp`: `2^k e^r` with `r = x - k ln 2` reduced in two parts and `e^r` a Taylor polynomial
//!   (degree 13 in f64, 7 in f32), `2^k` written into the exponent bits; a few ulp, exactly 0
//!   where the result would be subnormal.
//! - `ln`: a vectorised logarithm (fdlibm/musl's reduction `x = 2^k m`, `m` in
//!   `[sqrt(2)/2, sqrt(2))`, and their minimax polynomial in `s = (m - 1)/(m + 1)`), accurate to
//!   about one ulp. The scalar fallback calls `f32::ln` / `f64::ln` per lane. Arguments are
//!   squared distances, assumed normal (not subnormal) when non-zero.

use pulp::{Simd, bytemuck};

/// The widest instruction set the SIMD kernels may use: a ceiling below what the CPU has, for
/// comparisons and reproducibility (AVX-512 and AVX2 round differently in the last bits).
/// Set by [`set_simd_limit`] or, before the first kernel runs, by the environment variable
/// `OXIFMM_SIMD` (`scalar`, `avx2` or `avx512`); the default is no limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum SimdLimit {
    /// Plain scalar code.
    Scalar = 0,
    /// AVX2 + FMA at most (x86-64-v3).
    Avx2 = 1,
    /// AVX-512 at most (x86-64-v4): no limit.
    Avx512 = 2,
}

/// The current limit: `u8::MAX` until read from the environment.
static SIMD_LIMIT: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(u8::MAX);

/// Sets the widest instruction set the SIMD kernels may use from now on (process-wide).
pub fn set_simd_limit(limit: SimdLimit) {
    SIMD_LIMIT.store(limit as u8, std::sync::atomic::Ordering::Relaxed);
}

/// The widest instruction set the SIMD kernels may use (see [`SimdLimit`]).
pub fn simd_limit() -> SimdLimit {
    use std::sync::atomic::Ordering::Relaxed;
    let from = |v: u8| match v {
        0 => SimdLimit::Scalar,
        1 => SimdLimit::Avx2,
        _ => SimdLimit::Avx512,
    };
    let v = SIMD_LIMIT.load(Relaxed);
    if v != u8::MAX {
        return from(v);
    }
    let limit = match std::env::var("OXIFMM_SIMD").as_deref() {
        Ok("scalar") => SimdLimit::Scalar,
        Ok("avx2") => SimdLimit::Avx2,
        _ => SimdLimit::Avx512,
    };
    // A concurrent `set_simd_limit` wins over the environment.
    let _ = SIMD_LIMIT.compare_exchange(u8::MAX, limit as u8, Relaxed, Relaxed);
    from(SIMD_LIMIT.load(Relaxed))
}

/// The instruction set for kernels that are not (yet) measured faster with AVX-512 (the FFT
/// transforms and Hadamard products, the fixed-size products): AVX2 + FMA where the CPU has
/// it, under [`simd_limit`]; on other architectures the best pulp offers (NEON on Arm).
#[inline]
pub fn arch_avx2() -> pulp::Arch {
    #[cfg(target_arch = "x86_64")]
    {
        if simd_limit() == SimdLimit::Scalar {
            return pulp::Arch::Scalar;
        }
        if let Some(v3) = pulp::x86::V3::try_new() {
            return pulp::Arch::V3(v3);
        }
    }
    pulp::Arch::new()
}

/// The best instruction set the CPU has, under [`simd_limit`]: AVX-512 where present (pulp is
/// built with its `x86-v4` level), for the P2P microkernels, which run about twice as many
/// pairs per second with it (the f64 reciprocal square root from `vrsqrt14pd`).
#[inline]
pub fn arch_best() -> pulp::Arch {
    #[cfg(target_arch = "x86_64")]
    if simd_limit() != SimdLimit::Avx512 {
        return arch_avx2();
    }
    pulp::Arch::new()
}

/// `y <- y (3/2 - x y^2 / 2)`: one Newton step for `1/sqrt(x)` (doubles the correct bits).
#[inline(always)]
fn rsqrt_step_f64s<S: Simd>(simd: S, x: S::f64s, y: S::f64s) -> S::f64s {
    let neg_half_x = simd.mul_f64s(x, simd.splat_f64s(-0.5));
    let t = simd.mul_f64s(neg_half_x, y);
    let r = simd.mul_add_e_f64s(t, y, simd.splat_f64s(0.5));
    simd.mul_add_e_f64s(y, r, y)
}

/// `1/sqrt(x)` on AVX-512: `vrsqrt14pd` (relative error below 2^-14) and two Newton steps
/// (about 2^-52). Zero gives NaN or infinity, which the caller masks out.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn rsqrt14_f64s<S: Simd>(simd: S, v4: pulp::x86::V4, x: S::f64s) -> S::f64s {
    // `S` is `V4` here, so `S::f64s` is `f64x8`.
    let y: S::f64s = bytemuck::cast(v4.avx512f._mm512_rsqrt14_pd(bytemuck::cast(x)));
    let y = rsqrt_step_f64s(simd, x, y);
    rsqrt_step_f64s(simd, x, y)
}

/// `1 / x` per lane.
#[inline(always)]
pub fn recip_f32s<S: Simd>(simd: S, x: S::f32s) -> S::f32s {
    simd.div_f32s(simd.splat_f32s(1.0), x)
}

/// `1 / x` per lane.
#[inline(always)]
pub fn recip_f64s<S: Simd>(simd: S, x: S::f64s) -> S::f64s {
    simd.div_f64s(simd.splat_f64s(1.0), x)
}

/// `1 / sqrt(x)` per lane: on AVX-512 `vrsqrt14pd` and two Newton steps (a few ulp),
/// elsewhere the correctly rounded square root and a division.
#[inline(always)]
pub fn rsqrt_f64s<S: Simd>(simd: S, x: S::f64s) -> S::f64s {
    #[cfg(target_arch = "x86_64")]
    if let Some(v4) = (&simd as &dyn core::any::Any).downcast_ref::<pulp::x86::V4>() {
        return rsqrt14_f64s(simd, *v4, x);
    }
    simd.div_f64s(simd.splat_f64s(1.0), simd.sqrt_f64s(x))
}

/// `1 / sqrt(x)` per lane: on AVX2 the approximate reciprocal square root (`vrsqrtps`, 12 bits),
/// on AVX-512 `vrsqrt14ps` (14 bits), either plus one Newton step (relative error about 2^-22
/// or better); elsewhere `sqrt` and a division.
#[inline(always)]
pub fn rsqrt_f32s<S: Simd>(simd: S, x: S::f32s) -> S::f32s {
    #[cfg(target_arch = "x86_64")]
    {
        // `S` is a concrete type after monomorphisation, so this test folds to a constant.
        if let Some(v3) = (&simd as &dyn core::any::Any).downcast_ref::<pulp::x86::V3>() {
            // `S::f32s` is `f32x8` when `S` is `V3`.
            let y: S::f32s = bytemuck::cast(v3.approx_reciprocal_sqrt_f32x8(bytemuck::cast(x)));
            // Newton: y <- y (3/2 - x y^2 / 2).
            let xyy = simd.mul_f32s(simd.mul_f32s(x, y), y);
            let c = simd.mul_add_e_f32s(xyy, simd.splat_f32s(-0.5), simd.splat_f32s(1.5));
            return simd.mul_f32s(y, c);
        }
        if let Some(v4) = (&simd as &dyn core::any::Any).downcast_ref::<pulp::x86::V4>() {
            // `S::f32s` is `f32x16` when `S` is `V4`: `vrsqrt14ps` (14 bits), one Newton step.
            let y: S::f32s = bytemuck::cast(v4.avx512f._mm512_rsqrt14_ps(bytemuck::cast(x)));
            let xyy = simd.mul_f32s(simd.mul_f32s(x, y), y);
            let c = simd.mul_add_e_f32s(xyy, simd.splat_f32s(-0.5), simd.splat_f32s(1.5));
            return simd.mul_f32s(y, c);
        }
    }
    simd.div_f32s(simd.splat_f32s(1.0), simd.sqrt_f32s(x))
}

/// `1 / sqrt(x)` per lane on AVX2 without the divider: the exponent-halving bit trick
/// (`0x5FE6EB50C7B537A9 - bits(x) / 2`, relative error below 3.5 %), then four Newton steps
/// `y <- y + y (1/2 - x y^2 / 2)` (error 3.5e-2 -> 1.8e-3 -> 4.6e-6 -> 3e-11 -> rounding).
/// For normal positive `x`; `x = 0` gives a finite value that the caller masks out.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn rsqrt_newton_v3<S: Simd>(simd: S, v3: pulp::x86::V3, x: S::f64s) -> S::f64s {
    // `S` is `V3` here, so `S::f64s` is `f64x4`.
    let half_bits: S::u64s = bytemuck::cast(v3.shr_const_u64x4::<1>(bytemuck::cast(x)));
    let guess = simd.sub_u64s(simd.splat_u64s(0x5FE6_EB50_C7B5_37A9), half_bits);
    let mut y: S::f64s = bytemuck::cast(guess);
    let neg_half_x = simd.mul_f64s(x, simd.splat_f64s(-0.5));
    let half = simd.splat_f64s(0.5);
    for _ in 0..4 {
        let t = simd.mul_f64s(neg_half_x, y);
        let r = simd.mul_add_e_f64s(t, y, half);
        y = simd.mul_add_e_f64s(y, r, y);
    }
    y
}

/// `(1/sqrt(a), 1/sqrt(b))` per lane. On AVX2 `a` by `rsqrt_newton_v3` (FMA ports) and `b`
/// by a square root and a division (the divider), which overlap; on AVX-512 both by
/// `vrsqrt14pd` and two Newton steps; elsewhere with one division
/// for both:
/// `p = 1/(sqrt(a) sqrt(b))`, `1/sqrt(a) = sqrt(b) p`, `1/sqrt(b) = sqrt(a) p` (about 2 ulp),
/// where a zero argument is replaced by 1 first, so that it cannot spoil the other one. On
/// either path the result for a zero argument is meaningless (finite or infinite) and is
/// masked out by the caller.
#[inline(always)]
pub fn rsqrt2_f64s<S: Simd>(simd: S, a: S::f64s, b: S::f64s) -> (S::f64s, S::f64s) {
    #[cfg(target_arch = "x86_64")]
    {
        if let Some(v3) = (&simd as &dyn core::any::Any).downcast_ref::<pulp::x86::V3>() {
            // One root on the FMA ports, the other on the divider: the two run side by side.
            let one = simd.splat_f64s(1.0);
            return (
                rsqrt_newton_v3(simd, *v3, a),
                simd.div_f64s(one, simd.sqrt_f64s(b)),
            );
        }
        if let Some(v4) = (&simd as &dyn core::any::Any).downcast_ref::<pulp::x86::V4>() {
            return (rsqrt14_f64s(simd, *v4, a), rsqrt14_f64s(simd, *v4, b));
        }
    }
    let zero = simd.splat_f64s(0.0);
    let one = simd.splat_f64s(1.0);
    let a = simd.select_f64s(simd.equal_f64s(a, zero), one, a);
    let b = simd.select_f64s(simd.equal_f64s(b, zero), one, b);
    let (sa, sb) = (simd.sqrt_f64s(a), simd.sqrt_f64s(b));
    let p = simd.div_f64s(one, simd.mul_f64s(sa, sb));
    (simd.mul_f64s(sb, p), simd.mul_f64s(sa, p))
}

/// `(1/sqrt(a), 1/sqrt(b))` per lane, see [`rsqrt_f32s`].
#[inline(always)]
pub fn rsqrt2_f32s<S: Simd>(simd: S, a: S::f32s, b: S::f32s) -> (S::f32s, S::f32s) {
    (rsqrt_f32s(simd, a), rsqrt_f32s(simd, b))
}

/// Natural logarithm per lane, for positive normal `x` (musl's `logf`, vectorised).
// The constants are musl's, verbatim, so they can be checked against the source.
#[allow(clippy::excessive_precision)]
#[inline(always)]
pub fn ln_f32s<S: Simd>(simd: S, x: S::f32s) -> S::f32s {
    const LG1: f32 = 0.666_666_63; // 0xaaaaaa.0p-24
    const LG2: f32 = 0.400_009_72; // 0xccce13.0p-25
    const LG3: f32 = 0.284_987_87; // 0x91e9ee.0p-25
    const LG4: f32 = 0.242_790_79; // 0xf89e26.0p-26
    const LN2_HI: f32 = 6.931_381_2e-1;
    const LN2_LO: f32 = 9.058_000_6e-6;
    let u = |v: u32| simd.splat_u32s(v);
    let f = |v: f32| simd.splat_f32s(v);
    // Reduce x = 2^k m with m in [sqrt(2)/2, sqrt(2)).
    let bits = simd.add_u32s(simd.transmute_u32s_f32s(x), u(0x3f80_0000 - 0x3f35_04f3));
    let k_bits = simd.and_u32s(bits, u(0x7f80_0000));
    let k_bits = simd.wrapping_dyn_shr_u32s(k_bits, u(23));
    // Biased exponent to float: 2^23 + e has the bits 0x4b000000 | e.
    let k = simd.sub_f32s(
        simd.transmute_f32s_u32s(simd.or_u32s(k_bits, u(0x4b00_0000))),
        f(8_388_608.0 + 127.0),
    );
    let m = simd
        .transmute_f32s_u32s(simd.add_u32s(simd.and_u32s(bits, u(0x007f_ffff)), u(0x3f35_04f3)));
    let fm = simd.sub_f32s(m, f(1.0));
    let hfsq = simd.mul_f32s(f(0.5), simd.mul_f32s(fm, fm));
    let s = simd.div_f32s(fm, simd.add_f32s(f(2.0), fm));
    let z = simd.mul_f32s(s, s);
    let w = simd.mul_f32s(z, z);
    let t1 = simd.mul_f32s(w, simd.mul_add_e_f32s(w, f(LG4), f(LG2)));
    let t2 = simd.mul_f32s(z, simd.mul_add_e_f32s(w, f(LG3), f(LG1)));
    let r = simd.add_f32s(t2, t1);
    // s (hfsq + R) + k ln2_lo - hfsq + f + k ln2_hi
    let v = simd.mul_add_e_f32s(s, simd.add_f32s(hfsq, r), simd.mul_f32s(k, f(LN2_LO)));
    let v = simd.add_f32s(simd.sub_f32s(v, hfsq), fm);
    simd.mul_add_e_f32s(k, f(LN2_HI), v)
}

/// Natural logarithm per lane, for positive normal `x` (musl's `log`, vectorised).
#[allow(clippy::excessive_precision)]
#[inline(always)]
pub fn ln_f64s<S: Simd>(simd: S, x: S::f64s) -> S::f64s {
    const LG1: f64 = 6.666_666_666_666_735_13e-1;
    const LG2: f64 = 3.999_999_999_940_941_908e-1;
    const LG3: f64 = 2.857_142_874_366_239_149e-1;
    const LG4: f64 = 2.222_219_843_214_978_396e-1;
    const LG5: f64 = 1.818_357_216_161_805_012e-1;
    const LG6: f64 = 1.531_383_769_920_937_332e-1;
    const LG7: f64 = 1.479_819_860_511_658_591e-1;
    const LN2_HI: f64 = 6.931_471_803_691_238_164_90e-1;
    const LN2_LO: f64 = 1.908_214_929_270_587_700_02e-10;

    // The exponent is extracted with 32-bit shifts on the 64-bit lanes; pulp's scalar
    // fallback has no 32-bit lanes to spare, so it takes the scalar logarithm per lane.
    if size_of::<S::u32s>() != size_of::<S::f64s>() {
        let mut x = x;
        for v in bytemuck::cast_slice_mut::<S::f64s, f64>(core::slice::from_mut(&mut x)) {
            *v = v.ln();
        }
        return x;
    }
    let u = |v: u64| simd.splat_u64s(v);
    let f = |v: f64| simd.splat_f64s(v);
    // Reduce x = 2^k m with m in [sqrt(2)/2, sqrt(2)).
    let bits = simd.add_u64s(
        simd.transmute_u64s_f64s(x),
        u((0x3ff0_0000 - 0x3fe6_a09e) << 32),
    );
    // The biased exponent field, shifted down within the high 32-bit half (the low half is 0).
    let k_bits: S::u32s = bytemuck::cast(simd.and_u64s(bits, u(0x7ff0_0000_0000_0000)));
    let k_bits: S::u64s = bytemuck::cast(simd.wrapping_dyn_shr_u32s(k_bits, simd.splat_u32s(20)));
    // Now k_bits = e 2^32; 2^52 + e 2^32 has the bits 0x4330_0000_0000_0000 | k_bits.
    let k = simd.sub_f64s(
        simd.transmute_f64s_u64s(simd.or_u64s(k_bits, u(0x4330_0000_0000_0000))),
        f(4_503_599_627_370_496.0),
    );
    let k = simd.mul_add_e_f64s(k, f(1.0 / 4_294_967_296.0), f(-1023.0));
    let m = simd.transmute_f64s_u64s(simd.add_u64s(
        simd.and_u64s(bits, u(0x000f_ffff_ffff_ffff)),
        u(0x3fe6_a09e_0000_0000),
    ));
    let fm = simd.sub_f64s(m, f(1.0));
    let hfsq = simd.mul_f64s(f(0.5), simd.mul_f64s(fm, fm));
    let s = simd.div_f64s(fm, simd.add_f64s(f(2.0), fm));
    let z = simd.mul_f64s(s, s);
    let w = simd.mul_f64s(z, z);
    let t1 = simd.mul_f64s(
        w,
        simd.mul_add_e_f64s(w, simd.mul_add_e_f64s(w, f(LG6), f(LG4)), f(LG2)),
    );
    let t2 = simd.mul_f64s(
        z,
        simd.mul_add_e_f64s(
            w,
            simd.mul_add_e_f64s(w, simd.mul_add_e_f64s(w, f(LG7), f(LG5)), f(LG3)),
            f(LG1),
        ),
    );
    let r = simd.add_f64s(t2, t1);
    // s (hfsq + R) + k ln2_lo - hfsq + f + k ln2_hi
    let v = simd.mul_add_e_f64s(s, simd.add_f64s(hfsq, r), simd.mul_f64s(k, f(LN2_LO)));
    let v = simd.add_f64s(simd.sub_f64s(v, hfsq), fm);
    simd.mul_add_e_f64s(k, f(LN2_HI), v)
}

/// `j!` for `j <= 13`, exactly.
const FACTORIALS: [f64; 14] = [
    1.0,
    1.0,
    2.0,
    6.0,
    24.0,
    120.0,
    720.0,
    5_040.0,
    40_320.0,
    362_880.0,
    3_628_800.0,
    39_916_800.0,
    479_001_600.0,
    6_227_020_800.0,
];

/// `e^x` per lane: `x = k ln2 + r` with `k` the nearest integer to `x / ln2` (two-part
/// `ln2`, Cody and Waite), `e^r` by its Taylor polynomial of degree 13 on `|r| <= ln2 / 2`
/// (truncation below 2e-16 relative), then `2^k` put into the exponent. Within a few ulp for
/// `x` in `[-708, 709]`; exactly 0 below -708 (the subnormal range is dropped); `x` above 709
/// is taken as 709.
// The split of ln 2 is given to the digits that define it.
#[allow(clippy::excessive_precision)]
#[inline(always)]
pub fn exp_f64s<S: Simd>(simd: S, x: S::f64s) -> S::f64s {
    const LOG2E: f64 = core::f64::consts::LOG2_E;
    // ln 2 = LN2_HI + LN2_LO, LN2_HI with 32 trailing zero bits, so `k LN2_HI` is exact.
    const LN2_HI: f64 = 6.931_471_803_691_238_164_90e-1;
    const LN2_LO: f64 = 1.908_214_929_270_587_700_02e-10;
    // The 32-bit shift below needs 32-bit lanes alongside the 64-bit ones; pulp's scalar
    // fallback has none, so it takes the scalar exponential per lane.
    if size_of::<S::u32s>() != size_of::<S::f64s>() {
        let mut x = x;
        for v in bytemuck::cast_slice_mut::<S::f64s, f64>(core::slice::from_mut(&mut x)) {
            *v = if *v < -708.0 { 0.0 } else { v.exp() };
        }
        return x;
    }
    let f = |v: f64| simd.splat_f64s(v);
    let underflow = simd.less_than_f64s(x, f(-708.0));
    let xc = simd.min_f64s(simd.max_f64s(x, f(-708.0)), f(709.0));
    // k = round(x / ln2), by adding and subtracting 1.5 * 2^52.
    let magic = f(6_755_399_441_055_744.0);
    let k = simd.sub_f64s(simd.mul_add_e_f64s(xc, f(LOG2E), magic), magic);
    let r = simd.mul_add_e_f64s(k, f(-LN2_HI), xc);
    let r = simd.mul_add_e_f64s(k, f(-LN2_LO), r);
    // e^r = sum r^j / j!, j <= 13, by Horner. (Estrin's scheme, a shorter dependency chain
    // for more multiplications, measured no faster in the P2P, which is throughput-bound.)
    let mut p = f(1.0 / FACTORIALS[13]);
    for j in (0..13).rev() {
        p = simd.mul_add_e_f64s(p, r, f(1.0 / FACTORIALS[j]));
    }
    // 2^k: the double 2^52 + (k + 1023) 2^32 has `k + 1023` (in 1..2047) in the low bits of its
    // high 32-bit half, above the exponent 0x433; shifting that half left by 20 drops 0x433
    // and leaves `(k + 1023) << 52`, the bits of 2^k (the low half is 0 and stays 0).
    let e = simd.mul_add_e_f64s(
        k,
        f(4_294_967_296.0),
        f(4_503_599_627_370_496.0 + 1023.0 * 4_294_967_296.0),
    );
    let e: S::u32s = bytemuck::cast(e);
    let two_k: S::f64s = bytemuck::cast(simd.wrapping_dyn_shl_u32s(e, simd.splat_u32s(20)));
    simd.select_f64s(underflow, f(0.0), simd.mul_f64s(p, two_k))
}

/// `e^x` per lane, in f32: as [`exp_f64s`] with the Taylor polynomial of degree 7 (truncation
/// below 1e-8 relative). Within a few ulp for `x` in `[-87.3, 88]`; exactly 0 below -87.3;
/// `x` above 88 is taken as 88.
#[allow(clippy::excessive_precision)]
#[inline(always)]
pub fn exp_f32s<S: Simd>(simd: S, x: S::f32s) -> S::f32s {
    const LOG2E: f32 = core::f32::consts::LOG2_E;
    // ln 2 = LN2_HI + LN2_LO, LN2_HI with 12 trailing zero bits.
    const LN2_HI: f32 = 0.693_359_375;
    const LN2_LO: f32 = -2.121_944_4e-4;
    let f = |v: f32| simd.splat_f32s(v);
    let underflow = simd.less_than_f32s(x, f(-87.3));
    let xc = simd.min_f32s(simd.max_f32s(x, f(-87.3)), f(88.0));
    let magic = f(12_582_912.0);
    let k = simd.sub_f32s(simd.mul_add_e_f32s(xc, f(LOG2E), magic), magic);
    let r = simd.mul_add_e_f32s(k, f(-LN2_HI), xc);
    let r = simd.mul_add_e_f32s(k, f(-LN2_LO), r);
    let mut p = f(1.0 / 5_040.0);
    for c in [720.0f32, 120.0, 24.0, 6.0, 2.0, 1.0, 1.0] {
        p = simd.mul_add_e_f32s(p, r, f(1.0 / c));
    }
    // 2^k: the float 2^23 + k + 127 has `k + 127` (in 1..254) in its low bits; shifting left
    // by 23 drops the exponent field of 2^23 and leaves `(k + 127) << 23`.
    let e: S::u32s = bytemuck::cast(simd.add_f32s(k, f(8_388_608.0 + 127.0)));
    let two_k: S::f32s = bytemuck::cast(simd.wrapping_dyn_shl_u32s(e, simd.splat_u32s(23)));
    simd.select_f32s(underflow, f(0.0), simd.mul_f32s(p, two_k))
}

/// `(sin x, cos x)` per lane: `x = n pi/2 + r` with `n` the nearest integer to `x 2/pi` (a
/// three-part `pi/2`, applied with FMAs), `sin r` and `cos r` by minimax polynomials of degree
/// 13 and 14 on `|r| <= pi/4` (fdlibm's), and the quadrant `n mod 4`
/// (from the rounding's bits) choosing and negating them. Within a few ulp for `|x|` up to
/// about 1e5 (the reduction loses accuracy slowly beyond).
#[allow(clippy::excessive_precision)]
#[inline(always)]
pub fn sincos_f64s<S: Simd>(simd: S, x: S::f64s) -> (S::f64s, S::f64s) {
    const TWO_OVER_PI: f64 = core::f64::consts::FRAC_2_PI;
    // pi/2 = P1 + P2 + P3, each the nearest double to what is left.
    const P1: f64 = core::f64::consts::FRAC_PI_2;
    const P2: f64 = 6.123_233_995_736_766e-17;
    const P3: f64 = -1.497_384_904_859_169_8e-33;
    let f = |v: f64| simd.splat_f64s(v);
    let u = |v: u64| simd.splat_u64s(v);
    // n = round(x 2/pi) by adding and subtracting 1.5 * 2^52; the low bits of the sum are n.
    let magic = f(6_755_399_441_055_744.0);
    let t = simd.mul_add_e_f64s(x, f(TWO_OVER_PI), magic);
    let n = simd.sub_f64s(t, magic);
    let r = simd.mul_add_e_f64s(n, f(-P1), x);
    let r = simd.mul_add_e_f64s(n, f(-P2), r);
    let r = simd.mul_add_e_f64s(n, f(-P3), r);
    let r2 = simd.mul_f64s(r, r);
    // sin r = r (1 - r^2/3! + r^4/5! - ...), to r^17; cos r = 1 - r^2/2! + ..., to r^18.
    // The minimax polynomials of fdlibm's __kernel_sin and __kernel_cos (their constants,
    // verbatim, so they can be checked against the source) on |r| <= pi/4, within about an
    // ulp: sin r = r + r^3 (S1 + z S2 + .. + z^5 S6), cos r = 1 - z/2 + z^2 (C1 + .. + z^5 C6),
    // z = r^2, each evaluated by Estrin's scheme (dependency depth 3 instead of 6).
    const S: [f64; 6] = [
        -1.666_666_666_666_663_243_48e-01,
        8.333_333_333_322_489_461_24e-03,
        -1.984_126_982_985_794_931_34e-04,
        2.755_731_370_707_006_767_89e-06,
        -2.505_076_025_340_686_341_95e-08,
        1.589_690_995_211_550_102_21e-10,
    ];
    const C: [f64; 6] = [
        4.166_666_666_666_660_190_37e-02,
        -1.388_888_888_887_410_957_49e-03,
        2.480_158_728_947_672_941_78e-05,
        -2.755_731_435_139_066_330_35e-07,
        2.087_572_321_298_174_827_90e-09,
        -1.135_964_755_778_819_482_65e-11,
    ];
    let fma = |a, b, c| simd.mul_add_e_f64s(a, b, c);
    let z = r2;
    let z2 = simd.mul_f64s(z, z);
    let z4 = simd.mul_f64s(z2, z2);
    let estrin = |k: &[f64; 6]| {
        let u0 = fma(f(k[1]), z, f(k[0]));
        let u1 = fma(f(k[3]), z, f(k[2]));
        let u2 = fma(f(k[5]), z, f(k[4]));
        fma(u2, z4, fma(u1, z2, u0))
    };
    let sin_r = fma(simd.mul_f64s(r, z), estrin(&S), r);
    let cos_r = fma(z2, estrin(&C), fma(z, f(-0.5), f(1.0)));
    let bits = simd.transmute_u64s_f64s(t);
    let swap = simd.equal_u64s(simd.and_u64s(bits, u(1)), u(1));
    let sin_neg = simd.equal_u64s(simd.and_u64s(bits, u(2)), u(2));
    let cos_neg = simd.equal_u64s(simd.and_u64s(simd.add_u64s(bits, u(1)), u(2)), u(2));
    let s = simd.select_f64s(swap, cos_r, sin_r);
    let c = simd.select_f64s(swap, sin_r, cos_r);
    (
        simd.select_f64s(sin_neg, simd.neg_f64s(s), s),
        simd.select_f64s(cos_neg, simd.neg_f64s(c), c),
    )
}

/// `(sin x, cos x)` per lane in f32: as [`sincos_f64s`], with polynomials of degree 9 and 10
/// (truncation below 2e-9). Within a few ulp for `|x|` up to about 1e3.
#[allow(clippy::excessive_precision)]
#[inline(always)]
pub fn sincos_f32s<S: Simd>(simd: S, x: S::f32s) -> (S::f32s, S::f32s) {
    const TWO_OVER_PI: f32 = core::f32::consts::FRAC_2_PI;
    const P1: f32 = 1.570_796_370_506_286_6;
    const P2: f32 = -4.371_138_828_673_793e-8;
    const P3: f32 = -1.715_124_510_005_881_9e-15;
    let f = |v: f32| simd.splat_f32s(v);
    let u = |v: u32| simd.splat_u32s(v);
    let magic = f(12_582_912.0);
    let t = simd.mul_add_e_f32s(x, f(TWO_OVER_PI), magic);
    let n = simd.sub_f32s(t, magic);
    let r = simd.mul_add_e_f32s(n, f(-P1), x);
    let r = simd.mul_add_e_f32s(n, f(-P2), r);
    let r = simd.mul_add_e_f32s(n, f(-P3), r);
    let r2 = simd.mul_f32s(r, r);
    let mut ps = f(1.0 / 362_880.0);
    for c in [-1.0f32 / 5_040.0, 1.0 / 120.0, -1.0 / 6.0] {
        ps = simd.mul_add_e_f32s(ps, r2, f(c));
    }
    // ps = -1/3! + r^2/5! - r^4/7! + r^6/9!: sin r = r + r^3 ps.
    let sin_r = simd.mul_add_e_f32s(simd.mul_f32s(r, r2), ps, r);
    let mut pc = f(-1.0 / 3_628_800.0);
    for c in [1.0f32 / 40_320.0, -1.0 / 720.0, 1.0 / 24.0, -1.0 / 2.0] {
        pc = simd.mul_add_e_f32s(pc, r2, f(c));
    }
    // pc = -1/2! + r^2/4! - ... - r^8/10!: cos r = 1 + r^2 pc.
    let cos_r = simd.mul_add_e_f32s(r2, pc, f(1.0));
    let bits = simd.transmute_u32s_f32s(t);
    let swap = simd.equal_u32s(simd.and_u32s(bits, u(1)), u(1));
    let sin_neg = simd.equal_u32s(simd.and_u32s(bits, u(2)), u(2));
    let cos_neg = simd.equal_u32s(simd.and_u32s(simd.add_u32s(bits, u(1)), u(2)), u(2));
    let s = simd.select_f32s(swap, cos_r, sin_r);
    let c = simd.select_f32s(swap, sin_r, cos_r);
    (
        simd.select_f32s(sin_neg, simd.neg_f32s(s), s),
        simd.select_f32s(cos_neg, simd.neg_f32s(c), c),
    )
}
